"""Single-row annotation writes, the human save among them, and what a save returns.

`annotation_write` is the one path that creates or updates one annotation (`annotation_create`
and `annotation_update` are its forms for the API); it validates, recomputes the derived flags,
records provenance and the check state, and returns a `SaveOutcome`.

`annotation_delete` deletes one row and hands what it deleted to the audit hook that the
settings name (the groups app's audit log; the sequences app never imports it).

A human save may also validate the sequence's group first, in its transaction
(`validate_group`): the function `GROUP_VALIDATE_HOOK` names (the groups app's validation)
validates the group the save holds, so the save's label fans out at once.

A human save is the one write other apps react to (the groups app fans the label out through
the sequence's group). The write opens a `HumanSave` around `row.save()`: the one `post_save`
receiver reads it (`human_save_for`) to learn who saved and which group row the write already
holds, and hands back what it did with `HumanSave.report`. No other write opens one, so machine
writes, admin edits and fixture loads never trigger propagation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from sequences import payloads
from sequences.models import (
    DONE_STAGES,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import Label
from sequences.services.content import (
    AutogenParams,
    annotation_generate,
    annotation_snapshot,
    content_set,
    ordered_predictions,
    payload_validated,
    provenance_stamp,
)
from sequences.services.errors import AlreadyExists, AnnotationInvalid
from sequences.services.locks import sequence_and_group_lock
from sequences.services.stamps import labels_withdrawn

ANNOTATION_EXISTS = "Sequence {sequence_id} already has an annotation"
NO_GROUP_TO_VALIDATE = "sequence {sequence_id} is in no group, so there is no group to validate"
READY_TO_ANNOTATE = ProcessingStage.READY_TO_ANNOTATE
# What counts as "no annotation sent": generated from the predictions at ready_to_annotate.
EMPTY_ANNOTATIONS = (None, {}, {"sequences_bbox": []})


# --- What a save returns ----------------------------------------------------------------------


@dataclass(frozen=True)
class GroupEffect:
    """What the sequence's group did with a human save, as the groups app reports it.

    `label` fanned out to `members_updated` other members (`members_held_back` more were held
    back by a safeguard); `group_labeled` when the group itself took it; `warning` says why the
    group and its members were left as they were.
    """

    label: Label | None = None
    members_updated: int = 0
    members_held_back: int = 0
    group_labeled: bool = False
    warning: str | None = None


NO_EFFECT = GroupEffect()


@dataclass(frozen=True)
class GroupValidated:
    """What validating the sequence's group before a save did, as the groups app reports it:
    the group row (locked, validated), whether it was validated just now (False: it already
    was), the audit operation and the validation's warning."""

    group: Any
    changed: bool
    operation_id: int | None = None
    warning: str | None = None


@dataclass(frozen=True)
class SaveOutcome:
    """What one annotation write did: the row, the sequence's group and its `GroupEffect`
    (always empty for a write that is not a human save), and the group's validation when the
    save asked for it."""

    annotation: SequenceAnnotation
    group_id: int | None = None
    effect: GroupEffect = NO_EFFECT
    validated: GroupValidated | None = None


@dataclass
class HumanSave:
    """A human save in progress: who saves which sequence, and the group row the write locked
    when it started (None for an ungrouped sequence)."""

    sequence_id: int
    actor: Any
    group: Any | None
    effect: GroupEffect = NO_EFFECT

    def report(self, effect: GroupEffect) -> None:
        self.effect = effect


_human_save: ContextVar[HumanSave | None] = ContextVar("human_save", default=None)


def human_save_for(annotation: SequenceAnnotation) -> HumanSave | None:
    """The human save writing `annotation` right now, or None for any other save."""
    save = _human_save.get()
    if save is None or save.sequence_id != annotation.sequence_id:
        return None
    return save


@contextmanager
def _human_save_open(save: HumanSave) -> Iterator[HumanSave]:
    token = _human_save.set(save)
    try:
        yield save
    finally:
        _human_save.reset(token)


# --- One row ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Asked:
    """What one write was asked to store, as `annotation_write` documents its arguments."""

    processing_stage: Any
    annotation: Any = None
    has_missed_smoke: Any = None
    is_unsure: Any = None
    source: LabelSource | None = None
    actor: Any = None
    autogen: AutogenParams | None = None
    validate_group: bool = False


