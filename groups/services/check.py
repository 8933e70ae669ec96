"""The check queue (SPEC §5.9): confirming machine labels, and "Not this", which takes a
sequence out of its group and returns it to the annotation queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from groups.models import GroupOperation, GroupOperationMember, OperationKind
from groups.services.audit import members_log
from groups.services.errors import (
    NOT_AN_ID,
    AnnotationNotFound,
    CheckInvalid,
    NotAnUncheckedMachineLabel,
    group_locked,
    id_list_errors,
    is_id,
    sequence_locked,
)
from sequences.models import ProcessingStage, Sequence, SequenceAnnotation
from sequences.services import annotation_check_many, annotation_snapshot, annotation_write


@dataclass
class CheckOutcome:
    operation_id: int | None
    checked: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RejectOutcome:
    operation_id: int
    sequence_id: int


@transaction.atomic
def label_check_confirm(*, annotation_ids: list[int], actor) -> CheckOutcome:
    """Mark the listed machine labels checked by `actor`, as one `check` operation (§5.9).

    Ids are de-duplicated; each unchecked machine label is checked, the others are skipped
    ("already checked", "not a machine label"). A "look closely" label (a risk from
    GROUPS_LOOK_CLOSELY_RISK) is confirmed only on its own: in a list of several it is skipped.
    The operation's group is the one group the
    checked labels came from, NULL when they span several; nothing checked -> no operation.
    Raises CheckInvalid (not a non-empty list of integers), AnnotationNotFound (unknown ids;
    nothing is checked then).
    """
    errors = id_list_errors(annotation_ids, ("body", "annotation_ids"))
    if errors:
        raise CheckInvalid(errors)
    ids = list(dict.fromkeys(annotation_ids))
    spare = settings.GROUPS_LOOK_CLOSELY_RISK if len(ids) > 1 else None
    outcomes = annotation_check_many(annotation_ids=ids, actor=actor, spare_risk_from=spare)
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
    members_log(checked, lambda _: operation.pk)
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
    if not is_id(sequence_id):
        raise CheckInvalid([(("body", "sequence_id"), NOT_AN_ID)])
    sequence = sequence_locked(sequence_id)
    group = group_locked(sequence.group_id) if sequence.group_id else None
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
    ).annotation
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
