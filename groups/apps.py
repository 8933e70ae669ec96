"""The groups app: connects its one receiver on annotation saves, its settings check, and the
upkeep of SQLite's counter triggers around migrations (`groups.counters`)."""

from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = "Sequence groups"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, post_save, pre_migrate

        from groups import checks, counters, signals  # noqa: F401  (checks registers a check)
        from sequences.models import SequenceAnnotation

        post_save.connect(
            signals.propagate_on_annotation_save,
            sender=SequenceAnnotation,
            dispatch_uid="groups.propagate_on_annotation_save",
        )
        pre_migrate.connect(
            counters.sqlite_triggers_drop, sender=self, dispatch_uid="groups.counters_drop"
        )
        post_migrate.connect(
            counters.sqlite_counters_install, sender=self, dispatch_uid="groups.counters_install"
        )
