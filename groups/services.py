"""Writes of the groups app: every change to a group goes through one of these functions.

Contract shared with the pages, the API and the admin: every error is a `GroupServiceError`
carrying an HTTP `status` and a `detail` (a string, or for 422 a field list as SPEC §3.5);
results are small dataclasses; messages are the module constants below.

Lock order on every path (SPEC §5.1): sequence rows (ascending id) -> the group row ->
annotation rows (ascending sequence id). Sequence, group and operation rows are locked
`FOR NO KEY UPDATE` (`no_key=True`): the writes never change a key, and the weaker lock lets
inserts that merely reference a locked row (a fan-out's member rows referencing a sequence whose
own save waits for the group) pass instead of deadlocking. `select_for_update` is a no-op on
SQLite, whose transactions are IMMEDIATE (they take the write lock when they start).

Every change is one audited `GroupOperation` (actor, group, details; group before/after when the
group changed; one `GroupOperationMember` per annotation written). An operation that changed
nothing is not stored: it is written inside a savepoint that is rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from groups.models import GroupOperation, GroupOperationMember, OperationKind, SequenceGroup
from sequences.models import (
    DONE_STAGES,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import FALSE_POSITIVE_TYPES, SMOKE_TYPES, Label, annotation_label
from sequences.services import (
    MachineStamp,
    ServiceError,
    StampOutcome,
    annotation_check_many,
    annotation_restore_many,
    annotation_snapshot,
    annotation_write,
    annotation_write_many,
    annotation_write_stamps,
)

logger = logging.getLogger(__name__)

# --- Messages ---------------------------------------------------------------------------------

GROUP_NOT_FOUND = "Sequence group {group_id} not found"
SEQUENCE_NOT_FOUND = "Sequence {sequence_id} not found"
NOT_A_MEMBER = "Sequence {sequence_id} is not a member of group {group_id}"
NOT_MEMBERS = "Sequences {sequence_ids} do not belong to group {group_id}"
LABEL_CONFLICT = (
    "Group {group_id} already carries a different label ({label}). Send force=true to replace "
    "the group's label and apply the new label to its writable members; members in a locked "
    "stage are never changed, even with force."
)
OPERATION_NOT_FOUND = "Operation {operation_id} not found"
ALREADY_UNDONE = "Operation {operation_id} has already been undone (by operation {undo_id})."
UNDO_OF_UNDO = "Undo operations cannot be undone."
ANNOTATIONS_NOT_FOUND = "Sequence annotations {annotation_ids} not found"
NOT_AN_UNCHECKED_MACHINE_LABEL = "sequence {sequence_id} does not carry an unchecked machine label"

CONFLICT_WARNING = (
    "Group {group_id} is labeled {group_label}, but this annotation implies {label}. "
    "Saved on this sequence only; the group and its other members were not changed."
)
FANOUT_FAILED_WARNING = (
    "Group {group_id}: propagating {label} failed, so nothing was changed on the group or its "
    "other members. This sequence's annotation was saved."
)
VALIDATION_DISAGREE_WARNING = (
    "Group {group_id} was validated but not labeled: its annotated members disagree ({votes}). "
    "Remove the outliers, then save one member to label the group."
)
VALIDATION_LABEL_FAILED_WARNING = (
    "Group {group_id} was validated, but labeling it {label} failed; no member was changed."
)

# Field messages of a 422 (SPEC §3.5).
IDS_REQUIRED = "must be a non-empty list of ids"
NOT_AN_ID = "must be an integer"
NOT_A_BOOLEAN = "must be a boolean"
SMOKE_TYPE_INVALID = f"must be one of {', '.join(SMOKE_TYPES)}, or null"
FALSE_POSITIVE_TYPE_INVALID = f"must be one of {', '.join(FALSE_POSITIVE_TYPES)}, or null"
LABEL_MISSING = "one of smoke_type or false_positive_type is required"
LABEL_BOTH = "send smoke_type or false_positive_type, not both"

# Reasons reported per item.
SKIP_SEQUENCE_NOT_FOUND = "sequence not found"
LEFT_ALONE_EDITED = "edited since"
LEFT_ALONE_MEMBERSHIP = "membership changed since"
LEFT_ALONE_GROUP_DELETED = "group no longer exists"


# --- Errors -----------------------------------------------------------------------------------

Loc = tuple[Any, ...]


class GroupServiceError(ServiceError):
    """A refused request of the groups app: `status` is its HTTP status, `detail` its message
    (or field list)."""


class FieldErrors(GroupServiceError):
    """422 with a SPEC §3.5 field list built from `(loc, msg)` pairs."""

    status = 422

    def __init__(self, errors: Iterable[tuple[Loc, str]]):
        super().__init__(
            [{"loc": list(loc), "msg": msg, "type": "value_error"} for loc, msg in errors]
        )


class GroupNotFound(GroupServiceError):
    status = 404

    def __init__(self, group_id: int):
        super().__init__(GROUP_NOT_FOUND.format(group_id=group_id))


class SequenceNotFound(GroupServiceError):
    status = 404

    def __init__(self, sequence_id: int):
        super().__init__(SEQUENCE_NOT_FOUND.format(sequence_id=sequence_id))


class AnnotationNotFound(GroupServiceError):
    status = 404

    def __init__(self, annotation_ids: list[int]):
        super().__init__(ANNOTATIONS_NOT_FOUND.format(annotation_ids=annotation_ids))


class OperationNotFound(GroupServiceError):
    status = 404

    def __init__(self, operation_id: int):
        super().__init__(OPERATION_NOT_FOUND.format(operation_id=operation_id))


class NotAMember(GroupServiceError):
    status = 400

    def __init__(self, *, sequence_id: int, group_id: int):
        super().__init__(NOT_A_MEMBER.format(sequence_id=sequence_id, group_id=group_id))


class NotMembers(GroupServiceError):
    status = 400

    def __init__(self, *, sequence_ids: list[int], group_id: int):
        super().__init__(NOT_MEMBERS.format(sequence_ids=sequence_ids, group_id=group_id))


class GroupLabelConflict(GroupServiceError):
    status = 409

    def __init__(self, *, group_id: int, label: Label):
        super().__init__(LABEL_CONFLICT.format(group_id=group_id, label=label))


class AlreadyUndone(GroupServiceError):
    status = 409

    def __init__(self, *, operation_id: int, undo_id: int):
        super().__init__(ALREADY_UNDONE.format(operation_id=operation_id, undo_id=undo_id))


class UndoOfUndo(GroupServiceError):
    status = 409

    def __init__(self):
        super().__init__(UNDO_OF_UNDO)


class BulkInvalid(FieldErrors):
    """A bulk request refused before anything is read (SPEC §5.4, first row)."""


class CheckInvalid(FieldErrors):
    """A malformed check or reject request (SPEC §5.9)."""


class NotAnUncheckedMachineLabel(FieldErrors):
    def __init__(self, sequence_id: int):
        message = NOT_AN_UNCHECKED_MACHINE_LABEL.format(sequence_id=sequence_id)
        super().__init__([(("body", "sequence_id"), message)])


# --- Results ----------------------------------------------------------------------------------


@dataclass
class ValidationOutcome:
    group: SequenceGroup
    changed: bool
    operation_id: int | None = None
    validation_warning: str | None = None
    propagated_count: int = 0


@dataclass
class BulkOutcome:
    applied: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    group_label_updated: bool = False
    operation_id: int | None = None


@dataclass
class UndoOutcome:
    operation_id: int
    undo_operation_id: int
    restored: list[int] = field(default_factory=list)
    left_alone: list[dict[str, Any]] = field(default_factory=list)
    group_restored: bool = False


@dataclass
class CheckOutcome:
    operation_id: int | None
    checked: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RejectOutcome:
    operation_id: int
    sequence_id: int


# --- Building blocks --------------------------------------------------------------------------

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
GROUP_SNAPSHOT_TIMES = ("labeled_at", "validated_at")
GROUP_SNAPSHOT_USERS = ("labeled_by_id", "validated_by_id")


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
    return SequenceGroup.objects.select_for_update(no_key=True).filter(pk=group_id).first()


def group_stamp_members(
    *,
    operation: GroupOperation,
    sequence_ids: list[int] | QuerySet,
    label: Label,
    is_unsure: bool,
    source: LabelSource,
    group_id: int | None,
) -> list[StampOutcome]:
    """Seed-and-stamp `label` on sequences and log each written one under `operation`.

    The set form of SPEC §4.8, in the caller's transaction: `annotation_write_many` writes the
    annotations (locked ones and ones without predictions are skipped), then one bulk insert
    records a GroupOperationMember (before/after snapshots) per applied sequence.
    `sequence_ids` may be an ordered `values_list("pk", flat=True)` QuerySet, so a whole group is
    selected by a subquery rather than a long id list.
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
    _members_log(outcomes, lambda _: operation.pk)
    return outcomes


