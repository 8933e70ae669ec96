"""`manage.py create_demo_user`: the demo's staff login, created or reset (idempotent).

It makes a superuser with a password given on the command line (a known one by default), so it
refuses to run on a site whose DEBUG is off unless told `--force`: on a real site, create
accounts with `createsuperuser` or the admin.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from sequences.management.base import ProjectCommand

REFUSED_WITHOUT_DEBUG = (
    "create_demo_user makes a superuser with a known password and runs only with DEBUG on "
    "(the demo); on a real site use createsuperuser, or pass --force if you mean it"
)


class Command(ProjectCommand):
    help = "Create or update a staff superuser for the demo and print its login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run although DEBUG is off (a superuser with a known password on a real site).",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(REFUSED_WITHOUT_DEBUG)
        username, password = options["username"].strip(), options["password"]
        if not username or not password:
            raise CommandError("--username and --password must not be empty")
        user, created = get_user_model().objects.get_or_create(username=username)
        user.is_active = user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        action = "created" if created else "updated"
        self.stdout.write(f"Demo login {action}: username={username} password={password}")
