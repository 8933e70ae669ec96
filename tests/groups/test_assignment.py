"""The group assignment run (SPEC §4.4, §4.5, §5.2, §5.3; §9.3; §9.4 rows 5-7)."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from groups import assignment, matching
from groups.assignment import (
    AssignmentAlreadyRunning,
    AssignmentArgumentInvalid,
    assignment_run,
    bucket_walk,
)
from groups.models import (
    AssignmentRun,
    GroupOperation,
    GroupOperationMember,
    OperationKind,
    RunStatus,
    SequenceGroup,
)
from groups.reports import assignment_replay, replay_history_read
from groups.services import group_operation_undo
from sequences.boxes import iou
from sequences.models import LabelSource, ProcessingStage, Sequence, SequenceAnnotation, SourceApi
from sequences.services import annotation_write
from tests.factories import (
    CameraFactory,
    DetectionFactory,
    SequenceGroupFactory,
    UserFactory,
    labeled_group,
    predictions,
    sequence_with_boxes,
    smoke_annotation,
    tied_detections,
)
from tests.support import annotation_of
from tests.support.assignment import counters, expect

pytestmark = pytest.mark.django_db

BOX = [0.1, 0.1, 0.4, 0.4]
FAR_BOX = [0.6, 0.6, 0.9, 0.9]
LOCKED = [
    ProcessingStage.UNDER_ANNOTATION,
    ProcessingStage.SEQ_ANNOTATION_DONE,
    ProcessingStage.IN_REVIEW,
    ProcessingStage.NEEDS_MANUAL,
    ProcessingStage.ANNOTATED,
]


def database_state() -> dict:
    """Everything a run may write, to compare before and after."""
    return {
        "memberships": list(Sequence.objects.order_by("pk").values_list("pk", "group_id")),
        "groups": list(SequenceGroup.objects.order_by("pk").values_list("pk", "updated_at")),
        "annotations": list(
            SequenceAnnotation.objects.order_by("pk").values_list("pk", "updated_at")
        ),
        "operations": GroupOperation.objects.count(),
    }


def write_stage(sequence, stage):
    """Give `sequence` an annotation at `stage` (a placeholder or a human label)."""
    detection = sequence.detections.order_by("recorded_at", "id").first()
    writable = stage in (ProcessingStage.IMPORTED, ProcessingStage.READY_TO_ANNOTATE)
    return annotation_write(
        sequence=sequence,
        annotation={"sequences_bbox": []}
        if writable
        else smoke_annotation(detection.pk, "industrial"),
        processing_stage=stage,
        has_missed_smoke=False,
        source=None if writable else LabelSource.HUMAN,
    ).annotation


# --- The worked scenario and the representative box (§4.4) -------------------------------------


def test_unmatched_sequence_founds_a_group_with_the_worked_representative(world):
    """SPEC §9.2 #1."""
    camera = CameraFactory(source_api=SourceApi.PYRONEAR_FRENCH, platform_id=42)
    Sequence.objects.filter(pk=world.seq1.pk).update(camera=camera, azimuth=90)

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=2, new=1, skipped=1)
    world.seq1.refresh_from_db()
    group = world.seq1.group
    assert group is not None and (group.camera, group.azimuth) == (camera, 90)
    assert group.representative_bbox == {"xyxyn": [0.16, 0.19, 0.475, 0.515], "confidence": 0.89}
    run = AssignmentRun.objects.get(pk=outcome.run_id)
    assert run.status == RunStatus.SUCCEEDED and run.finished_at is not None
    assert group.created_by_run == run
    assert (run.processed, run.new_groups, run.skipped_no_bbox) == (2, 1, 1)
    assert not group.is_labeled and not group.is_validated


def test_disjoint_boxes_give_the_box_between_them(world):
    Sequence.objects.filter(pk=world.seq2.pk).update(azimuth=10)
    assignment_run()
    world.seq2.refresh_from_db()
    assert world.seq2.group.representative_bbox == {
        "xyxyn": [0.325, 0.35, 0.575, 0.625],
        "confidence": 0.78,
    }


def test_eleventh_detection_is_ignored():
    # Ten detections: five at x1 = 0.1, five at x1 = 0.3, so the median x1 is 0.2. The
    # eleventh (created first, so lowest id, but recorded last) would move it to 0.3.
    sequence = sequence_with_boxes()
    start = sequence.recorded_at
    DetectionFactory(
        sequence=sequence,
        recorded_at=start + timedelta(hours=1),
        image="detections/dummy.jpg",
        algo_predictions=predictions(([0.3, 0.3, 0.5, 0.5], 0.9)),
    )
    for index in range(10):
        low = 0.1 if index % 2 else 0.3
        DetectionFactory(
            sequence=sequence,
            recorded_at=start + timedelta(seconds=index),
            image="detections/dummy.jpg",
            algo_predictions=predictions(([low, low, 0.5, 0.5], 0.9)),
        )
    assignment_run()
    sequence.refresh_from_db()
    assert sequence.group.representative_bbox["xyxyn"] == [0.2, 0.2, 0.5, 0.5]


