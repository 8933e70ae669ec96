"""Writes of the sequence domain.

`annotation_write` is the one path that creates or updates a single annotation and
`annotation_write_many` (or `annotation_write_stamps`, with a label per sequence) its set form
for machine labels; all of them validate, recompute the derived flags and record provenance and
the check state, so no other code saves an annotation by hand.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from sequences import boxes, payloads
from sequences.models import (
    MACHINE_SOURCES,
    WRITABLE_STAGES,
    Camera,
    Detection,
    LabelSource,
    Organization,
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
    }


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
    cleaned, errors = _content_check(annotation, sequence_id, detection_ids)
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
    # A placeholder (a writable stage) carries no label, hence no label source; a human save
    # is checked whatever its stage (SPEC §2.2), an import placeholder is not.
    human = source == LabelSource.HUMAN
    row.label_source = (
        LabelSource.HUMAN if human and row.processing_stage not in WRITABLE_STAGES else None
    )
    row.checked_at = now if human else None
    row.checked_by = actor if human else None


def _set_content(row: SequenceAnnotation, annotation: dict[str, Any]) -> None:
    row.annotation = annotation
    for name, value in payloads.derived_flags(annotation).items():
        setattr(row, name, value)


# --- One row ----------------------------------------------------------------------------------

ANNOTATION_EXISTS = "Sequence {sequence_id} already has an annotation"


def _lock_sequence_and_group(sequence_id: int) -> Sequence:
    """Lock the sequence, then its group row, in the lock order of SPEC §5.1.

    Holding the group before reading the annotation means a concurrent fan-out (which holds
    the group while it writes members) cannot create this annotation between our read and our
    write. The group model is reached through the foreign key so `sequences` never imports
    `groups`. NO KEY UPDATE: the fan-out inserts rows referencing these rows (KEY SHARE locks),
    which a full FOR UPDATE would block, deadlocking the two.
    """
    sequence = Sequence.objects.select_for_update(no_key=True).get(pk=sequence_id)
    if sequence.group_id is not None:
        group_model = Sequence._meta.get_field("group").related_model
        locked = group_model.objects.select_for_update(no_key=True).filter(pk=sequence.group_id)
        list(locked.values_list("pk", flat=True))
    return sequence


@transaction.atomic
def annotation_create(*, sequence_id: int, **fields: Any) -> SequenceAnnotation:
    """`annotation_write` for a sequence that has no annotation yet (the API's create).

    The existence check runs under `annotation_write`'s own locks, so two creates cannot both
    pass it, and a fan-out inserting this very row is waited for, never deadlocked with.
    Raises `Sequence.DoesNotExist`, `AlreadyExists`, `AnnotationInvalid`.
    """
    sequence = _lock_sequence_and_group(sequence_id)
    if SequenceAnnotation.objects.filter(sequence=sequence).exists():
        raise AlreadyExists(ANNOTATION_EXISTS.format(sequence_id=sequence_id))
    return _write_locked(sequence, None, **fields)


@transaction.atomic
def annotation_update(
    *,
    annotation_id: int,
    changes: dict[str, Any],
    source: LabelSource | None,
    actor=None,
    autogen: AutogenParams | None = None,
) -> SequenceAnnotation:
    """A partial update: the fields `changes` leaves out keep their values as read under the
    locks, so a fan-out, bulk label or check that landed meanwhile is not written back over.

    `autogen` (the thresholds a client sent) without an `annotation` at `ready_to_annotate`
    regenerates the clusters with them. Raises `SequenceAnnotation.DoesNotExist`,
    `AnnotationInvalid`.
    """
    rows = SequenceAnnotation.objects.filter(pk=annotation_id)
    sequence = _lock_sequence_and_group(rows.values_list("sequence_id", flat=True).get())
    row = rows.get()
    stage = changes.get("processing_stage", row.processing_stage)
    annotation = changes.get("annotation", row.annotation)
    regenerate = autogen is not None and stage == ProcessingStage.READY_TO_ANNOTATE
    if "annotation" not in changes and regenerate:
        annotation = None
    return _write_locked(
        sequence,
        row,
        annotation=annotation,
        processing_stage=stage,
        has_missed_smoke=changes.get("has_missed_smoke"),
        is_unsure=changes.get("is_unsure"),
        source=source,
        actor=actor,
        autogen=autogen,
    )


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
    sequence = _lock_sequence_and_group(sequence.pk)
    row = SequenceAnnotation.objects.filter(sequence=sequence).first()
    return _write_locked(
        sequence,
        row,
        annotation=annotation,
        processing_stage=processing_stage,
        has_missed_smoke=has_missed_smoke,
        is_unsure=is_unsure,
        source=source,
        actor=actor,
        autogen=autogen,
    )


def _write_locked(
    sequence: Sequence,
    row: SequenceAnnotation | None,
    *,
    annotation: Any = None,
    processing_stage: Any,
    has_missed_smoke: Any = None,
    is_unsure: Any = None,
    source: LabelSource | None,
    actor=None,
    autogen: AutogenParams | None = None,
) -> SequenceAnnotation:
    """`annotation_write` once `sequence` and its group are locked and its `row` read."""
    detections = ordered_predictions([sequence.pk])[sequence.pk]

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


@dataclass(frozen=True)
class MachineStamp:
    """The label one sequence receives in a set-wise machine write, and where it came from."""

    label: Label
    is_unsure: bool
    group_id: int | None = None
    operation_id: int | None = None


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
    `sequence_ids` may be a `values_list("pk", flat=True)` QuerySet, read as a subquery.
    """
    stamp = MachineStamp(label, is_unsure, group_id, operation_id)
    return _stamps_write(sequence_ids, lambda _: stamp, source=source, actor=actor)


def annotation_write_stamps(
    *, stamps: dict[int, MachineStamp], source: LabelSource, actor=None
) -> list[StampOutcome]:
    """`annotation_write_many` with its own label, group and operation for each sequence.

    Lets a caller that labels many groups at once (the assignment's inheritance) write them all
    with the same handful of queries as one group. Sequences are handled in ascending id order.
    """
    return _stamps_write(sorted(stamps), stamps.__getitem__, source=source, actor=actor)


def _stamps_write(
    sequence_ids: list[int] | Any,
    stamp_for: Callable[[int], MachineStamp],
    *,
    source: LabelSource,
    actor,
) -> list[StampOutcome]:
    if source not in MACHINE_SOURCES:
        raise ValueError(f"set-wise writes are for machine labels, not {source!r}")
    existing = {
        row.sequence_id: row
        for row in SequenceAnnotation.objects.select_for_update()
        .filter(sequence_id__in=sequence_ids)
        .order_by("sequence_id")
    }
    detections = ordered_predictions(sequence_ids)
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
        stamp = stamp_for(sequence_id)
        _set_content(row, payloads.stamp_label(generated, stamp.label))
        row.is_unsure = stamp.is_unsure
        row.processing_stage = ProcessingStage.SEQ_ANNOTATION_DONE
        _apply_provenance(
            row,
            source=source,
            actor=actor,
            group_id=stamp.group_id,
            operation_id=stamp.operation_id,
        )
        outcomes.append(StampOutcome(sequence_id, True, None, row.pk, before))
    SequenceAnnotation.objects.bulk_create(to_create)
    # An upsert on the locked rows rather than bulk_update: bulk_update builds one CASE WHEN per
    # row and field, which costs seconds for a thousand rows; this is one plain INSERT.
    SequenceAnnotation.objects.bulk_create(
        to_update, update_conflicts=True, unique_fields=["sequence"], update_fields=STAMPED_FIELDS
    )
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


# --- Creation: organisations, cameras, sequences, detections (importers and the API) -----------

IMAGE_INVALID = "image cannot be opened as JPEG, PNG or WebP"
IMAGE_EXTENSION_INVALID = "must be one of .jpg, .png, .webp"
SEQUENCE_EXISTS = "Sequence ({source_api}, {alert_api_id}) already exists"
DETECTION_EXISTS = "Detection {alert_api_id} already exists in sequence {sequence_id}"
AZIMUTH_INVALID = "azimuth must be a finite number or null"
SOURCE_API_MISMATCH = "{what} belongs to {other}, not {source_api}"

# Pillow format name -> the extension the stored file gets.
IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
# The media type a stored image is served with, by its file extension.
IMAGE_MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


class DetectionInvalid(AnnotationInvalid):
    """A detection payload that cannot be written; `errors` lists `(loc, message)`."""


class ServiceError(Exception):
    """A refused request that carries its HTTP status and its detail (a message or a field
    list), which the API answers as they are.

    Here, at the bottom of the dependency order, so that the API layer both apps share knows
    the errors of `groups` (which derive from it) without importing `groups`.
    """

    status = 400

    def __init__(self, detail: str | list[dict[str, Any]]):
        self.detail = detail
        super().__init__(detail if isinstance(detail, str) else repr(detail))


class AlreadyExists(Exception):
    """A row with the same natural key exists; the message names it."""


class SequenceExists(AlreadyExists):
    pass


class DetectionExists(AlreadyExists):
    pass


def image_check(data: bytes) -> str:
    """The extension (".jpg", ".png", ".webp") of image bytes Pillow can open and verify.

    Raises ValueError(IMAGE_INVALID) for anything else (other formats, truncated headers, text).
    """
    # Imported here so that modules importing services do not pay for Pillow's start-up.
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            extension = IMAGE_FORMATS.get(image.format or "")
            image.verify()
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, struct.error...)
        raise ValueError(IMAGE_INVALID) from exc
    if extension is None:
        raise ValueError(IMAGE_INVALID)
    return extension


