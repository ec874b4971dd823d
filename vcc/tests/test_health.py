"""/healthz (the process answers) and /readyz (the database and the broker answer)."""

import pytest
from django.db import OperationalError

from vcc.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_ok_when_the_database_and_the_broker_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_readyz_names_the_broker_when_it_does_not_answer(client, monkeypatch):
    # A port nothing listens on: a broker that is down, for real.
    monkeypatch.setattr(celery_app.conf, "broker_write_url", "redis://127.0.0.1:1/0")

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable: broker",
        "database": "ok",
        "broker": "down",
    }


def test_readyz_names_the_database_when_it_does_not_answer(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("vcc.health.connection.cursor", refuse)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable: database"
