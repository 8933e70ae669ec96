"""`/sequence_groups/...`: list, stats, detail, validation, members, assignment, the audit log,
undo and the check queue over HTTP (SPEC §5.2–§5.9, §7.2, §9.4 #3, #4, #15)."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from groups.models import AssignmentRun, GroupOperation, OperationKind, RunStatus, SequenceGroup
from sequences.models import LabelSource, ProcessingStage, Sequence, SequenceAnnotation
from sequences.services import annotation_write
from tests.factories import (
    CameraFactory,
    SequenceFactory,
    SequenceGroupFactory,
    annotate,
    fanned_out_group,
    group_with_members,
    tied_detections,
)
from tests.support import annotation_of, detail_locs, pin_hold_back_thresholds, walk_pages

pytestmark = pytest.mark.django_db

GROUPS = "/api/v1/sequence_groups/"


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


# --- List and stats ----------------------------------------------------------------------------


@pytest.fixture
def listed(db):
    """Three listed groups (2, 3 and 4 members) and a singleton that is never listed."""
    now = timezone.now()
    return {
        "unlabeled": group_with_members(3, azimuth=10),
        "labeled": group_with_members(
            2,
            azimuth=20,
            smoke_type="industrial",
            labeled_at=now,
            is_validated=True,
            validated_at=now,
        ),
        "big": group_with_members(4, azimuth=30, false_positive_type="antenna", labeled_at=now),
        "singleton": group_with_members(1, azimuth=40),
    }


def test_list_items(api, listed):
    body = api.get(GROUPS).json()

    assert body["total"] == 3
    assert [item["id"] for item in body["items"]] == [
        listed["big"].pk,
        listed["unlabeled"].pk,
        listed["labeled"].pk,
    ]
    item = body["items"][0]
    group = listed["big"]
    assert item == {
        "id": group.pk,
        "camera_id": group.camera.platform_id,
        "camera_name": group.camera.name,
        "source_api": "pyronear_french",
        "azimuth": 30,
        "representative_bbox": {"xyxyn": [0.1, 0.1, 0.4, 0.4], "confidence": 0.9},
        "smoke_type": None,
        "false_positive_type": "antenna",
        "is_unsure": False,
        "is_validated": False,
        "labeled_at": item["labeled_at"],
        "created_at": item["created_at"],
        "member_count": 4,
        "held_back_count": 0,
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"labeled": "false"}, ["unlabeled"]),
        ({"labeled": "true"}, ["big", "labeled"]),
        ({"is_validated": "true"}, ["labeled"]),
        ({"labeled": "true", "is_validated": "false"}, ["big"]),
        ({"order_by": "member_count", "order_direction": "asc"}, ["labeled", "unlabeled", "big"]),
        ({"order_by": "azimuth", "order_direction": "asc"}, ["unlabeled", "labeled", "big"]),
        ({"order_by": "created_at"}, ["big", "labeled", "unlabeled"]),
    ],
)
def test_list_filters_and_orders(api, listed, params, expected):
    assert ids_of(api.get(GROUPS, params)) == [listed[name].pk for name in expected]


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"labeled": "yes please"}, "labeled"),
        ({"order_by": "size"}, "order_by"),
        ({"size": 0}, "size"),
    ],
)
def test_list_bad_parameters(api, listed, params, bad):
    assert detail_locs(api.get(GROUPS, params)) == [["query", bad]]


@pytest.mark.parametrize("order_by", ["member_count", "created_at", "camera", "azimuth"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_pagination_ties_list_every_group_once(api, settings, order_by, direction):
    """SPEC §9.4 #3: 120 groups alike in every sort key, walked at size 50."""
    settings.GROUPS_MIN_LISTED_MEMBERS = 1
    camera = CameraFactory()
    groups = SequenceGroupFactory.create_batch(120, camera=camera, azimuth=90)
    for group in groups:
        SequenceFactory(camera=camera, group=group)
    SequenceGroup.objects.update(created_at=timezone.now())

    ids = walk_pages(api, GROUPS, labeled="false", order_by=order_by, order_direction=direction)

    assert len(ids) == 120 and set(ids) == {group.pk for group in groups}


