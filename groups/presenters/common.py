"""What every group page draws alike: counts in words, pagers, the reference box and the
image previews zoomed on it, label chips and thumbnails with their boxes in percent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from groups.models import SequenceGroup
from sequences.boxes import is_valid_box
from sequences.models import (
    Detection,
)
from sequences.payloads import Label
from sequences.presenters import box_style
from sequences.selectors import valid_boxes

# The list preview never zooms in further than this fraction of the image (4x).
PREVIEW_MIN_SIDE = 0.25


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class Pager:
    """The pager of a paged section of the group page: where it stands and the query strings
    of the previous and next pages (None at either end)."""

    number: int
    pages: int
    start: int
    end: int
    total: int
    previous_query: str | None
    next_query: str | None


def pager(page, query_of: Callable[[int], str]) -> Pager:
    """A Pager of `page` (a `selectors.MembersPage`); `query_of(n)` is the query of page n."""
    return Pager(
        number=page.number,
        pages=page.pages,
        start=page.start,
        end=page.end,
        total=page.total,
        previous_query=query_of(page.number - 1) if page.has_previous else None,
        next_query=query_of(page.number + 1) if page.has_next else None,
    )


# --- boxes and labels ----------------------------------------------------------------------------


def reference_box(group: SequenceGroup | None) -> list[float] | None:
    """The group's representative box, or None when there is no valid one to draw."""
    if group is None or not isinstance(group.representative_bbox, dict):
        return None
    box = group.representative_bbox.get("xyxyn")
    return [float(value) for value in box] if is_valid_box(box) else None


@dataclass(frozen=True)
class PreviewFrame:
    """How a list preview shows an image zoomed on the reference region."""

    image_style: str
    region_style: str | None


def preview_frame(box: list[float] | None) -> PreviewFrame:
    """A square window (in image fractions) twice the region's size, centred on it and kept
    inside the image; the image is scaled and shifted so the window fills the preview box."""
    if box is None:
        return PreviewFrame("left:0;top:0;width:100%;height:100%", None)
    x1, y1, x2, y2 = box
    side = min(1.0, max(PREVIEW_MIN_SIDE, 2 * max(x2 - x1, y2 - y1)))
    left = min(max((x1 + x2) / 2 - side / 2, 0.0), 1.0 - side)
    top = min(max((y1 + y2) / 2 - side / 2, 0.0), 1.0 - side)
    scale = 100 / side
    image_style = (
        f"left:{-left * scale:.3f}%;top:{-top * scale:.3f}%;width:{scale:.3f}%;height:{scale:.3f}%"
    )
    return PreviewFrame(image_style, box_style(box, within=(left, top, side)))


def label_parts(label: Label | None) -> dict[str, str] | None:
    """`{"kind": "smoke"|"fp", "text": "smoke / wildfire"}` for a label chip."""
    if label is None:
        return None
    prefix = "smoke" if label.kind == "smoke" else "FP"
    return {"kind": label.kind, "text": f"{prefix} / {label.value.replace('_', ' ')}"}


def group_label(group: SequenceGroup) -> dict[str, str] | None:
    return label_parts(Label.from_columns(group.smoke_type, group.false_positive_type))


@dataclass
class Thumbnail:
    """A detection image with its overlays: prediction boxes (red) and the reference (yellow)."""

    detection_id: int | None
    boxes: list[str]
    reference: str | None


def thumbnail(detection: Detection | None, reference: list[float] | None) -> Thumbnail:
    if detection is None:
        return Thumbnail(None, [], None)
    boxes = [box_style(box) for box in valid_boxes(detection.algo_predictions)]
    return Thumbnail(detection.pk, boxes, box_style(reference) if reference else None)
