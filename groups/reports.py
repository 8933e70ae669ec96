"""The evidence behind ``manage.py group_report``: the threshold replay and its statistics.

The replay runs the assignment (SPEC §4.5) over the whole history in memory, once per matching
threshold, with the same walk as a run (:func:`groups.matching.bucket_walk`); the statistics
measure what each threshold, each inheritance gate and each hold-back threshold of the
machine-label safeguards would give against the finished human labels.
:func:`assignment_report` gathers them for the command, which only prints them. Reads only:
nothing is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from groups.assignment import first_frames_read, match_threshold
from groups.matching import bucket_walk
from sequences.models import DONE_STAGES, LabelSource, Sequence, SequenceAnnotation
from sequences.payloads import Label, annotation_label
from sequences.safeguards import SMOKE_CLASSES

# --- Replay over the whole history ------------------------------------------------------------


@dataclass(frozen=True)
class ReplaySequence:
    """A sequence of the history: its bucket, its box and what it says of itself (the
    platform's class, the temporal score, the motion: stored, or measured for the replay)."""

    id: int
    bucket: tuple[int, int]
    box: list[float]
    platform_class: str | None = None
    temporal_score: float | None = None
    motion: float | None = None


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

    Two queries (the sequences, then the streamed first detections, which also give the motion
    of the sequences that have none stored yet); nothing is written.
    """
    with_azimuth = Sequence.objects.filter(azimuth__isnull=False)
    rows = list(
        with_azimuth.order_by("recorded_at", "id").values_list(
            "id", "camera_id", "azimuth", "is_wildfire_alertapi", "temporal_model_score", "motion"
        )
    )
    unmeasured = {row[0] for row in rows if row[5] is None}
    frames = first_frames_read(with_azimuth, measure_motion=unmeasured)
    sequences, skipped = [], 0
    for sequence_id, camera_id, azimuth, platform_class, score, motion in rows:
        box = frames.boxes.get(sequence_id)
        if box is None:
            skipped += 1
            continue
        if motion is None:
            motion = frames.motions.get(sequence_id)
        sequences.append(
            ReplaySequence(
                sequence_id, (camera_id, azimuth), box["xyxyn"], platform_class, score, motion
            )
        )
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


@dataclass(frozen=True)
class LabeledJoiner:
    """A joiner of a replayed group whose OTHER members carry human labels.

    ``group_label`` is their majority label, the label the joiner would inherit; ``own`` is
    the joiner's own finished human label, if any.
    """

    sequence_id: int
    iou: float
    group_label: Label
    own: Label | None


def labeled_joiners(
    placements: list[Placement], labels: dict[int, Label]
) -> tuple[int, list[LabeledJoiner]]:
    """Returns ``(joiners, the joiners of a group whose other members carry human labels)``."""
    found: list[LabeledJoiner] = []
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
                own = labels.get(member.sequence_id)
                found.append(LabeledJoiner(member.sequence_id, member.iou, group_label, own))
    return joiners, found


def judged_by_people(joiners: list[LabeledJoiner]) -> tuple[int, int, float | None]:
    """``(with a human label, labeled differently from their group, that share)``."""
    judged = [joiner for joiner in joiners if joiner.own is not None]
    different = sum(1 for joiner in judged if joiner.own != joiner.group_label)
    return len(judged), different, share(different, len(judged))


def inheritance_rows(gates: list[float], joiners: list[LabeledJoiner]) -> list[GateRow]:
    """One row per gate over the joiners of labeled groups (:func:`labeled_joiners`)."""
    rows = []
    for gate in gates:
        passing = [joiner for joiner in joiners if joiner.iou > gate]
        rows.append(GateRow(gate, len(passing), *judged_by_people(passing)))
    return rows


@dataclass
class HoldBackRow:
    value: float
    held_back: int
    with_human_label: int
    different_human_label: int
    different_share: float | None


def hold_back_rows(
    values: list[float], joiners: list[LabeledJoiner], signal: dict[int, float | None]
) -> list[HoldBackRow]:
    """One row per threshold value of one safeguard signal (``signal``: sequence -> value).

    The joiners are those that would inherit a false-positive label; a row counts those that
    this signal alone holds back at that value (at or above it; a NULL value never does), and
    among them the ones a person labeled differently: the hold-back was right.
    """
    rows = []
    for value in values:
        held = [
            joiner
            for joiner in joiners
            if (measured := signal.get(joiner.sequence_id)) is not None and measured >= value
        ]
        rows.append(HoldBackRow(value, len(held), *judged_by_people(held)))
    return rows


def hold_back_report(
    *,
    history: ReplayHistory,
    joiners: list[LabeledJoiner],
    scores: list[float],
    motions: list[float],
) -> dict[str, Any]:
    """The hold-back part of the report: the machine false-positive labels the inheritance would
    write at the configured gate, and per value of each threshold (the temporal score, the
    motion) how many of them that signal would hold back and how many rightly."""
    gate = settings.GROUPS_INHERITANCE_MIN_IOU
    inheritors = [
        joiner for joiner in joiners if joiner.iou > gate and joiner.group_label.kind == "fp"
    ]
    by_id = {sequence.id: sequence for sequence in history.sequences}
    sequences = [by_id[joiner.sequence_id] for joiner in inheritors]
    return {
        "gate": gate,
        "false_positive_inheritors": len(inheritors),
        "platform_smoke": sum(1 for s in sequences if s.platform_class in SMOKE_CLASSES),
        "scored": sum(1 for s in sequences if s.temporal_score is not None),
        "measured": sum(1 for s in sequences if s.motion is not None),
        "configured_temporal_score": settings.GROUPS_HOLD_BACK_TEMPORAL_SCORE,
        "configured_motion": settings.GROUPS_HOLD_BACK_MOTION,
        "temporal_scores": [
            asdict(row)
            for row in hold_back_rows(
                scores, inheritors, {s.id: s.temporal_score for s in sequences}
            )
        ],
        "motions": [
            asdict(row)
            for row in hold_back_rows(motions, inheritors, {s.id: s.motion for s in sequences})
        ],
    }


def assignment_report(
    *,
    thresholds: list[float],
    gates: list[float],
    hold_back_scores: list[float],
    hold_back_motions: list[float],
) -> dict[str, Any]:
    """What ``manage.py group_report`` prints, as one JSON-ready dict (its help says what).

    One replay per threshold, one more at the configured ``GROUPS_MATCH_IOU_THRESHOLD`` for the
    inheritance gates and the hold-back thresholds; the history and the human labels are read
    once.
    """
    history = replay_history_read()
    labels = human_labels()
    rows = [
        threshold_row(t, assignment_replay(history=history, threshold=t), labels)
        for t in thresholds
    ]
    current = settings.GROUPS_MATCH_IOU_THRESHOLD
    placements = assignment_replay(history=history, threshold=current)
    joiners, in_labeled = labeled_joiners(placements, labels)
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
            "joiners_of_labeled_groups": len(in_labeled),
            "gates": [asdict(row) for row in inheritance_rows(gates, in_labeled)],
        },
        "hold_back": hold_back_report(
            history=history, joiners=in_labeled, scores=hold_back_scores, motions=hold_back_motions
        ),
    }
