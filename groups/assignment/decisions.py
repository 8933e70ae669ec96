"""The decisions of a group assignment run, before anything is written (SPEC §4.5, §5.3).

A batch's buckets walked (:func:`groups.matching.bucket_walk`) into founders, joiners of groups
founded in the batch and joiners of existing groups (:class:`_BatchResult`); which joiners of
labeled groups pass the inheritance gate (:func:`_inheritors`); and the dry run, which decides
a whole plan the same way and counts what the writes would do, from reads only.
"""

from __future__ import annotations

import itertools
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

from groups.assignment.plan import _Bucket, _GroupRow, _plan
from groups.assignment.reads import _would_stamp
from groups.assignment.results import Counters
from groups.matching import bucket_walk
from sequences.payloads import Label


@dataclass
class _Join:
    sequence_id: int
    group: _GroupRow
    iou: float


@dataclass
class _BatchResult:
    """The decisions of one batch, before anything is written."""

    counters: Counters = field(default_factory=Counters)
    founders: list[tuple[int, _Bucket, dict[str, Any]]] = field(default_factory=list)
    # (sequence_id, index into founders) of candidates joining a group founded in this batch.
    joined_new: list[tuple[int, int]] = field(default_factory=list)
    joined_existing: list[_Join] = field(default_factory=list)


def _walk(bucket: _Bucket, live: set[int] | None, threshold: float, result: _BatchResult) -> None:
    """Walk one bucket (SPEC §4.5) and record its decisions in ``result``.

    ``live`` holds the candidates still ungrouped and not excluded under the batch's lock
    (None in a dry run); the others are dropped, uncounted.
    """
    sequence_ids, rows = bucket.sequence_ids, bucket.rows
    if live is not None:
        keep = [sequence_id in live for sequence_id in sequence_ids]
        if not all(keep):
            sequence_ids = list(itertools.compress(sequence_ids, keep))
            rows = rows[np.array(keep, dtype=bool)]
    placements = bucket_walk(
        (group.box for group in bucket.groups), bucket.columns.boxes[rows], threshold
    )
    existing = len(bucket.groups)
    founded_here: list[int] = []  # walk index -> index into result.founders
    for sequence_id, row, (index, iou) in zip(sequence_ids, rows.tolist(), placements, strict=True):
        if iou is None:
            founded_here.append(len(result.founders))
            result.founders.append((sequence_id, bucket, bucket.columns.box(row)))
            result.counters.new_groups += 1
        elif index < existing:
            result.joined_existing.append(_Join(sequence_id, bucket.groups[index], iou))
            result.counters.joined_existing += 1
        else:
            result.joined_new.append((sequence_id, founded_here[index - existing]))
            result.counters.joined_existing += 1
    result.counters.processed += len(sequence_ids)


def _inheritors(
    joins: list[_Join], labels: dict[int, tuple[Label | None, bool]], counters: Counters
) -> dict[int, list[int]]:
    """``{group_id: [sequence_id, ...]}`` of the joiners that pass the §5.3 gate.

    Only when ``GROUPS_INHERITANCE_ENABLED``: a joiner of a labeled group (validated or not)
    inherits when its IoU with the group's reference exceeds ``GROUPS_INHERITANCE_MIN_IOU``;
    a looser joiner of a labeled group counts as ``joined_not_inherited``.
    """
    if not settings.GROUPS_INHERITANCE_ENABLED:
        return {}
    gate = settings.GROUPS_INHERITANCE_MIN_IOU
    inheritors: dict[int, list[int]] = {}
    for join in joins:
        label, _ = labels.get(join.group.id, (None, False))
        if label is None:
            continue
        if join.iou > gate:
            inheritors.setdefault(join.group.id, []).append(join.sequence_id)
        else:
            counters.joined_not_inherited += 1
    return inheritors


def _dry_run(threshold: float) -> Counters:
    """The counters a run would report now, from reads only (no lock, nothing written)."""
    plan = _plan()
    totals = Counters()
    result = _BatchResult()
    with closing(plan.waves):
        for wave in plan.waves:
            totals.add_skipped(wave.skipped_no_bbox)
            for bucket in wave.buckets:
                _walk(bucket, None, threshold, result)
    labels = {
        join.group.id: (join.group.label, join.group.is_unsure) for join in result.joined_existing
    }
    inheritors = _inheritors(result.joined_existing, labels, result.counters)
    stamps = {sid: labels[gid][0] for gid, ids in inheritors.items() for sid in ids}
    result.counters.inherited_annotations, result.counters.held_back = _would_stamp(stamps)
    totals.add(result.counters)
    return totals
