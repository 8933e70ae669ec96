"""Undo of one audited operation (SPEC §5.8): every change it made returns to its `before`,
as long as nothing changed it since."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from groups.models import GroupOperation, GroupOperationMember, OperationKind, SequenceGroup
from groups.services.audit import (
    GROUP_SNAPSHOT_FIELDS,
    GROUP_SNAPSHOT_TIMES,
    GROUP_SNAPSHOT_USERS,
    group_snapshot,
)
from groups.services.errors import AlreadyUndone, OperationNotFound, UndoOfUndo
from groups.services.regroup import REGROUP_KINDS, live_group_id, regroup_membership_undo
from sequences.models import Sequence, SequenceAnnotation
from sequences.services import annotation_restore_many, annotation_snapshot, snapshot_matches
from sequences.services.locks import group_lock, sequence_lock

LEFT_ALONE_EDITED = "edited since"
LEFT_ALONE_MEMBERSHIP = "membership changed since"
LEFT_ALONE_GROUP_DELETED = "group no longer exists"


@dataclass
class UndoOutcome:
    operation_id: int
    undo_operation_id: int
    restored: list[int] = field(default_factory=list)
    left_alone: list[dict[str, Any]] = field(default_factory=list)
    group_restored: bool = False


def _restorable_group_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Model values of a group snapshot; users deleted since come back as NULL."""
    users = {snapshot[name] for name in GROUP_SNAPSHOT_USERS if snapshot[name] is not None}
    existing = set(
        get_user_model().objects.filter(pk__in=users).values_list("pk", flat=True) if users else []
    )
    values = dict(snapshot)
    for name in GROUP_SNAPSHOT_TIMES:
        values[name] = datetime.fromisoformat(values[name]) if values[name] else None
    for name in GROUP_SNAPSHOT_USERS:
        values[name] = values[name] if values[name] in existing else None
    return values


def _undo_group(operation: GroupOperation, group: SequenceGroup | None):
    """Return the group to `group_before` if it still equals `group_after`.

    Returns `(restored, before, after)` with the snapshots of the change made (None if none).
    """
    if group is None or operation.group_after is None:
        return False, None, None
    current = group_snapshot(group)
    if current != operation.group_after:
        return False, None, None
    for name, value in _restorable_group_state(operation.group_before).items():
        setattr(group, name, value)
    group.save(update_fields=[*GROUP_SNAPSHOT_FIELDS, "updated_at"])
    return True, current, group_snapshot(group)


MEMBERSHIP_KINDS = (
    OperationKind.REMOVE_MEMBER,
    OperationKind.REINCLUDE_MEMBER,
    OperationKind.REJECT,
)


def _undo_membership(operation: GroupOperation, sequence: Sequence | None) -> str | None:
    """Undo the membership change of remove / reinclude / reject; a left-alone reason or None."""
    if sequence is None or operation.kind not in MEMBERSHIP_KINDS:
        return None
    if operation.kind == OperationKind.REINCLUDE_MEMBER:
        if sequence.group_id is not None or sequence.is_group_excluded:
            return LEFT_ALONE_MEMBERSHIP
        Sequence.objects.filter(pk=sequence.pk).update(is_group_excluded=True)
        return None
    if sequence.group_id is not None or not sequence.is_group_excluded:
        return LEFT_ALONE_MEMBERSHIP
    # A reject records the membership it ended; a removal's group is the operation's group.
    previous = operation.details.get("previous_group_id", operation.group_id)
    if operation.kind == OperationKind.REMOVE_MEMBER and operation.group_id is None:
        return LEFT_ALONE_GROUP_DELETED
    if previous is not None and not SequenceGroup.objects.filter(pk=previous).exists():
        return LEFT_ALONE_GROUP_DELETED
    excluded = operation.details.get("previous_excluded", False) if previous is None else False
    # A group merged into another since: the member goes where its members went.
    previous = live_group_id(previous)
    Sequence.objects.filter(pk=sequence.pk).update(group=previous, is_group_excluded=excluded)
    return None


