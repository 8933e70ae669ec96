"""`/sequence_groups/{id}/merge_candidates`, `/merge`, `/split`, their undo, and
`validate_group` on annotation create and update, over HTTP."""

import pytest

from groups.counters import counters_drift
from groups.models import GroupOperation, OperationKind, SequenceGroup
from sequences.models import LabelSource, ProcessingStage, Sequence
from tests.factories import (
    SequenceFactory,
    SequenceGroupFactory,
    add_members,
    fp,
    placeholder,
    smoke,
    validated,
)
from tests.support import annotation_of, detail_locs

pytestmark = pytest.mark.django_db

GROUPS = "/api/v1/sequence_groups/"
ANNOTATIONS = "/api/v1/annotations/sequences/"


def _pair(target_fields=None, source_fields=None, *, members=(2, 2)):
    target = SequenceGroupFactory(**(target_fields or {}))
    source = SequenceGroupFactory(camera=target.camera, **(source_fields or {}))
    return (
        target,
        source,
        add_members(target, members[0], placeholders=True),
        add_members(source, members[1], placeholders=True),
    )


def _members(group) -> set[int]:
    return set(Sequence.objects.filter(group=group).values_list("pk", flat=True))


def test_candidates_list_the_bucket(annotator_api):
    target, source, _, _ = _pair()
    SequenceGroupFactory(camera=target.camera, azimuth=200)

    body = annotator_api.get(f"{GROUPS}{target.pk}/merge_candidates").json()

    assert [(item["group"]["id"], item["iou"]) for item in body] == [(source.pk, 1.0)]
    assert body[0]["group"]["member_count"] == 2
    assert len(body[0]["preview_detection_ids"]) == 2
    assert annotator_api.get(f"{GROUPS}{10**9}/merge_candidates").status_code == 404