def test_equal_recorded_at_is_broken_by_id(settings):
    settings.GROUPS_REPRESENTATIVE_DETECTIONS = 1
    sequence = sequence_with_boxes()
    tied_detections(
        sequence,
        sequence.recorded_at,
        lower={"algo_predictions": predictions(([0.1, 0.1, 0.2, 0.2], 0.9))},
        higher={"algo_predictions": predictions(([0.5, 0.5, 0.6, 0.6], 0.9))},
    )
    assignment_run()
    sequence.refresh_from_db()
    assert sequence.group.representative_bbox["xyxyn"] == [0.1, 0.1, 0.2, 0.2]


def test_every_invalid_box_kind_is_skipped():
    invalid = [
        [0.1, 0.1, 0.4],  # wrong length
        [0.1, "0.1", 0.4, 0.4],  # not a number
        [True, 0.1, 0.4, 0.4],  # a bool
        [0.1, 0.1, 1.4, 0.4],  # out of range
        [0.4, 0.1, 0.1, 0.4],  # inverted
        [0.1, 0.1, 0.1, 0.4],  # zero area
        [0, 0, 0, 0],  # all zero
    ]
    sequence = sequence_with_boxes(invalid + [[0.2, 0.2, 0.3, 0.3]])
    assignment_run()
    sequence.refresh_from_db()
    assert sequence.group.representative_bbox == {"xyxyn": [0.2, 0.2, 0.3, 0.3], "confidence": 0.9}


def test_no_azimuth_or_no_usable_box_is_skipped_and_retried_on_every_run():
    no_azimuth = sequence_with_boxes(BOX, azimuth=None)
    no_box = sequence_with_boxes([0.5, 0.5, 0.4, 0.6], None)
    no_detection = sequence_with_boxes()

    for _ in range(2):
        assert counters(assignment_run()) == expect(processed=3, skipped=3)
    assert not SequenceGroup.objects.exists()

    Sequence.objects.filter(pk=no_azimuth.pk).update(azimuth=12)
    assert counters(assignment_run()) == expect(processed=3, new=1, skipped=2)
    assert Sequence.objects.get(pk=no_azimuth.pk).group is not None
    assert Sequence.objects.filter(pk__in=[no_box.pk, no_detection.pk], group=None).count() == 2


# --- Matching (§4.5) ----------------------------------------------------------------------------


def test_the_better_of_two_groups_wins():
    camera = CameraFactory()
    weaker = SequenceGroupFactory(
        camera=camera, representative_bbox={"xyxyn": [0.1, 0.1, 0.4, 0.5]}
    )
    better = SequenceGroupFactory(camera=camera, representative_bbox={"xyxyn": BOX})
    sequence = sequence_with_boxes([0.1, 0.1, 0.4, 0.42], camera=camera)
    assert weaker.pk < better.pk

    assert counters(assignment_run()) == expect(processed=1, joined=1)
    assert Sequence.objects.get(pk=sequence.pk).group == better


def test_an_exact_tie_goes_to_the_lowest_id():
    camera = CameraFactory()
    first, second = (
        SequenceGroupFactory(camera=camera, representative_bbox={"xyxyn": BOX}) for _ in range(2)
    )
    sequence = sequence_with_boxes([0.1, 0.1, 0.4, 0.45], camera=camera)
    assignment_run()
    assert Sequence.objects.get(pk=sequence.pk).group == first != second


def test_iou_exactly_at_the_threshold_does_not_match():
    camera = CameraFactory()
    group = SequenceGroupFactory(camera=camera, representative_bbox={"xyxyn": [0, 0, 1, 1]})
    sequence = sequence_with_boxes([0, 0, 0.3, 1], camera=camera)

    assert counters(assignment_run()) == expect(processed=1, new=1)
    assert Sequence.objects.get(pk=sequence.pk).group not in (None, group)


@pytest.mark.parametrize(("threshold", "joins"), [(None, True), (0.32, False)])
def test_a_joiner_just_above_the_default_threshold_joins_unless_it_is_raised(
    settings, threshold, joins
):
    """IoU 0.3125 joins at the default 0.3 and founds its own group above 0.3125."""
    if threshold is not None:
        settings.GROUPS_MATCH_IOU_THRESHOLD = threshold
    camera = CameraFactory()
    group = SequenceGroupFactory(camera=camera, representative_bbox={"xyxyn": [0, 0, 1, 1]})
    sequence = sequence_with_boxes([0, 0, 0.3125, 1], camera=camera)

    outcome = assignment_run()

    joined = Sequence.objects.get(pk=sequence.pk).group
    if joins:
        assert counters(outcome) == expect(processed=1, joined=1)
        assert joined == group
    else:
        assert counters(outcome) == expect(processed=1, new=1)
        assert joined not in (None, group)


