"""`GET /api/v1/export/alerts`: the training export, against a history whose answer is known
(the `export_history` fixture): its items, the default provenance rule, every filter, the
keyset walk, withdrawn labels after a watermark, the query count and who may call it."""

from datetime import UTC, datetime, timedelta

import pytest

from groups.services import group_operation_undo, label_check_reject
from sequences.models import SequenceAnnotation
from sequences.services import annotation_delete, annotation_update, annotation_write
from tests.factories import export_alert, export_labeled, placeholder
from tests.support.openapi import schema_errors

pytestmark = pytest.mark.django_db

URL = "/api/v1/export/alerts"


def keys(body) -> list[tuple[str, int]]:
    return [(item["source_api"], item["platform_alert_id"]) for item in body["items"]]


def alert_ids(body) -> list[int]:
    return [item["platform_alert_id"] for item in body["items"]]


def export(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def walk(client, *, limit: int, cursor: str | None = None, **params) -> list[dict]:
    """Every item of a walk, page after page (from `cursor`, or the start)."""
    items = []
    while True:
        body = export(client, limit=limit, **({"cursor": cursor} if cursor else {}), **params)
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def resave(sequence, **changes):
    """A person's save of `changes` to the sequence's annotation."""
    annotation = SequenceAnnotation.objects.get(sequence=sequence)
    annotation_update(annotation_id=annotation.pk, changes=changes, source="human")


# --- Items and the default rule --------------------------------------------------------------


def test_by_default_only_labels_a_person_stands_behind(api, export_history):
    body = export(api)

    # 3 (unchecked machine label), 4 (unsure), 6 (placeholder) are left out; api_cenia sorts first.
    assert keys(body) == [
        ("api_cenia", 7),
        ("pyronear_french", 1),
        ("pyronear_french", 2),
        ("pyronear_french", 5),
        ("pyronear_french", 8),
    ]
    assert body["next_cursor"] is None
    assert not any(item["withdrawn"] for item in body["items"])


def test_an_item_is_shaped_like_the_references(api, export_history):
    sequence = export_history.alerts[1]
    detections = list(sequence.detections.order_by("recorded_at", "id"))
    annotation = SequenceAnnotation.objects.get(sequence=sequence)

    item = export(api, source_api="pyronear_french", limit=1)["items"][0]

    frames = [
        {
            "detection_id": detection.pk,
            "recorded_at": iso(detection.recorded_at),
            "bucket_key": detection.image.name,
            "image_url": f"http://testserver/api/v1/detections/{detection.pk}/image",
            "boxes": [],
        }
        for detection in detections
    ]
    frames[0]["boxes"] = [
        {
            "xyxyn": [0.1, 0.1, 0.4, 0.4],
            "smoke_type": "wildfire",
            "false_positive_types": None,
            "origin": "engine",
        }
    ]
    assert item == {
        "source_api": "pyronear_french",
        "platform_alert_id": 1,
        "camera_id": 11,
        "camera_name": "cam-a",
        "organisation_id": 21,
        "organisation_name": "org-a",
        "lat": 44.5,
        "lon": 4.2,
        "azimuth": 91,
        "recorded_at": "2026-07-01T13:00:00Z",
        "last_annotated_at": iso(annotation.updated_at),
        "temporal_model_score": 0.87,
        "temporal_model_version": "0.2.0",
        "temporal_api_version": "0.3.1",
        "has_missed_smoke": False,
        "withdrawn": False,
        "objects": [
            {
                "sequence_id": sequence.pk,
                "cluster_index": 0,
                "record_kind": "smoke",
                "smoke_types": ["wildfire"],
                "false_positive_types": [],
                "label_source": "human",
                "checked": True,
                "group_id": None,
                "label_source_group_id": None,
                "frames": frames,
            }
        ],
    }


def test_a_confirmed_machine_label_says_where_it_came_from(api, export_history):
    items = {item["platform_alert_id"]: item for item in export(api)["items"]}
    (machine,) = items[2]["objects"]

    assert machine["record_kind"] == "false_positive"
    assert machine["false_positive_types"] == ["antenna"]
    assert machine["smoke_types"] == []
    assert (machine["label_source"], machine["checked"]) == ("inherited", True)
    assert machine["group_id"] == machine["label_source_group_id"] == export_history.group.pk
    box = machine["frames"][0]["boxes"][0]
    assert box == {
        "xyxyn": [0.1, 0.1, 0.4, 0.4],
        "smoke_type": None,
        "false_positive_types": ["antenna"],
        "origin": "engine",
    }


def test_no_temporal_verdict_is_null_never_zero(api, export_history):
    item = export(api, source_api="api_cenia")["items"][0]

    assert item["temporal_model_score"] is None
    assert item["temporal_model_version"] is None
    assert item["temporal_api_version"] is None


def test_one_object_per_labeled_cluster_and_a_clients_own_box(api, export_history):
    sequence = export_alert(export_history.cam_a, 30, frames=2)
    first, second = sequence.detections.order_by("recorded_at", "id")
    own_box = [0.5, 0.5, 0.7, 0.7]
    clusters = [
        {
            "is_smoke": True,
            "smoke_type": "wildfire",
            "bboxes": [
                {"detection_id": first.pk, "xyxyn": [0.1, 0.1, 0.4, 0.4]},
                {"detection_id": second.pk, "xyxyn": own_box},
            ],
        },
        {"is_smoke": True, "smoke_type": None, "bboxes": []},  # never labeled: no object
        {"is_smoke": False, "false_positive_types": ["tree", "dark"], "bboxes": []},
    ]
    annotation_write(
        sequence=sequence,
        annotation={"sequences_bbox": clusters},
        processing_stage="annotated",
        has_missed_smoke=False,
        source="human",
    )

    (item,) = [i for i in export(api)["items"] if i["platform_alert_id"] == 30]

    assert [(o["cluster_index"], o["record_kind"]) for o in item["objects"]] == [
        (0, "smoke"),
        (2, "false_positive"),
    ]
    smoke, false_positive = item["objects"]
    assert [frame["boxes"][0]["origin"] for frame in smoke["frames"]] == ["engine", "human"]
    assert false_positive["false_positive_types"] == ["tree", "dark"]
    assert [frame["boxes"] for frame in false_positive["frames"]] == [[], []]


def test_a_label_at_a_stage_before_done_is_not_exported(api, export_history):
    export_labeled(export_history.cam_a, 31, smoke_type="wildfire", stage="under_annotation")

    assert 31 not in alert_ids(export(api))


def test_the_image_url_serves_the_frames_image(api, export_history):
    item = export(api, source_api="api_cenia")["items"][0]
    url = item["objects"][0]["frames"][0]["image_url"]

    response = api.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"


# --- Filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"source_api": "api_cenia"}, [7]),
        ({"organisation_id": 21}, [1, 2, 8]),
        ({"organisation_name": "org-b"}, [5]),
        ({"camera_id": 13}, [7]),
        ({"camera_name": "cam-a"}, [1, 2, 8]),
        ({"recorded_at_gte": "2026-07-01T17:00:00Z"}, [7, 5, 8]),
        ({"recorded_at_lte": "2026-07-01T15:00:00+01:00"}, [1, 2]),
        ({"smoke_types": ["wildfire", "other"]}, [7, 1]),
        ({"false_positive_types": "antenna"}, [2]),
        ({"false_positive_types": ["building", "low_cloud"]}, [5, 8]),
        ({"label_source": "inherited"}, [2]),
        ({"label_source": ["bulk", "inherited"], "include_unchecked": "true"}, [2, 3]),
        ({"include_unchecked": "true"}, [7, 1, 2, 3, 5, 8]),
        ({"include_unchecked": "false"}, [7, 1, 2, 5, 8]),
        ({"label_source": "bulk"}, []),  # the unchecked bulk label stays out by default
    ],
)
def test_each_filter(api, export_history, params, expected):
    assert alert_ids(export(api, **params)) == expected