def azimuth_normalise(value: float | int | None) -> int | None:
    """Whole degrees 0..359: round half to even, then wrap (359.6 -> 0, 90.5 -> 90, -1 -> 359).

    None stays None (unknown azimuth, never grouped). Raises ValueError for a non-finite number
    or a non-number (a bool is not an azimuth).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(AZIMUTH_INVALID)
    if not math.isfinite(value):
        raise ValueError(AZIMUTH_INVALID)
    # Python's round() is half-to-even, the rule the platform's original importer used.
    return int(round(value)) % 360


@transaction.atomic
def organization_upsert(*, source_api: str, platform_id: int, name: str) -> Organization:
    """The organisation `(source_api, platform_id)`, created or with its name refreshed."""
    organization, created = Organization.objects.select_for_update().get_or_create(
        source_api=source_api, platform_id=platform_id, defaults={"name": name}
    )
    if not created and organization.name != name:
        organization.name = name
        organization.save(update_fields=["name", "updated_at"])
    return organization


@transaction.atomic
def camera_upsert(
    *, source_api: str, platform_id: int, name: str, organization: Organization
) -> Camera:
    """The camera `(source_api, platform_id)`, created or with its name and owner refreshed.

    The organisation must come from the same source API (ValueError otherwise).
    """
    if organization.source_api != source_api:
        raise ValueError(
            SOURCE_API_MISMATCH.format(
                what="organisation", other=organization.source_api, source_api=source_api
            )
        )
    camera, created = Camera.objects.select_for_update().get_or_create(
        source_api=source_api,
        platform_id=platform_id,
        defaults={"name": name, "organization": organization},
    )
    if not created and (camera.name, camera.organization_id) != (name, organization.pk):
        camera.name = name
        camera.organization = organization
        camera.save(update_fields=["name", "organization", "updated_at"])
    return camera


@transaction.atomic
def sequence_create(
    *,
    source_api: str,
    alert_api_id: int,
    camera: Camera,
    organization: Organization,
    lat: float,
    lon: float,
    azimuth: float | int | None,
    is_wildfire_alertapi: str | None,
    recorded_at: datetime,
    last_seen_at: datetime | None,
) -> Sequence:
    """Create a sequence; azimuth is normalised with `azimuth_normalise`.

    Raises SequenceExists (SEQUENCE_EXISTS) when `(source_api, alert_api_id)` is taken, also
    when a concurrent writer wins the unique constraint; ValueError for a bad azimuth or a
    camera of another source API. Enum columns are guarded by the database's CHECKs.
    """
    if camera.source_api != source_api:
        raise ValueError(
            SOURCE_API_MISMATCH.format(
                what="camera", other=camera.source_api, source_api=source_api
            )
        )
    sequence = Sequence(
        source_api=source_api,
        alert_api_id=alert_api_id,
        camera=camera,
        organization=organization,
        lat=lat,
        lon=lon,
        azimuth=azimuth_normalise(azimuth),
        is_wildfire_alertapi=is_wildfire_alertapi,
        recorded_at=recorded_at,
        last_seen_at=last_seen_at,
    )
    exists = SEQUENCE_EXISTS.format(source_api=source_api, alert_api_id=alert_api_id)
    if Sequence.objects.filter(source_api=source_api, alert_api_id=alert_api_id).exists():
        raise SequenceExists(exists)
    try:
        with transaction.atomic():
            sequence.save(force_insert=True)
    except IntegrityError as exc:
        if Sequence.objects.filter(source_api=source_api, alert_api_id=alert_api_id).exists():
            raise SequenceExists(exists) from exc
        raise
    return sequence


def detection_image_name(
    *, sequence_id: int, alert_api_id: int, recorded_at: datetime, data: bytes, extension: str
) -> str:
    """`detections/sequence_<sid>/<YYYYMMDD_HHMMSS>_det<alert_api_id>_<8 hex sha256><ext>`."""
    stamp = recorded_at.astimezone(UTC).strftime("%Y%m%d_%H%M%S")
    digest = hashlib.sha256(data).hexdigest()[:8]
    return f"detections/sequence_{sequence_id}/{stamp}_det{alert_api_id}_{digest}{extension}"


def detection_payload_errors(
    *, algo_predictions: Any, others_bboxes: Any
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[tuple[Loc, str]]]:
    """Clean a detection's two box payloads (SPEC §3.2): `(predictions, others, errors)`."""
    cleaned, errors = payloads.clean_predictions(algo_predictions)
    others, other_errors = payloads.clean_predictions(others_bboxes, nullable=True)
    return (
        cleaned,
        others,
        [(("algo_predictions", *loc), msg) for loc, msg in errors]
        + [(("others_bboxes", *loc), msg) for loc, msg in other_errors],
    )