def test_stats_and_counts_agree(api, annotator, listed, client):
    """SPEC §9.4 #15: nav badge = the unfiltered To-label tab count = stats.unlabeled."""
    stats = api.get(f"{GROUPS}stats").json()
    to_label = api.get(GROUPS, {"labeled": "false"}).json()["total"]
    client.force_login(annotator)
    page = client.get("/groups/").content.decode()
    badge = re.search(r'id="nav-groups-badge"[^>]*>\s*(\d+)\s*<', page).group(1)

    assert stats == {
        "total": 3,
        "labeled": 2,
        "unsure": 0,
        "unlabeled": 1,
        "validated": 1,
        "unvalidated": 2,
    }
    assert stats["unlabeled"] == to_label == int(badge)


# --- Detail ------------------------------------------------------------------------------------


def test_detail_lists_members_in_recorded_order(api, world, seed_group):
    group = seed_group(smoke_type="wildfire")
    annotate(world.seq1, smoke=["wildfire"])  # not validated: no fan-out

    body = api.get(f"{GROUPS}{group.pk}").json()

    assert body["is_validated"] is False and body["smoke_type"] == "wildfire"
    assert body["validated_by_user_id"] is None and body["member_count"] == 2
    assert body["held_back_count"] == 0
    first, second = body["members"]
    assert first == {
        "sequence_id": world.seq1.pk,
        "alert_api_id": 1,
        "camera_name": "habile",
        "recorded_at": first["recorded_at"],
        "last_seen_at": None,
        "annotation_processing_stage": "seq_annotation_done",
        "annotation_label": "smoke/wildfire",
        "label_source": "human",
        "first_detection_id": world.det1.pk,
        "first_detection_algo_predictions": world.det1.algo_predictions,
        "held_back": None,
        "held_back_reason": None,
    }
    # A member's camera may differ from its group's.
    assert second["sequence_id"] == world.seq2.pk and second["camera_name"] == "cam-2"
    assert second["annotation_processing_stage"] is None and second["annotation_label"] is None


def test_detail_shows_a_placeholder_member_as_not_annotated(api, world, seed_group):
    """SPEC §9.4 #10: a ready_to_annotate member has no label, and its stage is exposed."""
    group = seed_group()
    annotation_write(
        sequence=world.seq2, processing_stage=ProcessingStage.READY_TO_ANNOTATE, source=None
    )

    members = api.get(f"{GROUPS}{group.pk}").json()["members"]

    placeholder = next(m for m in members if m["sequence_id"] == world.seq2.pk)
    assert placeholder["annotation_processing_stage"] == "ready_to_annotate"
    assert placeholder["annotation_label"] is None and placeholder["label_source"] is None


def test_detail_of_a_member_without_detections(api, db):
    group = group_with_members(2, detections=False)

    members = api.get(f"{GROUPS}{group.pk}").json()["members"]

    assert [m["first_detection_id"] for m in members] == [None, None]
    assert [m["first_detection_algo_predictions"] for m in members] == [None, None]


def test_equal_recorded_at_gives_the_lower_detection_id(api, db):
    """SPEC §9.4 #2: one row per member; the first detection is the lower id on a tie."""
    group = group_with_members(2, detections=False)
    member = group.members.first()
    moment = timezone.now()
    low, _ = tied_detections(member, moment)

    members = api.get(f"{GROUPS}{group.pk}").json()["members"]

    assert len(members) == 2
    assert next(m for m in members if m["sequence_id"] == member.pk)["first_detection_id"] == low.pk


def test_detail_queries_do_not_grow_with_members(api, db):
    small, large = group_with_members(2), group_with_members(6)
    for member in large.members.all():
        annotate(member, smoke=["wildfire"], stage="annotated")
    api.get(f"{GROUPS}{small.pk}")  # warm-up: the token and session lookups are the same

    with CaptureQueriesContext(connection) as few:
        api.get(f"{GROUPS}{small.pk}")
    with CaptureQueriesContext(connection) as many:
        api.get(f"{GROUPS}{large.pk}")

    assert len(many) == len(few)