def group_stamps_write(
    *, stamps: dict[int, MachineStamp], source: LabelSource, actor
) -> list[StampOutcome]:
    """`group_stamp_members` for many groups at once, each sequence with its own operation.

    The assignment's inheritance stamps hundreds of groups per batch; this writes them all
    with one annotation write and one member insert instead of a round of queries per group.
    """
    outcomes = annotation_write_stamps(stamps=stamps, source=source, actor=actor)
    _members_log(outcomes, lambda sequence_id: stamps[sequence_id].operation_id)
    return outcomes


def _members_log(outcomes: list[StampOutcome], operation_of: Callable[[int], int]) -> None:
    """One GroupOperationMember (before/after snapshots) per applied sequence, in one insert."""
    GroupOperationMember.objects.bulk_create(
        GroupOperationMember(
            operation_id=operation_of(outcome.sequence_id),
            sequence_id=outcome.sequence_id,
            before=outcome.before,
            after=outcome.after,
        )
        for outcome in outcomes
        if outcome.applied
    )


def _group_lock(group_id: int) -> SequenceGroup:
    group = SequenceGroup.objects.select_for_update(no_key=True).filter(pk=group_id).first()
    if group is None:
        raise GroupNotFound(group_id)
    return group


def _sequence_lock(sequence_id: int) -> Sequence:
    sequence = Sequence.objects.select_for_update(no_key=True).filter(pk=sequence_id).first()
    if sequence is None:
        raise SequenceNotFound(sequence_id)
    return sequence


