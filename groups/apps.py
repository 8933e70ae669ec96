from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = "Sequence groups"

    def ready(self) -> None:
        from django.db.models.signals import post_save, pre_save

        from groups import checks, signals  # noqa: F401  (checks registers the settings check)
        from sequences.models import SequenceAnnotation

        pre_save.connect(
            signals.lock_group_before_human_save,
            sender=SequenceAnnotation,
            dispatch_uid="groups.lock_group_on_annotation_save",
        )
        post_save.connect(
            signals.propagate_on_annotation_save,
            sender=SequenceAnnotation,
            dispatch_uid="groups.propagate_on_annotation_save",
        )
