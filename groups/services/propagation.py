"""Labels that fan out through a group: labeling a group and stamping its writable members,
and propagation on a human save (SPEC §5.7).

`group_propagate` is what the one `post_save` receiver calls for a human save; it runs in the
save's transaction, which already holds the group row, and fans out in one savepoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services.audit import (
    applied_count,
    group_snapshot,
    group_stamp_members,
    operation_group_change,
)
from sequences.models import LabelSource, ProcessingStage, Sequence, SequenceAnnotation
from sequences.payloads import Label, annotation_label
from sequences.services import NO_EFFECT, GroupEffect

logger = logging.getLogger(__name__)

CONFLICT_WARNING = (
    "Group {group_id} is labeled {group_label}, but this annotation implies {label}. "
    "Saved on this sequence only; the group and its other members were not changed."
)
FANOUT_FAILED_WARNING = (
    "Group {group_id}: propagating {label} failed, so nothing was changed on the group or its "
    "other members. This sequence's annotation was saved."
)


def group_label_of(group: SequenceGroup) -> Label | None:
    return Label.from_columns(group.smoke_type, group.false_positive_type)


def group_label_set(group: SequenceGroup, *, label: Label, is_unsure: bool, actor) -> bool:
    """Label a locked group; False (and no write) when it already has this label and flag.

    Re-sending the group's own label keeps `labeled_at` / `labeled_by`: the first labeler stands.
    """
    if group_label_of(group) == label and group.is_unsure == is_unsure:
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


def other_members(group: SequenceGroup, *, exclude_sequence_id: int | None = None) -> QuerySet:
    """The group's members in ascending id, as a subquery-able QuerySet of ids."""
    members = Sequence.objects.filter(group_id=group.pk)
    if exclude_sequence_id is not None:
        members = members.exclude(pk=exclude_sequence_id)
    return members.order_by("pk").values_list("pk", flat=True)


@dataclass(frozen=True)
class FanOut:
    """What labeling a group and fanning out did: the group changed, members written, members
    a safeguard held back."""

    group_changed: bool
    written: int
    held_back: int


def reference_box(group: SequenceGroup) -> list[float] | None:
    """The group's reference region (its representative box), if it has one."""
    bbox = group.representative_bbox
    return bbox.get("xyxyn") if isinstance(bbox, dict) else None


def label_fan_out(
    *,
    group: SequenceGroup,
    operation: GroupOperation,
    label: Label,
    is_unsure: bool,
    actor,
    exclude_sequence_id: int | None = None,
    group_before: dict[str, Any] | None = None,
) -> FanOut:
    """Label a locked group, then seed-and-stamp its writable members (`propagated`).

    Shared by propagation (§5.7) and derive-on-validate (§5.5). Runs in the caller's savepoint
    and, when the group changed, records on `operation` the group after and before (the
    current state, or `group_before` when the operation changed the group earlier).
    """
    before = group_before or group_snapshot(group)
    group_changed = group_label_set(group, label=label, is_unsure=is_unsure, actor=actor)
    outcomes = group_stamp_members(
        operation=operation,
        sequence_ids=other_members(group, exclude_sequence_id=exclude_sequence_id),
        label=label,
        is_unsure=group.is_unsure,
        source=LabelSource.PROPAGATED,
        group_id=group.pk,
        reference_box=reference_box(group),
    )
    if group_changed:
        operation_group_change(operation, before=before, group=group)
    held_back = sum(1 for outcome in outcomes if outcome.held_back)
    return FanOut(group_changed, applied_count(outcomes), held_back)


# --- Propagation on a human save (SPEC §5.7) ---------------------------------------------------


def group_propagate(
    *, annotation: SequenceAnnotation, group: SequenceGroup | None, actor=None
) -> GroupEffect:
    """Fan a human label out through the sequence's validated group (SPEC §5.7).

    Called by the post_save receiver for human saves only (machine writes never reach it), in
    the save's transaction, with the sequence's `group` row as the save locked it. A silent
    no-op unless the annotation is at `seq_annotation_done`, the group is validated and the
    annotation implies a label (§4.6). A group labeled differently is a conflict: nothing
    changes and the effect carries CONFLICT_WARNING. Otherwise, in one savepoint with one
    `propagate` operation: the group takes the label when the label or `is_unsure` differ,
    then every other writable member is seed-and-stamped (`propagated`, unchecked). If anything
    fails the savepoint is rolled back, the member's own save stands and the effect carries
    FANOUT_FAILED_WARNING. The query count does not depend on the number of members.
    """
    if annotation.processing_stage != ProcessingStage.SEQ_ANNOTATION_DONE:
        return NO_EFFECT
    if group is None or not group.is_validated:
        return NO_EFFECT
    label = annotation_label(annotation.annotation)
    if label is None:
        return group_mark_unsure(annotation=annotation, group=group, actor=actor)
    group_label = group_label_of(group)
    if group_label is not None and group_label != label:
        warning = CONFLICT_WARNING.format(group_id=group.pk, group_label=group_label, label=label)
        return GroupEffect(warning=warning)
    try:
        with transaction.atomic():
            operation = GroupOperation.objects.create(
                kind=OperationKind.PROPAGATE,
                group=group,
                actor=actor,
                details={"source_sequence_id": annotation.sequence_id, "label": str(label)},
            )
            fan_out = label_fan_out(
                group=group,
                operation=operation,
                label=label,
                is_unsure=annotation.is_unsure,
                actor=actor,
                exclude_sequence_id=annotation.sequence_id,
            )
            if not (fan_out.group_changed or fan_out.written):
                transaction.set_rollback(True)
    except Exception:
        # All-or-nothing (§5.7 step 4): whatever failed, the savepoint is gone and the
        # member's own save, outside it, stands.
        logger.exception("Propagation in group %s failed", group.pk)
        return GroupEffect(warning=FANOUT_FAILED_WARNING.format(group_id=group.pk, label=label))
    return GroupEffect(
        label=label,
        members_updated=fan_out.written,
        members_held_back=fan_out.held_back,
        group_labeled=fan_out.group_changed,
    )


def group_mark_unsure(
    *, annotation: SequenceAnnotation, group: SequenceGroup, actor=None
) -> GroupEffect:
    """An Unsure save without a label in a validated, unlabeled group: the group becomes unsure
    (it leaves "To label" for the Unsure tab), audited as a `propagate` operation that changed
    only the group; no member is written, there is no label to fan out. A label saved later
    wins: the group takes it and `is_unsure` follows that save."""
    if not annotation.is_unsure or group.labeled_at is not None or group.is_unsure:
        return NO_EFFECT
    before = group_snapshot(group)
    operation = GroupOperation.objects.create(
        kind=OperationKind.PROPAGATE,
        group=group,
        actor=actor,
        details={"source_sequence_id": annotation.sequence_id, "label": None, "unsure": True},
    )
    group.is_unsure = True
    group.save(update_fields=["is_unsure"])
    operation_group_change(operation, before=before, group=group)
    return NO_EFFECT
