#!/usr/bin/env python
import os
import sys
from pathlib import Path

DOT_ENV_FILE = Path(__file__).resolve().parent / "var" / ".env"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vcc.settings")
    if "DJANGO_READ_DOT_ENV_FILE" not in os.environ and DOT_ENV_FILE.is_file():
        # A checkout where bin/run ran: its local settings, said so (the settings alone
        # never read the file: a deploy from such a checkout must not turn DEBUG on).
        os.environ["DJANGO_READ_DOT_ENV_FILE"] = "true"
        print(
            "manage.py: reading var/.env (bin/run's local settings, DEBUG on); "
            "set DJANGO_READ_DOT_ENV_FILE=false to not",
            file=sys.stderr,
        )
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Loaded here: Django would set the error aside and fail later, in a long traceback.
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as exc:
        sys.exit(f"manage.py: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