def test_members_held_back_carry_the_reason_code_and_words(api, settings):
    pin_hold_back_thresholds(settings)
    group, saver, (verdict, scored, moving, ordinary) = fanned_out_group(
        {"is_wildfire_alertapi": "other_smoke"},
        {"temporal_model_score": 0.66},
        {"motion": 0.04},
        {},
    )

    body = api.get(f"{GROUPS}{group.pk}").json()

    assert body["held_back_count"] == 3
    members = {member["sequence_id"]: member for member in body["members"]}
    held = {pk: (m["held_back"], m["held_back_reason"]) for pk, m in members.items()}
    assert held == {
        saver.pk: (None, None),
        verdict.pk: ("platform_smoke", "the platform classed the alert other_smoke"),
        scored.pk: (
            "temporal_score",
            "the platform's temporal model scores it 0.66 (labels wait from 0.50)",
        ),
        moving.pk: (
            "motion",
            "its box grows or moves like a plume (motion 0.040, labels wait from 0.025)",
        ),
        ordinary.pk: (None, None),
    }
    assert members[verdict.pk]["annotation_processing_stage"] == "ready_to_annotate"


def test_the_list_counts_held_back_members(api, db):
    protected, _, _ = fanned_out_group({"motion": 0.1}, {"is_wildfire_alertapi": "other"}, {})
    plain = group_with_members(2)

    items = api.get(GROUPS).json()["items"]

    assert [(item["id"], item["held_back_count"]) for item in items] == [
        (protected.pk, 1),
        (plain.pk, 0),
    ]


def test_list_queries_do_not_grow_with_held_back_groups(api, db):
    def build(n):
        for _ in range(n):
            fanned_out_group({"motion": 0.1}, {})

    build(1)
    api.get(GROUPS)  # warm-up: the token and session lookups are the same
    with CaptureQueriesContext(connection) as few:
        api.get(GROUPS)
    build(8)
    with CaptureQueriesContext(connection) as many:
        body = api.get(GROUPS).json()

    assert [item["held_back_count"] for item in body["items"]] == [1] * 9
    assert len(many) == len(few)


def test_detail_queries_do_not_grow_with_held_back_members(api, db):
    small = fanned_out_group({"motion": 0.1})[0]
    large = fanned_out_group(*({"motion": 0.1 if i % 2 else 0.0} for i in range(12)))[0]
    api.get(f"{GROUPS}{small.pk}")  # warm-up

    with CaptureQueriesContext(connection) as few:
        api.get(f"{GROUPS}{small.pk}")
    with CaptureQueriesContext(connection) as many:
        assert api.get(f"{GROUPS}{large.pk}").json()["held_back_count"] == 6

    assert len(many) == len(few)


def test_detail_of_a_missing_group_is_404(api, db):
    response = api.get(f"{GROUPS}999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Sequence group 999999 not found"}


def test_a_group_below_the_listing_minimum_is_still_addressable(api, listed):
    assert api.get(f"{GROUPS}{listed['singleton'].pk}").status_code == 200


# --- Validation --------------------------------------------------------------------------------


