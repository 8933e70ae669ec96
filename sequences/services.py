"""Writes of the sequence domain.

`annotation_write` is the one path that creates or updates a single annotation and
`annotation_write_many` its set form for machine labels; both validate, recompute the derived
flags and record provenance and the check state, so no other code saves an annotation by hand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sequences import boxes, payloads
from sequences.models import (
    MACHINE_SOURCES,
    WRITABLE_STAGES,
    Detection,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import Label

Loc = tuple[Any, ...]

STAGE_INVALID = f"must be one of {', '.join(ProcessingStage.values)}"
NOT_A_BOOLEAN = "must be a boolean"
DETECTIONS_NOT_IN_SEQUENCE = "detections {ids} do not belong to sequence {sequence_id}"
SKIP_NO_PREDICTIONS = "no AI predictions to seed annotation"
SKIP_LOCKED = "already {stage}"


class AnnotationInvalid(Exception):
    """A payload that cannot be written; `errors` lists `(loc, message)` for every problem."""

    def __init__(self, errors: list[tuple[Loc, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))


@dataclass(frozen=True)
class AutogenParams:
    """Parameters of cluster auto-generation (SPEC §4.2); defaults come from settings."""

    confidence_threshold: float = field(
        default_factory=lambda: settings.ANNOTATION_AUTOGEN_CONFIDENCE_THRESHOLD
    )
    iou_threshold: float = field(default_factory=lambda: settings.ANNOTATION_AUTOGEN_IOU_THRESHOLD)
    min_cluster_size: int = field(
        default_factory=lambda: settings.ANNOTATION_AUTOGEN_MIN_CLUSTER_SIZE
    )


# --- Reading what a write needs --------------------------------------------------------------


def _ordered_predictions(sequence_ids: Iterable[int] | Any) -> dict[int, list[tuple[int, Any]]]:
    """`{sequence_id: [(detection_id, algo_predictions), ...]}` in (recorded_at, id) order.

    One query whatever the number of sequences; `sequence_ids` may be a list or a subquery.
    """
    by_sequence: dict[int, list[tuple[int, Any]]] = defaultdict(list)
    rows = (
        Detection.objects.filter(sequence_id__in=sequence_ids)
        .order_by("sequence_id", "recorded_at", "id")
        .values_list("sequence_id", "id", "algo_predictions")
    )
    for sequence_id, detection_id, predictions in rows:
        by_sequence[sequence_id].append((detection_id, predictions))
    return by_sequence


def annotation_generate(
    *, detections: list[tuple[int, Any]], params: AutogenParams | None = None
) -> dict[str, Any]:
    """Auto-generated clusters of one sequence (an empty list when nothing comes out)."""
    params = params or AutogenParams()
    generated = boxes.generate_clusters(
        detections,
        confidence_threshold=params.confidence_threshold,
        iou_threshold=params.iou_threshold,
        min_cluster_size=params.min_cluster_size,
    )
    return generated or {"sequences_bbox": []}


def annotation_snapshot(annotation: SequenceAnnotation | None) -> dict[str, Any] | None:
    """What the audit log keeps of an annotation, enough for an undo (SPEC §2.3)."""
    if annotation is None:
        return None
    return {
        "annotation_id": annotation.pk,
        "processing_stage": annotation.processing_stage,
        "annotation": annotation.annotation,
        "is_unsure": annotation.is_unsure,
        "has_missed_smoke": annotation.has_missed_smoke,
        "label_source": annotation.label_source,
        "label_source_group_id": annotation.label_source_group_id,
        "label_source_operation_id": annotation.label_source_operation_id,
        "checked_at": annotation.checked_at.isoformat() if annotation.checked_at else None,
        "checked_by_id": annotation.checked_by_id,
    }


# --- Validation -------------------------------------------------------------------------------


def _validate_payload(
    *,
    sequence_id: int,
    annotation: Any,
    processing_stage: Any,
    has_missed_smoke: Any,
    is_unsure: Any,
    detection_ids: set[int],
) -> dict[str, Any]:
    """Clean a write's payload or raise AnnotationInvalid listing every problem."""
    cleaned, errors = payloads.clean_annotation(annotation)
    errors = [(("annotation", *loc), msg) for loc, msg in errors]
    if cleaned is not None:
        foreign = sorted(set(payloads.annotation_detection_ids(cleaned)) - detection_ids)
        if foreign:
            message = DETECTIONS_NOT_IN_SEQUENCE.format(ids=foreign, sequence_id=sequence_id)
            errors.append((("annotation",), message))
    if processing_stage not in ProcessingStage.values:
        errors.append((("processing_stage",), STAGE_INVALID))
    for name, value in (("has_missed_smoke", has_missed_smoke), ("is_unsure", is_unsure)):
        if not isinstance(value, bool):
            errors.append(((name,), NOT_A_BOOLEAN))
    if errors:
        raise AnnotationInvalid(errors)
    return cleaned