def _group_label(group: SequenceGroup) -> Label | None:
    return Label.from_columns(group.smoke_type, group.false_positive_type)


def _group_set_label(group: SequenceGroup, *, label: Label, is_unsure: bool, actor) -> bool:
    """Label a locked group; False (and no write) when it already has this label and flag.

    Re-sending the group's own label keeps `labeled_at` / `labeled_by`: the first labeler stands.
    """
    if _group_label(group) == label and group.is_unsure == is_unsure:
        return False
    group.smoke_type, group.false_positive_type = label.columns()
    group.is_unsure = is_unsure
    group.labeled_at = timezone.now()
    group.labeled_by = actor
    group.save(
        update_fields=[
            "smoke_type",
            "false_positive_type",
            "is_unsure",
            "labeled_at",
            "labeled_by",
            "updated_at",
        ]
    )
    return True


def _other_members(group: SequenceGroup, *, exclude_sequence_id: int | None = None) -> QuerySet:
    """The group's members in ascending id, as a subquery-able QuerySet of ids."""
    members = Sequence.objects.filter(group_id=group.pk)
    if exclude_sequence_id is not None:
        members = members.exclude(pk=exclude_sequence_id)
    return members.order_by("pk").values_list("pk", flat=True)


def _applied_count(outcomes: list[StampOutcome]) -> int:
    return sum(1 for outcome in outcomes if outcome.applied)


