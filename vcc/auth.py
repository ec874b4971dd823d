"""Authentication for the API that remembers who a token or a session belongs to for a
few seconds per process. (A module of its own: DRF imports it while loading its settings,
so it must not import DRF's views.)

The queue is polled every 2 s by every open page and API client, and finding the user
cost one query for a token and two for a session (the session row, then the user): as
much as the page's own queries. The price: a token deleted, a session ended, or a user
deactivated or made non-staff is refused by every process at most REMEMBER_SECONDS later.
"""

import threading
import time
from typing import Any

from django.conf import settings
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request

REMEMBER_SECONDS = 5.0


class _Remembered:
    """credential -> (user, auth) until a deadline; bounded, shared by a process's threads."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            if len(self._entries) > 1000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + REMEMBER_SECONDS, value)


class RememberedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, each token's user remembered REMEMBER_SECONDS."""

    _remembered = _Remembered()

    def authenticate_credentials(self, key: str) -> tuple:
        credentials = self._remembered.get(key)
        if credentials is None:
            credentials = super().authenticate_credentials(key)  # raises for a bad token
            self._remembered.put(key, credentials)
        return credentials


class RememberedSessionAuthentication(SessionAuthentication):
    """DRF's session authentication, each session's user remembered REMEMBER_SECONDS.
    CSRF is checked on every unsafe request, as DRF does."""

    _remembered = _Remembered()

    def authenticate(self, request: Request) -> tuple | None:
        key = request._request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        credentials = self._remembered.get(key) if key else None
        if credentials is None:
            credentials = super().authenticate(request)  # the session, then its user
            if credentials is None or not key:
                return credentials
            self._remembered.put(key, credentials)
        else:
            self.enforce_csrf(request)
        return credentials
