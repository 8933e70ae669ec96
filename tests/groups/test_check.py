"""The check queue's services: confirm and reject machine-applied labels (SPEC §5.9)."""

import pytest
from django.utils import timezone

from annotation_site.errors import http_status
from groups.assignment import assignment_run
from groups.models import GroupOperation, OperationKind
from groups.services import (
    AnnotationNotFound,
    CheckInvalid,
    NotAnUncheckedMachineLabel,
    SequenceNotFound,
    group_bulk_annotate,
    group_operation_undo,
    label_check_confirm,
    label_check_reject,
)
from sequences.models import LabelSource, ProcessingStage, Sequence, SequenceAnnotation
from tests.factories import (
    SequenceGroupFactory,
    add_members,
    human_label,
    placeholder,
    sequence_with_boxes,
    validated_group,
)
from tests.support import annotation_of, snapshot_of

pytestmark = pytest.mark.django_db

DONE = ProcessingStage.SEQ_ANNOTATION_DONE


@pytest.fixture
def fanned_out(annotator):
    """A validated group of 4 whose first member's save labeled the 3 others (unchecked)."""
    group = validated_group()
    saver, *others = add_members(group, 4, placeholders=True)
    human_label(saver, saver.detections.get(), stage=DONE, fp="building", actor=annotator)
    rows = list(SequenceAnnotation.objects.filter(sequence__in=others).order_by("sequence_id"))
    return group, saver, rows


def test_machine_writes_start_unchecked_even_over_a_checked_placeholder(
    world, seed_group, staff_user
):
    seed_group(validated=True)
    placeholder(world.seq2)
    # A placeholder that somehow carries a check (e.g. an old admin edit).
    SequenceAnnotation.objects.filter(sequence=world.seq2).update(
        checked_at=timezone.now(), checked_by=staff_user
    )
    saved = human_label(
        world.seq1, world.det1, stage=DONE, smoke_type="wildfire", actor=staff_user
    ).annotation

    stamped = annotation_of(world.seq2)
    assert stamped.label_source == LabelSource.PROPAGATED
    assert stamped.checked_at is None and stamped.checked_by is None
    assert stamped.is_unchecked_machine_label
    # The human save is checked; the import placeholder was never "unchecked".
    assert saved.checked_by == staff_user and saved.checked_at is not None
    assert not saved.is_unchecked_machine_label
    fresh = placeholder(sequence_with_boxes([0.1, 0.1, 0.4, 0.4]))
    assert fresh.label_source is None and not fresh.is_unchecked_machine_label


def bulk_smoke(sequence, smoke_type: str) -> None:
    """Label one sequence through the bulk action, outside any group."""
    group_bulk_annotate(
        sequence_ids=[sequence.pk],
        group_id=None,
        smoke_type=smoke_type,
        false_positive_type=None,
        actor=None,
    )


def checked_placeholder(sequence, checker) -> None:
    """An import placeholder that somehow carries a check (e.g. an old admin edit)."""
    placeholder(sequence)
    SequenceAnnotation.objects.filter(sequence=sequence).update(
        checked_at=timezone.now(), checked_by=checker
    )


def test_inheritance_over_a_checked_placeholder_starts_unchecked(world, seed_group, staff_user):
    seed_group(smoke_type="wildfire")
    joiner = sequence_with_boxes([0.1, 0.1, 0.4, 0.4], camera=world.cam1, azimuth=0)
    checked_placeholder(joiner, staff_user)

    assert assignment_run().inherited_annotations == 1

    stamped = annotation_of(joiner)
    assert stamped.label_source == LabelSource.INHERITED and stamped.smoke_types == ["wildfire"]
    assert stamped.checked_at is None and stamped.checked_by is None
    assert stamped.is_unchecked_machine_label


def test_bulk_over_a_checked_placeholder_starts_unchecked(world, staff_user):
    checked_placeholder(world.seq1, staff_user)
    bulk_smoke(world.seq1, "other")
    stamped = annotation_of(world.seq1)
    assert stamped.checked_at is None and stamped.checked_by is None
    assert stamped.is_unchecked_machine_label


