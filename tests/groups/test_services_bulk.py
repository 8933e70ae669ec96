"""Bulk annotate (SPEC §5.4, §9.2 #2, #3, #8, §9.3 Bulk, §9.4 #9)."""

import pytest

import sequences.services.stamps
from annotation_site.errors import http_status
from groups.models import GroupOperation, OperationKind
from groups.services import (
    LABEL_BOTH,
    LABEL_MISSING,
    BulkInvalid,
    GroupLabelConflict,
    GroupNotFound,
    NotMembers,
    group_bulk_annotate,
)
from sequences.models import LOCKED_STAGES, LabelSource, ProcessingStage
from tests.factories import (
    CameraFactory,
    SequenceFactory,
    SequenceGroupFactory,
    UserFactory,
    placeholder,
)
from tests.support import annotation_of, snapshot_of

pytestmark = pytest.mark.django_db


def bulk(ids, group=None, *, smoke_type=None, fp=None, actor=None, **options):
    return group_bulk_annotate(
        sequence_ids=ids,
        group_id=group.pk if group is not None else None,
        smoke_type=smoke_type,
        false_positive_type=fp,
        actor=actor,
        **options,
    )


@pytest.fixture
def assigned_group(world):
    """§9.2 #1's outcome: sequence 1 alone in a new group on camera 42."""
    camera = CameraFactory(platform_id=42, organization=world.org1)
    group = SequenceGroupFactory(camera=camera, azimuth=90)
    type(world.seq1).objects.filter(pk=world.seq1.pk).update(group=group, camera=camera)
    return group


def test_bulk_labels_the_sequence_and_the_group(world, assigned_group, staff_user):
    """§9.2 #2."""
    result = bulk([world.seq1.pk], assigned_group, smoke_type="wildfire", actor=staff_user)

    annotation = annotation_of(world.seq1)
    assert result.applied == [
        {
            "sequence_id": world.seq1.pk,
            "status": "applied",
            "reason": None,
            "annotation_id": annotation.pk,
        }
    ]
    assert result.skipped == [] and result.group_label_updated is True
    assigned_group.refresh_from_db()
    assert (assigned_group.smoke_type, assigned_group.false_positive_type) == ("wildfire", None)
    assert assigned_group.labeled_at is not None and assigned_group.labeled_by == staff_user
    [cluster] = annotation.annotation["sequences_bbox"]
    assert [b["detection_id"] for b in cluster["bboxes"]] == [world.det1.pk, world.det2.pk]
    assert cluster["smoke_type"] == "wildfire" and cluster["is_smoke"] is True
    assert annotation.processing_stage == ProcessingStage.SEQ_ANNOTATION_DONE
    assert annotation.label_source == LabelSource.BULK
    assert annotation.label_source_group == assigned_group
    [operation] = GroupOperation.objects.all()
    assert operation.kind == OperationKind.BULK and operation.pk == result.operation_id
    assert operation.actor == staff_user and operation.group == assigned_group
    assert operation.group_after["smoke_type"] == "wildfire"
    [member] = operation.members.all()
    assert member.sequence_id == world.seq1.pk and member.before is None


def test_conflicting_label_needs_force_and_force_spares_locked(world, assigned_group):
    """§9.2 #3."""
    bulk([world.seq1.pk], assigned_group, smoke_type="wildfire")
    annotation_id = annotation_of(world.seq1).pk

    with pytest.raises(GroupLabelConflict) as excinfo:
        bulk([world.seq1.pk], assigned_group, fp="antenna")
    assert http_status(excinfo.value) == 409
    assert excinfo.value.message == (
        f"Group {assigned_group.pk} already carries a different label (smoke/wildfire). Send "
        "force=true to replace the group's label and apply the new label to its writable "
        "members; members in a locked stage are never changed, even with force."
    )

    result = bulk([world.seq1.pk], assigned_group, fp="antenna", force=True)
    assert result.applied == []
    assert result.skipped == [
        {
            "sequence_id": world.seq1.pk,
            "status": "skipped",
            "reason": "already seq_annotation_done",
            "annotation_id": annotation_id,
        }
    ]
    assert result.group_label_updated is False and result.operation_id is None
    assigned_group.refresh_from_db()
    assert assigned_group.smoke_type == "wildfire"
    assert GroupOperation.objects.count() == 1


@pytest.mark.parametrize(
    "labels, message",
    [({}, LABEL_MISSING), ({"smoke_type": "wildfire", "fp": "antenna"}, LABEL_BOTH)],
)
def test_neither_or_both_labels_is_422_naming_the_fields(world, assigned_group, labels, message):
    """§9.2 #8."""
    with pytest.raises(BulkInvalid) as excinfo:
        bulk([world.seq1.pk], assigned_group, **labels)
    assert http_status(excinfo.value) == 422
    assert excinfo.value.errors == [
        (("body", "smoke_type"), message),
        (("body", "false_positive_type"), message),
    ]
    assert annotation_of(world.seq1) is None


