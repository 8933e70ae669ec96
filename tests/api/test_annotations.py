"""`/annotations/sequences/`: human saves over HTTP, filters, the check state (SPEC §7.2, §5.9)."""

import pytest
from django.db.models import F

from groups.services import label_check_confirm
from sequences.filters import JsonListHasAny
from sequences.models import LabelSource, SequenceAnnotation
from sequences.payloads import Label
from sequences.services import annotation_write_many
from tests.factories import DetectionFactory, SequenceFactory, annotate, smoke_annotation
from tests.support import annotation_of, detail_locs, walk_pages

pytestmark = pytest.mark.django_db

LIST = "/api/v1/annotations/sequences/"


def create(api, sequence, **fields):
    body = {
        "sequence_id": sequence.pk,
        "processing_stage": "seq_annotation_done",
        "has_missed_smoke": False,
        **fields,
    }
    return api.post(LIST, body, format="json")


# --- Create ------------------------------------------------------------------------------------


def test_create_is_a_human_save(api, staff_user, world):
    response = create(api, world.seq1, annotation=smoke_annotation(world.det1.pk, "wildfire"))

    assert response.status_code == 201
    body = response.json()
    assert body["sequence_id"] == world.seq1.pk
    assert body["smoke_types"] == ["wildfire"] and body["has_smoke"] is True
    assert body["label_source"] == "human" and body["checked_by_user_id"] == staff_user.pk
    assert body["checked_at"].endswith("Z")
    assert body["group_propagation_warning"] is None and body["contributors"] is None
    assert annotation_of(world.seq1).updated_by == staff_user


def test_create_at_ready_to_annotate_generates_clusters(api, world):
    response = create(
        api, world.seq2, processing_stage="ready_to_annotate", confidence_threshold=0.78
    )

    assert response.status_code == 201
    clusters = response.json()["annotation"]["sequences_bbox"]
    assert [c["bboxes"][0]["xyxyn"] for c in clusters] == [[0.6, 0.65, 0.85, 0.9]]
    body = response.json()
    # A placeholder has no label source, but a person saved it: checked (SPEC §2.2).
    assert body["label_source"] is None
    assert body["checked_at"] is not None and body["checked_by_user_id"] is not None


def test_create_for_an_annotated_sequence_is_409(api, world):
    create(api, world.seq1, annotation=smoke_annotation(world.det1.pk, "wildfire"))

    response = create(api, world.seq1, annotation=smoke_annotation(world.det1.pk, "industrial"))

    assert response.status_code == 409
    assert response.json() == {"detail": f"Sequence {world.seq1.pk} already has an annotation"}
    assert annotation_of(world.seq1).smoke_types == ["wildfire"]


def test_create_for_an_unknown_sequence_is_422(api, world):
    response = create(api, SequenceFactory.build(pk=999999))

    assert detail_locs(response) == [["body", "sequence_id"]]


def test_one_bad_box_among_many_is_422_with_its_full_loc_and_writes_nothing(api, world):
    annotation = smoke_annotation(world.det1.pk, "wildfire")
    boxes = annotation["sequences_bbox"][0]["bboxes"]
    boxes += [{"detection_id": world.det2.pk, "xyxyn": [0.2, 0.2, 0.3, 0.3]} for _ in range(5)]
    boxes[4]["xyxyn"] = [0.2, 0.2, 1.3, 0.3]

    response = create(api, world.seq1, annotation=annotation)

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "annotation", "sequences_bbox", 0, "bboxes", 4, "xyxyn"],
            "msg": "coordinates must be between 0 and 1",
            "type": "value_error",
        }
    ]
    assert annotation_of(world.seq1) is None


