"""Machine labels hold back, through every machine path (issue: machine labels that know when
to hold back): propagation, derive-on-validate and bulk; the risk of what they do write; and
the check queue never confirming a risky label in bulk."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groups.models import GroupOperation, OperationKind
from groups.services import (
    group_bulk_annotate,
    group_operation_undo,
    group_validate,
    label_check_confirm,
)
from sequences.models import LabelSource, ProcessingStage, Sequence
from sequences.safeguards import HoldBack, RiskReason
from sequences.services import CHECK_SKIP_LOOK_CLOSELY
from tests.factories import add_members, human_label, validated_group
from tests.support import annotation_of, pin_hold_back_thresholds, snapshot_of

pytestmark = pytest.mark.django_db

DONE = ProcessingStage.SEQ_ANNOTATION_DONE


@pytest.fixture(autouse=True)
def _thresholds(settings):
    """The figures below are written for a motion threshold of 0.025 (0.02 is "just under")."""
    pin_hold_back_thresholds(settings)


def _signals(sequence, **fields):
    Sequence.objects.filter(pk=sequence.pk).update(**fields)


@pytest.fixture
def fire_among_antennas():
    """A validated, unlabeled group: a saver, three members a safeguard protects from a
    false-positive label (each by one signal) and one ordinary member, all placeholders."""
    group = validated_group()
    saver, verdict, scored, moving, ordinary = add_members(group, 5, placeholders=True)
    _signals(verdict, is_wildfire_alertapi="wildfire_smoke")
    _signals(scored, temporal_model_score=0.71)
    _signals(moving, motion=0.08)
    return group, saver, {"verdict": verdict, "scored": scored, "moving": moving}, ordinary


def test_propagation_holds_back_every_protected_member(fire_among_antennas):
    group, saver, protected, ordinary = fire_among_antennas
    before = {name: snapshot_of(sequence) for name, sequence in protected.items()}

    outcome = human_label(saver, saver.detections.get(), stage=DONE, fp="antenna")

    assert (outcome.effect.members_updated, outcome.effect.members_held_back) == (1, 3)
    assert annotation_of(ordinary).label_source == LabelSource.PROPAGATED
    for name, sequence in protected.items():
        assert snapshot_of(sequence) == before[name], name  # still a writable placeholder
        sequence.refresh_from_db()
        assert sequence.group_id == group.pk
    operation = GroupOperation.objects.get(kind=OperationKind.PROPAGATE)
    assert operation.details["held_back"] == [
        {"sequence_id": protected["verdict"].pk, "reason": HoldBack.PLATFORM_SMOKE},
        {"sequence_id": protected["scored"].pk, "reason": HoldBack.TEMPORAL_SCORE},
        {"sequence_id": protected["moving"].pk, "reason": HoldBack.MOTION},
    ]


def test_a_smoke_label_holds_back_an_alert_the_platform_classed_other():
    group = validated_group()
    saver, classed_other, ordinary = add_members(group, 3, placeholders=True)
    _signals(classed_other, is_wildfire_alertapi="other", motion=0.2)

    outcome = human_label(saver, saver.detections.get(), stage=DONE, smoke_type="wildfire")

    assert (outcome.effect.members_updated, outcome.effect.members_held_back) == (1, 1)
    assert annotation_of(classed_other).label_source is None
    assert annotation_of(ordinary).smoke_types == ["wildfire"]


def test_derive_on_validate_holds_back_too(fire_among_antennas):
    group, saver, protected, ordinary = fire_among_antennas
    type(group).objects.filter(pk=group.pk).update(
        is_validated=False, validated_at=None, validated_by=None
    )
    human_label(saver, saver.detections.get(), stage=DONE, fp="building")

    outcome = group_validate(group_id=group.pk, actor=None)

    assert (outcome.propagated_count, outcome.held_back_count) == (1, 3)
    assert annotation_of(ordinary).false_positive_types == ["building"]
    assert all(annotation_of(s).label_source is None for s in protected.values())
    held = GroupOperation.objects.get(kind=OperationKind.VALIDATE).details["held_back"]
    assert {item["sequence_id"] for item in held} == {s.pk for s in protected.values()}


def test_a_bulk_request_reports_a_held_back_sequence_as_skipped(fire_among_antennas):
    group, _, protected, ordinary = fire_among_antennas
    ids = [protected["verdict"].pk, ordinary.pk]

    result = group_bulk_annotate(
        sequence_ids=ids,
        group_id=group.pk,
        smoke_type=None,
        false_positive_type="antenna",
        actor=None,
    )

    assert [item["sequence_id"] for item in result.applied] == [ordinary.pk]
    [skipped] = result.skipped
    assert skipped["sequence_id"] == protected["verdict"].pk
    assert skipped["reason"] == "held back: the platform classed the alert wildfire_smoke"
    assert annotation_of(protected["verdict"]).label_source is None
    operation = GroupOperation.objects.get(kind=OperationKind.BULK)
    assert operation.details["held_back"] == [
        {"sequence_id": protected["verdict"].pk, "reason": HoldBack.PLATFORM_SMOKE}
    ]


def test_undo_of_an_operation_that_held_members_back(fire_among_antennas):
    group, saver, protected, ordinary = fire_among_antennas
    before = {s.pk: snapshot_of(s) for s in [ordinary, *protected.values()]}
    human_label(saver, saver.detections.get(), stage=DONE, fp="antenna")
    operation = GroupOperation.objects.get(kind=OperationKind.PROPAGATE)

    undo = group_operation_undo(operation_id=operation.pk, actor=None)

    assert undo.restored == [ordinary.pk] and undo.left_alone == []
    assert {s.pk: snapshot_of(s) for s in [ordinary, *protected.values()]} == before
    group.refresh_from_db()
    assert group.false_positive_type is None


def test_a_written_label_carries_its_risk_and_reasons():
    group = validated_group()
    saver, near_motion, quiet = add_members(group, 3, placeholders=True)
    _signals(near_motion, motion=0.02)
    _signals(quiet, motion=0.0, is_wildfire_alertapi="other")

    human_label(saver, saver.detections.get(), stage=DONE, fp="antenna")

    risky = annotation_of(near_motion)
    assert risky.check_risk == pytest.approx(0.8)
    assert risky.check_reasons[0] == [RiskReason.MOTION, 0.02]
    calm = annotation_of(quiet)
    assert calm.check_risk == 0.0 and calm.check_reasons == []


def test_a_person_taking_over_a_machine_label_clears_its_risk():
    group = validated_group()
    saver, near_motion = add_members(group, 2, placeholders=True)
    _signals(near_motion, motion=0.02)
    human_label(saver, saver.detections.get(), stage=DONE, fp="antenna")

    human_label(near_motion, near_motion.detections.get(), stage=DONE, smoke_type="wildfire")

    row = annotation_of(near_motion)
    assert row.label_source == LabelSource.HUMAN
    assert (row.check_risk, row.check_reasons) == (None, [])


def test_confirming_several_labels_spares_the_look_closely_ones():
    group = validated_group()
    saver, risky, calm = add_members(group, 3, placeholders=True)
    _signals(risky, motion=0.02)
    _signals(calm, is_wildfire_alertapi="other", motion=0.0)
    human_label(saver, saver.detections.get(), stage=DONE, fp="antenna")
    risky_row, calm_row = annotation_of(risky), annotation_of(calm)

    outcome = label_check_confirm(annotation_ids=[risky_row.pk, calm_row.pk], actor=None)

    assert outcome.checked == [calm_row.pk]
    assert outcome.skipped == [{"annotation_id": risky_row.pk, "reason": CHECK_SKIP_LOOK_CLOSELY}]
    alone = label_check_confirm(annotation_ids=[risky_row.pk], actor=None)
    assert alone.checked == [risky_row.pk]


def test_the_look_closely_level_is_a_setting(settings):
    pin_hold_back_thresholds(settings, look_closely=0.9)
    group = validated_group()
    saver, risky, calm = add_members(group, 3, placeholders=True)
    _signals(risky, motion=0.02)
    human_label(saver, saver.detections.get(), stage=DONE, fp="antenna")
    ids = [annotation_of(risky).pk, annotation_of(calm).pk]

    assert label_check_confirm(annotation_ids=ids, actor=None).checked == ids


def _fan_out_queries(size: int) -> int:
    group = validated_group()
    saver, *members = add_members(group, size + 1, placeholders="alternate")
    for member in members[::2]:
        _signals(member, temporal_model_score=0.9)
    with CaptureQueriesContext(connection) as queries:
        outcome = human_label(saver, saver.detections.get(), stage=DONE, fp="antenna")
    assert outcome.effect.members_held_back == (size + 1) // 2
    return len(queries)


def test_holding_back_costs_the_same_queries_for_any_group(postgres_only):
    assert _fan_out_queries(6) == _fan_out_queries(200)
