"""Bulk annotation (SPEC §5.4): one label stamped on a list of sequences, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from groups.models import GroupOperation, OperationKind
from groups.services.audit import (
    applied_count,
    group_snapshot,
    group_stamp_members,
    operation_group_change,
)
from groups.services.errors import (
    FORCE_PERMISSION,
    TOO_MANY_IDS,
    BulkInvalid,
    ForceForbidden,
    GroupLabelConflict,
    NotMembers,
    group_locked,
)
from groups.services.propagation import group_label_of, group_label_set, reference_box
from sequences.models import LabelSource
from sequences.payloads import Label, Loc
from sequences.services import StampOutcome, actor_may
from sequences.services.locks import sequences_lock

LABEL_MISSING = "one of smoke_type or false_positive_type is required"
LABEL_BOTH = "send smoke_type or false_positive_type, not both"
SKIP_SEQUENCE_NOT_FOUND = "sequence not found"


@dataclass
class BulkOutcome:
    applied: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    group_label_updated: bool = False
    operation_id: int | None = None


def bulk_label_choice_errors(smoke_type: Any, false_positive_type: Any) -> list[tuple[Loc, str]]:
    """Exactly one of the two labels: neither, or both, names both fields."""
    if smoke_type is None and false_positive_type is None:
        message = LABEL_MISSING
    elif smoke_type is not None and false_positive_type is not None:
        message = LABEL_BOTH
    else:
        return []
    return [(("body", name), message) for name in ("smoke_type", "false_positive_type")]


def _bulk_item(outcome: StampOutcome) -> dict[str, Any]:
    return {
        "sequence_id": outcome.sequence_id,
        "status": "applied" if outcome.applied else "skipped",
        "reason": outcome.reason,
        "annotation_id": outcome.annotation_id,
    }


@transaction.atomic
def group_bulk_annotate(
    *,
    sequence_ids: list,
    group_id: int | None,
    smoke_type,
    false_positive_type,
    is_unsure: bool = False,
    force: bool = False,
    actor,
) -> BulkOutcome:
    """Stamp one label on a list of sequences, all or nothing (SPEC §5.4). Never propagates.

    The request's shape (ids, enum values, booleans) is the caller's to check (the API's
    serializer). Then, in order: 422 BulkInvalid (both labels or neither); 404 GroupNotFound;
    400 NotMembers (ids that are not current members of `group_id`, missing ids included);
    409 GroupLabelConflict (the group carries another label and `force` is not true); 403
    ForceForbidden (`force` would replace the group's label, and `actor` is neither staff nor
    holds FORCE_PERMISSION; None, code calling without a user, may).
    Ids are de-duplicated (first occurrence kept); sequences are locked, then the group.
    In request order each sequence is seed-and-stamped (`bulk`, the request's `is_unsure`) or
    skipped with its reason ("sequence not found" without a group, "already <stage>", "no AI
    predictions to seed annotation"). The group takes the label only when `group_id` was given,
    at least one sequence was applied and the label or `is_unsure` differ. One `bulk` operation
    logs the label asked for, the group before/after and every member written (not the
    request's list: only its size); none when nothing changed. More than
    GROUPS_MAX_REQUEST_IDS ids: BulkInvalid.
    """
    errors = bulk_label_choice_errors(smoke_type, false_positive_type)
    limit = settings.GROUPS_MAX_REQUEST_IDS
    if len(sequence_ids) > limit:
        errors.append((("body", "sequence_ids"), TOO_MANY_IDS.format(limit=limit)))
    if errors:
        raise BulkInvalid(errors)
    label = Label.smoke(smoke_type) if smoke_type is not None else Label.fp(false_positive_type)
    ids = list(dict.fromkeys(sequence_ids))
    found = sequences_lock(ids)
    group = None
    if group_id is not None:
        group = group_locked(group_id)
        outsiders = sorted(sid for sid in ids if found.get(sid) != group_id)
        if outsiders:
            raise NotMembers(sequence_ids=outsiders, group_id=group_id)
        group_label = group_label_of(group)
        if group_label is not None and group_label != label:
            if not force:
                raise GroupLabelConflict(group_id=group_id, label=group_label)
            if actor is not None and not actor_may(actor, FORCE_PERMISSION):
                raise ForceForbidden(group_id=group_id)

    with transaction.atomic():
        before = group_snapshot(group) if group else None
        operation = GroupOperation.objects.create(
            kind=OperationKind.BULK,
            group=group,
            actor=actor,
            # What the operation changed is its member rows (and `held_back`); the request's
            # list is not kept, only its size.
            details={
                "requested": len(ids),
                "group_id": group_id,
                "smoke_type": smoke_type,
                "false_positive_type": false_positive_type,
                "is_unsure": is_unsure,
                "force": force,
                "label": str(label),
            },
        )
        outcomes = group_stamp_members(
            operation=operation,
            sequence_ids=[sid for sid in ids if sid in found],
            label=label,
            is_unsure=is_unsure,
            source=LabelSource.BULK,
            group_id=group_id,
            reference_box=reference_box(group) if group else None,
        )
        written = applied_count(outcomes)
        group_changed = bool(
            group
            and written
            and group_label_set(group, label=label, is_unsure=is_unsure, actor=actor)
        )
        if group_changed:
            operation_group_change(operation, before=before, group=group)
        if not written:
            transaction.set_rollback(True)

    by_sequence = {outcome.sequence_id: outcome for outcome in outcomes}
    result = BulkOutcome(
        group_label_updated=group_changed, operation_id=operation.pk if written else None
    )
    for sid in ids:
        outcome = by_sequence.get(sid) or StampOutcome(sid, False, SKIP_SEQUENCE_NOT_FOUND)
        (result.applied if outcome.applied else result.skipped).append(_bulk_item(outcome))
    return result
