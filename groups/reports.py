"""The evidence behind ``manage.py group_report``: the threshold replay and its statistics.

The replay runs the assignment (SPEC §4.5) over the whole history in memory, once per matching
threshold, with the same walk as a run (:func:`groups.matching.bucket_walk`); the statistics
measure what each threshold and each inheritance gate would give against the finished human
labels. :func:`assignment_report` gathers them for the command, which only prints them. Reads
only: nothing is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from groups.assignment import match_threshold, representative_boxes
from groups.matching import bucket_walk
from sequences.models import DONE_STAGES, LabelSource, Sequence, SequenceAnnotation
from sequences.payloads import Label, annotation_label

# --- Replay over the whole history ------------------------------------------------------------


@dataclass(frozen=True)
class ReplaySequence:
    id: int
    bucket: tuple[int, int]
    box: list[float]


@dataclass
class ReplayHistory:
    """Every sequence with an azimuth and a box, in ``(recorded_at, id)`` order."""

    sequences: list[ReplaySequence]
    skipped_no_bbox: int


@dataclass(frozen=True)
class Placement:
    """Where a replayed sequence landed: a replay-local group number and its IoU with it.

    ``iou`` is None for the sequence that founded the group (a new group, SPEC §5.2).
    """

    sequence_id: int
    group: int
    iou: float | None


def replay_history_read() -> ReplayHistory:
    """Read the whole history once for replays: all sequences with an azimuth, grouped or not.

    Two queries (ids, then the streamed first detections); nothing is written.
    """
    with_azimuth = Sequence.objects.filter(azimuth__isnull=False)
    found = representative_boxes(with_azimuth)
    rows = with_azimuth.order_by("recorded_at", "id").values_list("id", "camera_id", "azimuth")
    sequences, skipped = [], 0
    for sequence_id, camera_id, azimuth in rows:
        box = found.get(sequence_id)
        if box is None:
            skipped += 1
        else:
            sequences.append(ReplaySequence(sequence_id, (camera_id, azimuth), box["xyxyn"]))
    return ReplayHistory(sequences, skipped)


def assignment_replay(*, history: ReplayHistory, threshold: float) -> list[Placement]:
    """Replay the assignment over ``history`` from scratch (no groups), purely in memory.

    The same walk as a run (:func:`bucket_walk`), as if every sequence arrived in
    ``(recorded_at, id)`` order into an empty database. Returns one Placement per sequence,
    in history order.
    """
    threshold = match_threshold(threshold)
    by_bucket: dict[tuple[int, int], list[ReplaySequence]] = {}
    for sequence in history.sequences:
        by_bucket.setdefault(sequence.bucket, []).append(sequence)
    placed: dict[int, Placement] = {}
    next_group = 0
    for members in by_bucket.values():
        walk = bucket_walk((), (member.box for member in members), threshold)
        for member, (index, iou) in zip(members, walk, strict=True):
            placed[member.id] = Placement(member.id, next_group + index, iou)
        next_group += sum(1 for _, iou in walk if iou is None)
    return [placed[sequence.id] for sequence in history.sequences]


# --- Statistics of the replays ----------------------------------------------------------------


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def human_labels() -> dict[int, Label]:
    """``{sequence_id: label}`` of the annotations a person finished (one query)."""
    rows = SequenceAnnotation.objects.filter(
        label_source=LabelSource.HUMAN, processing_stage__in=DONE_STAGES
    ).values_list("sequence_id", "annotation")
    labels = {}
    for sequence_id, annotation in rows.iterator(chunk_size=2000):
        label = annotation_label(annotation)
        if label is not None:
            labels[sequence_id] = label
    return labels


def majority(labels: list[Label]) -> Label | None:
    """The most frequent label; ties go to the one seen first (labels are in member order)."""
    return Counter(labels).most_common(1)[0][0] if labels else None


def members_by_group(placements: list[Placement]) -> dict[int, list[Placement]]:
    groups: dict[int, list[Placement]] = {}
    for placement in placements:
        groups.setdefault(placement.group, []).append(placement)
    return groups


@dataclass
class ThresholdRow:
    threshold: float
    groups: int
    listed_groups: int
    joined: int
    joined_share: float | None
    clicks_saved: int
    clicks_saved_share: float | None
    labeled_members: int
    disagreeing_members: int
    disagreement_share: float | None


def threshold_row(
    threshold: float, placements: list[Placement], labels: dict[int, Label]
) -> ThresholdRow:
    groups = members_by_group(placements)
    minimum = settings.GROUPS_MIN_LISTED_MEMBERS
    listed = [members for members in groups.values() if len(members) >= minimum]
    joined = sum(1 for placement in placements if placement.iou is not None)
    clicks_saved = sum(len(members) - 1 for members in listed)
    labeled = disagreeing = 0
    for members in groups.values():
        votes = [labels[m.sequence_id] for m in members if m.sequence_id in labels]
        if len(votes) < 2:
            continue
        winner = majority(votes)
        labeled += len(votes)
        disagreeing += sum(1 for vote in votes if vote != winner)
    total = len(placements)
    return ThresholdRow(
        threshold=threshold,
        groups=len(groups),
        listed_groups=len(listed),
        joined=joined,
        joined_share=share(joined, total),
        clicks_saved=clicks_saved,
        clicks_saved_share=share(clicks_saved, total),
        labeled_members=labeled,
        disagreeing_members=disagreeing,
        disagreement_share=share(disagreeing, labeled),
    )


@dataclass
class GateRow:
    gate: float
    would_inherit: int
    with_human_label: int
    different_human_label: int
    different_share: float | None


def inheritance_rows(
    gates: list[float], placements: list[Placement], labels: dict[int, Label]
) -> tuple[int, int, list[GateRow]]:
    """Returns ``(joiners, joiners of a labeled group, one row per gate)``."""
    candidates: list[tuple[float, Label, Label | None]] = []  # (iou, group label, own label)
    joiners = 0
    for members in members_by_group(placements).values():
        voters = [
            (m.sequence_id, labels[m.sequence_id]) for m in members if m.sequence_id in labels
        ]
        for member in members:
            if member.iou is None:
                continue
            joiners += 1
            others = [label for sequence_id, label in voters if sequence_id != member.sequence_id]
            group_label = majority(others)
            if group_label is not None:
                candidates.append((member.iou, group_label, labels.get(member.sequence_id)))
    rows = []
    for gate in gates:
        passing = [(group, own) for iou, group, own in candidates if iou > gate]
        judged = [(group, own) for group, own in passing if own is not None]
        different = sum(1 for group, own in judged if own != group)
        rows.append(
            GateRow(gate, len(passing), len(judged), different, share(different, len(judged)))
        )
    return joiners, len(candidates), rows


def assignment_report(*, thresholds: list[float], gates: list[float]) -> dict[str, Any]:
    """What ``manage.py group_report`` prints, as one JSON-ready dict (its help says what).

    One replay per threshold, one more at the configured ``GROUPS_MATCH_IOU_THRESHOLD`` for the
    inheritance gates; the history and the human labels are read once.
    """
    history = replay_history_read()
    labels = human_labels()
    rows = [
        threshold_row(t, assignment_replay(history=history, threshold=t), labels)
        for t in thresholds
    ]
    current = settings.GROUPS_MATCH_IOU_THRESHOLD
    placements = assignment_replay(history=history, threshold=current)
    joiners, in_labeled, gate_rows = inheritance_rows(gates, placements, labels)
    return {
        "sequences": len(history.sequences),
        "skipped_no_bbox": history.skipped_no_bbox,
        "human_labeled": sum(1 for s in history.sequences if s.id in labels),
        "min_listed_members": settings.GROUPS_MIN_LISTED_MEMBERS,
        "thresholds": [asdict(row) for row in rows],
        "inheritance": {
            "threshold": current,
            "configured_gate": settings.GROUPS_INHERITANCE_MIN_IOU,
            "joiners": joiners,
            "joiners_of_labeled_groups": in_labeled,
            "gates": [asdict(row) for row in gate_rows],
        },
    }