def test_status_order_422_404_400_409(world, seed_group):
    group = seed_group(smoke_type="industrial")
    outsider = SequenceFactory()
    missing_group = SequenceGroupFactory()
    missing_group_id = missing_group.pk
    missing_group.delete()

    # Every fault at once: the 422 wins.
    with pytest.raises(BulkInvalid):
        group_bulk_annotate(
            sequence_ids=[outsider.pk],
            group_id=missing_group_id,
            smoke_type="wildfire",
            false_positive_type="antenna",
            actor=None,
        )
    with pytest.raises(GroupNotFound) as excinfo:
        group_bulk_annotate(
            sequence_ids=[outsider.pk],
            group_id=missing_group_id,
            smoke_type="wildfire",
            false_positive_type=None,
            actor=None,
        )
    assert http_status(excinfo.value) == 404
    assert excinfo.value.message == f"Sequence group {missing_group_id} not found"
    with pytest.raises(NotMembers) as excinfo:
        bulk([world.seq1.pk, outsider.pk, 999_999], group, smoke_type="wildfire")
    assert http_status(excinfo.value) == 400
    assert excinfo.value.message == (
        f"Sequences [{outsider.pk}, 999999] do not belong to group {group.pk}"
    )
    with pytest.raises(GroupLabelConflict):
        bulk([world.seq1.pk], group, smoke_type="wildfire")
    assert not GroupOperation.objects.exists()


def test_duplicate_ids_are_processed_once(world, seed_group):
    group = seed_group()
    ids = [world.seq2.pk, world.seq1.pk, world.seq2.pk]
    result = bulk(ids, group, fp="antenna")

    assert [item["sequence_id"] for item in result.applied] == [world.seq2.pk, world.seq1.pk]
    operation = GroupOperation.objects.get()
    assert operation.details["requested"] == 2
    assert sorted(operation.members.values_list("sequence_id", flat=True)) == sorted(
        [world.seq1.pk, world.seq2.pk]
    )


def test_failure_at_second_sequence_persists_nothing(world, seed_group, monkeypatch):
    group = seed_group()
    placeholder(world.seq1)
    before = snapshot_of(world.seq1)
    real_snapshot = sequences.services.stamps.annotation_snapshot

    def failing_snapshot(annotation):
        if annotation is not None and annotation.sequence_id == world.seq2.pk:
            raise RuntimeError("injected failure at the 2nd sequence")
        return real_snapshot(annotation)

    monkeypatch.setattr(sequences.services.stamps, "annotation_snapshot", failing_snapshot)
    with pytest.raises(RuntimeError):
        bulk([world.seq1.pk, world.seq2.pk], group, smoke_type="wildfire")

    assert snapshot_of(world.seq1) == before
    assert annotation_of(world.seq2) is None
    group.refresh_from_db()
    assert group.smoke_type is None
    assert not GroupOperation.objects.exists()


def test_bulk_never_propagates(world, seed_group):
    group = seed_group(validated=True)
    bulk([world.seq1.pk], group, smoke_type="wildfire")

    assert annotation_of(world.seq2) is None
    assert not GroupOperation.objects.filter(kind=OperationKind.PROPAGATE).exists()


def test_resending_the_group_label_keeps_the_first_labeler(world, seed_group, annotator):
    group = seed_group(smoke_type="wildfire", user=annotator)
    labeled_at = group.labeled_at

    result = bulk([world.seq1.pk], group, smoke_type="wildfire", actor=UserFactory(username="bob"))

    assert len(result.applied) == 1 and result.group_label_updated is False
    group.refresh_from_db()
    assert group.labeled_at == labeled_at and group.labeled_by == annotator
    operation = GroupOperation.objects.get()
    assert operation.group_before is None and operation.group_after is None


def test_unsure_flag_is_written_back(world, seed_group):
    group = seed_group(smoke_type="wildfire")
    result = bulk([world.seq1.pk], group, smoke_type="wildfire", is_unsure=True)
    assert result.group_label_updated is True
    group.refresh_from_db()
    assert group.is_unsure is True
    assert annotation_of(world.seq1).is_unsure is True


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("stage", sorted(LOCKED_STAGES))
def test_locked_members_are_untouched(world, seed_group, human_save, stage, force):
    """§9.4 #9, bulk (also with force)."""
    group = seed_group()
    human_save(world.seq2, detection=world.det3, smoke_type="industrial", stage=stage)
    locked = snapshot_of(world.seq2)

    result = bulk([world.seq1.pk, world.seq2.pk], group, fp="antenna", force=force)

    assert snapshot_of(world.seq2) == locked
    assert result.skipped[0]["reason"] == f"already {stage}"
    assert [item["sequence_id"] for item in result.applied] == [world.seq1.pk]


def test_without_group_missing_and_empty_sequences_are_reported(world):
    empty = SequenceFactory()
    result = bulk([999_999, empty.pk, world.seq1.pk], fp="building")

    assert result.skipped == [
        {
            "sequence_id": 999_999,
            "status": "skipped",
            "reason": "sequence not found",
            "annotation_id": None,
        },
        {
            "sequence_id": empty.pk,
            "status": "skipped",
            "reason": "no AI predictions to seed annotation",
            "annotation_id": None,
        },
    ]
    assert result.group_label_updated is False
    stamped = annotation_of(world.seq1)
    assert stamped.false_positive_types == ["building"] and stamped.label_source_group is None
    operation = GroupOperation.objects.get()
    assert operation.group is None and operation.group_before is None