def test_a_group_founded_earlier_in_the_run_is_joinable():
    camera = CameraFactory()
    first = sequence_with_boxes(BOX, camera=camera)
    second = sequence_with_boxes(BOX, camera=camera)

    assert counters(assignment_run()) == expect(processed=2, new=1, joined=1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.group == second.group
    assert first.group.representative_bbox["xyxyn"] == BOX


def test_same_platform_camera_under_two_source_apis_gives_two_groups():
    french = CameraFactory(source_api=SourceApi.PYRONEAR_FRENCH, platform_id=7)
    cenia = CameraFactory(source_api=SourceApi.API_CENIA, platform_id=7)
    one = sequence_with_boxes(BOX, camera=french, source_api=SourceApi.PYRONEAR_FRENCH)
    two = sequence_with_boxes(BOX, camera=cenia, source_api=SourceApi.API_CENIA)

    assert counters(assignment_run()) == expect(processed=2, new=2)
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.group.camera == french and two.group.camera == cenia


def test_a_different_azimuth_never_matches():
    camera = CameraFactory()
    SequenceGroupFactory(camera=camera, azimuth=90, representative_bbox={"xyxyn": BOX})
    sequence = sequence_with_boxes(BOX, camera=camera, azimuth=91)

    assert counters(assignment_run()) == expect(processed=1, new=1)
    assert Sequence.objects.get(pk=sequence.pk).group.azimuth == 91


def test_excluded_stays_excluded_and_a_reincluded_sequence_is_grouped_next_run():
    """SPEC §9.4 #7."""
    camera = CameraFactory()
    group = SequenceGroupFactory(camera=camera, representative_bbox={"xyxyn": BOX})
    removed = sequence_with_boxes(BOX, camera=camera, is_group_excluded=True)

    for _ in range(2):
        assert counters(assignment_run()) == expect()
        removed.refresh_from_db()
        assert removed.group is None and removed.is_group_excluded

    Sequence.objects.filter(pk=removed.pk).update(is_group_excluded=False)  # re-include
    assert counters(assignment_run()) == expect(processed=1, joined=1)
    assert Sequence.objects.get(pk=removed.pk).group == group


def test_a_second_run_writes_nothing(world):
    camera = CameraFactory()
    for box in (BOX, BOX, FAR_BOX):
        sequence_with_boxes(box, camera=camera)
    labeled_group(camera, box=FAR_BOX)
    first = assignment_run()
    assert first.new_groups == 1 and first.joined_existing == 2 and first.inherited_annotations
    before = database_state()

    again = assignment_run()

    assert counters(again) == expect(processed=2, skipped=2)  # sequences 1 and 2: no azimuth
    assert database_state() == before


# --- Inheritance (§5.3) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stage", [None, ProcessingStage.IMPORTED, ProcessingStage.READY_TO_ANNOTATE]
)
def test_a_close_joiner_of_a_labeled_group_inherits(stage):
    camera = CameraFactory()
    group = labeled_group(camera, smoke_type="wildfire")  # not validated: inherits all the same
    joiner = sequence_with_boxes(BOX, [0.12, 0.1, 0.4, 0.4], camera=camera)
    if stage:
        write_stage(joiner, stage)

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=1, joined=1, inherited=1)
    row = annotation_of(joiner)
    assert row.processing_stage == ProcessingStage.SEQ_ANNOTATION_DONE
    assert row.smoke_types == ["wildfire"]
    assert len(row.annotation["sequences_bbox"]) == 1
    assert row.label_source == LabelSource.INHERITED and row.label_source_group == group
    assert row.checked_at is None and row.is_unsure is False
    operation = GroupOperation.objects.get()
    assert row.label_source_operation == operation
    assert (operation.kind, operation.group, operation.run_id) == ("inherit", group, outcome.run_id)


def test_a_joiner_of_a_validated_group_inherits_and_nothing_else_changes():
    camera = CameraFactory()
    group = labeled_group(camera, smoke_type="industrial")
    SequenceGroup.objects.filter(pk=group.pk).update(
        is_validated=True, validated_at=timezone.now(), validated_by=UserFactory()
    )
    group_before = SequenceGroup.objects.filter(pk=group.pk).values().get()
    joiner = sequence_with_boxes(BOX, camera=camera)

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=1, joined=1, inherited=1)
    assert annotation_of(joiner).smoke_types == ["industrial"]
    assert annotation_of(joiner).label_source == LabelSource.INHERITED
    # The joiner is counted; the group's state is as it was.
    group_after = {**group_before, "member_count": group_before["member_count"] + 1}
    assert SequenceGroup.objects.filter(pk=group.pk).values().get() == group_after
    assert list(GroupOperation.objects.values_list("kind", flat=True)) == [OperationKind.INHERIT]


def test_a_false_positive_label_and_the_unsure_flag_are_inherited():
    camera = CameraFactory()
    labeled_group(camera, smoke_type=None, fp="antenna", unsure=True)
    joiner = sequence_with_boxes(BOX, camera=camera)
    assignment_run()
    row = annotation_of(joiner)
    assert row.false_positive_types == ["antenna"] and row.smoke_types == []
    assert row.is_unsure is True and row.has_smoke is False


@pytest.mark.parametrize("stage", LOCKED)
def test_a_locked_joiner_is_left_alone(stage):
    """SPEC §9.4 #9 for inheritance."""
    camera = CameraFactory()
    group = labeled_group(camera)
    joiner = sequence_with_boxes(BOX, camera=camera)
    before = write_stage(joiner, stage)

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=1, joined=1)
    row = annotation_of(joiner)
    assert (row.processing_stage, row.smoke_types, row.updated_at) == (
        stage,
        ["industrial"],
        before.updated_at,
    )
    assert Sequence.objects.get(pk=joiner.pk).group == group
    assert not GroupOperation.objects.exists()  # an operation that wrote nothing is not kept


