"""Each API operation checks the permission it declares; the roles hold them (README: Roles)."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient, force_authenticate
from rest_framework.views import APIView

from deals.tests.factories import DealFactory
from vcc.permissions import RequiredPermission, permission_for
from vcc.testing import role_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]
METHODS = ("get", "post", "put", "patch", "delete")


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _api_views():
    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None)
                if view is not None and issubclass(view, APIView):
                    yield pattern.name, view, getattr(pattern.callback, "actions", None)

    return list(walk(get_resolver().url_patterns))


def test_every_api_operation_declares_the_permission_it_needs():
    undeclared = []
    for name, view, actions in _api_views():
        if RequiredPermission not in [*view.permission_classes]:
            continue  # its own: the webhook (its signature), the schema and docs (CanReadApiDocs)
        implemented = set(actions) if actions else {m for m in METHODS if hasattr(view, m)}
        undeclared += [(name, m) for m in implemented if permission_for(view, m.upper()) is None]

    assert undeclared == []


def test_a_viewer_reads_but_may_not_start_anything_and_is_told_which_permission(
    django_user_model,
):
    deal = DealFactory.create(status="failed")
    viewer = _api(role_user("vera", "viewer"))

    read = viewer.get(f"/api/deals/{deal.id}/")
    rerun = viewer.post(f"/api/deals/{deal.id}/rerun/")
    sync = viewer.post("/api/sync/runs/")
    imports = viewer.post("/api/imports/", {"hubspot_deal_ids": ["1"]}, format="json")

    assert read.status_code == 200
    assert (rerun.status_code, rerun.json()["detail"]) == (
        403,
        "Your account lacks the permission deals.rerun_deal this needs.",
    )
    assert "hubspot.start_sync" in sync.json()["detail"] and sync.status_code == 403
    assert "hubspot.add_dealimport" in imports.json()["detail"] and imports.status_code == 403


def test_an_operator_starts_deals_again():
    deal = DealFactory.create(status="failed")

    response = _api(role_user("olga", "operator")).post(f"/api/deals/{deal.id}/retry/")

    deal.refresh_from_db()
    assert response.status_code == 202
    assert deal.status == "pending"


def test_a_bulk_action_needs_the_permission_of_the_action_it_asks_for(django_user_model):
    user = django_user_model.objects.create_user("half", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="retry_deal"))
    DealFactory.create(status="failed")
    body = {"status": "failed"}

    rerun = _api(user).post("/api/queue/actions/", {**body, "action": "rerun"}, format="json")
    retry = _api(user).post("/api/queue/actions/", {**body, "action": "retry"}, format="json")

    assert rerun.status_code == 403 and "deals.rerun_deal" in rerun.json()["detail"]
    assert retry.status_code == 202 and retry.json()["count"] == 1


def test_staff_outside_every_role_are_refused_and_superusers_may_do_everything(
    django_user_model,
):
    nobody = _api(django_user_model.objects.create_user("nobody", is_staff=True))
    root = _api(django_user_model.objects.create_superuser("root", password="pw"))

    assert nobody.get("/api/queue/counts/").status_code == 403
    assert "deals.view_deal" in nobody.get("/api/queue/counts/").json()["detail"]
    assert root.get("/api/queue/counts/").status_code == 200
    assert root.get("/api/docs/").status_code == 200


def test_a_method_a_view_has_without_declaring_it_stays_closed(rf, django_user_model):
    class Undeclared(APIView):
        required_permissions = {"GET": "deals.view_deal"}

        def get(self, request):
            raise AssertionError("not reached")

        def delete(self, request):
            raise AssertionError("never reached")

    user = role_user("admin-ish", "admin")
    view = Undeclared.as_view()
    request = rf.delete("/x/")
    force_authenticate(request, user)

    response = view(request)
    put = rf.put("/x/")
    force_authenticate(put, user)

    assert response.status_code == 403
    assert "declares no permission" in response.data["detail"]
    assert view(put).status_code == 405  # a method it lacks: its 405