def test_detections_of_another_sequence_are_refused(api, world):
    response = create(api, world.seq1, annotation=smoke_annotation(world.det3.pk, "wildfire"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        f"detections [{world.det3.pk}] do not belong to sequence {world.seq1.pk}"
    )


def test_a_bad_field_does_not_hide_the_annotations_own_errors(api, world):
    """SPEC §3.5: a bad stage and a bad box in one request, on create and on update."""
    annotation = smoke_annotation(world.det1.pk, "wildfire")
    annotation["sequences_bbox"][0]["bboxes"][0]["xyxyn"] = [0.1, 0.1, 1.5, 0.4]
    box_loc = ["body", "annotation", "sequences_bbox", 0, "bboxes", 0, "xyxyn"]

    created = create(api, world.seq1, processing_stage="bogus", annotation=annotation)
    row = annotate(world.seq2, smoke=["other"])
    annotation["sequences_bbox"][0]["bboxes"][0]["detection_id"] = world.det3.pk
    body = {"processing_stage": "bogus", "annotation": annotation}
    updated = api.patch(f"{LIST}{row.pk}", body, format="json")

    for response in (created, updated):
        assert detail_locs(response) == [["body", "processing_stage"], box_loc]
    assert annotation_of(world.seq1) is None
    assert annotation_of(world.seq2).smoke_types == ["other"]


def test_a_foreign_detection_is_reported_beside_a_bad_box(api, world):
    """SPEC §3.5: the ownership of the well-formed boxes is checked even when others fail."""
    annotation = smoke_annotation(world.det3.pk, "wildfire")
    bad = smoke_annotation(world.det1.pk, "wildfire")["sequences_bbox"][0]
    bad["bboxes"][0]["xyxyn"] = [0.1, 0.1, 1.5, 0.4]
    annotation["sequences_bbox"].insert(0, bad)

    response = create(api, world.seq1, annotation=annotation)

    errors = [(error["loc"], error["msg"]) for error in response.json()["detail"]]
    assert response.status_code == 422
    assert errors == [
        (
            ["body", "annotation", "sequences_bbox", 0, "bboxes", 0, "xyxyn"],
            "coordinates must be between 0 and 1",
        ),
        (
            ["body", "annotation"],
            f"detections [{world.det3.pk}] do not belong to sequence {world.seq1.pk}",
        ),
    ]
    assert annotation_of(world.seq1) is None


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"processing_stage": "finished"}, ["body", "processing_stage"]),
        ({"has_missed_smoke": None}, ["body", "has_missed_smoke"]),
        ({"confidence_threshold": 1.5}, ["body", "confidence_threshold"]),
        ({"min_cluster_size": 0}, ["body", "min_cluster_size"]),
        ({"annotation": {"sequences_bbox": "all"}}, ["body", "annotation", "sequences_bbox"]),
        (
            {
                "annotation": {
                    "sequences_bbox": [{"is_smoke": True, "smoke_type": "fog", "bboxes": []}]
                }
            },
            ["body", "annotation", "sequences_bbox", 0, "smoke_type"],
        ),
    ],
)
def test_create_with_bad_fields_is_422(api, world, fields, loc):
    response = create(api, world.seq1, **fields)

    assert loc in detail_locs(response)
    assert annotation_of(world.seq1) is None


# --- Read, patch, delete -----------------------------------------------------------------------


def test_detail_and_its_404(api, world):
    row = annotate(world.seq1, smoke=["industrial"])

    assert api.get(f"{LIST}{row.pk}").json()["smoke_types"] == ["industrial"]
    missing = api.get(f"{LIST}999999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Sequence annotation not found."}