def test_a_loose_joiner_joins_without_inheriting(seed_group):
    """The §9.1 fixtures against the seed group: IoU 0.355 passes 0.3 but not the 0.5 gate."""
    group = seed_group(smoke_type="wildfire")
    Sequence.objects.filter(pk=group.members.get(alert_api_id=1).pk).update(group=None, azimuth=0)

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=1, joined=1, not_inherited=1)
    assert Sequence.objects.get(alert_api_id=1).group == group
    assert not SequenceAnnotation.objects.exists()
    assert not GroupOperation.objects.exists()


def test_a_joiner_of_an_unlabeled_group_inherits_nothing():
    camera = CameraFactory()
    SequenceGroupFactory(camera=camera, representative_bbox={"xyxyn": BOX})
    joiner = sequence_with_boxes(BOX, camera=camera)
    assert counters(assignment_run()) == expect(processed=1, joined=1)
    assert annotation_of(joiner) is None


def test_no_inheritance_when_the_setting_is_off(settings):
    settings.GROUPS_INHERITANCE_ENABLED = False
    camera = CameraFactory()
    labeled_group(camera)
    joiner = sequence_with_boxes(BOX, camera=camera)
    loose = sequence_with_boxes([0.16, 0.19, 0.475, 0.515], camera=camera)

    assert counters(assignment_run()) == expect(processed=2, joined=2)
    assert annotation_of(joiner) is None and annotation_of(loose) is None
    assert not GroupOperation.objects.exists()


# Against a group whose reference is HALF_SQUARE: IoU exactly 0.5, then 0.501.
HALF_SQUARE = [0, 0, 0.5, 0.5]
AT_THE_GATE = [0, 0, 0.5, 0.25]
JUST_ABOVE_THE_GATE = [0, 0, 0.5, 0.2505]


def joiners_at_the_gate():
    """A labeled group and two joiners, at IoU exactly 0.5 and just above it."""
    camera = CameraFactory()
    group = labeled_group(camera, box=HALF_SQUARE, smoke_type="wildfire")
    at_gate = sequence_with_boxes(AT_THE_GATE, camera=camera)
    above = sequence_with_boxes(JUST_ABOVE_THE_GATE, camera=camera)
    return group, at_gate, above


def test_a_joiner_exactly_at_the_inheritance_gate_joins_without_inheriting():
    """SPEC §5.3: the IoU must be strictly above GROUPS_INHERITANCE_MIN_IOU (0.5)."""
    group, at_gate, above = joiners_at_the_gate()

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=2, joined=2, inherited=1, not_inherited=1)
    assert Sequence.objects.get(pk=at_gate.pk).group == group
    assert annotation_of(at_gate) is None
    assert Sequence.objects.get(pk=above.pk).group == group
    row = annotation_of(above)
    assert (row.label_source, row.label_source_group, row.smoke_types) == (
        LabelSource.INHERITED,
        group,
        ["wildfire"],
    )


@pytest.mark.parametrize(
    ("gate", "inheritors"),
    [(0.45, {"at_gate", "above"}), (0.5, {"above"}), (0.502, set())],
)
def test_the_inheritance_gate_is_the_setting(settings, gate, inheritors):
    settings.GROUPS_INHERITANCE_MIN_IOU = gate
    group, at_gate, above = joiners_at_the_gate()

    outcome = assignment_run()

    assert counters(outcome) == expect(
        processed=2, joined=2, inherited=len(inheritors), not_inherited=2 - len(inheritors)
    )
    inherited = {
        name
        for name, sequence in (("at_gate", at_gate), ("above", above))
        if annotation_of(sequence) is not None
    }
    assert inherited == inheritors
    assert Sequence.objects.filter(group=group).count() == 2


def test_one_inherit_operation_per_run_and_group_with_its_members():
    staff = UserFactory(username="boss", is_staff=True)
    camera = CameraFactory()
    wildfire = labeled_group(camera, azimuth=10)
    antenna = labeled_group(camera, azimuth=20, smoke_type=None, fp="antenna")
    wildfire_joiners = [sequence_with_boxes(BOX, camera=camera, azimuth=10) for _ in range(2)]
    antenna_joiner = sequence_with_boxes(BOX, camera=camera, azimuth=20)

    outcome = assignment_run(trigger="api", actor=staff)

    assert outcome.inherited_annotations == 3
    operations = GroupOperation.objects.filter(kind=OperationKind.INHERIT)
    assert sorted(op.group_id for op in operations) == sorted([wildfire.pk, antenna.pk])
    for operation, members in ((wildfire, wildfire_joiners), (antenna, [antenna_joiner])):
        op = operations.get(group=operation)
        assert op.run_id == outcome.run_id and op.actor == staff
        rows = GroupOperationMember.objects.filter(operation=op).order_by("sequence_id")
        assert [row.sequence_id for row in rows] == [member.pk for member in members]
        assert all(row.before is None and row.after["label_source"] == "inherited" for row in rows)
        # No annotation before: stored as NULL (not a JSON null), whatever the database.
        assert rows.filter(before__isnull=True).count() == len(members)
        for member in members:
            annotation = annotation_of(member)
            assert annotation.label_source_operation_id == op.pk
            assert annotation.label_source_group_id == operation.pk
    assert annotation_of(antenna_joiner).false_positive_types == ["antenna"]
    assert all(annotation_of(j).smoke_types == ["wildfire"] for j in wildfire_joiners)
    assert AssignmentRun.objects.get(pk=outcome.run_id).triggered_by == staff


