"""Creating what the cameras saw: organisations, cameras, sequences and detections, for the
API and every importer (the local export folder, the platform pull), and measuring a sequence's
motion once its detections are stored (at import, or for existing rows in batches).

Each function checks its own values and names the field at fault, so a caller never saves half
a record; natural-key clashes raise `AlreadyExists`, also when a concurrent writer wins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Case, FloatField, Value, When

from sequences import boxes, payloads
from sequences.models import Camera, Detection, Organization, Sequence
from sequences.payloads import Loc
from sequences.services.content import motion_of, ordered_predictions
from sequences.services.errors import (
    ChangeForbidden,
    DetectionExists,
    DetectionInvalid,
    SequenceExists,
    actor_may,
)
from sequences.services.images import IMAGE_EXTENSION_INVALID, IMAGE_FORMATS, detection_image_name

SEQUENCE_EXISTS = "Sequence ({source_api}, {alert_api_id}) already exists"
DETECTION_EXISTS = "Detection {alert_api_id} already exists in sequence {sequence_id}"
AZIMUTH_INVALID = "azimuth must be a finite number or null"
SOURCE_API_MISMATCH = "{what} belongs to {other}, not {source_api}"
# The platform's temporal model fields (PLATFORM_API.md §3.3); NULL means "not scored".
TEMPORAL_SCORE_INVALID = "must be a number between 0 and 1, or null"
TEMPORAL_VERSION_MAX_LENGTH = Sequence._meta.get_field("temporal_model_version").max_length
TEMPORAL_VERSION_INVALID = (
    f"must be a non-empty string of at most {TEMPORAL_VERSION_MAX_LENGTH} characters, or null"
)
TEMPORAL_FIELD_INVALID = "{field} {problem}"
ORGANIZATION_PERMISSION = "sequences.change_organization"
CAMERA_PERMISSION = "sequences.change_camera"
ORGANIZATION_RENAME_FORBIDDEN = (
    "Organisation {platform_id} ({source_api}) is named {name!r}: renaming it needs staff or "
    f"the permission {ORGANIZATION_PERMISSION}"
)
CAMERA_CHANGE_FORBIDDEN = (
    "Camera {platform_id} ({source_api}) is {name!r} of organisation {organization_id}: "
    f"renaming it or moving it to another organisation needs staff or the permission "
    f"{CAMERA_PERMISSION}"
)


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


def temporal_score_problem(value: object) -> str | None:
    """Why `value` cannot be a temporal model score (None, or a finite number in [0, 1]), or
    None when it can. A bool is not a score."""
    if value is None or (boxes.is_finite_number(value) and 0 <= value <= 1):
        return None
    return TEMPORAL_SCORE_INVALID


def temporal_version_problem(value: object) -> str | None:
    """Why `value` cannot be a temporal model or API version (None, or a non-empty string of
    at most TEMPORAL_VERSION_MAX_LENGTH characters), or None when it can."""
    if value is None or (
        isinstance(value, str) and value.strip() and len(value) <= TEMPORAL_VERSION_MAX_LENGTH
    ):
        return None
    return TEMPORAL_VERSION_INVALID


TEMPORAL_FIELDS = {
    "temporal_model_score": temporal_score_problem,
    "temporal_model_version": temporal_version_problem,
    "temporal_api_version": temporal_version_problem,
}


def _rename_check(actor, permission: str, message: str) -> None:
    """Refuse a change of an existing camera or organisation to a caller who may not make it
    (`actor` None: an importer, which follows the platform's names)."""
    if actor is not None and not actor_may(actor, permission):
        raise ChangeForbidden(message)


@transaction.atomic
def organization_upsert(
    *, source_api: str, platform_id: int, name: str, actor=None
) -> Organization:
    """The organisation `(source_api, platform_id)`, created or with its name refreshed.

    A rename asked by an `actor` who is neither staff nor holds `sequences.change_organization`
    raises ChangeForbidden (`actor` None: an importer, trusted).
    """
    organization, created = Organization.objects.select_for_update().get_or_create(
        source_api=source_api, platform_id=platform_id, defaults={"name": name}
    )
    if not created and organization.name != name:
        _rename_check(
            actor,
            ORGANIZATION_PERMISSION,
            ORGANIZATION_RENAME_FORBIDDEN.format(
                platform_id=platform_id, source_api=source_api, name=organization.name
            ),
        )
        organization.name = name
        organization.save(update_fields=["name", "updated_at"])
    return organization


@transaction.atomic
def camera_upsert(
    *, source_api: str, platform_id: int, name: str, organization: Organization, actor=None
) -> Camera:
    """The camera `(source_api, platform_id)`, created or with its name and owner refreshed.

    The organisation must come from the same source API (ValueError otherwise). A rename or a
    move to another organisation asked by an `actor` who is neither staff nor holds
    `sequences.change_camera` raises ChangeForbidden (`actor` None: an importer, trusted).
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
        _rename_check(
            actor,
            CAMERA_PERMISSION,
            CAMERA_CHANGE_FORBIDDEN.format(
                platform_id=platform_id,
                source_api=source_api,
                name=camera.name,
                organization_id=camera.organization.platform_id,
            ),
        )
        camera.name = name
        camera.organization = organization
        camera.save(update_fields=["name", "organization", "updated_at"])
    return camera


@transaction.atomic
def sequence_create(
    *,
    source_api: str,
    alert_api_id: int,
    organization_id: int,
    organization_name: str,
    camera_id: int,
    camera_name: str,
    lat: float,
    lon: float,
    azimuth: float | int | None,
    is_wildfire_alertapi: str | None,
    recorded_at: datetime,
    last_seen_at: datetime | None,
    temporal_model_score: float | None = None,
    temporal_model_version: str | None = None,
    temporal_api_version: str | None = None,
    actor=None,
) -> Sequence:
    """Create a sequence with its organisation and camera, as the API and every importer do.

    - The organisation and the camera are upserted by `(source_api, platform id)`, names and
      owner refreshed; all in one transaction, so a refused sequence refreshes nothing.
      `actor` is the API's caller (None for importers): one who is not staff may create
      cameras and organisations but not rename or move existing ones (ChangeForbidden).
    - The azimuth is normalised with `azimuth_normalise` (ValueError for a bad one).
    - The platform's temporal model score and versions are optional (None: not scored); a bad
      one raises ValueError naming the field (TEMPORAL_FIELDS says what each accepts). The
      motion is measured later, from the detections (`sequence_motion_measure`).
    - Raises SequenceExists (SEQUENCE_EXISTS) when `(source_api, alert_api_id)` is taken, also
      when a concurrent writer wins the unique constraint. Enum columns are guarded by the
      database's CHECKs.
    """
    temporal = {
        "temporal_model_score": temporal_model_score,
        "temporal_model_version": temporal_model_version,
        "temporal_api_version": temporal_api_version,
    }
    for name, value in temporal.items():
        problem = TEMPORAL_FIELDS[name](value)
        if problem is not None:
            raise ValueError(TEMPORAL_FIELD_INVALID.format(field=name, problem=problem))
    organization = organization_upsert(
        source_api=source_api, platform_id=organization_id, name=organization_name, actor=actor
    )
    camera = camera_upsert(
        source_api=source_api,
        platform_id=camera_id,
        name=camera_name,
        organization=organization,
        actor=actor,
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
        **temporal,
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


# --- Motion: measured once the detections are stored ------------------------------------------


def sequence_motion_measure(*, sequence: Sequence, detections: Iterable[Detection]) -> float | None:
    """Measure and store the motion of a sequence from its stored detections (all of them, or
    at least its first frames), as an import does right after writing them.

    No query but one UPDATE of the sequence, and none when the motion cannot be measured
    (too few frames with a box: the column stays NULL, "not measured").
    """
    ordered = sorted(detections, key=lambda detection: (detection.recorded_at, detection.pk))
    motion = motion_of(detection.algo_predictions for detection in ordered)
    if motion is not None:
        Sequence.objects.filter(pk=sequence.pk).update(motion=motion)
        sequence.motion = motion
    return motion


@dataclass
class MotionBatch:
    """What one batch of `sequence_motion_fill` did; `last_id` is where the next one starts."""

    examined: int = 0
    measured: int = 0
    unmeasurable: int = 0
    last_id: int = 0


@transaction.atomic
def sequence_motion_fill(*, after_id: int, batch_size: int) -> MotionBatch:
    """Measure the motion of the next `batch_size` sequences whose motion is NULL, by id after
    `after_id`, and store it: one read of the ids, one of their detections, one UPDATE.

    A sequence with too few framed boxes stays NULL (counted `unmeasurable`); the caller moves
    on from `last_id`, so a run ends, and a later run examines those again (a sequence may have
    received detections since). A batch commits on its own: an interrupted fill keeps what it
    measured and a rerun continues with the rows still NULL. A row measured meanwhile (by an
    import) is left as it is.
    """
    ids = list(
        Sequence.objects.filter(motion__isnull=True, pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    batch = MotionBatch(examined=len(ids), last_id=ids[-1] if ids else after_id)
    if not ids:
        return batch
    detections = ordered_predictions(ids)
    motions = {}
    for sequence_id in ids:
        motion = motion_of(predictions for _, predictions in detections.get(sequence_id, []))
        if motion is not None:
            motions[sequence_id] = motion
    batch.measured = len(motions)
    batch.unmeasurable = batch.examined - batch.measured
    if motions:
        Sequence.objects.filter(pk__in=list(motions), motion__isnull=True).update(
            motion=Case(
                *(When(pk=pk, then=Value(motion)) for pk, motion in motions.items()),
                output_field=FloatField(),
            )
        )
    return batch
