"""``manage.py group_report``: the threshold and inheritance-gate evidence, written nowhere."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from groups.models import AssignmentRun, SequenceGroup
from sequences.models import LabelSource, ProcessingStage
from sequences.services import annotation_write
from tests.factories import CameraFactory, sequence_with_boxes, smoke_annotation

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
