"""Receivers on SequenceAnnotation saves, connected in `GroupsConfig.ready()`.

Both are thin: the human write path marks its instance (`_human_save`), every other write leaves
it unmarked and is ignored here, so machine writes can never re-trigger propagation.
"""


def lock_group_before_human_save(sender, instance, raw=False, **kwargs) -> None:
    """Hold the sequence's group row before a human save writes (SPEC §5.1 lock order)."""
    if raw or not getattr(instance, "_human_save", False):
        return
    from groups.services import group_lock_for_sequence

    group_lock_for_sequence(sequence_id=instance.sequence_id)


def propagate_on_annotation_save(sender, instance, raw=False, **kwargs) -> None:
    """Fan a human label out through the sequence's validated group (SPEC §5.7)."""
    if raw or not getattr(instance, "_human_save", False):
        return
    from groups.services import group_propagate

    group_propagate(annotation=instance, actor=getattr(instance, "_actor", None))
