from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the local demo account admin/admin (DEBUG only), unless it exists."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("not creating a demo account: DJANGO_DEBUG is off")
        User = get_user_model()
        if User.objects.filter(username="admin").exists():
            self.stdout.write("demo account admin exists")
            return
        User.objects.create_superuser("admin", "admin@example.com", "admin")
        self.stdout.write("created the demo account admin / admin")
