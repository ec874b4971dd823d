"""The session store (vcc/sessions.py): Django's database sessions, read with one query."""

from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.utils import timezone

from vcc.sessions import SessionStore
from vcc.testing import role_user

pytestmark = pytest.mark.django_db

URL = "/api/queue/counts/"


def test_an_expired_session_is_refused(client, django_user_model):
    client.force_login(role_user("op", "operator"))
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    assert client.get(URL).status_code in (401, 403)


def test_a_live_session_is_read_with_its_data(client, django_user_model):
    user = role_user("op", "operator")
    client.force_login(user)
    session = client.session
    session["seen"] = "yes"
    session.save()

    store = SessionStore(session_key=client.cookies["sessionid"].value)

    assert store["seen"] == "yes"
    assert store[SESSION_KEY] == str(user.pk)
