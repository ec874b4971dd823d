"""Who the API lets in is decided on every request: nothing remembered between them."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from vcc.testing import role_user

pytestmark = pytest.mark.django_db

URL = "/api/queue/counts/"


@pytest.fixture
def token_client(django_user_model) -> tuple[APIClient, Token]:
    token = Token.objects.create(user=role_user("r", "operator"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


def test_a_deleted_token_is_refused_on_the_next_request(token_client):
    client, token = token_client
    assert client.get(URL).status_code == 200
    token.delete()

    assert client.get(URL).status_code == 401


def test_a_deactivated_users_token_is_refused_on_the_next_request(token_client):
    client, token = token_client
    assert client.get(URL).status_code == 200
    token.user.is_active = False
    token.user.save()

    assert client.get(URL).status_code == 401


def test_an_ended_session_is_refused_on_the_next_request(client, django_user_model):
    client.force_login(role_user("op", "operator"))
    cookie = client.cookies["sessionid"].value
    assert client.get(URL).status_code == 200
    client.logout()  # the session row is gone
    client.cookies["sessionid"] = cookie  # a copy of the cookie kept elsewhere

    assert client.get(URL).status_code in (401, 403)


def test_a_user_no_longer_staff_is_refused_on_the_next_request(client, django_user_model):
    user = role_user("op", "operator")
    client.force_login(user)
    assert client.get(URL).status_code == 200
    user.is_staff = False
    user.save()

    assert client.get(URL).status_code == 403


def test_a_session_needs_its_csrf_token_to_write(django_user_model):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(role_user("op", "operator"))

    response = client.post("/api/sync/runs/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_permissions_come_from_the_users_groups_and_their_own(django_user_model):
    user = role_user("v", "viewer")
    own = Permission.objects.get(content_type__app_label="deals", codename="add_deal")
    user.user_permissions.add(own)
    user = django_user_model.objects.get(pk=user.pk)  # no permission cache

    found = user.get_all_permissions()

    assert "deals.view_deal" in found  # the viewer group's
    assert "deals.add_deal" in found  # their own
    assert "deals.change_deal" not in found


def test_a_superuser_has_every_permission_and_an_inactive_user_none(django_user_model):
    boss = django_user_model.objects.create_superuser("boss", password="x")
    gone = role_user("gone", "operator", is_active=False)

    assert len(boss.get_all_permissions()) == Permission.objects.count()
    assert gone.get_all_permissions() == set()
