"""``manage.py group_report``: the threshold, inheritance-gate and hold-back evidence, written
nowhere."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from groups.models import AssignmentRun, SequenceGroup
from sequences.models import LabelSource, ProcessingStage, Sequence
from sequences.services import annotation_write
from tests.factories import CameraFactory, plume, sequence_with_boxes, smoke_annotation
from tests.support import pin_hold_back_thresholds

pytestmark = pytest.mark.django_db

BOX = [0.1, 0.1, 0.4, 0.4]
LOOSE = [0.16, 0.19, 0.475, 0.515]  # IoU 0.355 with BOX


def label(sequence, value, *, stage=ProcessingStage.SEQ_ANNOTATION_DONE, source=LabelSource.HUMAN):
    detection = sequence.detections.first()
    if value == "antenna":
        annotation = {
            "sequences_bbox": [
                {
                    "is_smoke": False,
                    "smoke_type": None,
                    "false_positive_types": ["antenna"],
                    "bboxes": [{"detection_id": detection.pk, "xyxyn": BOX}],
                }
            ]
        }
    else:
        annotation = smoke_annotation(detection.pk, value)
    annotation_write(
        sequence=sequence,
        annotation=annotation,
        processing_stage=stage,
        has_missed_smoke=False,
        source=source,
    )


@pytest.fixture
def history():
    """Camera A at 10°: an antenna seen four times (one loosely), one member says wildfire."""
    camera_a, camera_b = CameraFactory(), CameraFactory()
    first = sequence_with_boxes(BOX, camera=camera_a, azimuth=10)
    loose = sequence_with_boxes(LOOSE, camera=camera_a, azimuth=10)
    fire = sequence_with_boxes(BOX, camera=camera_a, azimuth=10)
    unlabeled = sequence_with_boxes(BOX, camera=camera_a, azimuth=10)
    sequence_with_boxes([0.6, 0.6, 0.9, 0.9], camera=camera_b, azimuth=20)
    sequence_with_boxes([0.5, 0.5, 0.4, 0.6], camera=camera_b, azimuth=20)  # no usable box
    sequence_with_boxes(BOX, camera=camera_a, azimuth=None)  # never grouped: not replayed
    label(first, "antenna")
    label(loose, "antenna")
    label(fire, "wildfire", stage=ProcessingStage.ANNOTATED)
    label(unlabeled, "industrial", stage=ProcessingStage.UNDER_ANNOTATION)  # not finished


def report(*args) -> dict:
    out = io.StringIO()
    call_command("group_report", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_per_threshold_groups_joins_clicks_and_disagreement(history):
    result = report("--thresholds", "0.3,0.4")

    assert (result["sequences"], result["skipped_no_bbox"], result["human_labeled"]) == (5, 1, 3)
    assert result["thresholds"] == [
        {
            "threshold": 0.3,
            "groups": 2,
            "listed_groups": 1,
            "joined": 3,
            "joined_share": 0.6,
            "clicks_saved": 3,
            "clicks_saved_share": 0.6,
            "labeled_members": 3,
            "disagreeing_members": 1,
            "disagreement_share": 0.3333,
        },
        {
            "threshold": 0.4,
            "groups": 3,
            "listed_groups": 1,
            "joined": 2,
            "joined_share": 0.4,
            "clicks_saved": 2,
            "clicks_saved_share": 0.4,
            "labeled_members": 2,
            "disagreeing_members": 1,
            "disagreement_share": 0.5,
        },
    ]
    assert not SequenceGroup.objects.exists() and not AssignmentRun.objects.exists()


def test_per_gate_who_would_inherit_and_with_which_wrong_labels(history):
    inheritance = report("--gates", "0.3,0.5")["inheritance"]

    assert inheritance["threshold"] == 0.3 and inheritance["configured_gate"] == 0.5
    assert (inheritance["joiners"], inheritance["joiners_of_labeled_groups"]) == (3, 3)
    assert inheritance["gates"] == [
        # The loose antenna, the wildfire and the unlabeled one; the wildfire is wrong.
        {
            "gate": 0.3,
            "would_inherit": 3,
            "with_human_label": 2,
            "different_human_label": 1,
            "different_share": 0.5,
        },
        # The 0.355 joiner no longer inherits.
        {
            "gate": 0.5,
            "would_inherit": 2,
            "with_human_label": 1,
            "different_human_label": 1,
            "different_share": 1.0,
        },
    ]


def test_text_report_has_both_tables(history):
    out = io.StringIO()
    call_command("group_report", "--thresholds", "0.3", "--gates", "0.5", stdout=out)
    text = out.getvalue()
    assert "History: 5 sequences with an azimuth and a usable box" in text
    assert (
        "threshold   groups   listed           joined     clicks saved            disagree\n"
        "      0.3        2        1        3   60.0%        3   60.0%     1/3       33.3%\n"
    ) in text
    assert "Inheritance gate (configured GROUPS_INHERITANCE_MIN_IOU = 0.5) at threshold 0.3" in text
    assert (
        " gate  would inherit  own label    different label\n"
        "  0.5              2          1         1   100.0%\n"
    ) in text


def test_an_empty_history_reports_zeros():
    result = report()
    assert result["sequences"] == 0
    assert [row["groups"] for row in result["thresholds"]] == [0, 0, 0, 0]
    assert all(row["would_inherit"] == 0 for row in result["inheritance"]["gates"])


@pytest.mark.parametrize("option", ["--thresholds", "--gates"])
def test_bad_values_are_refused_naming_the_option(option):
    with pytest.raises(CommandError, match=f"{option} must be a comma-separated list"):
        call_command("group_report", option, "0.3,abc", stdout=io.StringIO())
    with pytest.raises(CommandError, match=f"{option} must be"):
        call_command("group_report", option, "1.2", stdout=io.StringIO())


@pytest.fixture
def antennas_and_fires(settings):
    """Camera C at 30°: four antennas that stay put, two fires and an unlabeled plume join the
    first antenna. Every joiner's group is FP/antenna (the other members' majority) and all
    pass the 0.5 gate, so seven sequences, six joiners would inherit a false-positive label.

    | joiner   | own label      | temporal score | motion                |
    | antenna2 | FP/antenna     | -              | 0 (ten still frames)  |
    | antenna3 | FP/antenna     | 0.6            | 0                     |
    | antenna4 | FP/antenna     | -              | 0.03 (stored)         |
    | fire1    | smoke/wildfire | 0.8            | 0.0392 (grows 4 %)    |
    | fire2    | smoke/wildfire | 0.4            | 0.0198 (grows 2 %)    |
    | plume    | none           | 0.35           | 0.0953 (grows 10 %)   |
    """
    pin_hold_back_thresholds(settings)
    camera = CameraFactory()
    first = plume(camera=camera, azimuth=30, growth=0)
    antenna2 = plume(camera=camera, azimuth=30, growth=0)
    antenna3 = plume(camera=camera, azimuth=30, growth=0, temporal_model_score=0.6)
    antenna4 = plume(camera=camera, azimuth=30, growth=0, motion=0.03)
    fire1 = plume(camera=camera, azimuth=30, temporal_model_score=0.8)
    fire2 = plume(
        camera=camera,
        azimuth=30,
        growth=0.02,
        temporal_model_score=0.4,
        is_wildfire_alertapi="wildfire_smoke",
    )
    plume(camera=camera, azimuth=30, growth=0.1, temporal_model_score=0.35)
    for antenna in (first, antenna2, antenna3, antenna4):
        label(antenna, "antenna")
    for fire in (fire1, fire2):
        label(fire, "wildfire", stage=ProcessingStage.ANNOTATED)


def rows(values: list[float], counts: list[tuple[int, int, int, float | None]]) -> list[dict]:
    return [
        {
            "value": value,
            "held_back": held,
            "with_human_label": judged,
            "different_human_label": different,
            "different_share": different_share,
        }
        for value, (held, judged, different, different_share) in zip(values, counts, strict=True)
    ]


def test_per_hold_back_threshold_who_would_be_held_back_and_rightly(antennas_and_fires):
    result = report("--hold-back-scores", "0.3,0.5,0.7", "--hold-back-motions", "0.01,0.025,0.05")

    hold_back = result["hold_back"]
    assert {key: value for key, value in hold_back.items() if not isinstance(value, list)} == {
        "gate": 0.5,
        "false_positive_inheritors": 6,
        "platform_smoke": 1,  # fire2: held back whatever the thresholds
        "scored": 4,
        "measured": 6,
        "configured_temporal_score": 0.5,
        "configured_motion": 0.025,
    }
    assert hold_back["temporal_scores"] == rows(
        [0.3, 0.5, 0.7],
        [
            (4, 3, 2, 0.6667),  # antenna3, fire1, fire2, the plume; both fires rightly
            (2, 2, 1, 0.5),  # antenna3 (wrongly), fire1
            (1, 1, 1, 1.0),  # fire1
        ],
    )
    assert hold_back["motions"] == rows(
        [0.01, 0.025, 0.05],
        [
            (4, 3, 2, 0.6667),  # antenna4 (stored motion), fire1, fire2, the plume
            (3, 2, 1, 0.5),  # antenna4, fire1, the plume
            (1, 0, 0, None),  # the plume, which no person labeled
        ],
    )
    assert Sequence.objects.filter(motion__isnull=False).count() == 1  # nothing written


def test_the_hold_back_defaults_sit_around_the_settings(antennas_and_fires, settings):
    settings.GROUPS_HOLD_BACK_TEMPORAL_SCORE = 0.9
    hold_back = report()["hold_back"]
    assert [row["value"] for row in hold_back["temporal_scores"]] == [0.7, 0.8, 0.9, 1.0]
    assert [row["value"] for row in hold_back["motions"]] == [0.01, 0.015, 0.025, 0.035, 0.05]
    assert hold_back["configured_temporal_score"] == 0.9


def test_text_report_has_the_hold_back_tables(antennas_and_fires):
    out = io.StringIO()
    call_command(
        "group_report",
        "--hold-back-scores",
        "0.5",
        "--hold-back-motions",
        "0.05",
        stdout=out,
    )
    text = out.getvalue()
    assert (
        "Hold-back thresholds at threshold 0.3 and gate 0.5: 6 joiners would inherit a "
        "false-positive label; 4 carry a temporal score, 6 a motion; the platform classed 1 as "
        "smoke (held back whatever the thresholds)\n"
        "Temporal score (configured GROUPS_HOLD_BACK_TEMPORAL_SCORE = 0.5), this signal alone\n"
        " score  held back  own label    different label\n"
        "   0.5          2          2         1    50.0%\n"
        "Motion (configured GROUPS_HOLD_BACK_MOTION = 0.025), this signal alone\n"
        "motion  held back  own label    different label\n"
        "  0.05          1          0         0        -\n"
    ) in text


@pytest.mark.parametrize(
    ("option", "value", "bounds"),
    [
        ("--hold-back-scores", "1.5", "between 0 and 1"),
        ("--hold-back-scores", "-0.1", "between 0 and 1"),
        ("--hold-back-motions", "-0.01", ">= 0"),
        ("--hold-back-motions", "nan", ">= 0"),
    ],
)
def test_bad_hold_back_values_are_refused_naming_the_option(option, value, bounds):
    with pytest.raises(CommandError, match=f"{option} must be a comma-separated list of numbers"):
        call_command("group_report", option, value, stdout=io.StringIO())
    with pytest.raises(CommandError, match=bounds):
        call_command("group_report", option, value, stdout=io.StringIO())
