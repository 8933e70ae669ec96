"""What the sequence templates draw: boxes placed over an image in percent, and the annotation
page's player frames, whether it shows crops, its group line and why the group's label was held
back.

`box_percent` is the one place where an xyxyn box becomes percent of the image (or of a zoom
window on it); the CSS and SVG forms below, and the groups app's thumbnails and previews, are
written from it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from sequences.boxes import is_valid_box, representative_box
from sequences.forms import cluster_colour
from sequences.models import Sequence
from sequences.payloads import Label
from sequences.selectors import AnnotationPage, sequence_held_back, valid_boxes

HELD_BACK_LINE = "Group #{group_id} is labeled {label}; its label was not applied here: {reason}."

# (left, top, side) of a square window on the image, in image fractions.
Window = tuple[float, float, float]
WHOLE_IMAGE: Window = (0.0, 0.0, 1.0)


def box_percent(box: list[float], *, within: Window = WHOLE_IMAGE) -> tuple[float, ...]:
    """`(left, top, width, height)` of an xyxyn box in percent of the window `within` the
    image is shown through (the whole image by default)."""
    left, top, side = within
    x1, x2 = ((box[0] - left) / side, (box[2] - left) / side)
    y1, y2 = ((box[1] - top) / side, (box[3] - top) / side)
    return x1 * 100, y1 * 100, (x2 - x1) * 100, (y2 - y1) * 100


def box_style(box: list[float], *, within: Window = WHOLE_IMAGE) -> str:
    """CSS placing an xyxyn box over an image (an absolutely positioned overlay)."""
    left, top, width, height = box_percent(box, within=within)
    return f"left:{left:.3f}%;top:{top:.3f}%;width:{width:.3f}%;height:{height:.3f}%"


def box_rect(box: list[float]) -> dict[str, str]:
    """An xyxyn box as SVG rect attributes in a 100 x 100 viewBox."""
    x, y, width, height = box_percent(box)
    return {"x": f"{x:.3f}", "y": f"{y:.3f}", "w": f"{width:.3f}", "h": f"{height:.3f}"}


def player_frames(page: AnnotationPage) -> list[dict[str, Any]]:
    """The player's frames: each detection with its clusters' boxes (in the clusters' colours)
    and its read-only `others_bboxes`; boxes that fail SPEC §3.1 are not drawn."""
    cluster_boxes: dict[int, list[dict[str, Any]]] = {}
    for index, cluster in enumerate(page.clusters):
        for bbox in cluster.get("bboxes") or []:
            if isinstance(bbox, dict) and is_valid_box(bbox.get("xyxyn")):
                cluster_boxes.setdefault(bbox.get("detection_id"), []).append(
                    {"cluster": index, "colour": cluster_colour(index), **box_rect(bbox["xyxyn"])}
                )
    return [
        {
            "number": number,
            "detection": detection,
            "cluster_boxes": cluster_boxes.get(detection.pk, []),
            "other_boxes": [box_rect(box) for box in valid_boxes(detection.others_bboxes)],
        }
        for number, detection in enumerate(page.detections, start=1)
    ]


def has_crop(page: AnnotationPage) -> bool:
    """Whether the sequence has a box to show zoomed crops around (`services.crops`): a valid
    box in its first GROUPS_REPRESENTATIVE_DETECTIONS frames."""
    first = page.detections[: settings.GROUPS_REPRESENTATIVE_DETECTIONS]
    return representative_box(detection.algo_predictions for detection in first) is not None


def group_line(sequence: Sequence) -> str | None:
    """ "validated · smoke/wildfire" for a grouped sequence, None otherwise; a group unsure
    without a label is "unsure" (its state in the groups list), not "unlabeled"."""
    group = sequence.group
    if group is None:
        return None
    label = Label.from_columns(group.smoke_type, group.false_positive_type)
    parts = ["validated" if group.is_validated else "not validated"]
    if label is not None:
        parts.append(str(label))
    if group.is_unsure or label is None:
        parts.append("unsure" if group.is_unsure else "unlabeled")
    return " · ".join(parts)


def held_back_line(sequence: Sequence) -> str | None:
    """Why the group's label was not applied to this sequence (a safeguard held it back), or
    None: "Group #12 is labeled FP/antenna; its label was not applied here: ..."."""
    held = sequence_held_back(sequence)
    if held is None:
        return None
    return HELD_BACK_LINE.format(group_id=sequence.group_id, label=held.label, reason=held.text)