@transaction.atomic
def detection_create(
    *,
    sequence: Sequence,
    alert_api_id: int,
    recorded_at: datetime,
    image_bytes: bytes,
    extension: str,
    algo_predictions: Any,
    others_bboxes: Any = None,
) -> Detection:
    """Store the image and create the detection row.

    - `extension` comes from `image_check` (the caller has checked the bytes).
    - Predictions are validated (SPEC §3.2): DetectionInvalid lists every problem.
    - DetectionExists (DETECTION_EXISTS) when the sequence already has `alert_api_id`.
    - The file is named as SPEC §2.2 (storage may suffix the name if an orphan file occupies
      it). If the row cannot be inserted the file is deleted again; if the caller's transaction
      rolls back later, deleting the file (`detection.image.name`) is the caller's job.
    """
    cleaned, others, errors = detection_payload_errors(
        algo_predictions=algo_predictions, others_bboxes=others_bboxes
    )
    if extension not in IMAGE_FORMATS.values():
        errors.append((("extension",), IMAGE_EXTENSION_INVALID))
    if errors:
        raise DetectionInvalid(errors)
    exists = DETECTION_EXISTS.format(alert_api_id=alert_api_id, sequence_id=sequence.pk)
    if Detection.objects.filter(sequence=sequence, alert_api_id=alert_api_id).exists():
        raise DetectionExists(exists)

    storage = Detection._meta.get_field("image").storage
    name = detection_image_name(
        sequence_id=sequence.pk,
        alert_api_id=alert_api_id,
        recorded_at=recorded_at,
        data=image_bytes,
        extension=extension,
    )
    stored = storage.save(name, ContentFile(image_bytes))
    try:
        with transaction.atomic():
            return Detection.objects.create(
                sequence=sequence,
                alert_api_id=alert_api_id,
                recorded_at=recorded_at,
                image=stored,
                algo_predictions=cleaned,
                others_bboxes=others,
            )
    except Exception as exc:
        storage.delete(stored)
        duplicate = Detection.objects.filter(sequence=sequence, alert_api_id=alert_api_id)
        if isinstance(exc, IntegrityError) and duplicate.exists():
            raise DetectionExists(exists) from exc
        raise


