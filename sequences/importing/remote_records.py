"""Answers of another annotation API read into import records, and the fingerprint of an
annotation's content (pure: no database, no network).

A remote sequence keeps its identity here (`source_api`, `alert_api_id`, organisation, camera,
azimuth, times, the temporal model's fields when the remote has them); its detections keep their
`alert_api_id`, boxes and order. Detection ids differ between two sites, so an annotation's
boxes are carried, compared and pushed by the detections' `alert_api_id`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The export folder's predictions check: positions named as the remote lists them.
from sequences.importing.export_format import RecordChecker, _boxes
from sequences.importing.pipeline import (
    AnnotationRecord,
    DetectionRecord,
    RecordError,
    SequenceRecord,
    remap_annotation,
)
from sequences.importing.platform_records import temporal_fields
from sequences.models import AnnotationType, SourceApi
from sequences.payloads import NOT_AN_OBJECT

SOURCE_API_INVALID = f"must be one of {', '.join(SourceApi.values)}"
PLATFORM_CLASS_INVALID = f"must be one of {', '.join(AnnotationType.values)}, or null"
DETECTION_UNKNOWN = "names detection {detection_id}, which the sequence does not have"
# A fingerprint of "no annotation".
NO_ANNOTATION = ""
FINGERPRINT_DIGITS = 6


def identity_errors(item: object) -> list[tuple[tuple, str]]:
    """What keeps a listed remote sequence from having an identity here (`source_api`,
    `alert_api_id` and the remote's own `id`)."""
    if not isinstance(item, dict):
        return [((), NOT_AN_OBJECT)]
    checker = RecordChecker()
    checker.get(
        item,
        "source_api",
        (),
        lambda v, at: checker.choice(v, at, choices=SourceApi.values, message=SOURCE_API_INVALID),
    )
    checker.get(item, "alert_api_id", (), checker.integer)
    checker.get(item, "id", (), checker.integer)
    return checker.errors


def remote_key(item: object) -> tuple[str, int] | None:
    """`(source_api, alert_api_id)` of a listed remote sequence, or None when
    `identity_errors` finds a problem."""
    if identity_errors(item):
        return None
    return item["source_api"], item["alert_api_id"]


# --- Fingerprints -----------------------------------------------------------------------------


def _box(values: Any) -> Any:
    if isinstance(values, list):
        return [round(v, FINGERPRINT_DIGITS) if isinstance(v, float) else v for v in values]
    return values


def annotation_fingerprint(
    *,
    annotation: Any,
    processing_stage: Any,
    has_missed_smoke: Any,
    is_unsure: Any,
    alert_ids: dict[int, int],
) -> str:
    """A SHA-256 of what a person sees of an annotation: its stage, its two flags and its
    clusters (smoke or not, types, boxes), each box naming its detection by `alert_api_id`
    (`alert_ids` maps the site's detection ids to them). Timestamps, ids and provenance are
    left out, so two sites holding the same labels give the same fingerprint."""
    clusters = annotation.get("sequences_bbox") if isinstance(annotation, dict) else None
    content = {
        "stage": processing_stage,
        "has_missed_smoke": bool(has_missed_smoke),
        "is_unsure": bool(is_unsure),
        "clusters": [
            {
                "is_smoke": cluster.get("is_smoke"),
                "smoke_type": cluster.get("smoke_type"),
                "false_positive_types": cluster.get("false_positive_types") or [],
                "bboxes": [
                    [
                        alert_ids.get(bbox.get("detection_id"), f"#{bbox.get('detection_id')}"),
                        _box(bbox.get("xyxyn")),
                    ]
                    for bbox in cluster.get("bboxes") or []
                    if isinstance(bbox, dict)
                ],
            }
            for cluster in (clusters if isinstance(clusters, list) else [])
            if isinstance(cluster, dict)
        ],
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read_fingerprint(read: dict[str, Any] | None, alert_ids: dict[int, int]) -> str:
    """The fingerprint of an annotation as an API answers it, NO_ANNOTATION for none."""
    if not isinstance(read, dict):
        return NO_ANNOTATION
    return annotation_fingerprint(
        annotation=read.get("annotation"),
        processing_stage=read.get("processing_stage"),
        has_missed_smoke=read.get("has_missed_smoke"),
        is_unsure=read.get("is_unsure"),
        alert_ids=alert_ids,
    )


# --- Remote sequences -> import records --------------------------------------------------------


@dataclass
class RemoteRecord:
    """A remote sequence as an import record, with the fingerprint of its remote annotation
    and the warnings of the fields stored as NULL."""

    record: SequenceRecord
    fingerprint: str
    alert_ids: dict[int, int]
    warnings: list[str] = field(default_factory=list)


def _detections(
    checker: RecordChecker,
    rows: list[Any],
    fetch_image: Callable[[dict[str, Any]], bytes],
) -> list[DetectionRecord]:
    records = []
    for index, row in enumerate(rows):
        loc = ("detections", index)
        if not isinstance(row, dict):
            checker.error(loc, NOT_AN_OBJECT)
            continue
        alert_api_id = checker.get(row, "alert_api_id", loc, checker.integer)
        recorded_at = checker.get(row, "recorded_at", loc, checker.moment)
        checker.get(row, "id", loc, checker.integer)
        predictions = checker.get(
            row, "algo_predictions", loc, lambda v, at: _boxes(checker, v, at, nullable=False)
        )
        others = checker.get(
            row,
            "others_bboxes",
            loc,
            lambda v, at: _boxes(checker, v, at, nullable=True),
            required=False,
        )
        if None in (alert_api_id, recorded_at, predictions) or not isinstance(row.get("id"), int):
            continue
        records.append(
            DetectionRecord(
                alert_api_id=alert_api_id,
                recorded_at=recorded_at,
                image=lambda row=row: fetch_image(row),
                algo_predictions=predictions,
                others_bboxes=others,
            )
        )
    return records


def _annotation_record(
    read: dict[str, Any], alert_ids: dict[int, int], checker: RecordChecker
) -> AnnotationRecord | None:
    """The remote annotation with its boxes naming detections by alert id."""
    annotation = read.get("annotation")
    if not isinstance(annotation, dict):
        checker.error(("annotation", "annotation"), NOT_AN_OBJECT)
        return None
    try:
        by_alert = remap_annotation(annotation, alert_ids)
    except KeyError as exc:
        checker.error(("annotation", "annotation"), DETECTION_UNKNOWN.format(detection_id=exc))
        return None
    except (AttributeError, TypeError):
        checker.error(("annotation", "annotation"), NOT_AN_OBJECT)
        return None
    checked_at = checker.get(
        read,
        "checked_at",
        ("annotation",),
        lambda v, at: checker.moment(v, at, nullable=True),
        required=False,
    )
    return AnnotationRecord(
        annotation=by_alert,
        processing_stage=read.get("processing_stage"),
        has_missed_smoke=read.get("has_missed_smoke") is True,
        is_unsure=read.get("is_unsure") is True,
        label_source=read.get("label_source"),
        checked_at=checked_at,
    )


def remote_record(
    sequence: dict[str, Any],
    *,
    detections: list[Any],
    annotation: dict[str, Any] | None,
    with_annotation: bool,
    fetch_image: Callable[[dict[str, Any]], bytes],
) -> RemoteRecord:
    """Map a remote sequence, its detection rows and its annotation to an import record.

    Raises RecordError listing every problem. Images are fetched by the pipeline through
    `fetch_image(row)`, only once the record is valid. With `with_annotation` the remote
    annotation (if any) is copied as it is instead of a fresh placeholder.
    """
    checker = RecordChecker()
    get = checker.get
    source_api = get(
        sequence,
        "source_api",
        (),
        lambda v, at: checker.choice(v, at, choices=SourceApi.values, message=SOURCE_API_INVALID),
    )
    alert_api_id = get(sequence, "alert_api_id", (), checker.integer)
    organization_id = get(sequence, "organisation_id", (), checker.integer)
    organization_name = get(sequence, "organisation_name", (), checker.name)
    camera_id = get(sequence, "camera_id", (), checker.integer)
    camera_name = get(sequence, "camera_name", (), checker.name)
    lat = get(sequence, "lat", (), lambda v, at: checker.number(v, at, low=-90, high=90))
    lon = get(sequence, "lon", (), lambda v, at: checker.number(v, at, low=-180, high=180))
    azimuth = get(sequence, "azimuth", (), checker.azimuth, required=False)
    platform_class = get(
        sequence,
        "is_wildfire_alertapi",
        (),
        lambda v, at: (
            None
            if v is None
            else checker.choice(
                v, at, choices=AnnotationType.values, message=PLATFORM_CLASS_INVALID
            )
        ),
        required=False,
    )
    recorded_at = get(sequence, "recorded_at", (), checker.moment)
    last_seen_at = get(
        sequence,
        "last_seen_at",
        (),
        lambda v, at: checker.moment(v, at, nullable=True),
        required=False,
    )
    rows = sorted(
        (row for row in detections if isinstance(row, dict)),
        key=lambda row: (str(row.get("recorded_at")), str(row.get("id"))),
    )
    alert_ids = {
        row["id"]: row["alert_api_id"]
        for row in rows
        if isinstance(row.get("id"), int) and isinstance(row.get("alert_api_id"), int)
    }
    detection_records = _detections(checker, rows, fetch_image)
    copied = None
    if with_annotation and annotation is not None:
        copied = _annotation_record(annotation, alert_ids, checker)
    if checker.errors:
        raise RecordError(checker.errors)
    temporal, warnings = temporal_fields(sequence)
    record = SequenceRecord(
        source_api=source_api,
        alert_api_id=alert_api_id,
        organization_id=organization_id,
        organization_name=organization_name,
        camera_id=camera_id,
        camera_name=camera_name,
        lat=lat,
        lon=lon,
        azimuth=azimuth,
        is_wildfire_alertapi=platform_class,
        recorded_at=recorded_at,
        last_seen_at=last_seen_at,
        detections=detection_records,
        annotation=copied,
        **temporal,
    )
    return RemoteRecord(
        record=record,
        fingerprint=read_fingerprint(annotation, alert_ids),
        alert_ids=alert_ids,
        warnings=warnings,
    )
