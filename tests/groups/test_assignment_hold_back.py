"""The assignment's inheritance and the machine-label safeguards: joiners held back, their
counters and audit, the group's region in the label's risk, and the motion it stores."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groups.assignment import assignment_run
from groups.models import AssignmentRun, GroupOperation, OperationKind, SequenceGroup
from groups.services import group_operation_undo
from sequences.boxes import box_motion
from sequences.models import ProcessingStage, Sequence
from tests.factories import (
    BOX,
    CameraFactory,
    UserFactory,
    labeled_group,
    placeholder,
    plume,
    sequence_with_boxes,
)
from tests.support import annotation_of, pin_hold_back_thresholds
from tests.support.assignment import counters, expect

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _thresholds(settings):
    pin_hold_back_thresholds(settings)


FAR_BOX = [0.6, 0.6, 0.9, 0.9]
# Against BOX: IoU 0.075 / 0.09 = 0.8333, above the 0.5 inheritance gate.
SHORTER_BOX = [0.1, 0.1, 0.4, 0.35]


def fp_group(camera, *, azimuth=90) -> SequenceGroup:
    """A group labeled FP/antenna whose region is BOX."""
    return labeled_group(camera, azimuth=azimuth, smoke_type=None, fp="antenna")


def static(camera, **fields) -> Sequence:
    """A recurring object right on BOX, ten frames that do not move (motion 0)."""
    return plume(camera=camera, growth=0, **fields)


HELD_BACK_JOINERS = {
    "platform wildfire_smoke": lambda camera: static(camera, is_wildfire_alertapi="wildfire_smoke"),
    "platform other_smoke": lambda camera: static(camera, is_wildfire_alertapi="other_smoke"),
    "temporal score at the threshold": lambda camera: static(camera, temporal_model_score=0.5),
    "temporal score above it": lambda camera: static(camera, temporal_model_score=0.93),
    "a growing plume": lambda camera: plume(camera=camera),
    "a stored motion at the threshold": lambda camera: static(camera, motion=0.025),
}


@pytest.mark.parametrize("joiner", HELD_BACK_JOINERS.values(), ids=HELD_BACK_JOINERS.keys())
def test_a_joiner_of_a_false_positive_group_is_held_back_by_each_signal(joiner):
    camera = CameraFactory()
    group = fp_group(camera)
    sequence = joiner(camera)
    before = placeholder(sequence)

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=1, joined=1, held=1)
    assert Sequence.objects.get(pk=sequence.pk).group == group  # keeps its membership
    row = annotation_of(sequence)
    assert row.processing_stage == ProcessingStage.READY_TO_ANNOTATE  # writable for a person
    assert (row.label_source, row.updated_at) == (None, before.updated_at)
    assert not GroupOperation.objects.exists()  # it wrote nothing: not kept
    assert AssignmentRun.objects.get(pk=outcome.run_id).held_back == 1


INHERITING_JOINERS = {
    "no signal": lambda camera: static(camera),
    "platform other": lambda camera: static(camera, is_wildfire_alertapi="other"),
    "temporal score just under": lambda camera: static(camera, temporal_model_score=0.49),
    "a plume growing too slowly": lambda camera: plume(camera=camera, growth=0.02),
    "two frames (no motion measured)": lambda camera: sequence_with_boxes(
        [0.1, 0.1, 0.3, 0.3], BOX, camera=camera
    ),
}


@pytest.mark.parametrize("joiner", INHERITING_JOINERS.values(), ids=INHERITING_JOINERS.keys())
def test_otherwise_a_joiner_of_a_false_positive_group_inherits(joiner):
    camera = CameraFactory()
    group = fp_group(camera)
    sequence = joiner(camera)

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=1, joined=1, inherited=1)
    row = annotation_of(sequence)
    assert row.false_positive_types == ["antenna"] and row.label_source_group == group


def test_smoke_labels_are_held_back_only_where_the_platform_says_not_smoke():
    camera = CameraFactory()
    labeled_group(camera, smoke_type="wildfire")
    fire = plume(camera=camera, is_wildfire_alertapi="wildfire_smoke", temporal_model_score=0.9)
    not_smoke = static(camera, is_wildfire_alertapi="other")

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=2, joined=2, inherited=1, held=1)
    assert annotation_of(fire).smoke_types == ["wildfire"]
    assert annotation_of(not_smoke) is None


@pytest.fixture
def fp_group_with_a_fire_and_a_plume():
    """An FP/antenna group joined by an antenna, a confirmed fire and a growing plume, each
    with its import placeholder."""
    camera = CameraFactory()
    group = fp_group(camera)
    antenna = static(camera)
    fire = static(camera, is_wildfire_alertapi="wildfire_smoke")
    growing = plume(camera=camera)
    placeholders = {sequence.pk: placeholder(sequence) for sequence in (antenna, fire, growing)}
    return group, antenna, fire, growing, placeholders


def test_the_inherit_operation_lists_its_held_back_members(fp_group_with_a_fire_and_a_plume):
    group, antenna, fire, growing, _ = fp_group_with_a_fire_and_a_plume

    outcome = assignment_run()

    assert counters(outcome) == expect(processed=3, joined=3, inherited=1, held=2)
    run = AssignmentRun.objects.get(pk=outcome.run_id)
    assert (run.joined_existing, run.inherited_annotations, run.held_back) == (3, 1, 2)
    operation = GroupOperation.objects.get()
    assert (operation.kind, operation.group, operation.run) == (OperationKind.INHERIT, group, run)
    assert operation.details == {
        "label": "FP/antenna",
        "held_back": [
            {"sequence_id": fire.pk, "reason": "platform_smoke"},
            {"sequence_id": growing.pk, "reason": "motion"},
        ],
    }
    assert list(operation.members.values_list("sequence_id", flat=True)) == [antenna.pk]
    assert set(group.members.values_list("pk", flat=True)) == {antenna.pk, fire.pk, growing.pk}


def test_undo_restores_the_written_members_and_leaves_the_held_back_ones(
    fp_group_with_a_fire_and_a_plume,
):
    _, antenna, fire, growing, placeholders = fp_group_with_a_fire_and_a_plume
    assignment_run()
    operation = GroupOperation.objects.get()
    held_before = {s.pk: annotation_of(s).updated_at for s in (fire, growing)}

    undone = group_operation_undo(operation_id=operation.pk, actor=UserFactory(is_staff=True))

    assert undone.restored == [antenna.pk] and undone.left_alone == []
    restored = annotation_of(antenna)
    assert restored.processing_stage == ProcessingStage.READY_TO_ANNOTATE
    assert restored.annotation == placeholders[antenna.pk].annotation
    assert restored.label_source is None
    for sequence in (fire, growing):
        row = annotation_of(sequence)
        assert row.updated_at == held_before[sequence.pk] == placeholders[sequence.pk].updated_at
        assert row.label_source is None
        assert Sequence.objects.get(pk=sequence.pk).group_id is not None


def test_the_dry_run_counts_the_held_back_members_and_writes_nothing(
    fp_group_with_a_fire_and_a_plume,
):
    _, _, _, growing, _ = fp_group_with_a_fire_and_a_plume
    static(CameraFactory())  # founds a group elsewhere
    state = list(Sequence.objects.order_by("pk").values_list("pk", "group_id", "motion"))

    dry = assignment_run(dry_run=True)

    assert list(Sequence.objects.order_by("pk").values_list("pk", "group_id", "motion")) == state
    assert not GroupOperation.objects.exists() and not AssignmentRun.objects.exists()
    real = assignment_run()
    expected = expect(processed=4, new=1, joined=3, inherited=1, held=2)
    assert counters(dry) == counters(real) == expected
    assert Sequence.objects.get(pk=growing.pk).motion > 0.025


def test_the_groups_region_weighs_in_the_inherited_labels_risk():
    camera = CameraFactory()
    fp_group(camera)
    exact = static(camera)
    shorter = plume(SHORTER_BOX, camera=camera, growth=0)

    assignment_run()

    assert annotation_of(exact).check_risk == 0.0
    # A weak overlap: (1 - IoU) / (1 - match threshold), weighed 0.6 without a platform verdict,
    # stored to 4 decimals. Without the group's region the label would carry no risk at all.
    assert annotation_of(shorter).check_risk == round((1 - 0.075 / 0.09) / 0.7 * 0.6, 4)


def test_motion_is_stored_for_every_grouped_candidate():
    camera = CameraFactory()
    fp_group(camera)
    joiner = plume(camera=camera, growth=0.02)
    founder = plume(FAR_BOX, camera=camera, growth=0.1)
    measured_before = static(camera, motion=0.5, is_wildfire_alertapi="other")
    too_short = sequence_with_boxes(BOX, BOX, camera=camera)
    no_azimuth = plume(camera=camera, azimuth=None)

    outcome = assignment_run()

    assert counters(outcome) == {
        **expect(processed=5, new=1, joined=3, inherited=2, held=1, skipped=1),
    }
    motions = dict(Sequence.objects.values_list("pk", "motion"))
    for sequence in (joiner, founder):
        frames = sequence.detections.order_by("recorded_at", "id")
        expected = box_motion(frames.values_list("algo_predictions", flat=True))
        assert motions[sequence.pk] == pytest.approx(expected) and expected > 0
    assert motions[measured_before.pk] == 0.5  # measured before: kept, and it holds back
    assert motions[too_short.pk] is None  # two frames: nothing to measure
    assert motions[no_azimuth.pk] is None  # not grouped
    assert annotation_of(measured_before) is None


def test_batch_queries_do_not_grow_with_held_back_members(postgres_only):
    """Each bucket has an FP group, joiners that inherit, plumes and fires held back, and
    sequences founding and joining a new group; all of it in one batch."""
    counts = {}
    for name, size in (("small", 2), ("large", 30)):
        camera = CameraFactory()
        for azimuth in (10, 20):
            fp_group(camera, azimuth=azimuth)
            for _ in range(size):
                static(camera, azimuth=azimuth)
                plume(camera=camera, azimuth=azimuth)
                static(camera, azimuth=azimuth, is_wildfire_alertapi="wildfire_smoke")
                plume(FAR_BOX, camera=camera, azimuth=azimuth, growth=0)
        with CaptureQueriesContext(connection) as queries:
            outcome = assignment_run()
        assert (outcome.inherited_annotations, outcome.held_back) == (2 * size, 4 * size)
        assert not Sequence.objects.filter(camera=camera, motion__isnull=True).exists()
        counts[name] = len(queries)
    assert counts["small"] == counts["large"]
