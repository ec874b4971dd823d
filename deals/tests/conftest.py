from collections.abc import Callable, Iterator

import pytest

from deals import stages
from vcc.celery import app as celery_app
from vcc.testing import CeleryWorker


@pytest.fixture
def use_stage(monkeypatch) -> Callable[[str, stages.StageFunction], None]:
    """Swap a stage's implementation for this test only."""

    def use(stage: str, function: stages.StageFunction) -> None:
        monkeypatch.setitem(stages._registry, stage, function)

    return use


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
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def admin_user_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", password="pw")
    client.force_login(user)
    return client
