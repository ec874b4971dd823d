import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from vcc import auth

pytestmark = pytest.mark.django_db

URL = "/api/queue/counts/"


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """Remembering on (the suite turns it off), on a clock the test moves."""
    now = [1000.0]
    monkeypatch.setattr("vcc.auth.REMEMBER_SECONDS", 5.0)
    monkeypatch.setattr("vcc.auth.time.monotonic", lambda: now[0])
    return now


@pytest.fixture
def token_client(django_user_model) -> tuple[APIClient, Token]:
    token = Token.objects.create(user=django_user_model.objects.create_user("r", is_staff=True))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


def test_a_token_is_looked_up_once_while_remembered(clock, token_client, django_assert_num_queries):
    client, _ = token_client
    assert client.get(URL).status_code == 200

    with django_assert_num_queries(1):  # the counts' own query: no token query
        assert client.get(URL).status_code == 200


def test_a_deleted_token_is_refused_once_no_longer_remembered(clock, token_client):
    client, token = token_client
    assert client.get(URL).status_code == 200
    token.delete()

    clock[0] += auth.REMEMBER_SECONDS - 0.1
    assert client.get(URL).status_code == 200
    clock[0] += 0.2
    assert client.get(URL).status_code == 401


def test_a_bad_token_is_refused_and_not_remembered(clock, django_assert_num_queries):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(URL).status_code == 401
    with django_assert_num_queries(1):  # looked up again
        assert client.get(URL).status_code == 401


def test_a_session_user_is_looked_up_once_while_remembered(
    clock, client, django_user_model, django_assert_num_queries
):
    client.force_login(django_user_model.objects.create_user("op", is_staff=True))
    assert client.get(URL).status_code == 200

    with django_assert_num_queries(1):  # no session row, no user: the counts' query only
        assert client.get(URL).status_code == 200


def test_an_ended_session_is_refused_once_no_longer_remembered(clock, client, django_user_model):
    client.force_login(django_user_model.objects.create_user("op", is_staff=True))
    cookie = client.cookies["sessionid"].value
    assert client.get(URL).status_code == 200
    client.logout()  # the session row is gone
    client.cookies["sessionid"] = cookie  # a copy of the cookie kept elsewhere

    assert client.get(URL).status_code == 200
    clock[0] += auth.REMEMBER_SECONDS + 0.1
    assert client.get(URL).status_code in (401, 403)


def test_a_remembered_session_still_needs_its_csrf_token_to_write(
    clock, django_user_model, settings
):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("op", is_staff=True))
    assert client.get(URL).status_code == 200  # remembered from here on

    response = client.post("/api/sync/runs/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