def test_undoing_one_groups_inheritance_leaves_the_other_groups_of_the_run():
    camera = CameraFactory()
    wildfire = labeled_group(camera, azimuth=10)
    labeled_group(camera, azimuth=20, smoke_type=None, fp="antenna")
    wildfire_joiner = sequence_with_boxes(BOX, camera=camera, azimuth=10)
    write_stage(wildfire_joiner, ProcessingStage.IMPORTED)
    antenna_joiner = sequence_with_boxes(BOX, camera=camera, azimuth=20)
    assignment_run()
    operation = GroupOperation.objects.get(kind=OperationKind.INHERIT, group=wildfire)

    outcome = group_operation_undo(operation_id=operation.pk, actor=UserFactory(is_staff=True))

    assert outcome.restored == [wildfire_joiner.pk]
    restored = annotation_of(wildfire_joiner)
    assert restored.processing_stage == ProcessingStage.IMPORTED and restored.label_source is None
    assert annotation_of(antenna_joiner).false_positive_types == ["antenna"]
    assert annotation_of(antenna_joiner).label_source == LabelSource.INHERITED


def test_a_group_whose_joiners_are_all_locked_keeps_no_operation_beside_one_that_inherits():
    camera = CameraFactory()
    locked_group = labeled_group(camera, azimuth=10)
    open_group = labeled_group(camera, azimuth=20, smoke_type="other")
    locked = sequence_with_boxes(BOX, camera=camera, azimuth=10)
    write_stage(locked, ProcessingStage.ANNOTATED)
    joiner = sequence_with_boxes(BOX, camera=camera, azimuth=20)

    outcome = assignment_run()

    assert outcome.inherited_annotations == 1
    assert list(GroupOperation.objects.values_list("group_id", flat=True)) == [open_group.pk]
    assert annotation_of(joiner).smoke_types == ["other"]
    assert annotation_of(locked).smoke_types == ["industrial"]  # its human label, untouched
    assert annotation_of(locked).label_source == LabelSource.HUMAN
    assert Sequence.objects.get(pk=locked.pk).group_id == locked_group.pk


# --- The lock (§9.4 #5) -------------------------------------------------------------------------


def running_row(*, heartbeat_age=timedelta(0)) -> AssignmentRun:
    now = timezone.now()
    return AssignmentRun.objects.create(
        status=RunStatus.RUNNING,
        trigger="command",
        started_at=now - heartbeat_age,
        heartbeat_at=now - heartbeat_age,
    )


def test_a_live_run_refuses_a_second_one_and_nothing_changes(world):
    sequence_with_boxes(BOX)
    holder = running_row()
    holder.started_at = holder.started_at.replace(
        year=2025, month=7, day=1, hour=10, minute=0, second=0, microsecond=0
    )
    holder.save()
    before = database_state()

    with pytest.raises(AssignmentAlreadyRunning) as excinfo:
        assignment_run()

    assert excinfo.value.run == holder
    assert str(excinfo.value) == (
        f"A group assignment run is already in progress (run {holder.pk}, "
        "started 2025-07-01T10:00:00Z)."
    )
    assert database_state() == before
    assert list(AssignmentRun.objects.values_list("pk", "status")) == [(holder.pk, "running")]


def test_a_stale_run_is_abandoned_and_taken_over(settings):
    settings.GROUPS_ASSIGN_STALE_AFTER_SECONDS = 60
    sequence = sequence_with_boxes(BOX)
    stale = running_row(heartbeat_age=timedelta(seconds=61))

    outcome = assignment_run()

    stale.refresh_from_db()
    assert stale.status == RunStatus.ABANDONED and stale.finished_at is not None
    assert "No heartbeat for more than 60 s" in stale.error
    assert AssignmentRun.objects.get(pk=outcome.run_id).status == RunStatus.SUCCEEDED
    assert Sequence.objects.get(pk=sequence.pk).group is not None


def test_a_second_attempt_between_two_batches_is_refused(monkeypatch):
    monkeypatch.setattr(assignment.run, "BATCH_MAX_SEQUENCES", 1)
    for azimuth in (1, 2):
        sequence_with_boxes(BOX, azimuth=azimuth)
    refusals = []

    def between_batches(done, total):
        with pytest.raises(AssignmentAlreadyRunning) as excinfo:
            assignment_run()
        refusals.append(excinfo.value.run.pk)

    outcome = assignment_run(progress=between_batches)

    assert refusals == [outcome.run_id, outcome.run_id]
    assert outcome.new_groups == 2
    assert AssignmentRun.objects.count() == 1


