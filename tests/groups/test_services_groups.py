"""Validation with derive-on-validate, member removal and re-include (SPEC §5.5, §5.6)."""

import pytest

import sequences.services.stamps
from annotation_site.errors import http_status
from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services import (
    VALIDATION_DISAGREE_WARNING,
    VALIDATION_LABEL_FAILED_WARNING,
    GroupNotFound,
    NotAMember,
    SequenceNotFound,
    group_member_reinclude,
    group_member_remove,
    group_unvalidate,
    group_validate,
)
from sequences.models import LOCKED_STAGES, LabelSource, ProcessingStage, Sequence
from tests.factories import (
    SequenceFactory,
    SequenceGroupFactory,
    UserFactory,
    add_members,
    human_label,
)
from tests.support import annotation_of, snapshot_of

pytestmark = pytest.mark.django_db

DONE = ProcessingStage.SEQ_ANNOTATION_DONE


# --- validate / unvalidate ---------------------------------------------------------------------


def test_validate_stamps_the_reviewer_and_logs(seed_group, annotator):
    group = seed_group()
    outcome = group_validate(group_id=group.pk, actor=annotator)

    assert outcome.changed is True and outcome.validation_warning is None
    assert outcome.propagated_count == 0
    group.refresh_from_db()
    assert group.is_validated and group.validated_by == annotator and group.validated_at
    operation = GroupOperation.objects.get()
    assert operation.pk == outcome.operation_id
    assert (operation.kind, operation.actor, operation.group) == ("validate", annotator, group)
    assert operation.group_before["is_validated"] is False
    assert operation.group_after["is_validated"] is True


def test_revalidating_keeps_the_first_reviewer_and_logs_nothing(seed_group, annotator):
    group = seed_group()
    group_validate(group_id=group.pk, actor=annotator)
    group.refresh_from_db()
    first_at = group.validated_at

    outcome = group_validate(group_id=group.pk, actor=UserFactory(username="bob"))

    assert outcome.changed is False and outcome.operation_id is None
    group.refresh_from_db()
    assert group.validated_by == annotator and group.validated_at == first_at
    assert GroupOperation.objects.count() == 1


def test_unvalidate_clears_and_logs_once(seed_group, annotator):
    group = seed_group(validated=True, smoke_type="wildfire", user=annotator)
    outcome = group_unvalidate(group_id=group.pk, actor=annotator)

    assert outcome.changed is True
    group.refresh_from_db()
    assert not group.is_validated and group.validated_at is None and group.validated_by is None
    assert group.smoke_type == "wildfire"
    assert GroupOperation.objects.get().kind == OperationKind.UNVALIDATE

    assert group_unvalidate(group_id=group.pk, actor=annotator).changed is False
    assert GroupOperation.objects.count() == 1


def test_unknown_group_is_404():
    with pytest.raises(GroupNotFound) as excinfo:
        group_validate(group_id=424242, actor=None)
    assert http_status(excinfo.value) == 404
    assert excinfo.value.message == "Sequence group 424242 not found"
    with pytest.raises(GroupNotFound):
        group_unvalidate(group_id=424242, actor=None)


def test_deleting_the_reviewer_keeps_the_group_validated(seed_group):
    """§9.4 #14."""
    reviewer = UserFactory(username="reviewer")
    group = seed_group()
    group_validate(group_id=group.pk, actor=reviewer)
    reviewer.delete()

    group.refresh_from_db()
    assert group.is_validated is True and group.validated_by is None
    assert group.validated_at is not None


# --- derive on validate ------------------------------------------------------------------------