def test_bulk_labels_start_unchecked(world):
    bulk_smoke(world.seq1, "other")
    assert annotation_of(world.seq1).is_unchecked_machine_label


def test_confirm_marks_exactly_the_listed(fanned_out, staff_user):
    group, saver, (first, second, third) = fanned_out
    human_row = annotation_of(saver)

    outcome = label_check_confirm(
        annotation_ids=[first.pk, second.pk, human_row.pk, first.pk], actor=staff_user
    )

    assert outcome.checked == [first.pk, second.pk]
    assert outcome.skipped == [{"annotation_id": human_row.pk, "reason": "not a machine label"}]
    for row in (first, second):
        row.refresh_from_db()
        assert row.checked_by == staff_user and row.checked_at is not None
        # The label itself is untouched.
        assert row.false_positive_types == ["building"]
        assert row.label_source == LabelSource.PROPAGATED
    third.refresh_from_db()
    assert third.checked_at is None
    operation = GroupOperation.objects.get(pk=outcome.operation_id)
    assert operation.kind == OperationKind.CHECK
    assert (operation.group, operation.actor) == (group, staff_user)
    assert sorted(operation.members.values_list("sequence_id", flat=True)) == [
        first.sequence_id,
        second.sequence_id,
    ]

    again = label_check_confirm(annotation_ids=[first.pk], actor=staff_user)
    assert again.operation_id is None and again.checked == []
    assert again.skipped == [{"annotation_id": first.pk, "reason": "already checked"}]
    assert GroupOperation.objects.filter(kind=OperationKind.CHECK).count() == 1


def test_confirm_across_groups_logs_no_group(world, fanned_out):
    _, _, (first, *_) = fanned_out
    bulk_smoke(world.seq1, "wildfire")
    other = annotation_of(world.seq1)
    outcome = label_check_confirm(annotation_ids=[first.pk, other.pk], actor=None)
    assert GroupOperation.objects.get(pk=outcome.operation_id).group is None


def test_confirm_unknown_ids_is_404_and_checks_nothing(fanned_out):
    _, _, (first, *_) = fanned_out
    with pytest.raises(AnnotationNotFound) as excinfo:
        label_check_confirm(annotation_ids=[first.pk, 999_999], actor=None)
    assert http_status(excinfo.value) == 404
    assert excinfo.value.message == "Sequence annotations [999999] not found"
    first.refresh_from_db()
    assert first.checked_at is None
    assert not GroupOperation.objects.filter(kind=OperationKind.CHECK).exists()


@pytest.mark.parametrize("body", [[], None, "1", [1, "2"], [True]])
def test_confirm_malformed_body_is_422(body):
    with pytest.raises(CheckInvalid) as excinfo:
        label_check_confirm(annotation_ids=body, actor=None)
    assert http_status(excinfo.value) == 422
    assert excinfo.value.errors[0][0][:2] == ("body", "annotation_ids")


def test_undo_check_unchecks_what_it_checked(fanned_out):
    _, _, (first, second, _) = fanned_out
    outcome = label_check_confirm(annotation_ids=[first.pk, second.pk], actor=None)
    # Someone relabels the second one by hand afterwards: it stays as it is.
    human_label(second.sequence, second.sequence.detections.get(), stage=DONE, fp="antenna")

    undo = group_operation_undo(operation_id=outcome.operation_id, actor=None)

    assert undo.restored == [first.sequence_id]
    assert undo.left_alone == [{"sequence_id": second.sequence_id, "reason": "edited since"}]
    first.refresh_from_db()
    assert first.checked_at is None and first.is_unchecked_machine_label
    assert annotation_of(second.sequence).label_source == LabelSource.HUMAN