def test_wait_polls_until_the_lock_frees(monkeypatch):
    sequence_with_boxes(BOX)
    holder = running_row()
    naps = []

    def nap(seconds):
        naps.append(seconds)
        AssignmentRun.objects.filter(pk=holder.pk).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now()
        )

    monkeypatch.setattr(assignment.run.time, "sleep", nap)
    outcome = assignment_run(wait=True)
    assert naps == [1.0] and outcome.new_groups == 1


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_runs_one_proceeds_and_no_duplicate_group(postgres_only):
    camera = CameraFactory()
    for _ in range(3):
        sequence_with_boxes(BOX, camera=camera)
    sequence_with_boxes(FAR_BOX, camera=camera)
    start, refused = threading.Barrier(2), threading.Event()
    results = {}

    def hold_until_the_other_is_refused(done, total):
        refused.wait(timeout=5)

    def attempt(name):
        try:
            start.wait(timeout=5)
            results[name] = assignment_run(progress=hold_until_the_other_is_refused)
        except AssignmentAlreadyRunning as exc:
            results[name] = exc
            refused.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    outcomes = sorted(results.values(), key=lambda r: isinstance(r, AssignmentAlreadyRunning))
    assert isinstance(outcomes[0], assignment.RunOutcome)
    assert isinstance(outcomes[1], AssignmentAlreadyRunning)
    assert outcomes[1].run.pk == outcomes[0].run_id
    assert counters(outcomes[0]) == expect(processed=4, new=2, joined=2)
    assert SequenceGroup.objects.count() == 2
    assert AssignmentRun.objects.get().status == RunStatus.SUCCEEDED


# --- Dry run, failure, batches ------------------------------------------------------------------


def test_dry_run_reports_the_same_counters_and_writes_nothing(world):
    camera = CameraFactory()
    labeled_group(camera)
    sequence_with_boxes(BOX, camera=camera)  # inherits
    write_stage(sequence_with_boxes(BOX, camera=camera), ProcessingStage.ANNOTATED)  # locked
    sequence_with_boxes([0.16, 0.19, 0.475, 0.515], camera=camera)  # joins, no inheritance
    for _ in range(2):
        sequence_with_boxes(FAR_BOX, camera=camera)  # new group + joiner of it
    before = database_state()

    dry = assignment_run(dry_run=True)

    assert dry.run_id is None
    assert database_state() == before and not AssignmentRun.objects.exists()
    real = assignment_run()
    assert (
        counters(dry)
        == counters(real)
        == expect(processed=7, new=1, joined=4, inherited=1, not_inherited=1, skipped=2)
    )


def test_a_failure_in_the_third_batch_keeps_the_first_two(monkeypatch):
    """SPEC §9.4 #6."""
    monkeypatch.setattr(assignment.run, "BATCH_MAX_SEQUENCES", 2)
    sequences = [sequence_with_boxes(BOX, azimuth=azimuth) for azimuth in range(6)]
    write = assignment.run._memberships_write
    calls = []

    def failing_third(pairs):
        calls.append(pairs)
        if len(calls) == 3:
            raise RuntimeError("injected failure in batch 3")
        write(pairs)

    monkeypatch.setattr(assignment.run, "_memberships_write", failing_third)
    with pytest.raises(RuntimeError):
        assignment_run()

    grouped = [s.pk for s in sequences if Sequence.objects.get(pk=s.pk).group_id]
    assert grouped == [s.pk for s in sequences[:4]]
    assert SequenceGroup.objects.count() == 4
    failed = AssignmentRun.objects.get()
    assert failed.status == RunStatus.FAILED and failed.finished_at is not None
    assert failed.error == "RuntimeError: injected failure in batch 3"
    assert (failed.processed, failed.new_groups) == (4, 4)

    monkeypatch.setattr(assignment.run, "_memberships_write", write)
    assert counters(assignment_run()) == expect(processed=2, new=2)
    assert not Sequence.objects.filter(group=None).exists()


def test_a_failure_while_reading_boxes_stops_the_read_ahead_before_the_run_is_marked(monkeypatch):
    """The helper thread fetching detections is done before the failure is recorded."""
    monkeypatch.setattr(assignment.reads, "READ_CHUNK_ROWS", 1)
    for azimuth in range(4):
        sequence_with_boxes(BOX, azimuth=azimuth)
    readers_at_finish = []
    finish = assignment.run._run_finish

    def recording_finish(run, **kwargs):
        readers_at_finish.append(
            [t.name for t in threading.enumerate() if t.name.startswith("assignment-read")]
        )
        finish(run, **kwargs)

    def failing_box(predictions_lists, *, motion):
        raise RuntimeError("injected failure in a representative box")

    monkeypatch.setattr(assignment.run, "_run_finish", recording_finish)
    monkeypatch.setattr(assignment.reads, "box_and_motion", failing_box)
    with pytest.raises(RuntimeError):
        assignment_run()

    assert readers_at_finish == [[]]
    failed = AssignmentRun.objects.get()
    assert failed.status == RunStatus.FAILED
    assert failed.error == "RuntimeError: injected failure in a representative box"
    assert not SequenceGroup.objects.exists()