def _label_and_fan_out(
    *,
    group: SequenceGroup,
    operation: GroupOperation,
    label: Label,
    is_unsure: bool,
    actor,
    exclude_sequence_id: int | None = None,
    group_before: dict[str, Any] | None = None,
) -> tuple[bool, int]:
    """Label a locked group, then seed-and-stamp its writable members (`propagated`).

    Shared by propagation (§5.7) and derive-on-validate (§5.5). Runs in the caller's savepoint
    and, when the group changed, records on `operation` the group after and before (the
    current state, or `group_before` when the operation changed the group earlier). Returns
    `(group_changed, members_written)`.
    """
    before = group_before or group_snapshot(group)
    group_changed = _group_set_label(group, label=label, is_unsure=is_unsure, actor=actor)
    outcomes = group_stamp_members(
        operation=operation,
        sequence_ids=_other_members(group, exclude_sequence_id=exclude_sequence_id),
        label=label,
        is_unsure=group.is_unsure,
        source=LabelSource.PROPAGATED,
        group_id=group.pk,
    )
    if group_changed:
        operation.group_before = before
        operation.group_after = group_snapshot(group)
        operation.save(update_fields=["group_before", "group_after"])
    return group_changed, _applied_count(outcomes)


# --- Propagation on a human save (SPEC §5.7) ---------------------------------------------------


@transaction.atomic
def group_propagate(*, annotation: SequenceAnnotation, actor=None) -> None:
    """Fan a human label out through the sequence's validated group (SPEC §5.7).

    Called by the post_save receiver for human saves only (machine writes never reach it).
    A silent no-op unless the annotation is at `seq_annotation_done`, its sequence is in a
    validated group and it implies a label (§4.6). A group labeled differently is a conflict:
    nothing changes and the instance carries CONFLICT_WARNING. Otherwise, in one savepoint with
    one `propagate` operation: the group takes the label when the label or `is_unsure` differ,
    then every other writable member is seed-and-stamped (`propagated`, unchecked). If anything
    fails the savepoint is rolled back, the member's own save stands and the instance carries
    FANOUT_FAILED_WARNING. Sets `annotation.group_propagation_warning` (str | None) and
    `annotation.group_propagation_updated` (members written). The query count does not depend
    on the number of members.
    """
    annotation.group_propagation_warning = None
    annotation.group_propagation_updated = 0
    if annotation.processing_stage != ProcessingStage.SEQ_ANNOTATION_DONE:
        return
    # The pre_save receiver already holds this lock; taking it again reads the current row.
    group = group_lock_for_sequence(sequence_id=annotation.sequence_id)
    if group is None or not group.is_validated:
        return
    label = annotation_label(annotation.annotation)
    if label is None:
        return
    group_label = _group_label(group)
    if group_label is not None and group_label != label:
        annotation.group_propagation_warning = CONFLICT_WARNING.format(
            group_id=group.pk, group_label=group_label, label=label
        )
        return
    try:
        with transaction.atomic():
            operation = GroupOperation.objects.create(
                kind=OperationKind.PROPAGATE,
                group=group,
                actor=actor,
                details={"source_sequence_id": annotation.sequence_id, "label": str(label)},
            )
            group_changed, written = _label_and_fan_out(
                group=group,
                operation=operation,
                label=label,
                is_unsure=annotation.is_unsure,
                actor=actor,
                exclude_sequence_id=annotation.sequence_id,
            )
            if not (group_changed or written):
                transaction.set_rollback(True)
    except Exception:
        # All-or-nothing (§5.7 step 4): whatever failed, the savepoint is gone and the
        # member's own save, outside it, stands.
        logger.exception("Propagation in group %s failed", group.pk)
        annotation.group_propagation_warning = FANOUT_FAILED_WARNING.format(
            group_id=group.pk, label=label
        )
        return
    annotation.group_propagation_updated = written


# --- Validation (SPEC §5.5) --------------------------------------------------------------------