def test_the_watermark_gives_only_what_changed_since(api, export_history):
    assert export(api, annotation_updated_gte=export_history.watermark.isoformat())["items"] == []

    resave(export_history.alerts[1], processing_stage="annotated")
    body = export(api, annotation_updated_gte=export_history.watermark.isoformat())

    assert alert_ids(body) == [1]
    assert body["items"][0]["withdrawn"] is False
    assert body["items"][0]["objects"]


# --- Withdrawn labels --------------------------------------------------------------------------


def withdrawn_after(api, history, **params) -> dict[int, bool]:
    body = export(api, annotation_updated_gte=history.watermark.isoformat(), **params)
    for item in body["items"]:
        if item["withdrawn"]:
            assert item["objects"] == []
    return {item["platform_alert_id"]: item["withdrawn"] for item in body["items"]}


def test_a_deleted_label_is_withdrawn_once(api, export_history):
    annotation_delete(annotation=SequenceAnnotation.objects.get(sequence=export_history.alerts[5]))

    assert withdrawn_after(api, export_history) == {5: True}
    assert 5 not in alert_ids(export(api))  # a full pull simply leaves it out


def test_a_withdrawal_before_the_watermark_is_not_reported(api, export_history):
    annotation_delete(annotation=SequenceAnnotation.objects.get(sequence=export_history.alerts[5]))
    later = datetime.now(UTC) + timedelta(seconds=1)

    assert export(api, annotation_updated_gte=later.isoformat())["items"] == []