def _undo_members(operation: GroupOperation, *, actor) -> tuple[list[dict], list[int], list[dict]]:
    """Return each annotation the operation wrote to `before`, if it still equals `after`.

    Returns `(member_rows_for_the_undo, restored_sequence_ids, left_alone)`.
    """
    members = list(operation.members.order_by("sequence_id"))
    current = {
        row.sequence_id: row
        for row in SequenceAnnotation.objects.select_for_update()
        .filter(sequence_id__in=operation.members.values("sequence_id"))
        .order_by("sequence_id")
    }
    snapshots, logged, restored, left_alone = {}, [], [], []
    for member in members:
        row = current.get(member.sequence_id)
        if not snapshot_matches(row, member.after):
            left_alone.append({"sequence_id": member.sequence_id, "reason": LEFT_ALONE_EDITED})
            continue
        snapshots[member.sequence_id] = member.before
        logged.append({"sequence_id": member.sequence_id, "before": annotation_snapshot(row)})
        restored.append(member.sequence_id)
    annotation_restore_many(snapshots=snapshots, actor=actor)
    if logged:
        after = {
            row.sequence_id: row
            for row in SequenceAnnotation.objects.filter(sequence_id__in=restored)
        }
        for entry in logged:
            entry["after"] = annotation_snapshot(after.get(entry["sequence_id"]))
    return logged, restored, left_alone


@transaction.atomic
def group_operation_undo(*, operation_id: int, actor) -> UndoOutcome:
    """Revert one operation as a unit (SPEC §5.8); the staff check is the caller's.

    Each annotation the operation wrote returns to its `before` (None -> row deleted) only if
    it still equals `after`; otherwise it is left alone and reported ("edited since"). The
    group's label and validation fields return to `group_before` only if they still equal
    `group_after`. `remove_member` / `reject`: membership comes back only while the sequence is
    still excluded and ungrouped (into the group its group was merged into, if it was);
    `reinclude_member`: the exclusion comes back only while it is still ungrouped and not
    excluded. `merge` / `split`: the members it moved go back as far as they are still where it
    put them (`groups.services.regroup`). The undo is always stored as an `undo` operation (even
    when it restored nothing) and never propagates. Raises OperationNotFound, UndoOfUndo,
    AlreadyUndone.
    """
    operation = (
        GroupOperation.objects.select_for_update(no_key=True).filter(pk=operation_id).first()
    )
    if operation is None:
        raise OperationNotFound(operation_id)
    if operation.kind == OperationKind.UNDO:
        raise UndoOfUndo()
    undo_id = GroupOperation.objects.filter(undo_of=operation).values_list("pk", flat=True).first()
    if undo_id is not None:
        raise AlreadyUndone(operation_id=operation.pk, undo_id=undo_id)

    left_alone, restored, recorded = [], [], {}
    if operation.kind in REGROUP_KINDS:
        # A merge or split: the moved members, then both groups, in id order (its own locks).
        sequence = None
        group, restored, left_alone, recorded = regroup_membership_undo(operation)
    else:
        # Lock order: the sequence row, the group row, then (in _undo_members) annotation rows.
        sequence = sequence_lock(operation.sequence_id) if operation.sequence_id else None
        group = group_lock(operation.group_id) if operation.group_id else None
    membership = _undo_membership(operation, sequence)
    if membership is not None:
        left_alone.append({"sequence_id": sequence.pk, "reason": membership})
    elif sequence is not None and operation.kind in MEMBERSHIP_KINDS:
        restored.append(sequence.pk)
    group_restored, group_before, group_after = _undo_group(operation, group)
    logged, annotations_restored, annotations_left = _undo_members(operation, actor=actor)
    restored += [sid for sid in annotations_restored if sid not in restored]
    left_alone += annotations_left

    undo = GroupOperation.objects.create(
        kind=OperationKind.UNDO,
        undo_of=operation,
        group=group,
        sequence=sequence,
        actor=actor,
        group_before=group_before,
        group_after=group_after,
        details={
            "restored": restored,
            "left_alone": left_alone,
            "group_restored": group_restored,
            **recorded,
        },
    )
    GroupOperationMember.objects.bulk_create(
        GroupOperationMember(operation=undo, sequence_id=entry["sequence_id"], **_pair(entry))
        for entry in logged
    )
    return UndoOutcome(
        operation_id=operation.pk,
        undo_operation_id=undo.pk,
        restored=restored,
        left_alone=left_alone,
        group_restored=group_restored,
    )


def _pair(entry: dict[str, Any]) -> dict[str, Any]:
    return {"before": entry["before"], "after": entry["after"]}