def _votes(group: SequenceGroup) -> dict[Label, list[tuple[int, bool]]]:
    """Labels of the members at a DONE stage: `{label: [(sequence_id, is_unsure), ...]}`.

    In ascending sequence id, labels in the order first seen; members implying no label do not
    vote.
    """
    votes: dict[Label, list[tuple[int, bool]]] = {}
    rows = (
        SequenceAnnotation.objects.filter(
            sequence__group_id=group.pk, processing_stage__in=DONE_STAGES
        )
        .order_by("sequence_id")
        .values_list("sequence_id", "annotation", "is_unsure")
    )
    for sequence_id, content, is_unsure in rows:
        label = annotation_label(content)
        if label is not None:
            votes.setdefault(label, []).append((sequence_id, is_unsure))
    return votes


def _disagreement(votes: dict[Label, list[tuple[int, bool]]]) -> str:
    """`smoke/wildfire: sequences 12, 15; FP/antenna: sequence 19`."""
    parts = []
    for label, voters in votes.items():
        noun = "sequence" if len(voters) == 1 else "sequences"
        parts.append(f"{label}: {noun} {', '.join(str(sid) for sid, _ in voters)}")
    return "; ".join(parts)


def _derive_on_validate(
    *, group: SequenceGroup, operation: GroupOperation, actor, group_before: dict[str, Any]
) -> tuple[str | None, int]:
    """Label a freshly validated, unlabeled group from its DONE members (§5.5 steps 1-4).

    `group_before` is the state before the validation, so that one undo reverts both.
    Returns `(warning, members_written)`.
    """
    votes = _votes(group)
    if not votes:
        return None, 0
    if len(votes) > 1:
        warning = VALIDATION_DISAGREE_WARNING.format(group_id=group.pk, votes=_disagreement(votes))
        return warning, 0
    [(label, voters)] = votes.items()
    try:
        with transaction.atomic():
            _, written = _label_and_fan_out(
                group=group,
                operation=operation,
                label=label,
                is_unsure=any(is_unsure for _, is_unsure in voters),
                actor=actor,
                group_before=group_before,
            )
    except Exception:
        logger.exception("Labeling group %s on validation failed", group.pk)
        group.refresh_from_db()
        operation.refresh_from_db()
        return VALIDATION_LABEL_FAILED_WARNING.format(group_id=group.pk, label=label), 0
    operation.details = {**operation.details, "derived_label": str(label)}
    operation.save(update_fields=["details"])
    return None, written


@transaction.atomic
def group_validate(*, group_id: int, actor) -> ValidationOutcome:
    """Mark a group validated by `actor` (SPEC §5.5); re-validating changes and logs nothing.

    false -> true stamps `validated_by` / `validated_at` and logs one `validate` operation. For
    an unlabeled group, in the same operation, the members at a DONE stage vote: one label ->
    the group takes it and its writable members are stamped (`propagated`); several labels ->
    no label and `validation_warning` lists them; a failure of the label and fan-out leaves the
    validation standing with VALIDATION_LABEL_FAILED_WARNING. Raises GroupNotFound.
    """
    group = _group_lock(group_id)
    if group.is_validated:
        return ValidationOutcome(group=group, changed=False)
    before = group_snapshot(group)
    group.is_validated = True
    group.validated_at = timezone.now()
    group.validated_by = actor
    group.save(update_fields=["is_validated", "validated_at", "validated_by", "updated_at"])
    operation = GroupOperation.objects.create(
        kind=OperationKind.VALIDATE,
        group=group,
        actor=actor,
        group_before=before,
        group_after=group_snapshot(group),
    )
    warning, written = None, 0
    if _group_label(group) is None:
        warning, written = _derive_on_validate(
            group=group, operation=operation, actor=actor, group_before=before
        )
    if warning:
        operation.details = {**operation.details, "validation_warning": warning}
        operation.save(update_fields=["details"])
    return ValidationOutcome(
        group=group,
        changed=True,
        operation_id=operation.pk,
        validation_warning=warning,
        propagated_count=written,
    )


