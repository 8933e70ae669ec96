"""`manage.py create_demo_user`: the demo's staff login, created or reset (idempotent)."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from sequences.management.base import ProjectCommand


class Command(ProjectCommand):
    help = "Create or update a staff superuser for the demo and print its login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password")

    def handle(self, *args, **options) -> None:
        username, password = options["username"].strip(), options["password"]
        if not username or not password:
            raise CommandError("--username and --password must not be empty")
        user, created = get_user_model().objects.get_or_create(username=username)
        user.is_active = user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        action = "created" if created else "updated"
        self.stdout.write(f"Demo login {action}: username={username} password={password}")