def test_validating_labels_the_group_from_done_members_and_fans_out(world, seed_group, annotator):
    """§9.4 #11: label first, validate after."""
    group = seed_group()
    human_label(world.seq1, world.det1, stage=DONE, smoke_type="wildfire", unsure=True)

    outcome = group_validate(group_id=group.pk, actor=annotator)

    assert outcome.validation_warning is None and outcome.propagated_count == 1
    group.refresh_from_db()
    assert group.smoke_type == "wildfire" and group.is_unsure is True
    assert group.labeled_by == annotator and group.is_validated
    fanned = annotation_of(world.seq2)
    assert fanned.smoke_types == ["wildfire"] and fanned.is_unsure is True
    assert fanned.label_source == LabelSource.PROPAGATED
    operation = GroupOperation.objects.get()
    assert operation.kind == OperationKind.VALIDATE
    assert fanned.label_source_operation_id == operation.pk
    assert operation.details["derived_label"] == "smoke/wildfire"
    assert operation.group_before["is_validated"] is False
    assert operation.group_before["smoke_type"] is None
    assert operation.group_after["smoke_type"] == "wildfire"
    assert [m.sequence_id for m in operation.members.all()] == [world.seq2.pk]


def test_disagreeing_members_leave_the_group_unlabeled_with_a_warning(world, seed_group):
    group = seed_group()
    [third] = add_members(group, 1)
    human_label(world.seq1, world.det1, stage=DONE, smoke_type="wildfire")
    human_label(world.seq2, world.det3, stage=ProcessingStage.ANNOTATED, fp="antenna")
    human_label(
        third, third.detections.get(), stage=ProcessingStage.IN_REVIEW, smoke_type="wildfire"
    )

    outcome = group_validate(group_id=group.pk, actor=None)

    expected = VALIDATION_DISAGREE_WARNING.format(
        group_id=group.pk,
        votes=(
            f"smoke/wildfire: sequences {world.seq1.pk}, {third.pk}; "
            f"FP/antenna: sequence {world.seq2.pk}"
        ),
    )
    assert outcome.validation_warning == expected
    assert expected.startswith(f"Group {group.pk} was validated but not labeled: its annotated")
    assert expected.endswith("Remove the outliers, then save one member to label the group.")
    group.refresh_from_db()
    assert group.is_validated and group.smoke_type is None and group.false_positive_type is None
    assert outcome.propagated_count == 0


def test_no_voters_means_no_label(world, seed_group, human_save):
    group = seed_group()
    # Locked but not done: no vote.
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire", stage="needs_manual")
    outcome = group_validate(group_id=group.pk, actor=None)

    assert outcome.validation_warning is None and outcome.propagated_count == 0
    group.refresh_from_db()
    assert group.smoke_type is None
    assert annotation_of(world.seq2) is None


def test_validating_a_labeled_group_does_not_fan_out(world, seed_group):
    group = seed_group(smoke_type="industrial")
    human_label(world.seq1, world.det1, stage=DONE, smoke_type="wildfire")

    outcome = group_validate(group_id=group.pk, actor=None)

    assert outcome.propagated_count == 0 and outcome.validation_warning is None
    group.refresh_from_db()
    assert group.smoke_type == "industrial"
    assert annotation_of(world.seq2) is None


def test_failed_label_keeps_the_validation(world, seed_group, monkeypatch):
    group = seed_group()
    human_label(world.seq1, world.det1, stage=DONE, smoke_type="wildfire")
    real_snapshot = sequences.services.stamps.annotation_snapshot

    def failing_snapshot(annotation):
        if annotation is not None and annotation.label_source == LabelSource.PROPAGATED:
            raise RuntimeError("injected failure")
        return real_snapshot(annotation)

    monkeypatch.setattr(sequences.services.stamps, "annotation_snapshot", failing_snapshot)
    outcome = group_validate(group_id=group.pk, actor=None)

    assert outcome.validation_warning == VALIDATION_LABEL_FAILED_WARNING.format(
        group_id=group.pk, label="smoke/wildfire"
    )
    assert outcome.propagated_count == 0
    group.refresh_from_db()
    assert group.is_validated and group.smoke_type is None
    assert annotation_of(world.seq2) is None
    operation = GroupOperation.objects.get()
    assert operation.group_after["smoke_type"] is None
    assert not operation.members.exists()


