"""Every database rule of SPEC §2 rejects a bad row twice (SPEC §9.3 "Model"):
`full_clean()` raises ValidationError, and a raw insert raises IntegrityError.

Each case starts from a row that passes `full_clean()` and changes one thing, so the failure
can only come from the rule under test. Runs on SQLite and on PostgreSQL.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from groups.models import AssignmentRun, GroupOperation, GroupOperationMember, SequenceGroup
from sequences.models import Camera, Detection, Organization, Sequence, SequenceAnnotation

pytestmark = pytest.mark.django_db

BBOX = {"xyxyn": [0.1, 0.1, 0.4, 0.4], "confidence": 0.9}


@pytest.fixture
def rows(world, staff_user):
    """The §9.1 world plus one group, run, operation and annotation to point at."""
    now = timezone.now()
    group = SequenceGroup.objects.create(camera=world.cam1, azimuth=10, representative_bbox=BBOX)
    run = AssignmentRun.objects.create(
        status="running", trigger="command", started_at=now, heartbeat_at=now
    )
    operation = GroupOperation.objects.create(kind="bulk", group=group)
    GroupOperationMember.objects.create(operation=operation, sequence=world.seq1)
    SequenceAnnotation.objects.create(sequence=world.seq1, processing_stage="imported")
    world.group, world.run, world.operation, world.user, world.now = (
        group,
        run,
        operation,
        staff_user,
        now,
    )
    return world


@dataclass
class Case:
    model: type
    good: Any  # rows -> field values of a valid row
    bad: Any  # rows -> the one change that breaks the rule
    needle: str  # what full_clean's message says


def group(w):
    return {"camera": w.cam1, "azimuth": 10, "representative_bbox": BBOX}


def labeled_group(w):
    return {**group(w), "smoke_type": "wildfire", "labeled_at": w.now}


def sequence(w):
    return {
        "source_api": "pyronear_french",
        "alert_api_id": 999,
        "camera": w.cam1,
        "organization": w.org1,
        "lat": 44.5,
        "lon": 4.2,
        "azimuth": 359,
        "recorded_at": w.now,
    }


def annotation(w):
    return {"sequence": w.seq2, "processing_stage": "ready_to_annotate"}


def finished_run(w):
    return {
        "status": "succeeded",
        "trigger": "command",
        "started_at": w.now,
        "heartbeat_at": w.now,
        "finished_at": w.now,
    }


CASES = {
    "group with both labels": Case(
        SequenceGroup,
        labeled_group,
        lambda w: {"false_positive_type": "antenna"},
        "groups_sequencegroup_label_xor",
    ),
    "group labeled_at without label": Case(
        SequenceGroup,
        group,
        lambda w: {"labeled_at": w.now},
        "groups_sequencegroup_labeled_at_consistency",
    ),
    "group label without labeled_at": Case(
        SequenceGroup,
        labeled_group,
        lambda w: {"labeled_at": None},
        "groups_sequencegroup_labeled_at_consistency",
    ),
    "group azimuth 360": Case(
        SequenceGroup, group, lambda w: {"azimuth": 360}, "groups_sequencegroup_azimuth_range"
    ),
    "group negative azimuth": Case(
        SequenceGroup, group, lambda w: {"azimuth": -1}, "groups_sequencegroup_azimuth_range"
    ),
    "group unknown smoke type": Case(
        SequenceGroup, labeled_group, lambda w: {"smoke_type": "volcano"}, "not a valid choice"
    ),
    "group unknown false-positive type": Case(
        SequenceGroup,
        labeled_group,
        lambda w: {"smoke_type": None, "false_positive_type": "ufo"},
        "not a valid choice",
    ),
    "group validated without validated_at": Case(
        SequenceGroup,
        group,
        lambda w: {"is_validated": True},
        "groups_sequencegroup_validated_consistency",
    ),
    "group validated_by while not validated": Case(
        SequenceGroup,
        group,
        lambda w: {"validated_by": w.user},
        "groups_sequencegroup_validated_consistency",
    ),
    "sequence azimuth 360": Case(
        Sequence, sequence, lambda w: {"azimuth": 360}, "sequences_sequence_azimuth_range"
    ),
    "sequence unknown source api": Case(
        Sequence, sequence, lambda w: {"source_api": "pyronear_mars"}, "not a valid choice"
    ),
    "sequence unknown platform class": Case(
        Sequence, sequence, lambda w: {"is_wildfire_alertapi": "maybe"}, "not a valid choice"
    ),
    "sequence grouped and excluded": Case(
        Sequence,
        lambda w: {**sequence(w), "group": w.group},
        lambda w: {"is_group_excluded": True},
        "sequences_sequence_grouped_not_excluded",
    ),
    "duplicate (source_api, alert_api_id)": Case(
        Sequence, sequence, lambda w: {"alert_api_id": w.seq1.alert_api_id}, "already exists"
    ),
    "organization unknown source api": Case(
        Organization,
        lambda w: {"source_api": "api_cenia", "platform_id": 5, "name": "CENIA"},
        lambda w: {"source_api": "elsewhere"},
        "not a valid choice",
    ),
    "camera unknown source api": Case(
        Camera,
        lambda w: {
            "source_api": "api_cenia",
            "platform_id": 5,
            "name": "cam",
            "organization": w.org1,
        },
        lambda w: {"source_api": "elsewhere"},
        "not a valid choice",
    ),
    "duplicate camera (source_api, platform_id)": Case(
        Camera,
        lambda w: {
            "source_api": "api_cenia",
            "platform_id": w.cam1.platform_id,
            "name": "cam",
            "organization": w.org1,
        },
        lambda w: {"source_api": w.cam1.source_api},
        "already exists",
    ),
    "duplicate (sequence, alert_api_id)": Case(
        Detection,
        lambda w: {
            "sequence": w.seq1,
            "alert_api_id": 77,
            "recorded_at": w.now,
            "image": "detections/sequence_1/frame.jpg",
        },
        lambda w: {"alert_api_id": w.det1.alert_api_id},
        "already exists",
    ),
    "unknown stage": Case(
        SequenceAnnotation,
        annotation,
        lambda w: {"processing_stage": "bogus"},
        "not a valid choice",
    ),
    "unknown label source": Case(
        SequenceAnnotation, annotation, lambda w: {"label_source": "robot"}, "not a valid choice"
    ),
    "second annotation per sequence": Case(
        SequenceAnnotation, annotation, lambda w: {"sequence": w.seq1}, "already exists"
    ),
    "label_source_group without machine source": Case(
        SequenceAnnotation,
        lambda w: {**annotation(w), "label_source": "inherited", "label_source_group": w.group},
        lambda w: {"label_source": "human"},
        "sequences_sequenceannotation_source_group_machine_only",
    ),
    "label_source_operation without machine source": Case(
        SequenceAnnotation,
        lambda w: {**annotation(w), "label_source": "bulk", "label_source_operation": w.operation},
        lambda w: {"label_source": "human"},
        "sequences_sequenceannotation_source_operation_machine_only",
    ),
    "a second running run": Case(
        AssignmentRun,
        finished_run,
        lambda w: {"status": "running", "finished_at": None},
        "groups_assignmentrun_single_running",
    ),
    "finished run without finished_at": Case(
        AssignmentRun,
        finished_run,
        lambda w: {"finished_at": None},
        "groups_assignmentrun_finished_consistency",
    ),
    "unknown run trigger": Case(
        AssignmentRun, finished_run, lambda w: {"trigger": "moon"}, "not a valid choice"
    ),
    "undo_of without kind undo": Case(
        GroupOperation,
        lambda w: {"kind": "undo", "undo_of": w.operation},
        lambda w: {"kind": "bulk"},
        "groups_groupoperation_undo_of_consistency",
    ),
    "kind undo without undo_of": Case(
        GroupOperation,
        lambda w: {"kind": "undo", "undo_of": w.operation},
        lambda w: {"undo_of": None},
        "groups_groupoperation_undo_of_consistency",
    ),
    "unknown operation kind": Case(
        GroupOperation,
        lambda w: {"kind": "bulk"},
        lambda w: {"kind": "teleport"},
        "not a valid choice",
    ),
    "duplicate operation member": Case(
        GroupOperationMember,
        lambda w: {"operation": w.operation, "sequence": w.seq2},
        lambda w: {"sequence": w.seq1},
        "already exists",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_the_valid_row_passes(rows, name):
    case = CASES[name]
    case.model(**case.good(rows)).full_clean()


@pytest.mark.parametrize("name", CASES)
def test_full_clean_rejects_the_bad_row(rows, name):
    case = CASES[name]
    values = {**case.good(rows), **case.bad(rows)}
    with pytest.raises(ValidationError) as excinfo:
        case.model(**values).full_clean()
    assert case.needle in str(excinfo.value.messages)


@pytest.mark.parametrize("name", CASES)
def test_the_database_rejects_the_bad_row(rows, name):
    case = CASES[name]
    values = {**case.good(rows), **case.bad(rows)}
    count = case.model.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        case.model.objects.create(**values)
    assert case.model.objects.count() == count


@pytest.mark.parametrize("provenance", ["label_source_group", "label_source_operation"])
def test_a_placeholder_cannot_carry_machine_provenance(rows, provenance):
    target = rows.group if provenance == "label_source_group" else rows.operation
    with pytest.raises(IntegrityError), transaction.atomic():
        SequenceAnnotation.objects.create(**annotation(rows), **{provenance: target})