def test_reject_ejects_and_reverts_to_a_placeholder(fanned_out, annotator):
    group, _, (first, second, _) = fanned_out
    sequence = first.sequence
    machine_label = snapshot_of(sequence)
    others = snapshot_of(second.sequence)

    outcome = label_check_reject(sequence_id=sequence.pk, actor=annotator)

    sequence.refresh_from_db()
    assert sequence.group_id is None and sequence.is_group_excluded is True
    row = annotation_of(sequence)
    assert row.pk == first.pk
    assert row.processing_stage == ProcessingStage.READY_TO_ANNOTATE
    assert row.label_source is None and row.label_source_group is None
    assert row.label_source_operation is None and row.checked_at is None
    [cluster] = row.annotation["sequences_bbox"]
    assert cluster["is_smoke"] is True and cluster["smoke_type"] is None
    assert cluster["false_positive_types"] == []
    assert row.false_positive_types == [] and not row.is_unchecked_machine_label
    # A reject writes no label anywhere else, even in a validated group.
    assert snapshot_of(second.sequence) == others

    operation = GroupOperation.objects.get(pk=outcome.operation_id)
    assert outcome.sequence_id == sequence.pk
    assert operation.kind == OperationKind.REJECT
    assert (operation.group, operation.sequence, operation.actor) == (group, sequence, annotator)
    [member] = operation.members.all()
    assert member.before == machine_label and member.after == snapshot_of(sequence)


def test_rejected_sequence_stays_out_of_the_next_runs(fanned_out):
    from groups.assignment import assignment_run

    _, _, (first, *_) = fanned_out
    label_check_reject(sequence_id=first.sequence_id, actor=None)

    for _ in range(2):
        assignment_run()
        sequence = Sequence.objects.get(pk=first.sequence_id)
        assert sequence.group_id is None and sequence.is_group_excluded is True


def test_reject_is_undoable(fanned_out):
    group, _, (first, *_) = fanned_out
    machine_label = snapshot_of(first.sequence)
    outcome = label_check_reject(sequence_id=first.sequence_id, actor=None)

    undo = group_operation_undo(operation_id=outcome.operation_id, actor=None)

    assert undo.restored == [first.sequence_id] and undo.left_alone == []
    sequence = Sequence.objects.get(pk=first.sequence_id)
    assert sequence.group_id == group.pk and sequence.is_group_excluded is False
    assert snapshot_of(sequence) == machine_label


@pytest.mark.parametrize("state", ["human", "placeholder", "none", "checked"])
def test_reject_needs_an_unchecked_machine_label(fanned_out, state):
    group, saver, (first, *_) = fanned_out
    sequence = {
        "human": saver,
        "placeholder": add_members(group, 1, placeholders=True)[0],
        "none": add_members(group, 1)[0],
        "checked": first.sequence,
    }[state]
    if state == "checked":
        label_check_confirm(annotation_ids=[first.pk], actor=None)
    before = snapshot_of(sequence)

    with pytest.raises(NotAnUncheckedMachineLabel) as excinfo:
        label_check_reject(sequence_id=sequence.pk, actor=None)

    assert http_status(excinfo.value) == 422
    assert excinfo.value.errors == [
        (
            ("body", "sequence_id"),
            f"sequence {sequence.pk} does not carry an unchecked machine label",
        )
    ]
    sequence.refresh_from_db()
    assert sequence.group_id == group.pk and snapshot_of(sequence) == before


def test_reject_unknown_or_malformed(db):
    with pytest.raises(SequenceNotFound):
        label_check_reject(sequence_id=999_999, actor=None)
    with pytest.raises(CheckInvalid):
        label_check_reject(sequence_id="12", actor=None)


def test_reject_of_an_ungrouped_bulk_label_logs_its_source_group(world):
    group = SequenceGroupFactory()
    Sequence.objects.filter(pk=world.seq1.pk).update(group=group)
    group_bulk_annotate(
        sequence_ids=[world.seq1.pk],
        group_id=group.pk,
        smoke_type="wildfire",
        false_positive_type=None,
        actor=None,
    )
    Sequence.objects.filter(pk=world.seq1.pk).update(group=None)

    outcome = label_check_reject(sequence_id=world.seq1.pk, actor=None)
    assert GroupOperation.objects.get(pk=outcome.operation_id).group == group

    undo = group_operation_undo(operation_id=outcome.operation_id, actor=None)
    sequence = Sequence.objects.get(pk=world.seq1.pk)
    # It was not a member before the reject, so the undo does not make it one.
    assert sequence.group_id is None and sequence.is_group_excluded is False
    assert undo.restored == [world.seq1.pk]
