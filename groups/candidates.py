"""The groups a group may be merged with: the other live groups of its camera and azimuth that
have members, most overlapping first (the IoU of the reference boxes), for the group page's
"Merge" and the API."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from groups.models import SequenceGroup
from sequences.boxes import iou_one_to_many, is_valid_box

# The most candidates shown: a camera's azimuth rarely holds more groups worth merging.
MERGE_CANDIDATES_LIMIT = 24


@dataclass
class MergeCandidate:
    group: SequenceGroup
    iou: float


def merge_candidates(
    group: SequenceGroup, *, limit: int = MERGE_CANDIDATES_LIMIT
) -> list[MergeCandidate]:
    """The other groups of `group`'s camera and azimuth that hold members and were not merged
    away, by decreasing IoU of their reference box with `group`'s (then by id), at most
    `limit`. Two queries whatever the bucket holds: the boxes, then the chosen rows."""
    rows = list(
        SequenceGroup.objects.filter(
            camera_id=group.camera_id,
            azimuth=group.azimuth,
            merged_into__isnull=True,
            member_count__gt=0,
        )
        .exclude(pk=group.pk)
        .order_by("pk")
        .values_list("pk", "representative_bbox")
    )
    if not rows:
        return []
    own = _box_of(group.representative_bbox)
    boxes = [_box_of(bbox) for _, bbox in rows]
    usable = [index for index, box in enumerate(boxes) if box is not None]
    ious = np.zeros(len(rows))
    if own is not None and usable:
        ious[usable] = iou_one_to_many(own, np.asarray([boxes[i] for i in usable]))
    ranked = sorted(range(len(rows)), key=lambda i: (-ious[i], rows[i][0]))[:limit]
    chosen = {
        row.pk: row
        for row in SequenceGroup.objects.select_related("camera").filter(
            pk__in=[rows[i][0] for i in ranked]
        )
    }
    return [
        MergeCandidate(chosen[rows[i][0]], round(float(ious[i]), 4))
        for i in ranked
        if rows[i][0] in chosen
    ]


def _box_of(bbox) -> list[float] | None:
    box = bbox.get("xyxyn") if isinstance(bbox, dict) else None
    return [float(value) for value in box] if is_valid_box(box) else None
