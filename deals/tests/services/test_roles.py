import pytest
from django.contrib.auth.models import Group, Permission

from deals.services.roles import OPERATOR_PERMISSIONS, VIEWER_PERMISSIONS, roles_ensure

pytestmark = pytest.mark.django_db


def _held(name: str) -> set[str]:
    permissions = Group.objects.get(name=name).permissions.select_related("content_type")
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def test_the_migrations_make_the_three_roles_each_holding_more_than_the_last():
    viewer, operator, admin = _held("viewer"), _held("operator"), _held("admin")

    assert viewer == set(VIEWER_PERMISSIONS)
    assert "deals.rerun_deal" not in viewer and "hubspot.view_dealpayload" not in viewer
    assert operator == set(OPERATOR_PERMISSIONS) and viewer < operator
    assert operator < admin
    assert {"auth.change_user", "django_celery_beat.change_periodictask"} <= admin
    assert "authtoken.delete_tokenproxy" in admin


def test_a_missing_role_is_made_again_and_a_changed_one_left_as_it_is():
    Group.objects.get(name="viewer").delete()
    operator = Group.objects.get(name="operator")
    operator.permissions.remove(Permission.objects.get(codename="start_sync"))

    created = roles_ensure()

    assert created == ["viewer"]
    assert _held("viewer") == set(VIEWER_PERMISSIONS)
    assert "hubspot.start_sync" not in _held("operator")  # an admin's change stays
