from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

# One account per role, its password its name: local demo only (DEBUG). Made by code, so
# the password validators (which would refuse these) do not run.
DEMO_ACCOUNTS = ("viewer", "operator", "admin")


class Command(BaseCommand):
    help = "Make sure the local demo accounts exist, one per role (DEBUG only)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("not creating demo accounts: DJANGO_DEBUG is off")
        users = get_user_model().objects
        for name in DEMO_ACCOUNTS:
            user = users.filter(username=name).first()
            if user is None:
                if name == "admin":
                    user = users.create_superuser(name, f"{name}@example.com", name)
                else:
                    user = users.create_user(name, f"{name}@example.com", name, is_staff=True)
                user.groups.add(Group.objects.get(name=name))
                self.stdout.write(f"created the demo account {name} / {name}")
            elif not user.check_password(name):
                # Never reset someone's password: say so, and let bin/run not advertise it.
                raise CommandError(f"an account named {name} exists with another password")
            else:
                self.stdout.write(f"the demo account {name} / {name} exists")