def _group_validated(sequence: Sequence, group: Any | None, actor) -> GroupValidated:
    """Validate the sequence's locked group through `GROUP_VALIDATE_HOOK`, in the save's
    transaction; AnnotationInvalid on `validate_group` when the sequence is in no group."""
    if group is None:
        message = NO_GROUP_TO_VALIDATE.format(sequence_id=sequence.pk)
        raise AnnotationInvalid([(("validate_group",), message)])
    return import_string(settings.GROUP_VALIDATE_HOOK)(group_id=group.pk, actor=actor)


@transaction.atomic
def annotation_create(*, sequence_id: int, **fields: Any) -> SaveOutcome:
    """`annotation_write` for a sequence that has no annotation yet (the API's create).

    The existence check runs under `annotation_write`'s own locks, so two creates cannot both
    pass it, and a fan-out inserting this very row is waited for, never deadlocked with.
    Raises `Sequence.DoesNotExist`, `AlreadyExists`, `AnnotationInvalid`.
    """
    sequence, group = sequence_and_group_lock(sequence_id)
    if SequenceAnnotation.objects.filter(sequence=sequence).exists():
        raise AlreadyExists(ANNOTATION_EXISTS.format(sequence_id=sequence_id))
    return _write_locked(sequence, group, None, _Asked(**fields))


@transaction.atomic
def annotation_update(
    *,
    annotation_id: int,
    changes: dict[str, Any],
    source: LabelSource | None,
    actor=None,
    autogen: AutogenParams | None = None,
    validate_group: bool = False,
) -> SaveOutcome:
    """A partial update: the fields `changes` leaves out keep their values as read under the
    locks, so a fan-out, bulk label or check that landed meanwhile is not written back over.

    `autogen` (the thresholds a client sent) without an `annotation` at `ready_to_annotate`
    regenerates the clusters with them. Raises `SequenceAnnotation.DoesNotExist`,
    `AnnotationInvalid`.
    """
    rows = SequenceAnnotation.objects.filter(pk=annotation_id)
    sequence, group = sequence_and_group_lock(rows.values_list("sequence_id", flat=True).get())
    row = rows.get()
    stage = changes.get("processing_stage", row.processing_stage)
    annotation = changes.get("annotation", row.annotation)
    if "annotation" not in changes and autogen is not None and stage == READY_TO_ANNOTATE:
        annotation = None  # regenerated with the thresholds the client sent
    asked = _Asked(
        processing_stage=stage,
        annotation=annotation,
        has_missed_smoke=changes.get("has_missed_smoke"),
        is_unsure=changes.get("is_unsure"),
        source=source,
        actor=actor,
        autogen=autogen,
        validate_group=validate_group,
    )
    return _write_locked(sequence, group, row, asked)


@transaction.atomic
def annotation_write(
    *,
    sequence: Sequence,
    annotation: Any = None,
    processing_stage: Any,
    has_missed_smoke: Any = None,
    is_unsure: Any = None,
    source: LabelSource | None,
    actor=None,
    autogen: AutogenParams | None = None,
    validate_group: bool = False,
) -> SaveOutcome:
    """Create or update the annotation of `sequence`, the one write path for single rows.

    - Locks the sequence, then its group row (SPEC §5.1), once for the whole save.
    - Validates everything before writing (every box, enum, detection ownership) and raises
      `AnnotationInvalid` with every problem; nothing is saved then.
    - At `ready_to_annotate` an omitted or empty `annotation` is generated from the predictions.
    - `has_missed_smoke` / `is_unsure` left as None keep the current values (False on creation).
    - `source=HUMAN` is a human save, checked by `actor`: the groups app may fan its label out
      (in this transaction) and says what it did in the outcome's `effect`. A human save at a
      writable stage, and `source=None` (import placeholder), leave no label provenance.
    - `validate_group` first validates the sequence's group as the group page does (who and
      when, audited; `GROUP_VALIDATE_HOOK`), so a human save's label fans out at once; a
      sequence in no group is an AnnotationInvalid on `validate_group`. One transaction: a
      refused save leaves the group as it was.
    """
    sequence, group = sequence_and_group_lock(sequence.pk)
    row = SequenceAnnotation.objects.filter(sequence=sequence).first()
    asked = _Asked(
        processing_stage,
        annotation,
        has_missed_smoke,
        is_unsure,
        source,
        actor,
        autogen,
        validate_group,
    )
    return _write_locked(sequence, group, row, asked)


