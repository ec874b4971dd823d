import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from hubspot.models import SyncRun
from hubspot.services import reconcile_run_execute, reconcile_run_start


class Command(BaseCommand):
    help = (
        "Find the deals HubSpot deleted, restored or merged without a webhook reaching us, "
        "and apply them (one pass, in the foreground; beat runs the same pass)."
    )

    def handle(self, *args, **options) -> None:
        if not settings.HUBSPOT_ACCESS_TOKEN:
            self.stderr.write("reconcile: HUBSPOT_ACCESS_TOKEN is not set; nothing to check")
            sys.exit(1)
        run = reconcile_run_start(trigger=SyncRun.Trigger.COMMAND)
        if run.status == SyncRun.Status.SKIPPED:
            self.stderr.write(f"reconcile: {run.progress_message}")
            sys.exit(1)
        run = reconcile_run_execute(run=run)
        line = f"reconcile: {run.summary}"
        if run.status != SyncRun.Status.SUCCEEDED:
            self.stderr.write(f"{line} failed: {run.error}")
            sys.exit(1)
        self.stdout.write(line)
