from collections.abc import Callable

import pytest

from deals import stages


@pytest.fixture
def use_stage(monkeypatch) -> Callable[[str, stages.StageFunction], None]:
    """Swap a stage's implementation for this test only."""

    def use(stage: str, function: stages.StageFunction) -> None:
        monkeypatch.setitem(stages._registry, stage, function)

    return use