def _write_locked(
    sequence: Sequence, group: Any | None, row: SequenceAnnotation | None, asked: _Asked
) -> SaveOutcome:
    """`annotation_write` once `sequence` and its `group` are locked and its `row` read."""
    validated = _group_validated(sequence, group, asked.actor) if asked.validate_group else None
    if validated is not None:
        group = validated.group
    detections = ordered_predictions([sequence.pk])[sequence.pk]
    annotation = asked.annotation
    if asked.processing_stage == READY_TO_ANNOTATE and annotation in EMPTY_ANNOTATIONS:
        try:
            annotation = annotation_generate(detections=detections, params=asked.autogen)
        except ValueError as exc:
            raise AnnotationInvalid([(("autogen",), str(exc))]) from exc
    # Flags left out keep the row's values (False on creation).
    has_missed_smoke = asked.has_missed_smoke
    if has_missed_smoke is None:
        has_missed_smoke = row.has_missed_smoke if row else False
    is_unsure = asked.is_unsure
    if is_unsure is None:
        is_unsure = row.is_unsure if row else False

    cleaned = payload_validated(
        sequence_id=sequence.pk,
        annotation=annotation,
        processing_stage=asked.processing_stage,
        has_missed_smoke=has_missed_smoke,
        is_unsure=is_unsure,
        detection_ids={detection_id for detection_id, _ in detections},
    )
    if row is None:
        row = SequenceAnnotation(sequence=sequence)
    elif row.processing_stage in DONE_STAGES and asked.processing_stage not in DONE_STAGES:
        labels_withdrawn(sequence_ids=[sequence.pk])
    content_set(row, cleaned)
    row.processing_stage = asked.processing_stage
    row.has_missed_smoke = has_missed_smoke
    row.is_unsure = is_unsure
    provenance_stamp(row, source=asked.source, actor=asked.actor)
    if asked.source != LabelSource.HUMAN:
        row.save()
        return SaveOutcome(annotation=row, group_id=sequence.group_id, validated=validated)
    with _human_save_open(HumanSave(sequence.pk, asked.actor, group)) as save:
        row.save()
    return SaveOutcome(
        annotation=row, group_id=sequence.group_id, effect=save.effect, validated=validated
    )


def annotation_recompute(*, annotation: SequenceAnnotation) -> SequenceAnnotation:
    """Recompute derived flags of a row edited in the admin (a correction: no propagation)."""
    cleaned, errors = payloads.clean_annotation(annotation.annotation)
    if errors:
        raise AnnotationInvalid([(("annotation", *loc), msg) for loc, msg in errors])
    stored = SequenceAnnotation.objects.filter(pk=annotation.pk).values_list(
        "processing_stage", flat=True
    )
    if stored.first() in DONE_STAGES and annotation.processing_stage not in DONE_STAGES:
        labels_withdrawn(sequence_ids=[annotation.sequence_id])
    content_set(annotation, cleaned)
    annotation.save()
    return annotation


@dataclass(frozen=True)
class AnnotationDeleted:
    """An annotation just deleted, as the audit hook receives it: the sequence and its group
    (both locked), the row's snapshot (`annotation_snapshot`) and who deleted it."""

    sequence: Sequence
    group: Any | None
    before: dict[str, Any]
    actor: Any


@transaction.atomic
def annotation_delete(*, annotation: SequenceAnnotation, actor=None) -> int | None:
    """Delete an annotation, audited; the sequence is kept and nothing propagates.

    Locks the sequence and its group (SPEC §5.1), then the row. Deleting a label at a done
    stage is recorded on the sequence (`labels_withdrawn`). In the same transaction the
    function named by `ANNOTATION_DELETE_AUDIT_HOOK` records the delete (the groups app's audit
    log, from which staff can undo it) and returns the id of what it recorded, which this
    returns. Who may delete is the caller's check. Raises `SequenceAnnotation.DoesNotExist`
    when the row is gone (deleted meanwhile).
    """
    sequence, group = sequence_and_group_lock(annotation.sequence_id)
    row = SequenceAnnotation.objects.select_for_update().get(pk=annotation.pk)
    before = annotation_snapshot(row)
    if row.processing_stage in DONE_STAGES:
        labels_withdrawn(sequence_ids=[row.sequence_id])
    row.delete()
    hook = settings.ANNOTATION_DELETE_AUDIT_HOOK
    if not hook:
        return None
    deleted = AnnotationDeleted(sequence=sequence, group=group, before=before, actor=actor)
    return import_string(hook)(deleted)