def test_patch_updates_only_what_is_sent(api, world):
    row = annotate(world.seq1, smoke=["industrial"], has_missed_smoke=True)

    response = api.patch(f"{LIST}{row.pk}", {"is_unsure": True}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["is_unsure"] is True and body["has_missed_smoke"] is True
    assert (
        body["smoke_types"] == ["industrial"] and body["processing_stage"] == "seq_annotation_done"
    )
    assert body["group_propagation_warning"] is None


def test_patch_ignores_derived_fields_and_unknown_keys(api, world):
    row = annotate(world.seq1, smoke=["industrial"])

    response = api.patch(
        f"{LIST}{row.pk}",
        {
            "has_smoke": False,
            "smoke_types": ["other"],
            "colour": "red",
            "processing_stage": "annotated",
        },
        format="json",
    )

    assert response.json()["has_smoke"] is True and response.json()["smoke_types"] == ["industrial"]
    assert response.json()["processing_stage"] == "annotated"


def test_patch_with_a_bad_box_changes_nothing(api, world):
    row = annotate(world.seq1, smoke=["industrial"])
    annotation = smoke_annotation(world.det1.pk, "wildfire")
    annotation["sequences_bbox"][0]["bboxes"][0]["xyxyn"] = [0.4, 0.1, 0.2, 0.3]

    response = api.patch(f"{LIST}{row.pk}", {"annotation": annotation}, format="json")

    assert detail_locs(response) == [
        ["body", "annotation", "sequences_bbox", 0, "bboxes", 0, "xyxyn"]
    ]
    assert annotation_of(world.seq1).smoke_types == ["industrial"]


def test_patch_and_delete_of_a_missing_annotation_are_404(api, world):
    assert api.patch(f"{LIST}999999", {"is_unsure": True}, format="json").status_code == 404
    assert api.delete(f"{LIST}999999").status_code == 404


def test_delete_keeps_the_sequence(api, world):
    row = annotate(world.seq1, smoke=["industrial"])

    response = api.delete(f"{LIST}{row.pk}")

    assert response.status_code == 204
    assert annotation_of(world.seq1) is None
    assert api.get(f"/api/v1/sequences/{world.seq1.pk}").status_code == 200


# --- List and filters --------------------------------------------------------------------------


@pytest.fixture
def labels(world, staff_user):
    """A human label, two machine labels (one of them confirmed) and a placeholder."""
    human = annotate(world.seq1, smoke=["other"], fp=["lens_flare"], is_unsure=True)
    machine = [DetectionFactory().sequence for _ in range(2)]
    annotation_write_many(
        sequence_ids=[s.pk for s in machine],
        label=Label.fp("other"),
        is_unsure=False,
        source=LabelSource.BULK,
    )
    rows = list(SequenceAnnotation.objects.filter(sequence__in=machine).order_by("sequence_id"))
    assert len(rows) == 2
    label_check_confirm(annotation_ids=[rows[1].pk], actor=staff_user)
    placeholder = annotate(world.seq2, stage="ready_to_annotate")
    return {"human": human, "unchecked": rows[0], "confirmed": rows[1], "placeholder": placeholder}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"checked": "false"}, ["unchecked"]),
        # A human save is checked whatever its stage (SPEC §2.2), the placeholder saved here too.
        ({"checked": "true"}, ["human", "confirmed", "placeholder"]),
        ({"label_source": "bulk"}, ["unchecked", "confirmed"]),
        ({"label_source": "human"}, ["human"]),
        ({"is_unsure": "true"}, ["human"]),
        ({"processing_stage": "ready_to_annotate"}, ["placeholder"]),
        ({"has_false_positives": "true"}, ["human", "unchecked", "confirmed"]),
        ({"false_positive_types": "other"}, ["unchecked", "confirmed"]),
        ({"false_positive_types": "lens_flare"}, ["human"]),
        ({"smoke_types": "other"}, ["human"]),
        ({"smoke_types": ["wildfire", "industrial"]}, []),
    ],
)
def test_filters(api, labels, params, expected):
    response = api.get(LIST, params)

    assert response.status_code == 200, response.content
    assert sorted(item["id"] for item in response.json()["items"]) == sorted(
        labels[name].pk for name in expected
    )


def test_filter_by_sequence(api, world, labels):
    items = api.get(LIST, {"sequence_id": world.seq1.pk}).json()["items"]

    assert [item["id"] for item in items] == [labels["human"].pk]


def test_order_by_sequence_recorded_at(api, world, labels):
    ids = walk_pages(api, LIST, size=1, order_by="sequence_recorded_at", order_direction="asc")

    recorded = [SequenceAnnotation.objects.get(pk=i).sequence.recorded_at for i in ids]
    assert len(ids) == 4 and recorded == sorted(recorded)


def test_bad_filter_is_422(api, labels):
    assert detail_locs(api.get(LIST, {"checked": "perhaps"})) == [["query", "checked"]]
    assert detail_locs(api.get(LIST, {"label_source": "robot"})) == [["query", "label_source"]]


def test_json_list_filters_use_the_databases_own_lookup(labels, is_postgres):
    """Containment on PostgreSQL, json_each on SQLite; whole elements either way."""
    queryset = SequenceAnnotation.objects.filter(
        JsonListHasAny(F("false_positive_types"), ["other"])
    )

    sql = str(queryset.query)

    assert ("@>" in sql) if is_postgres else ("json_each" in sql)
    assert sorted(queryset.values_list("id", flat=True)) == sorted(
        [labels["unchecked"].pk, labels["confirmed"].pk]
    )


@pytest.mark.parametrize(
    "body",
    ["[" * 5000 + "]" * 5000, '{"sequence_id": 1, "annotation": ' + "[" * 40 + "]" * 40 + "}"],
    ids=["too-deep-to-decode", "deeper-than-any-payload"],
)
def test_pathologically_nested_json_is_422(api, world, body):
    response = api.post(LIST, body, content_type="application/json")

    assert detail_locs(response) == [["body"]]


def test_nul_characters_are_refused_before_the_database(api, world):
    annotation = smoke_annotation(world.det1.pk, "wildfire")
    annotation["sequences_bbox"][0]["note"] = "a\x00b"

    response = create(api, world.seq1, annotation=annotation)

    assert detail_locs(response) == [["body"]]
    assert "NUL" in response.json()["detail"][0]["msg"]
    assert annotation_of(world.seq1) is None