def test_validate_then_unvalidate(api, staff_user, world, seed_group):
    group = seed_group()

    validated = api.patch(f"{GROUPS}{group.pk}", {"is_validated": True}, format="json")
    again = api.patch(f"{GROUPS}{group.pk}", {"is_validated": True}, format="json")
    unvalidated = api.patch(f"{GROUPS}{group.pk}", {"is_validated": False}, format="json")

    body = validated.json()
    assert validated.status_code == 200
    assert body["is_validated"] is True and body["validated_by_user_id"] == staff_user.pk
    assert body["validation_warning"] is None and body["propagated_count"] == 0
    assert "member_count" not in body and body["updated_at"].endswith("Z")
    assert again.json()["validated_at"] == body["validated_at"]
    assert unvalidated.json()["is_validated"] is False
    assert unvalidated.json()["validated_by_user_id"] is None
    kinds = list(GroupOperation.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == [OperationKind.VALIDATE, OperationKind.UNVALIDATE]


def test_validate_derives_the_label_from_done_members(api, world, seed_group):
    group = seed_group()
    annotate(world.seq1, smoke=["wildfire"])

    body = api.patch(f"{GROUPS}{group.pk}", {"is_validated": True}, format="json").json()

    assert body["smoke_type"] == "wildfire" and body["propagated_count"] == 1
    assert annotation_of(world.seq2).label_source == LabelSource.PROPAGATED


def test_validate_with_disagreeing_members_warns(api, world, seed_group):
    group = seed_group()
    annotate(world.seq1, smoke=["wildfire"])
    annotate(world.seq2, fp=["antenna"])

    body = api.patch(f"{GROUPS}{group.pk}", {"is_validated": True}, format="json").json()

    assert body["is_validated"] is True and body["smoke_type"] is None
    assert f"Group {group.pk} was validated but not labeled" in body["validation_warning"]


@pytest.mark.parametrize(
    "body", [{"is_validated": None}, {"is_validated": "perhaps"}, {"is_validated": "true"}, {}]
)
def test_validation_needs_a_boolean(api, world, seed_group, body):
    group = seed_group()

    assert detail_locs(api.patch(f"{GROUPS}{group.pk}", body, format="json")) == [
        ["body", "is_validated"]
    ]
    group.refresh_from_db()
    assert not group.is_validated


def test_validation_of_a_missing_group_is_404(api, db):
    response = api.patch(f"{GROUPS}999999", {"is_validated": True}, format="json")

    assert response.status_code == 404
    assert response.json() == {"detail": "Sequence group 999999 not found"}


# --- Members -----------------------------------------------------------------------------------


def test_remove_then_reinclude_a_member(api, world, seed_group):
    group = seed_group()

    removed = api.delete(f"{GROUPS}{group.pk}/members/{world.seq1.pk}")
    world.seq1.refresh_from_db()
    assert (world.seq1.group_id, world.seq1.is_group_excluded) == (None, True)
    reincluded = api.post(f"{GROUPS}members/{world.seq1.pk}/re-include")
    world.seq1.refresh_from_db()

    assert removed.status_code == reincluded.status_code == 204
    assert (world.seq1.group_id, world.seq1.is_group_excluded) == (None, False)


def test_remove_errors(api, world, seed_group):
    group = seed_group()
    outsider = SequenceFactory()

    not_member = api.delete(f"{GROUPS}{group.pk}/members/{outsider.pk}")
    missing = api.delete(f"{GROUPS}{group.pk}/members/999999")

    assert not_member.status_code == 400
    assert not_member.json() == {
        "detail": f"Sequence {outsider.pk} is not a member of group {group.pk}"
    }
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Sequence 999999 not found"}


def test_reinclude_of_a_missing_sequence_is_404(api, db):
    response = api.post(f"{GROUPS}members/999999/re-include")

    assert response.status_code == 404
    assert response.json() == {"detail": "Sequence 999999 not found"}


# --- Assignment --------------------------------------------------------------------------------


def test_assign_while_another_run_holds_the_lock_is_409(api, world):
    started = timezone.now() - timedelta(seconds=5)
    run = AssignmentRun.objects.create(
        trigger="command", started_at=started, heartbeat_at=timezone.now()
    )

    response = api.post(f"{GROUPS}assign")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"A group assignment run is already in progress (run {run.pk}, "
        f"started {started.strftime('%Y-%m-%dT%H:%M:%SZ')})."
    )
    assert AssignmentRun.objects.get() == run and run.status == RunStatus.RUNNING
    assert not SequenceGroup.objects.exists()


# --- Audit log and undo ------------------------------------------------------------------------


