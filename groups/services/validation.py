"""Validating a group and clearing its validation (SPEC §5.5); validating an unlabeled group
labels it from its annotated members when they agree."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services.audit import group_snapshot
from groups.services.errors import group_locked
from groups.services.propagation import FanOut, group_label_of, label_fan_out
from sequences.models import DONE_STAGES, SequenceAnnotation
from sequences.payloads import Label, annotation_label
from sequences.services import GroupValidated

logger = logging.getLogger(__name__)

VALIDATION_DISAGREE_WARNING = (
    "Group {group_id} was validated but not labeled: its annotated members disagree ({votes}). "
    "Remove the outliers, then save one member to label the group."
)
VALIDATION_LABEL_FAILED_WARNING = (
    "Group {group_id} was validated, but labeling it {label} failed; no member was changed."
)


@dataclass
class ValidationOutcome:
    group: SequenceGroup
    changed: bool
    operation_id: int | None = None
    validation_warning: str | None = None
    propagated_count: int = 0
    held_back_count: int = 0


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
) -> tuple[str | None, FanOut | None]:
    """Label a freshly validated, unlabeled group from its DONE members (§5.5 steps 1-4).

    `group_before` is the state before the validation, so that one undo reverts both.
    Returns `(warning, the fan-out or None)`.
    """
    votes = _votes(group)
    if not votes:
        return None, None
    if len(votes) > 1:
        warning = VALIDATION_DISAGREE_WARNING.format(group_id=group.pk, votes=_disagreement(votes))
        return warning, None
    [(label, voters)] = votes.items()
    try:
        with transaction.atomic():
            fan_out = label_fan_out(
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
        return VALIDATION_LABEL_FAILED_WARNING.format(group_id=group.pk, label=label), None
    operation.details = {**operation.details, "derived_label": str(label)}
    operation.save(update_fields=["details"])
    return None, fan_out


@transaction.atomic
def group_validate(*, group_id: int, actor) -> ValidationOutcome:
    """Mark a group validated by `actor` (SPEC §5.5); re-validating changes and logs nothing.

    false -> true stamps `validated_by` / `validated_at` and logs one `validate` operation. For
    an unlabeled group, in the same operation, the members at a DONE stage vote: one label ->
    the group takes it and its writable members are stamped (`propagated`); several labels ->
    no label and `validation_warning` lists them; a failure of the label and fan-out leaves the
    validation standing with VALIDATION_LABEL_FAILED_WARNING. Raises GroupNotFound.
    """
    group = group_locked(group_id)
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
    warning, fan_out = None, None
    if group_label_of(group) is None:
        warning, fan_out = _derive_on_validate(
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
        propagated_count=fan_out.written if fan_out else 0,
        held_back_count=fan_out.held_back if fan_out else 0,
    )


def group_validate_for_save(*, group_id: int, actor) -> GroupValidated:
    """`group_validate` for a save that validates its sequence's group first
    (`GROUP_VALIDATE_HOOK`): in the save's transaction, which already holds the group."""
    outcome = group_validate(group_id=group_id, actor=actor)
    return GroupValidated(
        group=outcome.group,
        changed=outcome.changed,
        operation_id=outcome.operation_id,
        warning=outcome.validation_warning,
    )


@transaction.atomic
def group_unvalidate(*, group_id: int, actor) -> ValidationOutcome:
    """Clear a group's validation (SPEC §5.5); an unvalidated group changes and logs nothing.

    The label stays. Logs one `unvalidate` operation. Raises GroupNotFound.
    """
    group = group_locked(group_id)
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