def test_an_undone_confirmation_is_withdrawn(api, export_history, staff_user):
    check = export_history.group.operations.get(kind="check")

    group_operation_undo(operation_id=check.pk, actor=staff_user)

    assert withdrawn_after(api, export_history) == {2: True}
    assert withdrawn_after(api, export_history, include_unchecked="true") == {2: False}


def test_a_rejected_machine_label_is_withdrawn(api, export_history):
    label_check_reject(sequence_id=export_history.alerts[3].pk, actor=export_history.annotator)

    assert withdrawn_after(api, export_history, include_unchecked="true") == {3: True}


def test_a_label_sent_back_or_made_unsure_is_withdrawn(api, export_history):
    resave(export_history.alerts[1], processing_stage="under_annotation")
    resave(export_history.alerts[5], processing_stage="annotated", is_unsure=True)

    assert withdrawn_after(api, export_history) == {1: True, 5: True}


def test_a_new_placeholder_is_not_withdrawn(api, export_history):
    placeholder(export_alert(export_history.cam_b, 40))
    placeholder(export_history.alerts[6])

    assert withdrawn_after(api, export_history) == {}


# --- The keyset walk ---------------------------------------------------------------------------


def test_a_walk_gives_every_alert_once_in_key_order(api, export_history):
    items = walk(api, limit=2, include_unchecked="true")

    assert [(i["source_api"], i["platform_alert_id"]) for i in items] == [
        ("api_cenia", 7),
        ("pyronear_french", 1),
        ("pyronear_french", 2),
        ("pyronear_french", 3),
        ("pyronear_french", 5),
        ("pyronear_french", 8),
    ]


def test_the_cursor_names_the_last_alert_and_the_last_page_says_so(api, export_history):
    first = export(api, limit=2)
    again = export(api, limit=2, cursor=first["next_cursor"])
    last = export(api, limit=3, cursor=first["next_cursor"])

    assert first["next_cursor"] == "pyronear_french:1"
    assert alert_ids(again) == [2, 5]
    assert export(api, limit=2, cursor=first["next_cursor"]) == again  # a page can be re-asked
    assert (alert_ids(last), last["next_cursor"]) == ([2, 5, 8], None)


def test_inserts_between_pages_neither_repeat_nor_shift_the_walk(api, export_history):
    first = export(api, limit=3)  # 7, 1, 2
    export_labeled(export_history.cam_a, 0, smoke_type="wildfire")  # before the cursor
    export_labeled(export_history.cam_a, 4000, smoke_type="wildfire")  # after it
    rest = walk(api, limit=1, cursor=first["next_cursor"])

    assert [i["platform_alert_id"] for i in rest] == [5, 8, 4000]


