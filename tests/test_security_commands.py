"""Commands safe on a real site (findings 11, 12 and 14): `create_demo_user` refuses without
DEBUG unless forced; the assignment run heartbeats while it plans; and stopped by SIGTERM or
SIGINT it marks its run failed, keeps its committed batches and exits at once, so the next cron
run starts right away."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db


def test_create_demo_user_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="runs only with DEBUG on"):
        call_command("create_demo_user")

    assert not get_user_model().objects.exists()


def test_create_demo_user_runs_with_debug_or_when_forced(settings):
    settings.DEBUG = True
    call_command("create_demo_user", "--username", "demo", "--password", "demo-pass")
    settings.DEBUG = False
    call_command("create_demo_user", "--username", "ops", "--password", "ops-pass", "--force")

    assert set(get_user_model().objects.values_list("username", flat=True)) == {"demo", "ops"}
