"""The sequences app: registers its settings check, and keeps SQLite's queue-rank triggers
around migrations (`sequences.queue`)."""

from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "sequences"
    verbose_name = "Sequences"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, pre_migrate

        from sequences import checks, queue  # noqa: F401  (checks registers the settings check)

        pre_migrate.connect(
            queue.sqlite_triggers_drop, sender=self, dispatch_uid="sequences.queue_drop"
        )
        post_migrate.connect(
            queue.sqlite_triggers_install, sender=self, dispatch_uid="sequences.queue_install"
        )
