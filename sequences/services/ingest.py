"""Creating what the cameras saw: organisations, cameras, sequences and detections, for the
API and every importer (the local export folder, the platform pull).

Each function checks its own values and names the field at fault, so a caller never saves half
a record; natural-key clashes raise `AlreadyExists`, also when a concurrent writer wins.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from sequences import payloads
from sequences.models import Camera, Detection, Organization, Sequence
from sequences.payloads import Loc
from sequences.services.errors import DetectionExists, DetectionInvalid, SequenceExists
from sequences.services.images import IMAGE_EXTENSION_INVALID, IMAGE_FORMATS, detection_image_name

SEQUENCE_EXISTS = "Sequence ({source_api}, {alert_api_id}) already exists"
DETECTION_EXISTS = "Detection {alert_api_id} already exists in sequence {sequence_id}"
AZIMUTH_INVALID = "azimuth must be a finite number or null"
SOURCE_API_MISMATCH = "{what} belongs to {other}, not {source_api}"


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
) -> Sequence:
    """Create a sequence with its organisation and camera, as the API and every importer do.

    - The organisation and the camera are upserted by `(source_api, platform id)`, names and
      owner refreshed; all in one transaction, so a refused sequence refreshes nothing.
    - The azimuth is normalised with `azimuth_normalise` (ValueError for a bad one).
    - Raises SequenceExists (SEQUENCE_EXISTS) when `(source_api, alert_api_id)` is taken, also
      when a concurrent writer wins the unique constraint. Enum columns are guarded by the
      database's CHECKs.
    """
    organization = organization_upsert(
        source_api=source_api, platform_id=organization_id, name=organization_name
    )
    camera = camera_upsert(
        source_api=source_api, platform_id=camera_id, name=camera_name, organization=organization
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
