import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from vcc.auth import RememberedTokenAuthentication

pytestmark = pytest.mark.django_db

URL = "/api/queue/counts/"


@pytest.fixture
def api(django_user_model) -> tuple[APIClient, Token]:
    user = django_user_model.objects.create_user("robot", is_staff=True)
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


def test_a_token_is_looked_up_once_within_the_remembered_seconds(api, django_assert_num_queries):
    client, _ = api
    assert client.get(URL).status_code == 200

    with django_assert_num_queries(1):  # the counts' own query, no token query
        assert client.get(URL).status_code == 200


def test_a_deleted_token_is_refused_once_the_remembered_seconds_pass(api, monkeypatch):
    client, token = api
    clock = [1000.0]
    monkeypatch.setattr("vcc.auth.time.monotonic", lambda: clock[0])
    assert client.get(URL).status_code == 200
    token.delete()

    clock[0] += RememberedTokenAuthentication.REMEMBER_SECONDS - 0.1
    assert client.get(URL).status_code == 200
    clock[0] += 0.2
    assert client.get(URL).status_code == 401


def test_a_bad_token_is_refused_and_not_remembered(django_assert_num_queries):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(URL).status_code == 401
    with django_assert_num_queries(1):  # looked up again
        assert client.get(URL).status_code == 401
