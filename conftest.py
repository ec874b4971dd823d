import os
from collections.abc import Callable, Iterator

import pytest

from vcc.celery import app as celery_app
from vcc.testing import CeleryWorker, role_user


def pytest_configure(config) -> None:
    # Without these the settings would name bin/run's own database and queue.
    missing = [name for name in ("DATABASE_URL", "CELERY_BROKER_URL") if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            f"{' and '.join(missing)} not set: run the tests with bin/test, which starts "
            "their own PostgreSQL and Redis (or point TEST_DATABASE_URL / TEST_BROKER_URL "
            "elsewhere)"
        )


@pytest.fixture(autouse=True)
def _static_files_without_collectstatic(settings):
    # Production serves hashed names from collectstatic's manifest; tests use the finders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _hubspot_daily_limit_not_reached() -> Iterator[None]:
    # The daily-limit stop lives in the shared Redis (hubspot/quota.py): one test reaching
    # the limit must not stop HubSpot calls in the next.
    from hubspot.quota import build_daily_quota

    quota = build_daily_quota()
    quota.clear()
    yield
    quota.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Tests create many users; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def celery_worker() -> Iterator[Callable[..., CeleryWorker]]:
    """Start real worker processes (on an emptied test queue); all are stopped afterwards."""
    celery_app.control.purge()
    started: list[CeleryWorker] = []

    def start(**kwargs) -> CeleryWorker:
        worker = CeleryWorker(**kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def writeback_on(settings) -> None:
    """Outcomes are queued for HubSpot, written to the properties the simulator knows."""
    settings.HUBSPOT_WRITEBACK_ENABLED = True
    settings.HUBSPOT_WRITEBACK_PROPERTIES = {
        "status": "vcc_pipeline_status",
        "stage": "vcc_pipeline_stage",
        "finished_at": "vcc_pipeline_finished_at",
    }


@pytest.fixture
def staff_client(client, django_user_model):
    """Logged in through the session, as the queue page is."""
    client.force_login(role_user("operator", "operator"))
    return client


@pytest.fixture
def admin_user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="pw"))
    return client


@pytest.fixture
def no_broker(enqueued) -> None:
    """Jobs are recorded (see `enqueued`), never sent to the broker."""


class Enqueued(list):
    """Deal ids in the order they were sent, and `lanes`: the queue each one was sent to."""

    def __init__(self) -> None:
        super().__init__()
        self.lanes: dict[str, str] = {}

    def record(self, args=(), kwargs=None, **options) -> None:
        (deal_id,) = args
        self.append(deal_id)
        self.lanes[deal_id] = options.get("queue") or "celery"


@pytest.fixture
def enqueued(monkeypatch) -> Enqueued:
    """Deal ids handed to `process_deal`, recorded here instead of sent to the broker
    (the worker tests use the real broker). Fan-out jobs run inline. The broker's queues
    start empty: the sweeper reads what is waiting there."""
    from deals.tasks import enqueue_deals, feed_operator_lane

    celery_app.control.purge()
    ids = Enqueued()
    monkeypatch.setattr("deals.tasks.process_deal.apply_async", ids.record)
    monkeypatch.setattr("deals.tasks.enqueue_deals.delay", enqueue_deals.run)
    monkeypatch.setattr(
        "deals.tasks.feed_operator_lane.apply_async",
        lambda args=(), kwargs=None, **options: feed_operator_lane.run(*args),
    )
    return ids
