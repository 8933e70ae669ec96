"""Writes of the groups app: every change to a group goes through one of these functions."""

from __future__ import annotations

from typing import Any

from groups.models import GroupOperation, GroupOperationMember, SequenceGroup
from sequences.models import LabelSource, Sequence
from sequences.payloads import Label
from sequences.services import StampOutcome, annotation_write_many

GROUP_SNAPSHOT_FIELDS = (
    "smoke_type",
    "false_positive_type",
    "is_unsure",
    "labeled_at",
    "labeled_by_id",
    "is_validated",
    "validated_at",
    "validated_by_id",
)


def group_snapshot(group: SequenceGroup) -> dict[str, Any]:
    """The label and validation state of a group, as the audit log keeps it (SPEC §2.3)."""
    snapshot = {}
    for name in GROUP_SNAPSHOT_FIELDS:
        value = getattr(group, name)
        snapshot[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return snapshot


def group_lock_for_sequence(*, sequence_id: int) -> SequenceGroup | None:
    """Lock the group row of a sequence (if any) in the caller's transaction."""
    group_id = Sequence.objects.filter(pk=sequence_id).values_list("group_id", flat=True).first()
    if group_id is None:
        return None
    return SequenceGroup.objects.select_for_update().filter(pk=group_id).first()


def group_stamp_members(
    *,
    operation: GroupOperation,
    sequence_ids: list[int],
    label: Label,
    is_unsure: bool,
    source: LabelSource,
    group_id: int | None,
) -> list[StampOutcome]:
    """Seed-and-stamp `label` on sequences and log each written one under `operation`.

    The set form of SPEC §4.8, in the caller's transaction: `annotation_write_many` writes the
    annotations (locked ones and ones without predictions are skipped), then one bulk insert
    records a GroupOperationMember (before/after snapshots) per applied sequence.
    """
    outcomes = annotation_write_many(
        sequence_ids=sequence_ids,
        label=label,
        is_unsure=is_unsure,
        source=source,
        actor=operation.actor,
        group_id=group_id,
        operation_id=operation.pk,
    )
    GroupOperationMember.objects.bulk_create(
        GroupOperationMember(
            operation=operation,
            sequence_id=outcome.sequence_id,
            before=outcome.before,
            after=outcome.after,
        )
        for outcome in outcomes
        if outcome.applied
    )
    return outcomes


def group_propagate(*, annotation, actor=None) -> None:
    """Fan a human label out through a validated group (SPEC §5.7)."""