@pytest.mark.parametrize("stage", sorted(LOCKED_STAGES))
def test_derive_on_validate_leaves_locked_members_untouched(world, seed_group, stage):
    """§9.4 #9, derive-on-validate."""
    group = seed_group()
    [writable] = add_members(group, 1)
    human_label(world.seq1, world.det1, stage=DONE, smoke_type="wildfire")
    human_label(world.seq2, world.det3, stage=stage, smoke_type="wildfire")
    locked = snapshot_of(world.seq2)

    outcome = group_validate(group_id=group.pk, actor=None)

    assert outcome.propagated_count == 1
    assert snapshot_of(world.seq2) == locked
    assert annotation_of(writable).label_source == LabelSource.PROPAGATED


# --- membership --------------------------------------------------------------------------------


def test_remove_excludes_the_member_and_logs(world, seed_group, annotator, human_save):
    group = seed_group(validated=True, smoke_type="wildfire")
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire")
    annotation_before = snapshot_of(world.seq1)

    operation = group_member_remove(group_id=group.pk, sequence_id=world.seq1.pk, actor=annotator)

    world.seq1.refresh_from_db()
    assert world.seq1.group_id is None and world.seq1.is_group_excluded is True
    assert snapshot_of(world.seq1) == annotation_before
    assert SequenceGroup.objects.filter(pk=group.pk, smoke_type="wildfire").exists()
    assert operation.kind == OperationKind.REMOVE_MEMBER
    assert (operation.group, operation.sequence, operation.actor) == (group, world.seq1, annotator)
    assert operation.details == {"sequence_id": world.seq1.pk}


def test_removing_the_last_member_keeps_the_group(world, seed_group):
    group = seed_group()
    for sequence in (world.seq1, world.seq2):
        group_member_remove(group_id=group.pk, sequence_id=sequence.pk, actor=None)
    assert SequenceGroup.objects.filter(pk=group.pk).exists()
    assert not group.members.exists()


def test_remove_errors(world, seed_group):
    group = seed_group()
    other = SequenceGroupFactory()
    with pytest.raises(SequenceNotFound) as excinfo:
        group_member_remove(group_id=group.pk, sequence_id=999_999, actor=None)
    assert (http_status(excinfo.value), excinfo.value.message) == (404, "Sequence 999999 not found")
    with pytest.raises(NotAMember) as excinfo:
        group_member_remove(group_id=other.pk, sequence_id=world.seq1.pk, actor=None)
    assert http_status(excinfo.value) == 400
    assert excinfo.value.message == f"Sequence {world.seq1.pk} is not a member of group {other.pk}"
    with pytest.raises(NotAMember):
        group_member_remove(group_id=123_456, sequence_id=world.seq1.pk, actor=None)
    assert not GroupOperation.objects.exists()


def test_reinclude_lifts_the_exclusion_against_the_last_group(world, seed_group, annotator):
    group = seed_group()
    group_member_remove(group_id=group.pk, sequence_id=world.seq1.pk, actor=None)

    operation = group_member_reinclude(sequence_id=world.seq1.pk, actor=annotator)

    world.seq1.refresh_from_db()
    assert world.seq1.is_group_excluded is False and world.seq1.group_id is None
    assert operation.kind == OperationKind.REINCLUDE_MEMBER
    assert (operation.group, operation.sequence, operation.actor) == (group, world.seq1, annotator)
    # Idempotent: nothing more to do, nothing logged.
    assert group_member_reinclude(sequence_id=world.seq1.pk, actor=annotator) is None
    assert GroupOperation.objects.filter(kind=OperationKind.REINCLUDE_MEMBER).count() == 1


def test_reinclude_of_a_sequence_never_removed_logs_no_group(db):
    sequence = SequenceFactory(is_group_excluded=True)
    operation = group_member_reinclude(sequence_id=sequence.pk, actor=None)
    assert operation.group is None
    assert not Sequence.objects.get(pk=sequence.pk).is_group_excluded
    with pytest.raises(SequenceNotFound):
        group_member_reinclude(sequence_id=999_999, actor=None)
