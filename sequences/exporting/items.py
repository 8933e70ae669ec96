"""The shape of one exported alert, shared by the endpoint and the dataset's manifest.

Shaped like the reference's export: an alert (`source_api`, `platform_alert_id`, camera,
organisation, position, times, the platform's temporal score) holding `objects`, one per
labeled cluster of its annotation, each holding every frame of the sequence (a frame without a
box of the object has `boxes: []`: the gap is signal for a temporal model). This site adds
`withdrawn`, `has_missed_smoke`, and per object `cluster_index`, `label_source`, `checked` and
the groups.

Every box is one the detector drew and a person (or a machine label a person confirmed)
grouped into the cluster and labeled: `origin` is `engine` when the box is one of the
detector's predictions on that frame, `human` when a client sent a box of its own.

Pure: rows and frames in, plain dicts out; the caller says how a frame's image is reached
(`image_url` for the endpoint, `image_path` for the manifest).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sequences.exporting.selection import Frame, Page
from sequences.models import LabelSource, Sequence, SequenceAnnotation

SMOKE = "smoke"
FALSE_POSITIVE = "false_positive"
ORIGIN_DETECTOR = "engine"
ORIGIN_CLIENT = "human"
RECORD_KINDS = (SMOKE, FALSE_POSITIVE)
ORIGINS = (ORIGIN_DETECTOR, ORIGIN_CLIENT)
FrameLink = Callable[[Frame], dict[str, Any]]


def iso(moment: datetime) -> str:
    """A time as the API writes it: ISO 8601 in UTC with `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _annotation(row: Sequence) -> SequenceAnnotation | None:
    return getattr(row, "annotation", None)  # a missing one raises an AttributeError


def _detector_boxes(predictions: Any) -> set[tuple[float, ...]]:
    """The detector's boxes on a frame; malformed entries are ignored (they match nothing).

    A cluster's box is a copy of the prediction's numbers, and both are stored the same way,
    so a detector's box compares equal to its copy exactly.
    """
    found = set()
    items = predictions.get("predictions") if isinstance(predictions, dict) else None
    for prediction in items if isinstance(items, list) else []:
        box = prediction.get("xyxyn") if isinstance(prediction, dict) else None
        if isinstance(box, list):
            found.add(tuple(box))
    return found


def labeled_clusters(annotation: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """`(index, cluster)` of the clusters that carry a label: a smoke type, or FP types."""
    return [
        (index, cluster)
        for index, cluster in enumerate(annotation.get("sequences_bbox", []))
        if (cluster["smoke_type"] if cluster["is_smoke"] else cluster["false_positive_types"])
    ]


def _object(
    row: Sequence,
    annotation: SequenceAnnotation,
    index: int,
    cluster: dict[str, Any],
    frames: list[tuple[Frame, set[tuple[float, ...]], dict[str, Any]]],
) -> dict[str, Any]:
    smoke = bool(cluster["is_smoke"])
    smoke_type = cluster["smoke_type"] if smoke else None
    fp_types = None if smoke else list(cluster["false_positive_types"])
    boxes_by_frame: dict[int, list[list[float]]] = {}
    for bbox in cluster["bboxes"]:
        boxes_by_frame.setdefault(bbox["detection_id"], []).append(bbox["xyxyn"])
    return {
        "sequence_id": row.pk,
        "cluster_index": index,
        "record_kind": SMOKE if smoke else FALSE_POSITIVE,
        "smoke_types": [smoke_type] if smoke else [],
        "false_positive_types": fp_types or [],
        "label_source": annotation.label_source,
        "checked": annotation.label_source == LabelSource.HUMAN
        or annotation.checked_at is not None,
        "group_id": row.group_id,
        "label_source_group_id": annotation.label_source_group_id,
        "frames": [
            {
                "detection_id": frame.detection_id,
                "recorded_at": iso(frame.recorded_at),
                "bucket_key": frame.image_name,
                **link,
                "boxes": [
                    {
                        "xyxyn": xyxyn,
                        "smoke_type": smoke_type,
                        "false_positive_types": fp_types,
                        "origin": ORIGIN_DETECTOR if tuple(xyxyn) in detector else ORIGIN_CLIENT,
                    }
                    for xyxyn in boxes_by_frame.get(frame.detection_id, [])
                ],
            }
            for frame, detector, link in frames
        ],
    }


def alert_item(row: Sequence, frames: list[Frame], frame_link: FrameLink) -> dict[str, Any]:
    """The export item of one alert of a page (`row.exported` tells exported from withdrawn)."""
    annotation = _annotation(row)
    moments = [annotation.updated_at] if annotation is not None else []
    objects = []
    if row.exported:
        linked = [
            (frame, _detector_boxes(frame.algo_predictions), frame_link(frame)) for frame in frames
        ]
        objects = [
            _object(row, annotation, index, cluster, linked)
            for index, cluster in labeled_clusters(annotation.annotation)
        ]
    elif row.label_withdrawn_at is not None:
        moments.append(row.label_withdrawn_at)
    return {
        "source_api": row.source_api,
        "platform_alert_id": row.alert_api_id,
        "camera_id": row.camera.platform_id,
        "camera_name": row.camera.name,
        "organisation_id": row.organization.platform_id,
        "organisation_name": row.organization.name,
        "lat": row.lat,
        "lon": row.lon,
        "azimuth": row.azimuth,
        "recorded_at": iso(row.recorded_at),
        "last_annotated_at": iso(max(moments)),
        # NULL means "not scored", never "scored low": kept as null, never 0.
        "temporal_model_score": row.temporal_model_score,
        "temporal_model_version": row.temporal_model_version,
        "temporal_api_version": row.temporal_api_version,
        "has_missed_smoke": bool(annotation and annotation.has_missed_smoke),
        "withdrawn": not row.exported,
        "objects": objects,
    }


def page_items(page: Page, frame_link: FrameLink) -> list[dict[str, Any]]:
    """The items of a page, in key order."""
    return [alert_item(row, page.frames.get(row.pk, []), frame_link) for row in page.rows]
