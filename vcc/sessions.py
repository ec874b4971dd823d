"""Django's database sessions, read with one static query instead of the ORM's: every
request reads its session, the queue page's polls included (bench/queue_tabs.py).
Writing, expiry and clearing stay Django's."""

from django.contrib.sessions.backends import db
from django.db import connection
from django.utils import timezone

_LOAD_SQL = "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > %s"


class SessionStore(db.SessionStore):
    def load(self) -> dict:
        if not self.session_key:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(_LOAD_SQL, [self.session_key, timezone.now()])
            row = cursor.fetchone()
        if row is None:  # ended or expired: as Django's, a new session from here on
            self._session_key = None
            return {}
        return self.decode(row[0])