@pytest.fixture
def propagated(api, world, seed_group):
    """A validated group labeled by a human save that fanned out to sequence 2."""
    group = seed_group(validated=True)
    api.post(
        "/api/v1/annotations/sequences/",
        {
            "sequence_id": world.seq1.pk,
            "annotation": {
                "sequences_bbox": [
                    {
                        "is_smoke": True,
                        "smoke_type": "wildfire",
                        "bboxes": [{"detection_id": world.det1.pk, "xyxyn": [0.1, 0.1, 0.4, 0.4]}],
                    }
                ]
            },
            "processing_stage": "seq_annotation_done",
            "has_missed_smoke": False,
        },
        format="json",
    )
    return group


def test_operations_newest_first(api, staff_user, world, propagated):
    api.delete(f"{GROUPS}{propagated.pk}/members/{world.seq2.pk}")

    body = api.get(f"{GROUPS}{propagated.pk}/operations").json()

    assert [item["kind"] for item in body["items"]] == ["remove_member", "propagate"]
    propagate = body["items"][1]
    assert propagate["actor"] == "staff" and propagate["run_id"] is None
    assert propagate["group_before"]["smoke_type"] is None
    assert propagate["group_after"]["smoke_type"] == "wildfire"
    assert propagate["details"]["source_sequence_id"] == world.seq1.pk
    assert [m["sequence_id"] for m in propagate["members"]] == [world.seq2.pk]
    assert propagate["members"][0]["before"] is None
    assert propagate["members"][0]["after"]["label_source"] == "propagated"
    assert propagate["undone_by_operation_id"] is None


def test_operations_paging_and_404(api, propagated):
    assert api.get(f"{GROUPS}{propagated.pk}/operations", {"size": 1}).json()["pages"] == 1
    assert detail_locs(api.get(f"{GROUPS}{propagated.pk}/operations", {"page": -1})) == [
        ["query", "page"]
    ]
    missing = api.get(f"{GROUPS}999999/operations")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Sequence group 999999 not found"}


def test_undo_restores_and_is_refused_twice(api, world, propagated):
    operation = GroupOperation.objects.get(kind=OperationKind.PROPAGATE)

    undone = api.post(f"{GROUPS}operations/{operation.pk}/undo")
    again = api.post(f"{GROUPS}operations/{operation.pk}/undo")
    undo_of_undo = api.post(f"{GROUPS}operations/{undone.json()['undo_operation_id']}/undo")

    assert undone.status_code == 200
    body = undone.json()
    assert body["operation_id"] == operation.pk and body["restored"] == [world.seq2.pk]
    assert body["left_alone"] == [] and body["group_restored"] is True
    assert annotation_of(world.seq2) is None
    propagated.refresh_from_db()
    assert not propagated.is_labeled
    assert again.status_code == 409
    undo_id = body["undo_operation_id"]
    assert again.json()["detail"] == (
        f"Operation {operation.pk} has already been undone (by operation {undo_id})."
    )
    assert undo_of_undo.status_code == 409
    assert undo_of_undo.json() == {"detail": "Undo operations cannot be undone."}
    log = api.get(f"{GROUPS}{propagated.pk}/operations").json()["items"]
    undone_entry = next(item for item in log if item["id"] == operation.pk)
    assert undone_entry["undone_by_operation_id"] == body["undo_operation_id"]


def test_undo_of_an_edited_member_leaves_it_alone(api, world, propagated):
    operation = GroupOperation.objects.get(kind=OperationKind.PROPAGATE)
    annotate(world.seq2, fp=["antenna"])

    body = api.post(f"{GROUPS}operations/{operation.pk}/undo").json()

    assert body["restored"] == []
    assert body["left_alone"] == [{"sequence_id": world.seq2.pk, "reason": "edited since"}]
    assert annotation_of(world.seq2).false_positive_types == ["antenna"]


def test_undo_of_an_unknown_operation_is_404(api, db):
    response = api.post(f"{GROUPS}operations/999999/undo")

    assert response.status_code == 404
    assert response.json() == {"detail": "Operation 999999 not found"}