def test_a_batch_out_of_time_leaves_its_other_buckets_to_the_next_batch(monkeypatch):
    monkeypatch.setattr(assignment.run, "BATCH_MAX_SECONDS", 0)
    camera = CameraFactory()
    for azimuth in (1, 1, 2, 3):
        sequence_with_boxes(BOX, camera=camera, azimuth=azimuth)
    progress = []

    outcome = assignment_run(progress=lambda done, total: progress.append((done, total)))

    assert progress == [(2, 4), (3, 4), (4, 4)]  # one bucket per batch, never split
    assert counters(outcome) == expect(processed=4, new=3, joined=1)


def test_statistics_refresh_inside_a_big_first_run_keeps_it_going(monkeypatch):
    """The one ANALYZE of the groups table a big run issues (PostgreSQL) runs mid-run."""
    monkeypatch.setattr(assignment.run, "GROUP_STATISTICS_AFTER", 2)
    monkeypatch.setattr(assignment.run, "BATCH_MAX_SEQUENCES", 1)
    refreshed = []
    refresh = assignment.run._group_statistics_refresh
    monkeypatch.setattr(
        assignment.run, "_group_statistics_refresh", lambda: refreshed.append(1) or refresh()
    )
    camera = CameraFactory()
    for azimuth in (1, 2, 3):
        sequence_with_boxes(BOX, camera=camera, azimuth=azimuth)

    assert counters(assignment_run()) == expect(processed=3, new=3)
    assert refreshed == [1]


# --- What changed between the plan and a batch (SPEC §5.1) -------------------------------------


def after_the_plan(monkeypatch, change):
    """Run `change()` once, after the run has made its plan and before its first batch."""
    plan = assignment.run._plan

    def plan_then_change(**kwargs):
        made = plan(**kwargs)
        monkeypatch.setattr(assignment.run, "_plan", plan)
        change()
        return made

    monkeypatch.setattr(assignment.run, "_plan", plan_then_change)


def test_a_sequence_excluded_or_grouped_after_the_plan_is_left_as_it_now_is(monkeypatch):
    camera = CameraFactory()
    elsewhere = SequenceGroupFactory(camera=camera, azimuth=10)
    excluded = sequence_with_boxes(BOX, camera=camera)
    taken = sequence_with_boxes(FAR_BOX, camera=camera)  # planned to found FAR_BOX's group
    founder = sequence_with_boxes(FAR_BOX, camera=camera)  # planned to join it

    def exclude_and_group():
        Sequence.objects.filter(pk=excluded.pk).update(is_group_excluded=True)
        Sequence.objects.filter(pk=taken.pk).update(group=elsewhere)

    after_the_plan(monkeypatch, exclude_and_group)
    outcome = assignment_run()

    assert counters(outcome) == expect(processed=1, new=1)
    excluded.refresh_from_db()
    assert excluded.group is None and excluded.is_group_excluded
    assert Sequence.objects.get(pk=taken.pk).group == elsewhere
    founded = Sequence.objects.get(pk=founder.pk).group
    assert founded not in (None, elsewhere)
    assert founded.representative_bbox["xyxyn"] == FAR_BOX
    assert AssignmentRun.objects.get(pk=outcome.run_id).processed == 1


def test_a_group_deleted_after_the_plan_leaves_its_joiners_to_the_next_run(monkeypatch):
    camera = CameraFactory()
    group = labeled_group(camera)
    joiner = sequence_with_boxes(BOX, camera=camera)  # planned to join and inherit
    founder = sequence_with_boxes(FAR_BOX, camera=camera)
    after_the_plan(monkeypatch, lambda: SequenceGroup.objects.filter(pk=group.pk).delete())

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=1, new=1)
    assert Sequence.objects.get(pk=joiner.pk).group is None
    assert annotation_of(joiner) is None
    assert not GroupOperation.objects.exists()
    assert Sequence.objects.get(pk=founder.pk).group is not None

    assert counters(assignment_run()) == expect(processed=1, new=1)
    regrouped = Sequence.objects.get(pk=joiner.pk).group
    assert regrouped is not None and regrouped.representative_bbox["xyxyn"] == BOX
    assert annotation_of(joiner) is None


def lockable(model, pk) -> bool:
    """Whether another connection could lock the row right now (``FOR UPDATE NOWAIT``)."""
    answers = []

    def attempt():
        try:
            with transaction.atomic():
                list(model.objects.select_for_update(nowait=True).filter(pk=pk))
            answers.append(True)
        except DatabaseError:
            answers.append(False)
        finally:
            connection.close()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(timeout=10)
    return answers == [True]


@pytest.mark.django_db(transaction=True)
def test_a_batch_holds_row_locks_on_its_candidates_and_joined_groups(postgres_only, monkeypatch):
    camera = CameraFactory()
    group = labeled_group(camera)
    joiner = sequence_with_boxes(BOX, camera=camera)
    founder = sequence_with_boxes(FAR_BOX, camera=camera)
    bystander = sequence_with_boxes(BOX, camera=camera, is_group_excluded=True)
    during_the_batch = {}
    write = assignment.run._memberships_write

    def probing_write(pairs):
        during_the_batch.update(
            joiner=lockable(Sequence, joiner.pk),
            founder=lockable(Sequence, founder.pk),
            group=lockable(SequenceGroup, group.pk),
            bystander=lockable(Sequence, bystander.pk),
        )
        write(pairs)

    monkeypatch.setattr(assignment.run, "_memberships_write", probing_write)
    outcome = assignment_run()

    assert during_the_batch == {
        "joiner": False,
        "founder": False,
        "group": False,
        "bystander": True,
    }
    assert counters(outcome) == expect(processed=2, new=1, joined=1, inherited=1)
    assert lockable(Sequence, joiner.pk) and lockable(SequenceGroup, group.pk)


