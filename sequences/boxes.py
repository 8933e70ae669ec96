"""Geometry on normalised ``xyxyn`` boxes: validation, IoU, auto-clustering, representative box.

Pure code (SPEC §3.1, §4.1, §4.2, §4.4): no Django, no ORM. Functions take and return plain
Python values or numpy arrays so they can be tested without a database and benchmarked alone.

A box is ``[x1, y1, x2, y2]`` normalised to the image size, origin top-left, every value in
[0, 1]. ``algo_predictions`` is the detection JSON ``{"predictions": [{"xyxyn": [...],
"confidence": c, "class_name": "smoke"}, ...]}``; the algorithms here tolerate a malformed one by
skipping what they cannot read, because stored rows predate validation.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

# SPEC §3.1 messages, in the order the checks run.
BOX_NOT_LIST = "must be a list of exactly 4 numbers"
BOX_NOT_FINITE = "coordinates must be finite numbers"
BOX_OUT_OF_RANGE = "coordinates must be between 0 and 1"
BOX_NOT_ORDERED = "box must have x1 < x2 and y1 < y2"

CONFIDENCE_THRESHOLD_OUT_OF_RANGE = "confidence_threshold must be a number between 0 and 1"
IOU_THRESHOLD_OUT_OF_RANGE = "iou_threshold must be a number between 0 and 1"
MIN_CLUSTER_SIZE_TOO_SMALL = "min_cluster_size must be an integer of at least 1"

Box = Sequence[float]


# --- validation (§3.1) ---------------------------------------------------------------------


def is_finite_number(value: object) -> bool:
    """True for a finite real number; False for bool, str, None, NaN and ±Infinity.

    ``bool`` is an ``int`` subclass, so it is excluded explicitly: ``true`` is not a coordinate.
    """
    # Fast path for what JSON decoding produces; this runs for every coordinate of every box.
    kind = type(value)
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if kind is int:
        return True  # a Python int is always finite (and may be too large for a float)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(value)


def box_error(value: object) -> str | None:
    """Return the first §3.1 failure message for ``value``, or None when it is a valid box.

    Checks in order: a list/tuple of exactly 4 items; each a finite real number (not a bool,
    string, NaN or ±Infinity); each within [0, 1]; ``x1 < x2`` and ``y1 < y2`` (which also
    rejects inverted, zero-area and all-zero boxes).
    """
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        return BOX_NOT_LIST
    # Unrolled rather than all(<generator>): this runs for every stored box of every
    # representative computation, and the generators cost more than the checks.
    x1, y1, x2, y2 = value
    finite = is_finite_number
    if not (finite(x1) and finite(y1) and finite(x2) and finite(y2)):
        return BOX_NOT_FINITE
    if not (0 <= x1 <= 1 and 0 <= y1 <= 1 and 0 <= x2 <= 1 and 0 <= y2 <= 1):
        return BOX_OUT_OF_RANGE
    if not (x1 < x2 and y1 < y2):
        return BOX_NOT_ORDERED
    return None


def is_valid_box(value: object) -> bool:
    """True when ``value`` passes every §3.1 check."""
    return box_error(value) is None


# --- IoU (§4.1) ----------------------------------------------------------------------------


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0.0 when the union is 0.

    Plain Python for a single pair (far cheaper than numpy per call). The arithmetic is done in
    the same order as :func:`iou_matrix`, so both give bit-identical results.
    """
    inter_w = min(a[2], b[2]) - max(a[0], b[0])
    inter_h = min(a[3], b[3]) - max(a[1], b[1])
    inter = inter_w * inter_h if inter_w > 0 and inter_h > 0 else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _iou_broadcast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a[..., 4]`` and ``b[..., 4]`` under numpy broadcasting."""
    inter_w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    inter_h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.where((inter_w > 0) & (inter_h > 0), inter_w * inter_h, 0.0)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    # `where` leaves the preset zeros wherever the union is 0, so no division by zero happens.
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_one_to_many(box: Box, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box against each row of ``boxes`` (shape ``(n, 4)``); returns shape ``(n,)``."""
    one = np.asarray(box, dtype=np.float64)
    many = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return _iou_broadcast(one, many)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every row of ``a`` (``(n, 4)``) with every row of ``b`` (``(m, 4)``): ``(n, m)``."""
    rows = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    cols = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return _iou_broadcast(rows[:, np.newaxis, :], cols[np.newaxis, :, :])


# --- reading algo_predictions --------------------------------------------------------------


def _predictions(algo_predictions: object) -> list[Any]:
    """The ``predictions`` list of an ``algo_predictions`` value, or [] when malformed."""
    if not isinstance(algo_predictions, dict):
        return []
    predictions = algo_predictions.get("predictions")
    return predictions if isinstance(predictions, list) else []


def _confidence_or_zero(prediction: dict[str, Any]) -> float:
    """The prediction's confidence; a missing or non-finite one counts as 0.0 (§4.4)."""
    value = prediction.get("confidence")
    if type(value) is float:  # the usual case, without the general checks
        return value if math.isfinite(value) else 0.0
    if not is_finite_number(value):
        return 0.0
    try:
        return float(value)
    except OverflowError:  # an int beyond float range is no usable confidence either
        return 0.0


