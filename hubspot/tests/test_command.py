"""`python manage.py sync_hubspot`: one sync in the foreground, one summary line."""

import io

import pytest
from django.core.management import CommandError, call_command

from deals.models import Deal
from hubspot.models import ACTIVE, SyncRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]


@pytest.fixture
def simulator(start_hubspot_simulator, settings):
    sim = start_hubspot_simulator(
        deals=250, seed=5, extra_args=["--search-rps", "0", "--days", "2"]
    )
    settings.HUBSPOT_ACCESS_TOKEN, settings.HUBSPOT_BASE_URL = sim.token, sim.base_url
    settings.HUBSPOT_SEARCH_RPS = 100
    return sim


def _sync(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_hubspot", *args, stdout=out)
    return out.getvalue()


def test_it_syncs_and_prints_one_summary_line(simulator):
    out = _sync()

    lines = out.strip().splitlines()
    assert lines[-1] == "fetched=250 new=250 updated=0 restarted=0 unchanged=0 invalid=0"
    assert lines[:-1] == [
        "page 1: 200 deals fetched, 200 new",
        "page 2: 250 deals fetched, 250 new",
    ]
    assert Deal.objects.count() == 250
    assert SyncRun.objects.get().trigger == "command"


def test_a_window_makes_it_a_backfill(simulator):
    out = _sync("--since", "2000-01-01T00:00:00Z", "--until", "2000-01-02")

    last_line = out.strip().splitlines()[-1]
    assert last_line == "fetched=0 new=0 updated=0 restarted=0 unchanged=0 invalid=0"
    run = SyncRun.objects.get()
    assert run.trigger == "backfill"
    assert run.window_start is not None
    assert run.window_start.isoformat() == "2000-01-01T00:00:00+00:00"


def test_a_bad_date_is_one_clear_error(simulator):
    with pytest.raises(CommandError, match=r"--since: not an ISO-8601 date-time: 'yesterday'"):
        _sync("--since", "yesterday")
    assert SyncRun.objects.count() == 0


def test_it_refuses_while_another_sync_runs(simulator):
    SyncRun.objects.create(trigger="scheduled", status="running", active=ACTIVE)
    with pytest.raises(CommandError, match=r"skipped: another sync \(scheduled"):
        _sync()
    assert SyncRun.objects.filter(status="skipped", trigger="command").count() == 1


def test_a_hubspot_failure_is_one_line_and_a_failed_run(simulator, settings):
    settings.HUBSPOT_ACCESS_TOKEN = "wrong-token"
    with pytest.raises(CommandError) as failure:
        _sync()
    message = str(failure.value)
    assert message.startswith("sync failed:") and "401" in message
    assert "\n" not in message and "wrong-token" not in message
    assert SyncRun.objects.get().status == "failed"


def test_without_a_token_it_says_so(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    with pytest.raises(CommandError, match="HUBSPOT_ACCESS_TOKEN is not set"):
        _sync()