# --- Checks and restores (the check queue and undo, SPEC §5.8, §5.9) ---------------------------

CHECK_SKIP_ALREADY = "already checked"
CHECK_SKIP_NOT_MACHINE = "not a machine label"

# References a snapshot may hold; the row they point to may have been deleted since.
SNAPSHOT_REFERENCES = ("label_source_group", "label_source_operation", "checked_by")
RESTORED_FIELDS = [*STAMPED_FIELDS, "has_missed_smoke"]


def annotation_check_many(*, annotation_ids: list[int], actor) -> list[StampOutcome]:
    """Mark unchecked machine labels as checked by `actor`, in the caller's transaction.

    One outcome per annotation id that exists, in the given order (an unknown id simply has no
    outcome, so callers find unknown ids by their absence): applied, with before/after
    snapshots; or skipped, "not a machine label" or "already checked". Rows are locked in
    ascending sequence order and written with one bulk update; the label itself is not touched.
    """
    rows = {
        row.pk: row
        for row in SequenceAnnotation.objects.select_for_update()
        .filter(pk__in=annotation_ids)
        .order_by("sequence_id")
    }
    now = timezone.now()
    outcomes, checked = [], []
    for annotation_id in annotation_ids:
        row = rows.get(annotation_id)
        if row is None:
            continue
        if row.label_source not in MACHINE_SOURCES:
            reason = CHECK_SKIP_NOT_MACHINE
        elif row.checked_at is not None:
            reason = CHECK_SKIP_ALREADY
        else:
            before = annotation_snapshot(row)
            row.checked_at, row.checked_by = now, actor
            row.updated_at, row.updated_by = now, actor
            checked.append(row)
            outcome = StampOutcome(row.sequence_id, True, None, row.pk, before)
            outcome.after = annotation_snapshot(row)
            outcomes.append(outcome)
            continue
        outcomes.append(StampOutcome(row.sequence_id, False, reason, row.pk))
    SequenceAnnotation.objects.bulk_update(
        checked, fields=["checked_at", "checked_by", "updated_at", "updated_by"]
    )
    return outcomes


