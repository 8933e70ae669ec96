"""The groups app: connects its one receiver on annotation saves and its settings check."""

from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = "Sequence groups"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from groups import checks, signals  # noqa: F401  (checks registers the settings check)
        from sequences.models import SequenceAnnotation

        post_save.connect(
            signals.propagate_on_annotation_save,
            sender=SequenceAnnotation,
            dispatch_uid="groups.propagate_on_annotation_save",
        )
