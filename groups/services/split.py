"""Splitting a group: chosen members move out into a new group of the same camera and azimuth,
whose reference box is the median of theirs; one `split` operation records it for an undo.

The answer when a group turns out to hold two things (a chimney and a fire next to it): one
action instead of removing members one by one, and the moved members stay grouped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from groups.assignment import representative_boxes
from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services.errors import FieldErrors, NotMembers, id_list_errors
from groups.services.merge import MERGE_RETIRED, MergeRefused
from groups.services.regroup import groups_lock
from sequences.boxes import representative_box
from sequences.models import Sequence

SPLIT_ALL_MEMBERS = "must leave at least one member in the group"


@dataclass
class SplitOutcome:
    """What a split did: the group split, the new group (locked, current), the members moved."""

    group: SequenceGroup
    new_group: SequenceGroup
    operation_id: int
    moved: list[int]


def median_box(sequence_ids: list[int], fallback: dict) -> dict:
    """The per-coordinate median of the members' representative boxes (SPEC §4.4 boxes, the
    confidence likewise); `fallback` (the split group's box) when none of them has one."""
    boxes = representative_boxes(Sequence.objects.filter(pk__in=sequence_ids)).values()
    pooled = [{"predictions": [box]} for box in boxes]
    return representative_box(pooled) or dict(fallback)


@transaction.atomic
def group_split(*, group_id: int, sequence_ids: list[int], actor) -> SplitOutcome:
    """Move `sequence_ids`, members of the group, into a new group (one `split` operation).

    The new group has the camera and azimuth of the group, the median of the moved members'
    representative boxes as its reference box, no label and no validation; the members'
    annotations are untouched, and the group keeps its label, validation and box. Refused: an
    invalid id list or one that names every member (FieldErrors on `sequence_ids`), sequences
    that are not members (NotMembers, listing them), a group merged into another
    (MergeRefused). Lock order as a merge's (`groups.services.regroup`). Raises GroupNotFound.
    """
    loc = ("body", "sequence_ids")
    errors = id_list_errors(sequence_ids, loc)
    if errors:
        raise FieldErrors(errors)
    ids = sorted(set(sequence_ids))
    group = groups_lock([group_id], sequence_ids=ids)[group_id]
    if group.merged_into_id is not None:
        raise MergeRefused(MERGE_RETIRED.format(group_id=group.pk, into_id=group.merged_into_id))
    members = set(
        Sequence.objects.filter(pk__in=ids, group_id=group.pk).values_list("pk", flat=True)
    )
    strangers = [sequence_id for sequence_id in ids if sequence_id not in members]
    if strangers:
        raise NotMembers(sequence_ids=strangers, group_id=group.pk)
    if not Sequence.objects.filter(group_id=group.pk).exclude(pk__in=ids).exists():
        raise FieldErrors([(loc, SPLIT_ALL_MEMBERS)])
    new_group = SequenceGroup.objects.create(
        camera_id=group.camera_id,
        azimuth=group.azimuth,
        representative_bbox=median_box(ids, group.representative_bbox),
    )
    Sequence.objects.filter(pk__in=ids).update(group=new_group)
    operation = GroupOperation.objects.create(
        kind=OperationKind.SPLIT,
        group=group,
        actor=actor,
        details={"group_id": group.pk, "new_group_id": new_group.pk, "moved": ids},
    )
    return SplitOutcome(group=group, new_group=new_group, operation_id=operation.pk, moved=ids)
