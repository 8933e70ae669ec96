"""The one domain signal: a human save of a `SequenceAnnotation` fans its label out through the
sequence's group (SPEC §5.7). Connected in `GroupsConfig.ready()`.

Only a human save opens a `HumanSave` (`sequences.services.annotations`), so machine writes,
admin edits and fixture loads pass through here untouched and can never re-trigger propagation.
The receiver hands what the group did back to the save through that same `HumanSave`.
"""

from groups.services import group_propagate
from sequences.services import human_save_for


def propagate_on_annotation_save(sender, instance, raw=False, **kwargs) -> None:
    """Fan a human label out through the sequence's validated group (SPEC §5.7)."""
    save = None if raw else human_save_for(instance)
    if save is None:
        return
    save.report(group_propagate(annotation=instance, group=save.group, actor=save.actor))
