"""The pure matching of the group assignment (SPEC §4.5): the per-bucket walk.

Boxes in, placements out: no ORM, no settings, so the walk is tested without a database and
benchmarked in isolation. The assignment run (:mod:`groups.assignment`) and the threshold replay
(:mod:`groups.reports`) both place sequences with :func:`bucket_walk`; a sequence's
representative box comes from :func:`sequences.boxes.representative_box`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sequences.boxes import iou_matrix

# Candidates whose IoUs the walk computes in one matrix (rows x known groups + rows).
WALK_BLOCK = 256


def bucket_walk(
    group_boxes: Iterable[Iterable[float]],
    candidate_boxes: Iterable[Iterable[float]],
    threshold: float,
) -> list[tuple[int, float | None]]:
    """Match the candidates of one (camera, azimuth) bucket, in order, against its groups.

    ``group_boxes`` are the bucket's existing groups in ascending id order; each candidate is
    matched against them and against the groups founded earlier in this walk (appended in
    creation order, so list order stays id order). The best IoU strictly above ``threshold``
    wins and ``argmax`` keeps the first of equal maxima, i.e. the lowest id. Returns, per
    candidate, ``(index, iou)``: the index of its group in that growing list, and the IoU with
    the group's reference box, or None when the candidate founded the group at ``index``.

    The IoUs come in blocks of WALK_BLOCK candidates: one ``iou_matrix`` of the block against
    every group known when the block starts AND against the block's own candidates, whose
    columns stay masked (-1) until their candidate founds a group. The walk itself stays
    sequential, but each step is one ``argmax`` over a precomputed row instead of a fresh
    numpy IoU whose fixed cost dominated on buckets of tens of groups.
    """
    existing = np.asarray(list(group_boxes), dtype=np.float64).reshape(-1, 4)
    candidates = np.asarray(list(candidate_boxes), dtype=np.float64).reshape(-1, 4)
    references = np.concatenate([existing, np.empty_like(candidates)])
    count = len(existing)
    placements: list[tuple[int, float | None]] = []
    for start in range(0, len(candidates), WALK_BLOCK):
        block = candidates[start : start + WALK_BLOCK]
        known = count
        scores = iou_matrix(block, np.concatenate([references[:known], block]))
        own = scores[:, known:].copy()
        scores[:, known:] = -1.0
        group_of_column = list(range(known)) + [-1] * len(block)
        for position, box in enumerate(block):
            row = scores[position]
            best = int(row.argmax())
            score = float(row[best])
            if score > threshold:
                placements.append((group_of_column[best], score))
                continue
            references[count] = box
            group_of_column[known + position] = count
            scores[:, known + position] = own[:, position]
            placements.append((count, None))
            count += 1
    return placements