@transaction.atomic
def group_unvalidate(*, group_id: int, actor) -> ValidationOutcome:
    """Clear a group's validation (SPEC §5.5); an unvalidated group changes and logs nothing.

    The label stays. Logs one `unvalidate` operation. Raises GroupNotFound.
    """
    group = _group_lock(group_id)
    if not group.is_validated:
        return ValidationOutcome(group=group, changed=False)
    before = group_snapshot(group)
    group.is_validated = False
    group.validated_at = None
    group.validated_by = None
    group.save(update_fields=["is_validated", "validated_at", "validated_by", "updated_at"])
    operation = GroupOperation.objects.create(
        kind=OperationKind.UNVALIDATE,
        group=group,
        actor=actor,
        group_before=before,
        group_after=group_snapshot(group),
    )
    return ValidationOutcome(group=group, changed=True, operation_id=operation.pk)


# --- Membership (SPEC §5.6) --------------------------------------------------------------------


@transaction.atomic
def group_member_remove(*, group_id: int, sequence_id: int, actor) -> GroupOperation:
    """Take a sequence out of its group for good: `group = NULL`, `is_group_excluded = true`.

    The annotation, the group and its label are untouched; the group is kept even when empty.
    Logs `remove_member` (`{"sequence_id": ...}`). Raises SequenceNotFound, NotAMember (also
    when the group does not exist).
    """
    sequence = _sequence_lock(sequence_id)
    if sequence.group_id != group_id:
        raise NotAMember(sequence_id=sequence_id, group_id=group_id)
    group = _group_lock(group_id)
    Sequence.objects.filter(pk=sequence_id).update(group=None, is_group_excluded=True)
    return GroupOperation.objects.create(
        kind=OperationKind.REMOVE_MEMBER,
        group=group,
        sequence=sequence,
        actor=actor,
        details={"sequence_id": sequence_id},
    )


def _last_removal(sequence_id: int) -> GroupOperation | None:
    """The latest operation that took the sequence out of a group (a removal or a reject)."""
    return (
        GroupOperation.objects.filter(
            sequence_id=sequence_id,
            kind__in=[OperationKind.REMOVE_MEMBER, OperationKind.REJECT],
        )
        .order_by("-created_at", "-id")
        .first()
    )


@transaction.atomic
def group_member_reinclude(*, sequence_id: int, actor) -> GroupOperation | None:
    """Lift a sequence's exclusion; the next assignment run may group it again (SPEC §5.6).

    Only `is_group_excluded` changes. Idempotent: a sequence that is not excluded returns None
    and nothing is logged. Otherwise logs `reinclude_member` against the group it was last
    removed from (found in the log; NULL if none). Raises SequenceNotFound.
    """
    sequence = _sequence_lock(sequence_id)
    if not sequence.is_group_excluded:
        return None
    Sequence.objects.filter(pk=sequence_id).update(is_group_excluded=False)
    removal = _last_removal(sequence_id)
    return GroupOperation.objects.create(
        kind=OperationKind.REINCLUDE_MEMBER,
        group_id=removal.group_id if removal else None,
        sequence=sequence,
        actor=actor,
        details={"sequence_id": sequence_id},
    )


# --- Bulk annotate (SPEC §5.4) -----------------------------------------------------------------


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id_list_errors(value: Any, loc: Loc) -> list[tuple[Loc, str]]:
    """Errors of a required, non-empty list of integer ids."""
    if not isinstance(value, list) or not value:
        return [(loc, IDS_REQUIRED)]
    return [((*loc, index), NOT_AN_ID) for index, item in enumerate(value) if not _is_id(item)]


