"""Set-wise annotation writes: machine labels on many sequences at once (seed-and-stamp, SPEC
§4.8), and the check queue's confirmations and the undo's restores (SPEC §5.8, §5.9).

Each runs in the caller's transaction with a handful of queries whatever the number of rows
(SQLite splits bulk statements every few hundred parameters, the only growth). None is a human
save, so none ever triggers propagation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from sequences import payloads
from sequences.models import (
    DONE_STAGES,
    MACHINE_SOURCES,
    WRITABLE_STAGES,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import Label
from sequences.safeguards import Thresholds, hold_back, hold_back_text, label_risk
from sequences.services.content import (
    AutogenParams,
    annotation_generate,
    annotation_snapshot,
    content_set,
    ordered_predictions,
    provenance_stamp,
    reference_overlap,
    sequence_signals,
)

SKIP_NO_PREDICTIONS = "no AI predictions to seed annotation"
SKIP_LOCKED = "already {stage}"
HELD_BACK = "held back: {reason}"


@dataclass
class StampOutcome:
    """What happened to one sequence of a set-wise machine write."""

    sequence_id: int
    applied: bool
    reason: str | None = None
    annotation_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    # Not written because a safeguard holds the sequence back (`reason` says which, in words).
    held_back: bool = False
    hold_back: str | None = None


@dataclass(frozen=True)
class MachineStamp:
    """The label one sequence receives in a set-wise machine write, and where it came from."""

    label: Label
    is_unsure: bool
    group_id: int | None = None
    operation_id: int | None = None
    # The group's reference region: a weak overlap with it makes the label riskier.
    reference_box: list[float] | None = None


def annotation_write_many(
    *,
    sequence_ids: list[int],
    label: Label,
    is_unsure: bool,
    source: LabelSource,
    actor=None,
    group_id: int | None = None,
    operation_id: int | None = None,
    reference_box: list[float] | None = None,
) -> list[StampOutcome]:
    """Seed-and-stamp `label` on many sequences at once, in the caller's transaction.

    For each sequence, in the given order: a LOCKED annotation is skipped ("already <stage>");
    otherwise clusters are generated from all its detections with the settings' defaults and
    stamped with the label; no cluster -> skipped ("no AI predictions to seed annotation"),
    nothing created. Written rows are at `seq_annotation_done` with machine provenance and
    unchecked. Queries: one locked read of the annotations, one read of the detections, one bulk
    create and one bulk update, whatever the number of sequences (SQLite splits bulk statements).
    `sequence_ids` may be a `values_list("pk", flat=True)` QuerySet, read as a subquery.
    """
    stamp = MachineStamp(label, is_unsure, group_id, operation_id, reference_box)
    return _stamps_write(sequence_ids, lambda _: stamp, source=source, actor=actor)


def annotation_write_stamps(
    *, stamps: dict[int, MachineStamp], source: LabelSource, actor=None
) -> list[StampOutcome]:
    """`annotation_write_many` with its own label, group and operation for each sequence.

    Lets a caller that labels many groups at once (the assignment's inheritance) write them all
    with the same handful of queries as one group. Sequences are handled in ascending id order.
    """
    return _stamps_write(sorted(stamps), stamps.__getitem__, source=source, actor=actor)


def _stamps_write(
    sequence_ids: list[int] | Any,
    stamp_for: Callable[[int], MachineStamp],
    *,
    source: LabelSource,
    actor,
) -> list[StampOutcome]:
    """The set-wise write behind `annotation_write_many` and `annotation_write_stamps`.

    The safeguards apply here, where every machine label is written: a sequence held back
    (`sequences.safeguards.hold_back`) is left as it is, reported with its reason; every label
    written carries its risk for the check queue.
    """
    if source not in MACHINE_SOURCES:
        raise ValueError(f"set-wise writes are for machine labels, not {source!r}")
    existing = {
        row.sequence_id: row
        for row in SequenceAnnotation.objects.select_for_update()
        .filter(sequence_id__in=sequence_ids)
        .order_by("sequence_id")
    }
    detections = ordered_predictions(sequence_ids)
    signals = sequence_signals(sequence_ids, detections)
    thresholds = Thresholds.from_settings(settings)
    params = AutogenParams()
    outcomes, to_create, to_update = [], [], []
    for sequence_id in sequence_ids:
        row = existing.get(sequence_id)
        if row is not None and row.processing_stage not in WRITABLE_STAGES:
            reason = SKIP_LOCKED.format(stage=row.processing_stage)
            outcomes.append(StampOutcome(sequence_id, False, reason, row.pk))
            continue
        own = detections.get(sequence_id, [])
        generated = annotation_generate(detections=own, params=params)
        if not generated["sequences_bbox"]:
            annotation_id = row.pk if row else None
            outcomes.append(StampOutcome(sequence_id, False, SKIP_NO_PREDICTIONS, annotation_id))
            continue
        stamp = stamp_for(sequence_id)
        smoke = stamp.label.kind == "smoke"
        held = hold_back(smoke=smoke, signals=signals[sequence_id], thresholds=thresholds)
        if held is not None:
            text = hold_back_text(held, signals[sequence_id], thresholds)
            annotation_id = row.pk if row else None
            reason = HELD_BACK.format(reason=text)
            outcomes.append(
                StampOutcome(
                    sequence_id, False, reason, annotation_id, held_back=True, hold_back=held
                )
            )
            continue
        risk = label_risk(
            smoke=smoke,
            signals=signals[sequence_id],
            overlap=reference_overlap(own, stamp.reference_box),
            thresholds=thresholds,
        )
        before = annotation_snapshot(row)
        if row is None:
            row = SequenceAnnotation(sequence_id=sequence_id, has_missed_smoke=False)
            to_create.append(row)
        else:
            to_update.append(row)
        content_set(row, payloads.stamp_label(generated, stamp.label))
        row.is_unsure = stamp.is_unsure
        row.processing_stage = ProcessingStage.SEQ_ANNOTATION_DONE
        provenance_stamp(
            row,
            source=source,
            actor=actor,
            group_id=stamp.group_id,
            operation_id=stamp.operation_id,
            risk=risk,
        )
        outcomes.append(StampOutcome(sequence_id, True, None, row.pk, before))
    SequenceAnnotation.objects.bulk_create(to_create)
    # An upsert on the locked rows rather than bulk_update: bulk_update builds one CASE WHEN per
    # row and field, which costs seconds for a thousand rows; this is one plain INSERT.
    SequenceAnnotation.objects.bulk_create(
        to_update, update_conflicts=True, unique_fields=["sequence"], update_fields=STAMPED_FIELDS
    )
    rows = {row.sequence_id: row for row in [*to_create, *to_update]}
    for outcome in outcomes:
        if outcome.applied:
            outcome.annotation_id = rows[outcome.sequence_id].pk
            outcome.after = annotation_snapshot(rows[outcome.sequence_id])
    return outcomes


STAMPED_FIELDS = [
    "annotation",
    "has_smoke",
    "has_false_positives",
    "smoke_types",
    "false_positive_types",
    "is_unsure",
    "processing_stage",
    "label_source",
    "label_source_group",
    "label_source_operation",
    "updated_by",
    "updated_at",
    "checked_at",
    "checked_by",
    "check_risk",
    "check_reasons",
]


# --- Checks and restores (the check queue and undo, SPEC §5.8, §5.9) ---------------------------

CHECK_SKIP_ALREADY = "already checked"
CHECK_SKIP_NOT_MACHINE = "not a machine label"
CHECK_SKIP_LOOK_CLOSELY = "look closely: confirm it on its own"

# References a snapshot may hold; the row they point to may have been deleted since.
SNAPSHOT_REFERENCES = ("label_source_group", "label_source_operation", "checked_by")
RESTORED_FIELDS = [*STAMPED_FIELDS, "has_missed_smoke"]


def annotation_check_many(
    *, annotation_ids: list[int], actor, spare_risk_from: float | None = None
) -> list[StampOutcome]:
    """Mark unchecked machine labels as checked by `actor`, in the caller's transaction.

    One outcome per annotation id that exists, in the given order (an unknown id simply has no
    outcome, so callers find unknown ids by their absence): applied, with before/after
    snapshots; or skipped, "not a machine label", "already checked", or, with
    `spare_risk_from`, "look closely" for a label at least that risky. Rows are locked in
    ascending sequence order and written with one bulk update; the label itself is not touched.
    """
    rows = {
        row.pk: row
        for row in SequenceAnnotation.objects.select_for_update()
        .filter(pk__in=annotation_ids)
        .order_by("sequence_id")
    }
    now = timezone.now()
    outcomes, checked = [], []
    for annotation_id in annotation_ids:
        row = rows.get(annotation_id)
        if row is None:
            continue
        if row.label_source not in MACHINE_SOURCES:
            reason = CHECK_SKIP_NOT_MACHINE
        elif row.checked_at is not None:
            reason = CHECK_SKIP_ALREADY
        elif spare_risk_from is not None and (row.check_risk or 0.0) >= spare_risk_from:
            reason = CHECK_SKIP_LOOK_CLOSELY
        else:
            before = annotation_snapshot(row)
            row.checked_at, row.checked_by = now, actor
            row.updated_at, row.updated_by = now, actor
            checked.append(row)
            outcome = StampOutcome(row.sequence_id, True, None, row.pk, before)
            outcome.after = annotation_snapshot(row)
            outcomes.append(outcome)
            continue
        outcomes.append(StampOutcome(row.sequence_id, False, reason, row.pk))
    SequenceAnnotation.objects.bulk_update(
        checked, fields=["checked_at", "checked_by", "updated_at", "updated_by"]
    )
    return outcomes


def _surviving_references(snapshots: Iterable[dict[str, Any]]) -> dict[str, set[int]]:
    """For each reference a snapshot may hold, the ids that still exist (one query each)."""
    snapshots = list(snapshots)
    surviving = {}
    for name in SNAPSHOT_REFERENCES:
        ids = {snapshot[f"{name}_id"] for snapshot in snapshots if snapshot.get(f"{name}_id")}
        model = SequenceAnnotation._meta.get_field(name).related_model
        found = model.objects.filter(pk__in=ids).values_list("pk", flat=True) if ids else []
        surviving[name] = set(found)
    return surviving


def annotation_restore_many(*, snapshots: dict[int, dict[str, Any] | None], actor=None) -> None:
    """Put annotations back as `annotation_snapshot` recorded them, in the caller's transaction.

    `snapshots` maps sequence ids to a snapshot, or to None to delete that sequence's row. The
    caller decides which rows may be restored (undo restores a row only while it still equals
    what the operation wrote) and holds the locks it needs. Derived flags are recomputed,
    `updated_by` / `updated_at` record the restore, and a reference to a row deleted since
    (a group, an operation, a user) is restored as NULL. A restore is not a human save: it never
    propagates. Queries: one locked read, at most three reference reads, one delete, one bulk
    create and one bulk update, whatever the number of rows (and one update of the sequences
    whose label at a done stage it takes off, see `labels_withdrawn`).
    """
    rows = {
        row.sequence_id: row
        for row in SequenceAnnotation.objects.select_for_update()
        .filter(sequence_id__in=list(snapshots))
        .order_by("sequence_id")
    }
    surviving = _surviving_references(s for s in snapshots.values() if s is not None)
    now = timezone.now()
    to_create, to_update, to_delete = [], [], []
    withdrawn = [
        sequence_id
        for sequence_id, snapshot in snapshots.items()
        if sequence_id in rows
        and rows[sequence_id].processing_stage in DONE_STAGES
        and (snapshot is None or snapshot["processing_stage"] not in DONE_STAGES)
    ]
    for sequence_id, snapshot in sorted(snapshots.items()):
        row = rows.get(sequence_id)
        if snapshot is None:
            if row is not None:
                to_delete.append(row.pk)
            continue
        if row is None:
            row = SequenceAnnotation(sequence_id=sequence_id)
            to_create.append(row)
        else:
            to_update.append(row)
        content_set(row, snapshot["annotation"])
        row.processing_stage = snapshot["processing_stage"]
        row.is_unsure = snapshot["is_unsure"]
        row.has_missed_smoke = snapshot["has_missed_smoke"]
        row.label_source = snapshot["label_source"]
        row.check_risk = snapshot.get("check_risk")
        row.check_reasons = snapshot.get("check_reasons", [])
        for name in SNAPSHOT_REFERENCES:
            value = snapshot[f"{name}_id"]
            setattr(row, f"{name}_id", value if value in surviving[name] else None)
        checked_at = snapshot["checked_at"]
        row.checked_at = datetime.fromisoformat(checked_at) if checked_at else None
        row.updated_at, row.updated_by = now, actor
    SequenceAnnotation.objects.filter(pk__in=to_delete).delete()
    SequenceAnnotation.objects.bulk_create(to_create)
    SequenceAnnotation.objects.bulk_update(to_update, fields=RESTORED_FIELDS)
    labels_withdrawn(sequence_ids=withdrawn, at=now)


def labels_withdrawn(*, sequence_ids: Iterable[int], at: datetime | None = None) -> None:
    """Record that these sequences lost their label at a done stage (`at`, default now).

    Called by every write that deletes an annotation at a done stage or sends it back to an
    earlier one; the training export reads it to tell incremental pulls which alerts to drop
    (`Sequence.label_withdrawn_at`). One update, none for no sequence.
    """
    ids = list(sequence_ids)
    if ids:
        Sequence.objects.filter(pk__in=ids).update(label_withdrawn_at=at or timezone.now())
