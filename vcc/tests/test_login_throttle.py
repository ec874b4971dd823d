"""Logins are throttled (django-axes): 10 failures for a username or from an address within
15 minutes, and further attempts are refused for 15 minutes, the right password too."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from vcc.testing import role_user

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.at = timezone.now()

    def __call__(self):
        return self.at


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("axes.handlers.proxy.now", clock)
    monkeypatch.setattr("axes.attempts.now", clock)
    return clock


def _log_in(path: str, username: str, password: str, address: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_ten_failures_lock_the_account_for_the_window_even_with_the_right_password(path, clock):
    role_user("olga", "operator", password="right-password-1")
    for _ in range(9):
        assert _log_in(path, "olga", "wrong").status_code == 200  # the form, with its error
    tenth = _log_in(path, "olga", "wrong")

    refused = _log_in(path, "olga", "right-password-1")
    clock.at += timedelta(minutes=14)
    still = _log_in(path, "olga", "right-password-1", address="10.0.0.2")  # by username too
    clock.at += timedelta(minutes=2)
    later = _log_in(path, "olga", "right-password-1")

    assert tenth.status_code == 429  # the tenth failure locks it at once
    assert refused.status_code == 429
    assert "refused for 15 minutes" in refused.content.decode()
    assert still.status_code == 429
    assert later.status_code == 302  # logged in once the window passed


def test_failures_from_one_address_lock_it_for_every_username(clock):
    role_user("olga", "operator", password="right-password-1")
    for n in range(10):
        _log_in("/accounts/login/", f"guess{n}", "wrong", address="10.9.9.9")

    assert _log_in("/accounts/login/", "olga", "right-password-1", "10.9.9.9").status_code == 429
    assert _log_in("/accounts/login/", "olga", "right-password-1", "10.1.1.1").status_code == 302


def test_a_success_resets_the_count(clock):
    role_user("olga", "operator", password="right-password-1")
    for _ in range(9):
        _log_in("/accounts/login/", "olga", "wrong")
    assert _log_in("/accounts/login/", "olga", "right-password-1").status_code == 302
    for _ in range(9):
        _log_in("/accounts/login/", "olga", "wrong")

    assert _log_in("/accounts/login/", "olga", "right-password-1").status_code == 302


def test_behind_the_proxy_the_address_is_the_one_it_saw(settings, rf):
    from vcc.auth import client_ip

    settings.DJANGO_PROXY_HOPS = 1
    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7", REMOTE_ADDR="172.18.0.3")

    assert client_ip(request) == "203.0.113.7"  # what the client wrote before it is ignored
    settings.DJANGO_PROXY_HOPS = 0
    assert client_ip(request) == "172.18.0.3"


def test_passwords_are_validated():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        validate_password("admin")
    validate_password("a long passphrase of words")
