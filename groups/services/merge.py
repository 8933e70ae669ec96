"""Merging one group into another: every member moves into the target, which keeps its
reference box; the labels are reconciled; one `merge` operation records it for an undo.

Drift and lighting split one antenna at one camera and azimuth into several groups; a merge
makes them one, so the antenna costs one validation and one annotation again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services.audit import (
    applied_count,
    group_snapshot,
    group_stamp_members,
    operation_group_change,
)
from groups.services.errors import FieldErrors, GroupServiceError
from groups.services.propagation import group_label_of, group_label_set, reference_box
from groups.services.regroup import groups_lock, retire
from sequences.models import LabelSource, Sequence
from sequences.services import ErrorKind

MERGE_SAME_GROUP = "must be another group than the target"
MERGE_OTHER_BUCKET = (
    "Group {source_id} is on camera {source_camera} at azimuth {source_azimuth}°, group "
    "{target_id} on camera {target_camera} at azimuth {target_azimuth}°: only groups of one "
    "camera and azimuth can be merged."
)
MERGE_RETIRED = "Group {group_id} was merged into group {into_id} already."
MERGE_LABELS_DIFFER = (
    "Group {source_id} is labeled {source_label} and group {target_id} {target_label}: groups "
    "with different labels cannot be merged. Relabel one of them, or split out the members "
    "that differ, then merge."
)


class MergeRefused(GroupServiceError):
    """Two groups that cannot become one (another camera or azimuth, a group merged already)."""

    kind = ErrorKind.REFUSED


class MergeLabelsDiffer(GroupServiceError):
    kind = ErrorKind.CONFLICT


@dataclass
class MergeOutcome:
    """What a merge did: the target (locked, current), the members moved, the label the target
    took from the source (None: it kept its own), and the fan-out to the members that came from
    the unlabeled side."""

    target: SequenceGroup
    source_id: int
    operation_id: int
    moved: int
    label_taken: str | None = None
    propagated_count: int = 0
    held_back_count: int = 0


def _checked(target: SequenceGroup, source: SequenceGroup) -> None:
    for group in (source, target):
        if group.merged_into_id is not None:
            raise MergeRefused(
                MERGE_RETIRED.format(group_id=group.pk, into_id=group.merged_into_id)
            )
    if (source.camera_id, source.azimuth) != (target.camera_id, target.azimuth):
        raise MergeRefused(
            MERGE_OTHER_BUCKET.format(
                source_id=source.pk,
                source_camera=source.camera_id,
                source_azimuth=source.azimuth,
                target_id=target.pk,
                target_camera=target.camera_id,
                target_azimuth=target.azimuth,
            )
        )
    source_label, target_label = group_label_of(source), group_label_of(target)
    if source_label is not None and target_label is not None and source_label != target_label:
        raise MergeLabelsDiffer(
            MERGE_LABELS_DIFFER.format(
                source_id=source.pk,
                source_label=source_label,
                target_id=target.pk,
                target_label=target_label,
            )
        )


def _members(group: SequenceGroup):
    return Sequence.objects.filter(group_id=group.pk).order_by("pk").values_list("pk", flat=True)


@transaction.atomic
def group_merge(*, target_group_id: int, source_group_id: int, actor) -> MergeOutcome:
    """Move every member of the source group into the target, as one `merge` operation.

    The target keeps its reference box and validation. Labels: an unlabeled side takes the
    other's label (the target takes the source's label and unsure flag when it had none); when
    the target is validated, the writable members of the side that was unlabeled then get the
    label as a propagated, unchecked machine label (seed-and-stamp, with the hold-back
    safeguards). Two different labels are refused (MergeLabelsDiffer, 409), as are groups of
    another camera or azimuth and a group merged already (MergeRefused, 400); the same group
    twice is a FieldErrors naming `source_group_id`. The emptied source is retired
    (`merged_into`), never deleted, so its history stays and an undo revives it. Lock order:
    the members of both, then both groups in id order (`groups.services.regroup`). Raises
    GroupNotFound.
    """
    if source_group_id == target_group_id:
        raise FieldErrors([(("body", "source_group_id"), MERGE_SAME_GROUP)])
    groups = groups_lock(sorted((target_group_id, source_group_id)))
    target, source = groups[target_group_id], groups[source_group_id]
    _checked(target, source)
    before = group_snapshot(target)
    moved = list(_members(source))
    operation = GroupOperation.objects.create(
        kind=OperationKind.MERGE,
        group=target,
        actor=actor,
        details={
            "source_group_id": source.pk,
            "target_group_id": target.pk,
            "moved": moved,
        },
    )
    label, unlabeled_side = group_label_of(target), None
    if label is None and group_label_of(source) is not None:
        label = group_label_of(source)
        group_label_set(target, label=label, is_unsure=source.is_unsure, actor=actor)
        unlabeled_side = target
    elif label is not None and group_label_of(source) is None:
        unlabeled_side = source
    outcomes = []
    if unlabeled_side is not None and target.is_validated:
        # Before the move, while each side is still its own subquery.
        outcomes = group_stamp_members(
            operation=operation,
            sequence_ids=_members(unlabeled_side),
            label=label,
            is_unsure=target.is_unsure,
            source=LabelSource.PROPAGATED,
            group_id=target.pk,
            reference_box=reference_box(target),
        )
    Sequence.objects.filter(group_id=source.pk).update(group=target)
    retire(source, into=target)
    if unlabeled_side is target:
        operation.details = {**operation.details, "label_taken": str(label)}
        operation.save(update_fields=["details"])
        operation_group_change(operation, before=before, group=target)
    held_back = sum(1 for outcome in outcomes if outcome.held_back)
    return MergeOutcome(
        target=target,
        source_id=source.pk,
        operation_id=operation.pk,
        moved=len(moved),
        label_taken=str(label) if unlabeled_side is target else None,
        propagated_count=applied_count(outcomes),
        held_back_count=held_back,
    )
