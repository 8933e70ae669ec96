"""What every annotation write shares: reading the predictions, generating clusters, checking
a payload, stamping provenance and snapshotting a row for the audit log.

The write paths themselves live in `annotations` (one row, the human save) and `stamps` (many
rows, machine labels, checks and restores); both build on these.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
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
from sequences.payloads import NOT_A_BOOLEAN, Loc
from sequences.safeguards import LabelRisk, Signals
from sequences.services.errors import AnnotationInvalid

STAGE_INVALID = f"must be one of {', '.join(ProcessingStage.values)}"
DETECTIONS_NOT_IN_SEQUENCE = "detections {ids} do not belong to sequence {sequence_id}"


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


def ordered_predictions(sequence_ids: Iterable[int] | Any) -> dict[int, list[tuple[int, Any]]]:
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
        "check_risk": annotation.check_risk,
        "check_reasons": annotation.check_reasons,
    }


def snapshot_matches(annotation: SequenceAnnotation | None, recorded: dict | None) -> bool:
    """Whether the row still is what a snapshot recorded (the keys an older snapshot lacks are
    not compared, so audit rows written before a field existed still undo)."""
    current = annotation_snapshot(annotation)
    if current is None or recorded is None:
        return current == recorded
    return {key: current.get(key) for key in recorded} == recorded


# --- What the safeguards of machine labels read -------------------------------------------------


def _first_frames(detections: list[tuple[int, Any]]) -> list[Any]:
    """The predictions of the first frames, those the representative box pools (§4.4)."""
    return [
        predictions for _, predictions in detections[: settings.GROUPS_REPRESENTATIVE_DETECTIONS]
    ]


def motion_of(predictions_lists: Iterable[Any]) -> float | None:
    """The motion of a sequence (`boxes.box_motion`) from its detections' `algo_predictions`
    in (recorded_at, id) order: its first GROUPS_REPRESENTATIVE_DETECTIONS frames, the ones its
    representative box pools. None when too few frames have a box."""
    first = itertools.islice(predictions_lists, settings.GROUPS_REPRESENTATIVE_DETECTIONS)
    return boxes.box_motion(first)


def sequence_signals(
    sequence_ids: Iterable[int] | Any, detections: dict[int, list[tuple[int, Any]]]
) -> dict[int, Signals]:
    """What each sequence says of itself (`sequences.safeguards.Signals`), in one query.

    `detections` are the sequences' ordered predictions, already read by the caller: a motion
    not measured yet is measured from them.
    """
    rows = Sequence.objects.filter(pk__in=sequence_ids).values_list(
        "pk", "is_wildfire_alertapi", "temporal_model_score", "motion"
    )
    signals = {}
    for sequence_id, platform_class, score, motion in rows:
        if motion is None:
            motion = motion_of(predictions for _, predictions in detections.get(sequence_id, []))
        signals[sequence_id] = Signals(platform_class, score, motion)
    return signals


def reference_overlap(
    detections: list[tuple[int, Any]], reference_box: list[float] | None
) -> float | None:
    """IoU of a sequence's representative box with a group's reference region (None without
    a region or a box)."""
    if reference_box is None:
        return None
    box = boxes.representative_box(_first_frames(detections))
    return None if box is None else boxes.iou(box["xyxyn"], reference_box)


# --- Validation -------------------------------------------------------------------------------


def _content_check(
    annotation: Any, sequence_id: int, detection_ids: set[int]
) -> tuple[dict[str, Any] | None, list[tuple[Loc, str]]]:
    """`(cleaned or None, errors)` of an annotation payload: shape, boxes, detection ownership."""
    cleaned, errors = payloads.clean_annotation(annotation)
    errors = [(("annotation", *loc), msg) for loc, msg in errors]
    referenced = payloads.annotation_detection_ids(annotation if cleaned is None else cleaned)
    foreign = sorted(set(referenced) - detection_ids)
    if foreign:
        message = DETECTIONS_NOT_IN_SEQUENCE.format(ids=foreign, sequence_id=sequence_id)
        errors.append((("annotation",), message))
    return cleaned, errors


def annotation_content_errors(*, sequence: Sequence, annotation: Any) -> list[tuple[Loc, str]]:
    """The problems of an annotation payload alone, for a caller that lists them beside its
    own (the API, whose field errors would otherwise keep `annotation_write` from running)."""
    detection_ids = set(sequence.detections.values_list("pk", flat=True))
    return _content_check(annotation, sequence.pk, detection_ids)[1]


def payload_validated(
    *,
    sequence_id: int,
    annotation: Any,
    processing_stage: Any,
    has_missed_smoke: Any,
    is_unsure: Any,
    detection_ids: set[int],
) -> dict[str, Any]:
    """Clean a write's payload or raise AnnotationInvalid listing every problem."""
    cleaned, errors = _content_check(annotation, sequence_id, detection_ids)
    if processing_stage not in ProcessingStage.values:
        errors.append((("processing_stage",), STAGE_INVALID))
    for name, value in (("has_missed_smoke", has_missed_smoke), ("is_unsure", is_unsure)):
        if not isinstance(value, bool):
            errors.append(((name,), NOT_A_BOOLEAN))
    if errors:
        raise AnnotationInvalid(errors)
    return cleaned


def provenance_stamp(
    row: SequenceAnnotation,
    *,
    source: LabelSource | None,
    actor,
    group_id: int | None = None,
    operation_id: int | None = None,
    risk: LabelRisk | None = None,
) -> None:
    """Record who wrote the row and how; machine labels start unchecked (SPEC §5.9), with their
    `risk` for the check queue."""
    now = timezone.now()
    row.updated_by = actor
    row.updated_at = now
    if source in MACHINE_SOURCES:
        row.label_source = source
        row.label_source_group_id = group_id
        row.label_source_operation_id = operation_id
        row.checked_at = None
        row.checked_by = None
        row.check_risk = risk.value if risk else 0.0
        row.check_reasons = risk.stored_reasons() if risk else []
        return
    row.label_source_group_id = None
    row.label_source_operation_id = None
    row.check_risk = None
    row.check_reasons = []
    # A placeholder (a writable stage) carries no label, hence no label source; a human save
    # is checked whatever its stage (SPEC §2.2), an import placeholder is not.
    human = source == LabelSource.HUMAN
    row.label_source = (
        LabelSource.HUMAN if human and row.processing_stage not in WRITABLE_STAGES else None
    )
    row.checked_at = now if human else None
    row.checked_by = actor if human else None


def content_set(row: SequenceAnnotation, annotation: dict[str, Any]) -> None:
    row.annotation = annotation
    for name, value in payloads.derived_flags(annotation).items():
        setattr(row, name, value)