def _usable_box(value: object) -> list[float] | None:
    """``value`` as four floats when it passes §3.1, else None."""
    # Fast path for what JSON decoding nearly always produces, four floats: for floats the
    # chained comparisons are the whole of §3.1, as NaN fails every comparison and ±Infinity
    # falls outside [0, 1]. Anything else (ints, bools, strings...) takes the full checks.
    if type(value) is list and len(value) == 4:
        x1, y1, x2, y2 = value
        if type(x1) is float and type(y1) is float and type(x2) is float and type(y2) is float:
            return [x1, y1, x2, y2] if 0.0 <= x1 < x2 <= 1.0 and 0.0 <= y1 < y2 <= 1.0 else None
    if box_error(value) is not None:
        return None
    return [float(v) for v in value]  # type: ignore[union-attr]


def _valid_boxes(algo_predictions: object) -> Iterable[tuple[list[float], dict[str, Any]]]:
    """Yield ``(box as floats, prediction)`` for every prediction whose box passes §3.1."""
    for prediction in _predictions(algo_predictions):
        if not isinstance(prediction, dict):
            continue
        box = _usable_box(prediction.get("xyxyn"))
        if box is not None:
            yield box, prediction


# --- auto-generation of clusters (§4.2) -----------------------------------------------------


def _check_generation_params(
    confidence_threshold: float, iou_threshold: float, min_cluster_size: int
) -> None:
    """Raise ValueError for parameters outside §4.2's ranges (callers answer 422)."""
    if not (is_finite_number(confidence_threshold) and 0 <= confidence_threshold <= 1):
        raise ValueError(CONFIDENCE_THRESHOLD_OUT_OF_RANGE)
    if not (is_finite_number(iou_threshold) and 0 <= iou_threshold <= 1):
        raise ValueError(IOU_THRESHOLD_OUT_OF_RANGE)
    if isinstance(min_cluster_size, bool) or not isinstance(min_cluster_size, int):
        raise ValueError(MIN_CLUSTER_SIZE_TOO_SMALL)
    if min_cluster_size < 1:
        raise ValueError(MIN_CLUSTER_SIZE_TOO_SMALL)


def _passes_confidence(prediction: dict[str, Any], threshold: float) -> bool:
    """``confidence >= threshold``; at threshold 0 everything passes, even without confidence."""
    if threshold == 0:
        return True
    value = prediction.get("confidence")
    return is_finite_number(value) and value >= threshold


def _greedy_clusters(boxes: np.ndarray, iou_threshold: float) -> list[list[int]]:
    """Greedy clustering of §4.2 step 3; returns clusters as lists of row indices, in order.

    The first remaining box seeds a cluster; ONE left-to-right scan of the rest adds a box when
    its IoU with any cluster box is strictly greater than the threshold. ``reach[j]`` holds the
    best IoU of box j with the cluster so far, updated as each box joins; since a joiner is
    always earlier in the scan than the boxes still to test, this is exactly "IoU with any
    current cluster box", and a box skipped earlier is never re-tested against later joiners.
    """
    # One vectorised pass for all pairs: a sequence holds tens of boxes, and a single
    # broadcast is several times cheaper than one numpy call per joining box.
    pairwise = iou_matrix(boxes, boxes)
    clusters: list[list[int]] = []
    pool = list(range(len(boxes)))
    while pool:
        seed, *rest = pool
        members = [seed]
        reach = pairwise[seed].copy()
        pool = []
        for index in rest:
            if reach[index] > iou_threshold:
                members.append(index)
                np.maximum(reach, pairwise[index], out=reach)
            else:
                pool.append(index)
        clusters.append(members)
    return clusters


