"""Undo of an audited operation (SPEC §5.8, §9.3 Undo)."""

import pytest

from annotation_site.errors import http_status
from groups.models import GroupOperation, OperationKind
from groups.services import (
    AlreadyUndone,
    OperationNotFound,
    UndoOfUndo,
    group_bulk_annotate,
    group_member_reinclude,
    group_member_remove,
    group_operation_undo,
    group_stamp_members,
    group_validate,
)
from sequences.models import LabelSource, ProcessingStage
from sequences.payloads import Label
from tests.factories import add_members, human_label, placeholder
from tests.support import annotation_of, snapshot_of

pytestmark = pytest.mark.django_db

DONE = ProcessingStage.SEQ_ANNOTATION_DONE


@pytest.fixture
def propagated(world, seed_group, human_save, annotator):
    """A validated group of 4 labeled by a save of sequence 1; members 3 and 4 had placeholders."""
    group = seed_group(validated=True)
    third, fourth = add_members(group, 2)
    placeholder(third)
    placeholder(fourth)
    before = {seq.pk: snapshot_of(seq) for seq in (world.seq2, third, fourth)}
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=annotator)
    operation = GroupOperation.objects.get(kind=OperationKind.PROPAGATE)
    return group, operation, (third, fourth), before


def test_undo_propagate_restores_members_and_the_group(world, propagated, staff_user):
    group, operation, (third, fourth), before = propagated
    # Sequence 4 is edited by a person after the fan-out.
    human_label(fourth, fourth.detections.get(), stage=DONE, fp="antenna")
    edited = snapshot_of(fourth)

    outcome = group_operation_undo(operation_id=operation.pk, actor=staff_user)

    assert outcome.operation_id == operation.pk
    assert outcome.restored == [world.seq2.pk, third.pk]
    assert outcome.left_alone == [{"sequence_id": fourth.pk, "reason": "edited since"}]
    assert outcome.group_restored is True
    # A row the fan-out created is deleted; a placeholder it overwrote comes back.
    assert annotation_of(world.seq2) is None
    restored = snapshot_of(third)
    assert restored["annotation"] == before[third.pk]["annotation"]
    assert restored["processing_stage"] == ProcessingStage.READY_TO_ANNOTATE
    assert restored["label_source"] is None and restored["label_source_group_id"] is None
    assert annotation_of(third).smoke_types == [] and annotation_of(third).has_smoke is True
    assert annotation_of(third).updated_by == staff_user
    assert snapshot_of(fourth) == edited
    group.refresh_from_db()
    assert group.smoke_type is None and group.labeled_at is None and group.labeled_by is None
    assert group.is_validated is True
    # The saver's own human annotation is not part of the operation.
    assert annotation_of(world.seq1).label_source == LabelSource.HUMAN

    undo = GroupOperation.objects.get(pk=outcome.undo_operation_id)
    assert undo.kind == OperationKind.UNDO and undo.undo_of == operation
    assert undo.actor == staff_user and undo.group == group
    assert undo.group_after["smoke_type"] is None
    assert undo.details["left_alone"] == outcome.left_alone
    assert sorted(undo.members.values_list("sequence_id", flat=True)) == outcome.restored
    # An undo never propagates.
    assert GroupOperation.objects.filter(kind=OperationKind.PROPAGATE).count() == 1


def test_group_relabeled_since_is_left_alone(world, propagated):
    group, operation, _, _ = propagated
    group.refresh_from_db()
    group.smoke_type = "industrial"
    group.save()

    outcome = group_operation_undo(operation_id=operation.pk, actor=None)

    assert outcome.group_restored is False
    group.refresh_from_db()
    assert group.smoke_type == "industrial"


def test_undo_that_restores_nothing_is_stored_and_cannot_repeat(world, propagated):
    _, operation, (third, fourth), _ = propagated
    for sequence, detection in ((world.seq2, world.det3), (third, None), (fourth, None)):
        detection = detection or sequence.detections.get()
        human_label(sequence, detection, stage=DONE, smoke_type="wildfire")
    group = operation.group
    group.refresh_from_db()
    group.is_unsure = True
    group.save()

    outcome = group_operation_undo(operation_id=operation.pk, actor=None)

    assert outcome.restored == [] and outcome.group_restored is False
    assert len(outcome.left_alone) == 3
    assert GroupOperation.objects.filter(pk=outcome.undo_operation_id).exists()

    with pytest.raises(AlreadyUndone) as excinfo:
        group_operation_undo(operation_id=operation.pk, actor=None)
    assert http_status(excinfo.value) == 409
    assert excinfo.value.message == (
        f"Operation {operation.pk} has already been undone "
        f"(by operation {outcome.undo_operation_id})."
    )
    with pytest.raises(UndoOfUndo) as excinfo:
        group_operation_undo(operation_id=outcome.undo_operation_id, actor=None)
    assert http_status(excinfo.value) == 409
    assert excinfo.value.message == "Undo operations cannot be undone."
    assert GroupOperation.objects.filter(kind=OperationKind.UNDO).count() == 1