def _bulk_errors(
    *, sequence_ids, group_id, smoke_type, false_positive_type, is_unsure, force
) -> list[tuple[Loc, str]]:
    """Every problem of a raw bulk request, each naming its field."""
    errors = _id_list_errors(sequence_ids, ("body", "sequence_ids"))
    if group_id is not None and not _is_id(group_id):
        errors.append((("body", "group_id"), NOT_AN_ID))
    if smoke_type is not None and smoke_type not in SMOKE_TYPES:
        errors.append((("body", "smoke_type"), SMOKE_TYPE_INVALID))
    if false_positive_type is not None and false_positive_type not in FALSE_POSITIVE_TYPES:
        errors.append((("body", "false_positive_type"), FALSE_POSITIVE_TYPE_INVALID))
    errors += bulk_label_choice_errors(smoke_type, false_positive_type)
    for name, value in (("is_unsure", is_unsure), ("force", force)):
        if not isinstance(value, bool):
            errors.append((("body", name), NOT_A_BOOLEAN))
    return errors


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

    Checks, in order: 422 BulkInvalid (empty ids, both labels or neither, a bad value);
    404 GroupNotFound; 400 NotMembers (ids that are not current members of `group_id`, missing
    ids included); 409 GroupLabelConflict (the group carries another label and `force` is not
    true). Ids are de-duplicated (first occurrence kept); sequences are locked, then the group.
    In request order each sequence is seed-and-stamped (`bulk`, the request's `is_unsure`) or
    skipped with its reason ("sequence not found" without a group, "already <stage>", "no AI
    predictions to seed annotation"). The group takes the label only when `group_id` was given,
    at least one sequence was applied and the label or `is_unsure` differ. One `bulk` operation
    logs the request, the group before/after and every member written; none when nothing
    changed.
    """
    errors = _bulk_errors(
        sequence_ids=sequence_ids,
        group_id=group_id,
        smoke_type=smoke_type,
        false_positive_type=false_positive_type,
        is_unsure=is_unsure,
        force=force,
    )
    if errors:
        raise BulkInvalid(errors)
    label = Label.smoke(smoke_type) if smoke_type is not None else Label.fp(false_positive_type)
    ids = list(dict.fromkeys(sequence_ids))
    found = dict(
        Sequence.objects.select_for_update(no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "group_id")
    )
    group = None
    if group_id is not None:
        group = _group_lock(group_id)
        outsiders = sorted(sid for sid in ids if found.get(sid) != group_id)
        if outsiders:
            raise NotMembers(sequence_ids=outsiders, group_id=group_id)
        group_label = _group_label(group)
        if group_label is not None and group_label != label and not force:
            raise GroupLabelConflict(group_id=group_id, label=group_label)

    with transaction.atomic():
        before = group_snapshot(group) if group else None
        operation = GroupOperation.objects.create(
            kind=OperationKind.BULK,
            group=group,
            actor=actor,
            details={
                "sequence_ids": ids,
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
        )
        written = _applied_count(outcomes)
        group_changed = bool(
            group
            and written
            and _group_set_label(group, label=label, is_unsure=is_unsure, actor=actor)
        )
        if group_changed:
            operation.group_before = before
            operation.group_after = group_snapshot(group)
            operation.save(update_fields=["group_before", "group_after"])
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


# --- Undo (SPEC §5.8) --------------------------------------------------------------------------


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
        now = annotation_snapshot(current.get(member.sequence_id))
        if now != member.after:
            left_alone.append({"sequence_id": member.sequence_id, "reason": LEFT_ALONE_EDITED})
            continue
        snapshots[member.sequence_id] = member.before
        logged.append({"sequence_id": member.sequence_id, "before": now})
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
    still excluded and ungrouped; `reinclude_member`: the exclusion comes back only while it is
    still ungrouped and not excluded. The undo is always stored as an `undo` operation (even
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

    # Lock order: the sequence row, the group row, then (in _undo_members) annotation rows.
    sequence = (
        Sequence.objects.select_for_update(no_key=True).filter(pk=operation.sequence_id).first()
        if operation.sequence_id
        else None
    )
    group = (
        SequenceGroup.objects.select_for_update(no_key=True).filter(pk=operation.group_id).first()
        if operation.group_id
        else None
    )
    left_alone, restored = [], []
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
        details={"restored": restored, "left_alone": left_alone, "group_restored": group_restored},
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


# --- The check queue (SPEC §5.9) ---------------------------------------------------------------


@transaction.atomic
def label_check_confirm(*, annotation_ids: list[int], actor) -> CheckOutcome:
    """Mark the listed machine labels checked by `actor`, as one `check` operation (§5.9).

    Ids are de-duplicated; each unchecked machine label is checked, the others are skipped
    ("already checked", "not a machine label"). The operation's group is the one group the
    checked labels came from, NULL when they span several; nothing checked -> no operation.
    Raises CheckInvalid (not a non-empty list of integers), AnnotationNotFound (unknown ids;
    nothing is checked then).
    """
    errors = _id_list_errors(annotation_ids, ("body", "annotation_ids"))
    if errors:
        raise CheckInvalid(errors)
    ids = list(dict.fromkeys(annotation_ids))
    outcomes = annotation_check_many(annotation_ids=ids, actor=actor)
    missing = sorted(set(ids) - {outcome.annotation_id for outcome in outcomes})
    if missing:
        raise AnnotationNotFound(missing)
    checked = [outcome for outcome in outcomes if outcome.applied]
    result = CheckOutcome(
        operation_id=None,
        checked=[outcome.annotation_id for outcome in checked],
        skipped=[
            {"annotation_id": outcome.annotation_id, "reason": outcome.reason}
            for outcome in outcomes
            if not outcome.applied
        ],
    )
    if not checked:
        return result
    groups = {outcome.before["label_source_group_id"] for outcome in checked}
    operation = GroupOperation.objects.create(
        kind=OperationKind.CHECK,
        group_id=groups.pop() if len(groups) == 1 else None,
        actor=actor,
        details={"annotation_ids": result.checked},
    )
    _members_log(checked, lambda _: operation.pk)
    result.operation_id = operation.pk
    return result


@transaction.atomic
def label_check_reject(*, sequence_id: int, actor) -> RejectOutcome:
    """Eject a sequence from its group and undo its machine label: "Not this" (§5.9).

    In one `reject` operation: the sequence leaves its group with a sticky exclusion (the next
    runs never regroup it) and its annotation returns to a writable placeholder (regenerated
    clusters, `ready_to_annotate`, no label, not unsure) so it rejoins the annotation queue.
    The operation records the group and the membership it ended and the annotation before and
    after, so an undo restores both. Raises CheckInvalid (not an integer), SequenceNotFound,
    NotAnUncheckedMachineLabel (no annotation, or not an unchecked machine label).
    """
    if not _is_id(sequence_id):
        raise CheckInvalid([(("body", "sequence_id"), NOT_AN_ID)])
    sequence = _sequence_lock(sequence_id)
    group = _group_lock(sequence.group_id) if sequence.group_id else None
    row = SequenceAnnotation.objects.select_for_update().filter(sequence_id=sequence_id).first()
    if row is None or not row.is_unchecked_machine_label:
        raise NotAnUncheckedMachineLabel(sequence_id)
    before = annotation_snapshot(row)
    Sequence.objects.filter(pk=sequence_id).update(group=None, is_group_excluded=True)
    placeholder = annotation_write(
        sequence=sequence,
        processing_stage=ProcessingStage.READY_TO_ANNOTATE,
        is_unsure=False,
        source=None,
        actor=actor,
    )
    operation = GroupOperation.objects.create(
        kind=OperationKind.REJECT,
        group_id=group.pk if group else row.label_source_group_id,
        sequence=sequence,
        actor=actor,
        details={
            "sequence_id": sequence_id,
            "previous_group_id": sequence.group_id,
            "previous_excluded": sequence.is_group_excluded,
            "label_source": row.label_source,
        },
    )
    GroupOperationMember.objects.create(
        operation=operation,
        sequence=sequence,
        before=before,
        after=annotation_snapshot(placeholder),
    )
    return RejectOutcome(operation_id=operation.pk, sequence_id=sequence_id)