def generate_clusters(
    detections: Iterable[tuple[int, object]],
    *,
    confidence_threshold: float = 0.0,
    iou_threshold: float = 0.0,
    min_cluster_size: int = 1,
) -> dict[str, list[dict[str, Any]]] | None:
    """Auto-generate an annotation's clusters from a sequence's model predictions (§4.2).

    ``detections`` yields ``(detection_id, algo_predictions)`` already ordered by
    ``(recorded_at, id)``. A prediction is kept when its confidence is ``>= confidence_threshold``
    and its box passes §3.1 (invalid boxes are dropped *before* clustering so they cannot chain
    two clusters). Clusters smaller than ``min_cluster_size`` are dropped; each survivor is an
    untyped smoke cluster. Returns ``{"sequences_bbox": [...]}``, or None when no cluster
    remains. Raises ValueError when a threshold is outside [0, 1] or ``min_cluster_size < 1``.
    """
    _check_generation_params(confidence_threshold, iou_threshold, min_cluster_size)
    kept: list[tuple[int, list[float]]] = [
        (detection_id, box)
        for detection_id, algo_predictions in detections
        for box, prediction in _valid_boxes(algo_predictions)
        if _passes_confidence(prediction, confidence_threshold)
    ]
    if not kept:
        return None
    boxes = np.array([box for _, box in kept], dtype=np.float64)
    clusters = [
        {
            "is_smoke": True,
            "smoke_type": None,
            "false_positive_types": [],
            "bboxes": [{"detection_id": kept[i][0], "xyxyn": kept[i][1]} for i in members],
        }
        for members in _greedy_clusters(boxes, iou_threshold)
        if len(members) >= min_cluster_size
    ]
    return {"sequences_bbox": clusters} if clusters else None