# --- The check queue ---------------------------------------------------------------------------


@pytest.fixture
def machine_labels(api, db):
    """Five sequences of a group labeled by one bulk call: five unchecked machine labels."""
    group = group_with_members(5)
    ids = list(group.members.order_by("id").values_list("id", flat=True))
    response = api.post(
        "/api/v1/annotations/sequences/bulk",
        {"sequence_ids": ids, "group_id": group.pk, "false_positive_type": "antenna"},
        format="json",
    )
    assert len(response.json()["applied"]) == 5
    return group


def test_confirming_a_page_checks_exactly_its_annotations(api, staff_user, machine_labels):
    page = api.get(
        "/api/v1/annotations/sequences/", {"checked": "false", "size": 3, "order_by": "created_at"}
    ).json()
    ids = [item["id"] for item in page["items"]]

    response = api.post(f"{GROUPS}check", {"annotation_ids": ids}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert sorted(body["checked"]) == sorted(ids) and body["skipped"] == []
    checked = SequenceAnnotation.objects.filter(checked_at__isnull=False)
    assert sorted(checked.values_list("id", flat=True)) == sorted(ids)
    assert set(checked.values_list("checked_by", flat=True)) == {staff_user.pk}
    assert api.get("/api/v1/annotations/sequences/", {"checked": "false"}).json()["total"] == 2
    operation = GroupOperation.objects.get(pk=body["operation_id"])
    assert operation.kind == OperationKind.CHECK and operation.group == machine_labels


def test_confirming_twice_skips_what_is_already_checked(api, machine_labels):
    first = SequenceAnnotation.objects.order_by("id").first()
    api.post(f"{GROUPS}check", {"annotation_ids": [first.pk]}, format="json")

    body = api.post(f"{GROUPS}check", {"annotation_ids": [first.pk]}, format="json").json()

    assert body == {
        "operation_id": None,
        "checked": [],
        "skipped": [{"annotation_id": first.pk, "reason": "already checked"}],
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"annotation_ids": []}, 422),
        ({"annotation_ids": ["x"]}, 422),
        ({}, 422),
        ({"annotation_ids": [999999]}, 404),
    ],
)
def test_confirm_errors(api, machine_labels, body, status):
    response = api.post(f"{GROUPS}check", body, format="json")

    assert response.status_code == status
    assert not SequenceAnnotation.objects.filter(checked_at__isnull=False).exists()


