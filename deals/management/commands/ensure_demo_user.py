from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Make sure the local demo account admin / admin exists (DEBUG only)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("not creating a demo account: DJANGO_DEBUG is off")
        user = get_user_model().objects.filter(username="admin").first()
        if user is None:
            get_user_model().objects.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write("created the demo account admin / admin")
        elif not user.check_password("admin"):
            # Never reset someone's password: say so, and let bin/run not advertise it.
            raise CommandError("an account named admin exists with another password")
        else:
            self.stdout.write("the demo account admin / admin exists")
