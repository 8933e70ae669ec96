"""SPEC §9.2: the reference implementation's eight group tests, restated over HTTP."""

import pytest

from groups.models import AssignmentRun, GroupOperation, OperationKind, RunStatus, SequenceGroup
from sequences.models import LabelSource, ProcessingStage
from tests.factories import CameraFactory, smoke_annotation
from tests.support import annotation_of

pytestmark = pytest.mark.django_db

BULK = "/api/v1/annotations/sequences/bulk"
ANNOTATIONS = "/api/v1/annotations/sequences/"


@pytest.fixture
def assigned(api, world):
    """#1's setup and action: sequence 1 on camera 42 at azimuth 90, then an assignment run."""
    camera = CameraFactory(platform_id=42, name="cam-42", organization=world.org1)
    world.seq1.camera = camera
    world.seq1.azimuth = 90
    world.seq1.save()
    response = api.post("/api/v1/sequence_groups/assign")
    world.seq1.refresh_from_db()
    return response


def test_1_assign_creates_one_group(api, world, assigned):
    assert assigned.status_code == 200
    body = assigned.json()
    assert {key: value for key, value in body.items() if key != "run_id"} == {
        "processed": 2,
        "new_groups": 1,
        "joined_existing": 0,
        "inherited_annotations": 0,
        "joined_not_inherited": 0,
        "held_back": 0,
        "skipped_no_bbox": 1,
    }
    sequence = api.get(f"/api/v1/sequences/{world.seq1.pk}").json()
    assert sequence["sequence_group_id"] is not None
    group = api.get(f"/api/v1/sequence_groups/{sequence['sequence_group_id']}").json()
    assert group["representative_bbox"] == {"xyxyn": [0.16, 0.19, 0.475, 0.515], "confidence": 0.89}
    assert AssignmentRun.objects.get(pk=body["run_id"]).status == RunStatus.SUCCEEDED


def _bulk_wildfire(api, world):
    return api.post(
        BULK,
        {
            "sequence_ids": [world.seq1.pk],
            "group_id": world.seq1.group_id,
            "smoke_type": "wildfire",
        },
        format="json",
    )


def test_2_bulk_labels_the_sequence_and_the_group(api, world, assigned):
    response = _bulk_wildfire(api, world)

    assert response.status_code == 200
    body = response.json()
    assert len(body["applied"]) == 1 and body["skipped"] == []
    assert body["group_label_updated"] is True
    group = SequenceGroup.objects.get(pk=world.seq1.group_id)
    assert (group.smoke_type, group.false_positive_type) == ("wildfire", None)
    assert group.labeled_at is not None
    row = annotation_of(world.seq1)
    clusters = row.annotation["sequences_bbox"]
    assert len(clusters) == 1
    assert {box["detection_id"] for box in clusters[0]["bboxes"]} == {world.det1.pk, world.det2.pk}
    assert clusters[0]["smoke_type"] == "wildfire" and clusters[0]["is_smoke"] is True
    assert row.processing_stage == ProcessingStage.SEQ_ANNOTATION_DONE
    assert row.label_source == LabelSource.BULK
    operation = GroupOperation.objects.get(kind=OperationKind.BULK)
    assert operation.pk == body["operation_id"]
    assert [member.before for member in operation.members.all()] == [None]


def test_3_conflicting_bulk_is_409_without_force_and_200_with(api, world, assigned):
    _bulk_wildfire(api, world)
    request = {
        "sequence_ids": [world.seq1.pk],
        "group_id": world.seq1.group_id,
        "false_positive_type": "antenna",
    }

    refused = api.post(BULK, request, format="json")
    forced = api.post(BULK, {**request, "force": True}, format="json")

    assert refused.status_code == 409
    assert "smoke/wildfire" in refused.json()["detail"]
    assert forced.status_code == 200
    body = forced.json()
    assert body["applied"] == []
    assert [item["reason"] for item in body["skipped"]] == ["already seq_annotation_done"]
    assert body["group_label_updated"] is False
    assert SequenceGroup.objects.get(pk=world.seq1.group_id).smoke_type == "wildfire"


