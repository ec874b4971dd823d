from collections.abc import Callable

import pytest

from deals import stages


@pytest.fixture
def use_stage(monkeypatch) -> Callable[[str, stages.StageFunction], None]:
    """Swap a stage's implementation for this test only."""

    def use(stage: str, function: stages.StageFunction) -> None:
        monkeypatch.setitem(stages._registry, stage, function)

    return use


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
