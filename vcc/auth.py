"""Authentication for the API (a module of its own: DRF imports it while loading its
settings, so it must not import DRF's views)."""

import threading
import time

from rest_framework.authentication import TokenAuthentication


class RememberedTokenAuthentication(TokenAuthentication):
    """Token authentication that remembers a token's user for a few seconds per process.

    API clients poll the queue every few seconds, and the token's query cost as much as
    the page's own. A token deleted or a user deactivated or made non-staff is refused by
    every process at most REMEMBER_SECONDS later.
    """

    REMEMBER_SECONDS = 5.0
    _remembered: dict[str, tuple[float, tuple]] = {}
    _lock = threading.Lock()

    def authenticate_credentials(self, key: str) -> tuple:
        now = time.monotonic()
        remembered = self._remembered.get(key)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        credentials = super().authenticate_credentials(key)  # raises for a bad token
        with self._lock:
            if len(self._remembered) > 1000:
                self._remembered.clear()
            self._remembered[key] = (now + self.REMEMBER_SECONDS, credentials)
        return credentials