def test_merge_then_undo(annotator_api, api):
    target, source, own, came = _pair(validated(), fp("antenna"))

    response = annotator_api.post(
        f"{GROUPS}{target.pk}/merge", {"source_group_id": source.pk}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == target.pk and body["member_count"] == 4
    assert body["false_positive_type"] == "antenna" and body["label_taken"] == "FP/antenna"
    assert (body["moved"], body["merged_group_id"], body["propagated_count"]) == (2, source.pk, 2)
    assert annotation_of(own[0]).label_source == LabelSource.PROPAGATED
    assert counters_drift() == []

    undo = api.post(f"{GROUPS}operations/{body['operation_id']}/undo")

    assert undo.status_code == 200, undo.content
    assert _members(target) == {s.pk for s in own} and _members(source) == {s.pk for s in came}
    assert SequenceGroup.objects.get(pk=source.pk).merged_into_id is None
    assert annotation_of(own[0]).processing_stage == ProcessingStage.READY_TO_ANNOTATE
    assert counters_drift() == []


def test_merge_refusals(annotator_api):
    target, source, _, came = _pair(smoke("wildfire"), fp("antenna"))
    url = f"{GROUPS}{target.pk}/merge"

    conflict = annotator_api.post(url, {"source_group_id": source.pk}, format="json")
    assert conflict.status_code == 409
    assert "groups with different labels cannot be merged" in conflict.json()["detail"]
    assert detail_locs(annotator_api.post(url, {}, format="json")) == [["body", "source_group_id"]]
    same = annotator_api.post(url, {"source_group_id": target.pk}, format="json")
    assert detail_locs(same) == [["body", "source_group_id"]]
    other = SequenceGroupFactory(azimuth=45)
    assert annotator_api.post(url, {"source_group_id": other.pk}, format="json").status_code == 400
    missing = annotator_api.post(url, {"source_group_id": 10**9}, format="json")
    assert missing.status_code == 404
    assert _members(source) == {s.pk for s in came}
    assert not GroupOperation.objects.filter(kind=OperationKind.MERGE).exists()


def test_split_then_undo(annotator_api, api):
    group = SequenceGroupFactory()
    members = add_members(group, 3)

    response = annotator_api.post(
        f"{GROUPS}{group.pk}/split",
        {"sequence_ids": [members[1].pk, members[2].pk]},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    new_id = body["new_group"]["id"]
    assert body["group_id"] == group.pk and body["moved"] == [members[1].pk, members[2].pk]
    assert body["new_group"]["representative_bbox"]["xyxyn"] == [0.1, 0.1, 0.4, 0.4]
    assert _members(SequenceGroup.objects.get(pk=new_id)) == {members[1].pk, members[2].pk}

    undo = api.post(f"{GROUPS}operations/{body['operation_id']}/undo")

    assert undo.status_code == 200, undo.content
    assert _members(group) == {s.pk for s in members}
    assert counters_drift() == []


def test_split_refusals(annotator_api):
    group = SequenceGroupFactory()
    members = add_members(group, 2)
    stranger = SequenceFactory()
    url = f"{GROUPS}{group.pk}/split"

    everyone = annotator_api.post(url, {"sequence_ids": [s.pk for s in members]}, format="json")
    assert detail_locs(everyone) == [["body", "sequence_ids"]]
    assert detail_locs(annotator_api.post(url, {"sequence_ids": []}, format="json")) == [
        ["body", "sequence_ids"]
    ]
    assert detail_locs(annotator_api.post(url, {"sequence_ids": ["x"]}, format="json")) == [
        ["body", "sequence_ids", 0]
    ]
    strangers = annotator_api.post(url, {"sequence_ids": [stranger.pk]}, format="json")
    assert strangers.status_code == 400 and str(stranger.pk) in strangers.json()["detail"]
    assert (
        annotator_api.post(
            f"{GROUPS}{10**9}/split", {"sequence_ids": [1]}, format="json"
        ).status_code
        == 404
    )
    assert SequenceGroup.objects.count() == 1


# --- validate_group on a save --------------------------------------------------------------------


def _fp_payload(sequence) -> dict:
    detection = sequence.detections.get()
    cluster = {
        "is_smoke": False,
        "smoke_type": None,
        "false_positive_types": ["antenna"],
        "bboxes": [{"detection_id": detection.pk, "xyxyn": [0.1, 0.1, 0.4, 0.4]}],
    }
    return {"sequences_bbox": [cluster]}


def test_create_with_validate_group_validates_and_fans_out(annotator_api, annotator):
    group = SequenceGroupFactory()
    saver, *others = add_members(group, 3, placeholders=False)
    for other in others:
        placeholder(other)

    response = annotator_api.post(
        ANNOTATIONS,
        {
            "sequence_id": saver.pk,
            "annotation": _fp_payload(saver),
            "processing_stage": "seq_annotation_done",
            "has_missed_smoke": False,
            "validate_group": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    group.refresh_from_db()
    assert group.is_validated and group.validated_by == annotator
    assert group.false_positive_type == "antenna"
    for other in others:
        row = annotation_of(other)
        assert row.label_source == LabelSource.PROPAGATED and row.checked_at is None
    kinds = set(GroupOperation.objects.values_list("kind", flat=True))
    assert kinds == {OperationKind.VALIDATE, OperationKind.PROPAGATE}


def test_patch_with_validate_group(annotator_api):
    group = SequenceGroupFactory()
    saver, other = add_members(group, 2, placeholders=True)

    response = annotator_api.patch(
        f"{ANNOTATIONS}{annotation_of(saver).pk}",
        {
            "annotation": _fp_payload(saver),
            "processing_stage": "seq_annotation_done",
            "validate_group": True,
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert SequenceGroup.objects.get(pk=group.pk).is_validated
    assert annotation_of(other).false_positive_types == ["antenna"]


def test_validate_group_without_a_group_is_refused_and_saves_nothing(annotator_api):
    sequence = SequenceFactory()
    placeholder(sequence)
    row = annotation_of(sequence)

    response = annotator_api.patch(
        f"{ANNOTATIONS}{row.pk}",
        {"processing_stage": "seq_annotation_done", "validate_group": True},
        format="json",
    )

    assert detail_locs(response) == [["body", "validate_group"]]
    assert "in no group" in response.json()["detail"][0]["msg"]
    assert annotation_of(sequence).processing_stage == ProcessingStage.READY_TO_ANNOTATE
