import sys
from datetime import UTC

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from hubspot.models import SyncRun
from hubspot.services import sync_run_execute, sync_run_start, sync_window
from vcc.errors import ApplicationError


def _when(value: str | None, name: str):
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"{name}: not an ISO-8601 date-time: {value!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


class Command(BaseCommand):
    help = "Sync deals from HubSpot now, in the foreground (the same service and lock as beat's)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", help="window start, ISO-8601 (default: the sync cursor)")
        parser.add_argument("--until", help="window end, ISO-8601 (default: now)")
        parser.add_argument(
            "--reread",
            action="store_true",
            help="re-read every deal checked in within the lookback window (the daily "
            "re-read), rather than what HubSpot modified since the last poll",
        )

    def handle(self, *args, since: str | None, until: str | None, reread: bool, **options) -> None:
        if not settings.HUBSPOT_ACCESS_TOKEN:
            raise CommandError("HUBSPOT_ACCESS_TOKEN is not set; nothing to sync from")
        start, end = _when(since, "--since"), _when(until, "--until")
        window = None
        if start or end:
            now = timezone.now()
            window = (start or sync_window(now=now)[0], end or now)
            if window[0] > window[1]:
                raise CommandError("--since must be before --until")
        if window and reread:
            raise CommandError("--reread reads the lookback window: give no --since/--until")
        trigger = SyncRun.Trigger.BACKFILL if window else SyncRun.Trigger.COMMAND
        if reread:
            trigger = SyncRun.Trigger.REREAD
        try:
            run = sync_run_start(trigger=trigger, window=window, raise_if_skipped=True)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None

        bar = tqdm(unit="deal", file=sys.stderr, disable=not sys.stderr.isatty())

        def on_progress(progress: SyncRun) -> None:
            if bar.disable:
                self.stdout.write(progress.progress_message)
                return
            bar.total = progress.progress_total
            bar.update(progress.progress_current - bar.n)

        run = sync_run_execute(run=run, on_progress=on_progress)
        bar.close()
        if run.status != SyncRun.Status.SUCCEEDED:
            raise CommandError(f"sync failed: {run.error} ({run.summary})")
        self.stdout.write(run.summary)