def save_over_api(api, sequence, *, detection, smoke_type, stage, mode):
    """A human save through POST, or through PATCH of a placeholder created first."""
    payload = {
        "annotation": smoke_annotation(detection.pk, smoke_type),
        "processing_stage": stage,
        "has_missed_smoke": False,
    }
    if mode == "post":
        return api.post(ANNOTATIONS, {"sequence_id": sequence.pk, **payload}, format="json")
    placeholder = api.post(
        ANNOTATIONS,
        {
            "sequence_id": sequence.pk,
            "processing_stage": "ready_to_annotate",
            "has_missed_smoke": False,
        },
        format="json",
    )
    assert placeholder.status_code == 201
    return api.patch(f"{ANNOTATIONS}{placeholder.json()['id']}", payload, format="json")


def save_wildfire(api, world, mode):
    """SPEC §9.2's human save: sequence 1 saved as smoke/wildfire, `seq_annotation_done`."""
    return save_over_api(
        api,
        world.seq1,
        detection=world.det1,
        smoke_type="wildfire",
        stage="seq_annotation_done",
        mode=mode,
    )


@pytest.fixture(params=["post", "patch"])
def mode(request):
    return request.param


def expected_status(mode: str) -> int:
    return 201 if mode == "post" else 200


def test_4_unvalidated_group_does_not_propagate(api, world, seed_group, mode):
    group = seed_group(validated=False)

    response = save_wildfire(api, world, mode)

    assert response.status_code == expected_status(mode)
    assert response.json()["group_propagation_warning"] is None
    group.refresh_from_db()
    assert not group.is_labeled
    assert annotation_of(world.seq2) is None


def test_5_validated_group_is_labeled_and_fans_out(api, staff_user, world, seed_group, mode):
    group = seed_group(validated=True)

    response = save_wildfire(api, world, mode)

    assert response.status_code == expected_status(mode)
    assert response.json()["group_propagation_warning"] is None
    group.refresh_from_db()
    assert (group.smoke_type, group.false_positive_type) == ("wildfire", None)
    assert group.labeled_by == staff_user
    other = annotation_of(world.seq2)
    assert other.processing_stage == ProcessingStage.SEQ_ANNOTATION_DONE
    clusters = other.annotation["sequences_bbox"]
    assert len(clusters) == 2 and {c["smoke_type"] for c in clusters} == {"wildfire"}
    assert other.smoke_types == ["wildfire"]
    assert other.label_source == LabelSource.PROPAGATED
    assert other.label_source_group_id == group.pk
    assert GroupOperation.objects.filter(kind=OperationKind.PROPAGATE).count() == 1


def test_6_conflict_warns_and_changes_nothing_else(api, world, seed_group, mode):
    group = seed_group(validated=True, smoke_type="industrial")

    response = save_wildfire(api, world, mode)

    assert response.status_code == expected_status(mode)
    body = response.json()
    warning = body["group_propagation_warning"]
    assert f"Group {group.pk}" in warning
    assert "smoke/industrial" in warning and "smoke/wildfire" in warning
    assert body["smoke_types"] == ["wildfire"]
    group.refresh_from_db()
    assert group.smoke_type == "industrial"
    assert annotation_of(world.seq2) is None
    assert not GroupOperation.objects.exists()


def test_7_locked_member_is_untouched(api, world, seed_group, mode):
    group = seed_group(validated=True)

    first = save_over_api(
        api, world.seq2, detection=world.det3, smoke_type="industrial", stage="annotated", mode=mode
    )
    group.refresh_from_db()
    assert not group.is_labeled  # an `annotated` save does not propagate
    second = save_wildfire(api, world, mode)

    assert first.status_code == second.status_code == expected_status(mode)
    group.refresh_from_db()
    assert group.smoke_type == "wildfire"
    other = annotation_of(world.seq2)
    assert (other.processing_stage, other.smoke_types) == ("annotated", ["industrial"])


@pytest.mark.parametrize(
    "labels",
    [{}, {"smoke_type": "wildfire", "false_positive_type": "antenna"}],
    ids=["neither", "both"],
)
def test_8_bulk_needs_exactly_one_label(api, world, labels):
    response = api.post(BULK, {"sequence_ids": [world.seq1.pk], **labels}, format="json")

    assert response.status_code == 422
    locs = [error["loc"] for error in response.json()["detail"]]
    assert ["body", "smoke_type"] in locs and ["body", "false_positive_type"] in locs
    assert annotation_of(world.seq1) is None