# --- representative box (§4.4) --------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    """Median of a non-empty list; for an even count, the mean of the two middle values.

    Sorting a handful of floats in pure Python is several times faster than numpy.median on
    such small inputs, and this runs once per candidate sequence of every assignment run.
    """
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def representative_box(predictions_lists: Iterable[object]) -> dict[str, Any] | None:
    """Per-coordinate median box of the pooled valid boxes of some detections (§4.4).

    ``predictions_lists`` yields the ``algo_predictions`` of the first N detections, selected
    and ordered by the caller. Boxes failing §3.1 are skipped; a missing or non-finite
    confidence counts as 0.0. Each coordinate is the median over the pool taken independently;
    the confidence is the median confidence clamped to [0, 1]; all values are rounded to 6
    decimals. Returns ``{"xyxyn": [x1, y1, x2, y2], "confidence": c}``, or None when no valid
    box exists.
    """
    # Plain loops rather than _valid_boxes: this runs for every candidate of every assignment
    # run (100,000 at a site's first run), and the generator costs as much as the checks.
    pool = []
    for algo_predictions in predictions_lists:
        for prediction in _predictions(algo_predictions):
            if not isinstance(prediction, dict):
                continue
            row = _usable_box(prediction.get("xyxyn"))
            if row is not None:
                row.append(_confidence_or_zero(prediction))
                pool.append(row)
    return _median_box(pool)


def _median_box(pool: list[list[float]]) -> dict[str, Any] | None:
    """The representative box of ``[x1, y1, x2, y2, confidence]`` rows; None for no row."""
    if not pool:
        return None
    # zip(*pool) turns the [x1, y1, x2, y2, confidence] rows into five columns.
    x1, y1, x2, y2, confidence = map(_median, zip(*pool, strict=True))
    return {
        "xyxyn": [round(x1, 6), round(y1, 6), round(x2, 6), round(y2, 6)],
        "confidence": round(min(max(confidence, 0.0), 1.0), 6),
    }


# --- motion of the box over the first frames (machine-label safeguards) ----------------------

MOTION_MIN_FRAMES = 6


def box_motion(predictions_lists: Iterable[object]) -> float | None:
    """How fast a sequence's box grows and moves per frame, relative to its size.

    ``predictions_lists`` yields the ``algo_predictions`` of the first N detections in time
    order. Each frame counts with its most confident valid box; a frame without one is skipped
    (the others keep their place in time). Growth is the least-squares slope of the log of the
    box's area per frame, counted only when positive (a plume spreads; a box that shrinks is no
    plume); drift is the slope of the box's centre per frame (both axes together) divided by
    the box's typical side, the square root of its median area. The motion is growth + drift,
    rounded to 6 decimals; None with fewer than MOTION_MIN_FRAMES framed boxes (a slope over
    three or four frames is the detector's jitter more than the object's motion).

    A recurring object (an antenna, a building) stays put: its detector jitter averages out to
    a few thousandths. A plume growing 3 % a frame measures about 0.03.
    """
    framed = []
    for index, algo_predictions in enumerate(predictions_lists):
        best, best_confidence = None, -1.0
        for prediction in _predictions(algo_predictions):
            if not isinstance(prediction, dict):
                continue
            box = _usable_box(prediction.get("xyxyn"))
            confidence = _confidence_or_zero(prediction)
            if box is not None and confidence > best_confidence:
                best, best_confidence = box, confidence
        if best is not None:
            framed.append((index, best))
    return _motion(framed)


def _motion(framed: list[tuple[int, list[float]]]) -> float | None:
    """The motion of :func:`box_motion` from ``(frame index, [x1, y1, x2, y2, ...])`` pairs."""
    # A valid box so small that its area rounds to 0.0 has no logarithm: its frame counts as
    # one without a box rather than stopping the assignment run that measures it.
    framed = [(index, box) for index, box in framed if (box[2] - box[0]) * (box[3] - box[1]) > 0]
    if len(framed) < MOTION_MIN_FRAMES:
        return None
    # Plain floats rather than numpy: this runs for every candidate of a site's first assignment
    # run, and numpy's cost per call on ten values is five times the arithmetic. The three
    # least-squares slopes share one loop; each sum is taken in the same order as one slope at
    # a time would take it, so the result is the same to the last bit.
    times = [float(index) for index, _ in framed]
    areas = [(box[2] - box[0]) * (box[3] - box[1]) for _, box in framed]
    centres_x = [(box[0] + box[2]) / 2 for _, box in framed]
    centres_y = [(box[1] + box[3]) / 2 for _, box in framed]
    logs = list(map(math.log, areas))
    count = len(times)
    mean_time, mean_log = sum(times) / count, sum(logs) / count
    mean_x, mean_y = sum(centres_x) / count, sum(centres_y) / count
    growth = drift_x = drift_y = variance = 0.0
    for time, log_area, x, y in zip(times, logs, centres_x, centres_y, strict=True):
        centred = time - mean_time
        growth += centred * (log_area - mean_log)
        drift_x += centred * (x - mean_x)
        drift_y += centred * (y - mean_y)
        variance += centred * centred
    growth = max(growth / variance, 0.0)
    drift = math.hypot(drift_x / variance, drift_y / variance) / math.sqrt(_median(areas))
    return round(growth + drift, 6)


# --- both from one pass over the frames ------------------------------------------------------


def box_and_motion(
    predictions_lists: Iterable[object], *, motion: bool = True
) -> tuple[dict[str, Any] | None, float | None]:
    """``(representative_box(frames), box_motion(frames))`` of the same frames in one pass.

    Each prediction is read and checked once, where the two functions would each read it: the
    group assignment measures both for every candidate of a site's first run. Same results as
    the two functions to the last bit; with ``motion=False`` the motion is None, unmeasured.
    """
    pool: list[list[float]] = []
    framed: list[tuple[int, list[float]]] = []
    usable, confidence_of = _usable_box, _confidence_or_zero
    for index, algo_predictions in enumerate(predictions_lists):
        best, best_confidence = None, -1.0
        for prediction in _predictions(algo_predictions):
            if not isinstance(prediction, dict):
                continue
            row = usable(prediction.get("xyxyn"))
            if row is None:
                continue
            confidence = confidence_of(prediction)
            row.append(confidence)
            pool.append(row)
            if confidence > best_confidence:
                best, best_confidence = row, confidence
        if best is not None:
            framed.append((index, best))
    return _median_box(pool), (_motion(framed) if motion else None)