def _apply_provenance(
    row: SequenceAnnotation,
    *,
    source: LabelSource | None,
    actor,
    group_id: int | None = None,
    operation_id: int | None = None,
) -> None:
    """Record who wrote the row and how; machine labels start unchecked (SPEC §5.9)."""
    now = timezone.now()
    row.updated_by = actor
    row.updated_at = now
    if source in MACHINE_SOURCES:
        row.label_source = source
        row.label_source_group_id = group_id
        row.label_source_operation_id = operation_id
        row.checked_at = None
        row.checked_by = None
        return
    row.label_source_group_id = None
    row.label_source_operation_id = None
    if source == LabelSource.HUMAN and row.processing_stage not in WRITABLE_STAGES:
        row.label_source = LabelSource.HUMAN
        row.checked_at = now
        row.checked_by = actor
    else:
        # A placeholder carries no label, so there is nothing to check either.
        row.label_source = None
        row.checked_at = None
        row.checked_by = None


def _set_content(row: SequenceAnnotation, annotation: dict[str, Any]) -> None:
    row.annotation = annotation
    for name, value in payloads.derived_flags(annotation).items():
        setattr(row, name, value)


# --- One row ----------------------------------------------------------------------------------


@transaction.atomic
def annotation_write(
    *,
    sequence: Sequence,
    annotation: Any = None,
    processing_stage: Any,
    has_missed_smoke: Any = None,
    is_unsure: Any = None,
    source: LabelSource | None,
    actor=None,
    autogen: AutogenParams | None = None,
) -> SequenceAnnotation:
    """Create or update the annotation of `sequence`, the one write path for single rows.

    - Validates everything before writing (every box, enum, detection ownership) and raises
      `AnnotationInvalid` with every problem; nothing is saved then.
    - At `ready_to_annotate` an omitted or empty `annotation` is generated from the predictions.
    - `has_missed_smoke` / `is_unsure` left as None keep the current values (False on creation).
    - `source=HUMAN` is a human save: the row is marked so that the groups app's receivers lock
      the group and propagate; it is checked by `actor`. A human save at a writable stage, and
      `source=None` (import placeholder), leave no label provenance.
    The returned instance carries `group_propagation_warning` / `group_propagation_updated`
    when the groups app acted on a human save.
    """
    sequence = Sequence.objects.select_for_update().get(pk=sequence.pk)
    row = SequenceAnnotation.objects.filter(sequence=sequence).first()
    detections = _ordered_predictions([sequence.pk])[sequence.pk]

    is_empty = annotation is None or annotation == {} or annotation == {"sequences_bbox": []}
    if processing_stage == ProcessingStage.READY_TO_ANNOTATE and is_empty:
        try:
            annotation = annotation_generate(detections=detections, params=autogen)
        except ValueError as exc:
            raise AnnotationInvalid([(("autogen",), str(exc))]) from exc
    if has_missed_smoke is None:
        has_missed_smoke = row.has_missed_smoke if row else False
    if is_unsure is None:
        is_unsure = row.is_unsure if row else False

    cleaned = _validate_payload(
        sequence_id=sequence.pk,
        annotation=annotation,
        processing_stage=processing_stage,
        has_missed_smoke=has_missed_smoke,
        is_unsure=is_unsure,
        detection_ids={detection_id for detection_id, _ in detections},
    )
    if row is None:
        row = SequenceAnnotation(sequence=sequence)
    _set_content(row, cleaned)
    row.processing_stage = processing_stage
    row.has_missed_smoke = has_missed_smoke
    row.is_unsure = is_unsure
    _apply_provenance(row, source=source, actor=actor)
    if source == LabelSource.HUMAN:
        row._human_save = True
        row._actor = actor
    row.group_propagation_warning = None
    row.group_propagation_updated = 0
    row.save()
    return row