def test_unknown_operation_is_404():
    with pytest.raises(OperationNotFound) as excinfo:
        group_operation_undo(operation_id=987_654, actor=None)
    assert http_status(excinfo.value) == 404
    assert excinfo.value.message == "Operation 987654 not found"


def test_undo_remove_restores_membership(world, seed_group):
    group = seed_group()
    operation = group_member_remove(group_id=group.pk, sequence_id=world.seq1.pk, actor=None)

    outcome = group_operation_undo(operation_id=operation.pk, actor=None)

    assert outcome.restored == [world.seq1.pk] and outcome.left_alone == []
    world.seq1.refresh_from_db()
    assert world.seq1.group_id == group.pk and world.seq1.is_group_excluded is False
    assert GroupOperation.objects.get(pk=outcome.undo_operation_id).sequence == world.seq1


def test_undo_remove_after_reinclude_leaves_membership_alone(world, seed_group):
    group = seed_group()
    removal = group_member_remove(group_id=group.pk, sequence_id=world.seq1.pk, actor=None)
    group_member_reinclude(sequence_id=world.seq1.pk, actor=None)

    outcome = group_operation_undo(operation_id=removal.pk, actor=None)

    assert outcome.restored == []
    assert outcome.left_alone == [
        {"sequence_id": world.seq1.pk, "reason": "membership changed since"}
    ]
    world.seq1.refresh_from_db()
    assert world.seq1.group_id is None and world.seq1.is_group_excluded is False


def test_undo_reinclude_restores_the_exclusion(world, seed_group):
    group = seed_group()
    group_member_remove(group_id=group.pk, sequence_id=world.seq1.pk, actor=None)
    reinclude = group_member_reinclude(sequence_id=world.seq1.pk, actor=None)

    outcome = group_operation_undo(operation_id=reinclude.pk, actor=None)

    assert outcome.restored == [world.seq1.pk]
    world.seq1.refresh_from_db()
    assert world.seq1.is_group_excluded is True and world.seq1.group_id is None


def test_undo_bulk_restores_the_group_label_and_members(world, seed_group, annotator):
    group = seed_group(smoke_type="industrial", user=annotator)
    group_before = (group.smoke_type, group.labeled_at, group.labeled_by_id)
    result = group_bulk_annotate(
        sequence_ids=[world.seq1.pk, world.seq2.pk],
        group_id=group.pk,
        smoke_type=None,
        false_positive_type="antenna",
        force=True,
        actor=None,
    )
    assert result.group_label_updated

    outcome = group_operation_undo(operation_id=result.operation_id, actor=None)

    assert outcome.restored == [world.seq1.pk, world.seq2.pk] and outcome.group_restored
    group.refresh_from_db()
    assert (group.smoke_type, group.labeled_at, group.labeled_by_id) == group_before
    assert group.false_positive_type is None
    assert annotation_of(world.seq1) is None and annotation_of(world.seq2) is None


def test_undo_validate_reverts_the_derived_label_and_fan_out(world, seed_group):
    group = seed_group()
    human_label(world.seq1, world.det1, stage=DONE, smoke_type="wildfire")
    validation = group_validate(group_id=group.pk, actor=None)

    outcome = group_operation_undo(operation_id=validation.operation_id, actor=None)

    assert outcome.group_restored and outcome.restored == [world.seq2.pk]
    group.refresh_from_db()
    assert not group.is_validated and group.smoke_type is None and group.validated_at is None
    assert annotation_of(world.seq2) is None
    assert annotation_of(world.seq1).smoke_types == ["wildfire"]


def test_undo_inherit_reverts_the_run_into_one_group(world, seed_group):
    """An `inherit` operation (as the assignment writes it) is undone as a unit."""
    group = seed_group(smoke_type="wildfire")
    placeholder(world.seq2)
    before = snapshot_of(world.seq2)
    operation = GroupOperation.objects.create(kind=OperationKind.INHERIT, group=group)
    group_stamp_members(
        operation=operation,
        sequence_ids=[world.seq1.pk, world.seq2.pk],
        label=Label.smoke("wildfire"),
        is_unsure=False,
        source=LabelSource.INHERITED,
        group_id=group.pk,
    )
    assert annotation_of(world.seq2).label_source == LabelSource.INHERITED

    outcome = group_operation_undo(operation_id=operation.pk, actor=None)

    assert outcome.restored == [world.seq1.pk, world.seq2.pk]
    assert outcome.group_restored is False
    assert annotation_of(world.seq1) is None
    assert snapshot_of(world.seq2)["annotation"] == before["annotation"]
    assert snapshot_of(world.seq2)["label_source"] is None