def test_reject_ejects_reverts_and_is_undoable(api, machine_labels):
    sequence = machine_labels.members.order_by("id").first()

    response = api.post(f"{GROUPS}check/reject", {"sequence_id": sequence.pk}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["sequence_id"] == sequence.pk
    sequence.refresh_from_db()
    assert (sequence.group_id, sequence.is_group_excluded) == (None, True)
    row = annotation_of(sequence)
    assert row.processing_stage == ProcessingStage.READY_TO_ANNOTATE and row.label_source is None
    undo = api.post(f"{GROUPS}operations/{body['operation_id']}/undo")
    assert undo.status_code == 200
    sequence.refresh_from_db()
    assert sequence.group_id == machine_labels.pk
    assert annotation_of(sequence).label_source == LabelSource.BULK


def test_reject_errors(api, world):
    annotate(world.seq1, smoke=["wildfire"])

    human = api.post(f"{GROUPS}check/reject", {"sequence_id": world.seq1.pk}, format="json")
    missing = api.post(f"{GROUPS}check/reject", {"sequence_id": 999999}, format="json")
    malformed = api.post(f"{GROUPS}check/reject", {"sequence_id": "one"}, format="json")

    assert detail_locs(human) == [["body", "sequence_id"]]
    assert missing.status_code == 404
    assert detail_locs(malformed) == [["body", "sequence_id"]]
    assert not Sequence.objects.filter(is_group_excluded=True).exists()


# --- Bulk errors (the §9.2 cases are in test_reference_groups) --------------------------------


def test_bulk_status_order(api, world, seed_group):
    group = seed_group(smoke_type="industrial")
    outsider = SequenceFactory()
    url = "/api/v1/annotations/sequences/bulk"

    empty = api.post(url, {"sequence_ids": [], "smoke_type": "wildfire"}, format="json")
    no_group = api.post(
        url,
        {"sequence_ids": [world.seq1.pk], "group_id": 999999, "smoke_type": "wildfire"},
        format="json",
    )
    not_members = api.post(
        url,
        {
            "sequence_ids": [world.seq1.pk, outsider.pk, 999999],
            "group_id": group.pk,
            "smoke_type": "industrial",
        },
        format="json",
    )
    conflict = api.post(
        url,
        {"sequence_ids": [world.seq1.pk], "group_id": group.pk, "smoke_type": "wildfire"},
        format="json",
    )

    assert detail_locs(empty) == [["body", "sequence_ids"]]
    assert no_group.status_code == 404
    assert no_group.json() == {"detail": "Sequence group 999999 not found"}
    assert not_members.status_code == 400
    assert not_members.json() == {
        "detail": f"Sequences [{outsider.pk}, 999999] do not belong to group {group.pk}"
    }
    assert conflict.status_code == 409
    assert not SequenceAnnotation.objects.exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"sequence_ids": []},
            [
                (["body", "sequence_ids"], None),
                (["body", "smoke_type"], "one of smoke_type or false_positive_type is required"),
                (
                    ["body", "false_positive_type"],
                    "one of smoke_type or false_positive_type is required",
                ),
            ],
        ),
        (
            {"sequence_ids": [1], "smoke_type": "x", "false_positive_type": "antenna"},
            [
                (["body", "smoke_type"], None),
                (["body", "smoke_type"], "send smoke_type or false_positive_type, not both"),
                (
                    ["body", "false_positive_type"],
                    "send smoke_type or false_positive_type, not both",
                ),
            ],
        ),
    ],
)
def test_bulk_lists_the_label_rule_beside_the_field_errors(api, db, body, expected):
    response = api.post("/api/v1/annotations/sequences/bulk", body, format="json")

    errors = [(error["loc"], error["msg"]) for error in response.json()["detail"]]
    assert response.status_code == 422 and len(errors) == len(expected)
    for (loc, msg), (expected_loc, expected_msg) in zip(errors, expected, strict=True):
        assert loc == expected_loc and (expected_msg is None or msg == expected_msg)


def test_bulk_names_every_bad_value(api, db):
    url = "/api/v1/annotations/sequences/bulk"
    response = api.post(
        url,
        {
            "sequence_ids": [1, "x", True],
            "group_id": "7",
            "smoke_type": "fire",
            "false_positive_type": None,
            "is_unsure": None,
            "force": "yes",
        },
        format="json",
    )
    assert detail_locs(response) == [
        ["body", "sequence_ids", 1],
        ["body", "sequence_ids", 2],
        ["body", "group_id"],
        ["body", "smoke_type"],
        ["body", "is_unsure"],
        ["body", "force"],
    ]
    empty = api.post(url, {"sequence_ids": [], "smoke_type": "wildfire"}, format="json")
    assert detail_locs(empty)[0] == ["body", "sequence_ids"]


def test_a_bulk_body_that_is_not_an_object_is_422(api, db):
    response = api.post("/api/v1/annotations/sequences/bulk", [1, 2], format="json")

    assert detail_locs(response) == [["body"]]


def test_bulk_without_a_group_reports_unknown_sequences(api, world):
    response = api.post(
        "/api/v1/annotations/sequences/bulk",
        {"sequence_ids": [world.seq1.pk, 999999, world.seq1.pk], "smoke_type": "wildfire"},
        format="json",
    )

    body = response.json()
    assert [item["sequence_id"] for item in body["applied"]] == [world.seq1.pk]
    assert body["skipped"] == [
        {
            "sequence_id": 999999,
            "status": "skipped",
            "reason": "sequence not found",
            "annotation_id": None,
        }
    ]
    assert body["group_label_updated"] is False