def annotation_recompute(*, annotation: SequenceAnnotation) -> SequenceAnnotation:
    """Recompute derived flags of a row edited in the admin (a correction: no propagation)."""
    cleaned, errors = payloads.clean_annotation(annotation.annotation)
    if errors:
        raise AnnotationInvalid([(("annotation", *loc), msg) for loc, msg in errors])
    _set_content(annotation, cleaned)
    annotation.save()
    return annotation


@transaction.atomic
def annotation_delete(*, annotation: SequenceAnnotation) -> None:
    """Delete an annotation; the sequence is kept and nothing propagates."""
    annotation.delete()


# --- Many rows: machine labels (seed-and-stamp, SPEC §4.8) -------------------------------------


@dataclass
class StampOutcome:
    """What happened to one sequence of a set-wise machine write."""

    sequence_id: int
    applied: bool
    reason: str | None = None
    annotation_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def annotation_write_many(
    *,
    sequence_ids: list[int],
    label: Label,
    is_unsure: bool,
    source: LabelSource,
    actor=None,
    group_id: int | None = None,
    operation_id: int | None = None,
) -> list[StampOutcome]:
    """Seed-and-stamp `label` on many sequences at once, in the caller's transaction.

    For each sequence, in the given order: a LOCKED annotation is skipped ("already <stage>");
    otherwise clusters are generated from all its detections with the settings' defaults and
    stamped with the label; no cluster -> skipped ("no AI predictions to seed annotation"),
    nothing created. Written rows are at `seq_annotation_done` with machine provenance and
    unchecked. Queries: one locked read of the annotations, one read of the detections, one bulk
    create and one bulk update, whatever the number of sequences (SQLite splits bulk statements).
    """
    if source not in MACHINE_SOURCES:
        raise ValueError(f"annotation_write_many writes machine labels, not {source!r}")
    existing = {
        row.sequence_id: row
        for row in SequenceAnnotation.objects.select_for_update()
        .filter(sequence_id__in=sequence_ids)
        .order_by("sequence_id")
    }
    detections = _ordered_predictions(sequence_ids)
    params = AutogenParams()
    outcomes, to_create, to_update = [], [], []
    for sequence_id in sequence_ids:
        row = existing.get(sequence_id)
        if row is not None and row.processing_stage not in WRITABLE_STAGES:
            reason = SKIP_LOCKED.format(stage=row.processing_stage)
            outcomes.append(StampOutcome(sequence_id, False, reason, row.pk))
            continue
        generated = annotation_generate(detections=detections.get(sequence_id, []), params=params)
        if not generated["sequences_bbox"]:
            annotation_id = row.pk if row else None
            outcomes.append(StampOutcome(sequence_id, False, SKIP_NO_PREDICTIONS, annotation_id))
            continue
        before = annotation_snapshot(row)
        if row is None:
            row = SequenceAnnotation(sequence_id=sequence_id, has_missed_smoke=False)
            to_create.append(row)
        else:
            to_update.append(row)
        _set_content(row, payloads.stamp_label(generated, label))
        row.is_unsure = is_unsure
        row.processing_stage = ProcessingStage.SEQ_ANNOTATION_DONE
        _apply_provenance(
            row, source=source, actor=actor, group_id=group_id, operation_id=operation_id
        )
        outcomes.append(StampOutcome(sequence_id, True, None, row.pk, before))
    SequenceAnnotation.objects.bulk_create(to_create)
    SequenceAnnotation.objects.bulk_update(to_update, fields=STAMPED_FIELDS)
    rows = {row.sequence_id: row for row in [*to_create, *to_update]}
    for outcome in outcomes:
        if outcome.applied:
            outcome.annotation_id = rows[outcome.sequence_id].pk
            outcome.after = annotation_snapshot(rows[outcome.sequence_id])
    return outcomes


STAMPED_FIELDS = [
    "annotation",
    "has_smoke",
    "has_false_positives",
    "smoke_types",
    "false_positive_types",
    "is_unsure",
    "processing_stage",
    "label_source",
    "label_source_group",
    "label_source_operation",
    "updated_by",
    "updated_at",
    "checked_at",
    "checked_by",
]