def _surviving_references(snapshots: Iterable[dict[str, Any]]) -> dict[str, set[int]]:
    """For each reference a snapshot may hold, the ids that still exist (one query each)."""
    snapshots = list(snapshots)
    surviving = {}
    for name in SNAPSHOT_REFERENCES:
        ids = {snapshot[f"{name}_id"] for snapshot in snapshots if snapshot.get(f"{name}_id")}
        model = SequenceAnnotation._meta.get_field(name).related_model
        found = model.objects.filter(pk__in=ids).values_list("pk", flat=True) if ids else []
        surviving[name] = set(found)
    return surviving


def annotation_restore_many(*, snapshots: dict[int, dict[str, Any] | None], actor=None) -> None:
    """Put annotations back as `annotation_snapshot` recorded them, in the caller's transaction.

    `snapshots` maps sequence ids to a snapshot, or to None to delete that sequence's row. The
    caller decides which rows may be restored (undo restores a row only while it still equals
    what the operation wrote) and holds the locks it needs. Derived flags are recomputed,
    `updated_by` / `updated_at` record the restore, and a reference to a row deleted since
    (a group, an operation, a user) is restored as NULL. A restore is not a human save: it never
    propagates. Queries: one locked read, at most three reference reads, one delete, one bulk
    create and one bulk update, whatever the number of rows.
    """
    rows = {
        row.sequence_id: row
        for row in SequenceAnnotation.objects.select_for_update()
        .filter(sequence_id__in=list(snapshots))
        .order_by("sequence_id")
    }
    surviving = _surviving_references(s for s in snapshots.values() if s is not None)
    now = timezone.now()
    to_create, to_update, to_delete = [], [], []
    for sequence_id, snapshot in sorted(snapshots.items()):
        row = rows.get(sequence_id)
        if snapshot is None:
            if row is not None:
                to_delete.append(row.pk)
            continue
        if row is None:
            row = SequenceAnnotation(sequence_id=sequence_id)
            to_create.append(row)
        else:
            to_update.append(row)
        _set_content(row, snapshot["annotation"])
        row.processing_stage = snapshot["processing_stage"]
        row.is_unsure = snapshot["is_unsure"]
        row.has_missed_smoke = snapshot["has_missed_smoke"]
        row.label_source = snapshot["label_source"]
        for name in SNAPSHOT_REFERENCES:
            value = snapshot[f"{name}_id"]
            setattr(row, f"{name}_id", value if value in surviving[name] else None)
        checked_at = snapshot["checked_at"]
        row.checked_at = datetime.fromisoformat(checked_at) if checked_at else None
        row.updated_at, row.updated_by = now, actor
    SequenceAnnotation.objects.filter(pk__in=to_delete).delete()
    SequenceAnnotation.objects.bulk_create(to_create)
    SequenceAnnotation.objects.bulk_update(to_update, fields=RESTORED_FIELDS)