def test_a_page_costs_the_same_queries_whatever_its_size(
    api, export_history, django_assert_num_queries
):
    for number in range(100, 140):
        export_labeled(export_history.cam_b, number, smoke_type="wildfire", frames=3)

    # The token, the page of alerts, their frames.
    with django_assert_num_queries(3):
        small = export(api, limit=2)
    with django_assert_num_queries(3):
        large = export(api, limit=500, include_unchecked="true")
    with django_assert_num_queries(3):
        withdrawn = export(api, annotation_updated_gte="2000-01-01T00:00:00Z")

    assert (len(small["items"]), len(large["items"])) == (2, 46)
    # Since the watermark 45 alerts were labeled and 3 (unchecked) and 4 (unsure) were not.
    assert [i["platform_alert_id"] for i in withdrawn["items"] if i["withdrawn"]] == [3, 4]
    assert len(withdrawn["items"]) == 47


def test_a_page_of_withdrawn_alerts_reads_no_frames(api, export_history, django_assert_num_queries):
    annotation_delete(annotation=SequenceAnnotation.objects.get(sequence=export_history.alerts[5]))

    with django_assert_num_queries(2):
        body = export(api, annotation_updated_gte=export_history.watermark.isoformat())

    assert [item["withdrawn"] for item in body["items"]] == [True]


# --- Who may call it, and bad parameters ---------------------------------------------------------


def test_anonymous_callers_get_a_401(anonymous_api, export_history):
    response = anonymous_api.get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_logged_in_annotator_may_export(client_in, annotator_api, export_history):
    assert client_in.get(URL).status_code == 200
    assert annotator_api.get(URL).status_code == 200


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"cursor": "pyronear_french"}, ["query", "cursor"]),
        ({"cursor": "pyronear_french:abc"}, ["query", "cursor"]),
        ({"cursor": "nowhere:12"}, ["query", "cursor"]),
        ({"cursor": "pyronear_french:1234567890123456789"}, ["query", "cursor"]),
        ({"cursor": ""}, ["query", "cursor"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 501}, ["query", "limit"]),
        ({"limit": "many"}, ["query", "limit"]),
        ({"offset": 100}, ["query", "offset"]),
        ({"page": 2}, ["query", "page"]),
        ({"source_api": "elsewhere"}, ["query", "source_api"]),
        ({"camera_id": "cam-a"}, ["query", "camera_id"]),
        ({"organisation_id": 2**31}, ["query", "organisation_id"]),
        ({"recorded_at_gte": "yesterday"}, ["query", "recorded_at_gte"]),
        (
            {"annotation_updated_gte": "0001-01-01T00:00:00+01:00"},
            ["query", "annotation_updated_gte"],
        ),
        ({"smoke_types": "fire"}, ["query", "smoke_types"]),
        ({"false_positive_types": ["antenna", "ufo"]}, ["query", "false_positive_types"]),
        ({"label_source": "robot"}, ["query", "label_source"]),
        ({"include_unchecked": "maybe"}, ["query", "include_unchecked"]),
        ({"limit": [1, 2]}, ["query", "limit"]),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it(api, export_history, params, loc):
    response = api.get(URL, params)

    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]


def test_every_bad_parameter_is_named_at_once(api, export_history):
    response = api.get(URL, {"limit": 0, "cursor": "x", "smoke_types": "fire"})

    assert sorted(error["loc"][1] for error in response.json()["detail"]) == [
        "cursor",
        "limit",
        "smoke_types",
    ]


def test_the_path_answers_with_and_without_its_slash(api, export_history):
    assert api.get(URL + "/").json() == api.get(URL).json()


def test_items_match_the_documented_schema(api, anonymous_api, export_history):
    annotation_delete(annotation=SequenceAnnotation.objects.get(sequence=export_history.alerts[5]))
    schema = anonymous_api.get(
        "/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    ).json()
    full = export(api, include_unchecked="true", limit=2)
    incremental = export(api, annotation_updated_gte="2000-01-01T00:00:00Z")

    assert full["next_cursor"] and any(item["withdrawn"] for item in incremental["items"])
    for body in (full, incremental):
        assert schema_errors(schema, "ExportAlertPage", body) == []
    assert schema_errors(schema, "ExportAlertPage", {"items": [{}], "next_cursor": 1})
