"""`python manage.py hubspot_writeback`: one write-back pass in the foreground, the same as
beat's; prints `sent=N failed=N remaining=N`. Exits non-zero when a send failed."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hubspot.services import writeback_pass


class Command(BaseCommand):
    help = "Send queued deal outcomes to HubSpot now (one pass, as beat runs every minute)."

    def handle(self, *args, **options) -> None:
        if not settings.HUBSPOT_WRITEBACK_ENABLED:
            self.stdout.write(
                "sent=0 failed=0 remaining=0 (HUBSPOT_WRITEBACK_ENABLED is off: nothing is "
                "queued or sent)"
            )
            return
        if not settings.HUBSPOT_ACCESS_TOKEN:
            raise CommandError("HUBSPOT_ACCESS_TOKEN is not set; nothing to write back to")
        result = writeback_pass()
        line = f"sent={result.sent} failed={result.failed} remaining={result.remaining}"
        if result.failed:
            raise CommandError(f"{line} (see the write-back admin for the errors)")
        self.stdout.write(line)
