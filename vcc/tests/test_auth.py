"""Who the API lets in is decided on every request: nothing remembered between them."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

URL = "/api/queue/counts/"


@pytest.fixture
def token_client(django_user_model) -> tuple[APIClient, Token]:
    token = Token.objects.create(user=django_user_model.objects.create_user("r", is_staff=True))
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
    client.force_login(django_user_model.objects.create_user("op", is_staff=True))
    cookie = client.cookies["sessionid"].value
    assert client.get(URL).status_code == 200
    client.logout()  # the session row is gone
    client.cookies["sessionid"] = cookie  # a copy of the cookie kept elsewhere

    assert client.get(URL).status_code in (401, 403)


def test_a_user_no_longer_staff_is_refused_on_the_next_request(client, django_user_model):
    user = django_user_model.objects.create_user("op", is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 200
    user.is_staff = False
    user.save()

    assert client.get(URL).status_code == 403


def test_a_session_needs_its_csrf_token_to_write(django_user_model):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("op", is_staff=True))

    response = client.post("/api/sync/runs/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