def test_out_of_range_threshold_is_refused_before_anything():
    with pytest.raises(AssignmentArgumentInvalid, match="threshold must be"):
        assignment_run(threshold=1.0)
    assert not AssignmentRun.objects.exists()


def test_queries_do_not_grow_with_the_number_of_sequences(postgres_only):
    """Two buckets, each with a labeled group; joiners inherit, others found and join."""
    counts = {}
    for label, size in (("small", 2), ("large", 40)):
        camera = CameraFactory()
        for azimuth in (10, 20):
            labeled_group(camera, azimuth=azimuth)
            for _ in range(size):
                sequence_with_boxes(BOX, camera=camera, azimuth=azimuth)
                sequence_with_boxes(FAR_BOX, camera=camera, azimuth=azimuth)
        with CaptureQueriesContext(connection) as queries:
            outcome = assignment_run()
        assert outcome.inherited_annotations == 2 * size
        counts[label] = len(queries)
    assert counts["small"] == counts["large"]


def test_queries_do_not_grow_with_the_number_of_inheriting_groups(postgres_only):
    """Inheritance into many labeled groups costs what it costs for one (one batch)."""
    counts = {}
    for size in (1, 12):
        camera = CameraFactory()
        for azimuth in range(size):
            labeled_group(camera, azimuth=azimuth)
            sequence_with_boxes(BOX, camera=camera, azimuth=azimuth)
        with CaptureQueriesContext(connection) as queries:
            outcome = assignment_run()
        assert outcome.inherited_annotations == size
        assert GroupOperation.objects.filter(run_id=outcome.run_id).count() == size
        counts[size] = len(queries)
    assert counts[1] == counts[12]


# --- Pure walk and replay -----------------------------------------------------------------------


def test_bucket_walk_matches_like_the_spec():
    walk = bucket_walk(
        [[0, 0, 1, 1], BOX],
        [[0, 0, 0.3, 1], BOX, FAR_BOX, FAR_BOX, [0, 0, 0.3, 1]],
        0.3,
    )
    assert walk == [(2, None), (1, 1.0), (3, None), (3, 1.0), (2, 1.0)]


def spec_walk(groups, candidates, threshold):
    """SPEC §4.5 word for word: best = threshold; a group wins only if its IoU is > best."""
    references, placements = list(groups), []
    for candidate in candidates:
        best, match = threshold, None
        for index, reference in enumerate(references):
            score = iou(candidate, reference)
            if score > best:
                best, match = score, index
        if match is None:
            references.append(candidate)
            placements.append((len(references) - 1, None))
        else:
            placements.append((match, best))
    return placements


# Coarse grid coordinates, so that ties and IoUs of exactly 0.3 or 0.5 come up often.
spans = (
    st.tuples(st.integers(0, 4), st.integers(1, 5))
    .map(lambda p: (p[0], max(p)))
    .filter(lambda p: p[0] < p[1])
)
boxes = st.tuples(spans, spans).map(lambda s: (s[0][0] / 5, s[1][0] / 5, s[0][1] / 5, s[1][1] / 5))


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    groups=st.lists(boxes, max_size=4),
    candidates=st.lists(boxes, max_size=12),
    threshold=st.sampled_from([0.0, 0.3, 0.5]),
    block=st.sampled_from([1, 3, 256]),
)
def test_bucket_walk_is_the_spec_walk(groups, candidates, threshold, block):
    """Blocks of any size give the spec's result, ties and exact thresholds included."""
    with mock.patch.object(matching, "WALK_BLOCK", block):
        assert bucket_walk(groups, candidates, threshold) == spec_walk(
            groups, candidates, threshold
        )


def test_the_replay_groups_like_a_run(world):
    camera = CameraFactory()
    boxes = [BOX, FAR_BOX, [0.12, 0.1, 0.4, 0.41], [0.0, 0.0, 0.3, 1.0], FAR_BOX]
    sequences = [
        sequence_with_boxes(box, camera=camera, azimuth=i % 2) for i, box in enumerate(boxes)
    ]
    history = replay_history_read()
    placements = assignment_replay(history=history, threshold=0.3)
    assignment_run()

    assert history.skipped_no_bbox == 0  # sequences 1 and 2 have no azimuth: not read at all
    by_replay, by_run = {}, {}
    for placement, sequence in zip(placements, sequences, strict=True):
        by_replay.setdefault(placement.group, []).append(sequence.pk)
        by_run.setdefault(Sequence.objects.get(pk=sequence.pk).group_id, []).append(sequence.pk)
    assert sorted(by_replay.values()) == sorted(by_run.values())
    assert [p.iou is None for p in placements] == [True, True, False, True, True]
