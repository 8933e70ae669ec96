"""`/sequences/`: list with every filter, paging, create, detail (SPEC §7.2, §9.4 #3, #16)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sequences.filters import SequenceFilter
from sequences.models import Camera, Organization, Sequence
from tests.factories import (
    CameraFactory,
    OrganizationFactory,
    SequenceFactory,
    SequenceGroupFactory,
    annotate,
    scrambled_ids,
)
from tests.support import detail_locs, walk_pages

pytestmark = pytest.mark.django_db

LIST = "/api/v1/sequences/"


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


# --- Reading -----------------------------------------------------------------------------------


def test_list_is_a_page_envelope_of_sequence_reads(api, world):
    response = api.get(LIST)

    body = response.json()
    assert {key: body[key] for key in ("total", "page", "size", "pages")} == {
        "total": 2,
        "page": 1,
        "size": 50,
        "pages": 1,
    }
    item = next(item for item in body["items"] if item["id"] == world.seq1.pk)
    assert item == {
        "id": world.seq1.pk,
        "source_api": "pyronear_french",
        "alert_api_id": 1,
        "created_at": item["created_at"],
        "recorded_at": item["recorded_at"],
        "last_seen_at": None,
        "camera_name": "habile",
        "camera_id": 1,
        "lat": 44.5,
        "lon": 4.2,
        "azimuth": None,
        "is_wildfire_alertapi": None,
        "temporal_model_score": None,
        "temporal_model_version": None,
        "temporal_api_version": None,
        "motion": None,
        "organisation_name": "org-1",
        "organisation_id": 1,
        "sequence_group_id": None,
        "is_group_excluded": False,
    }
    assert item["recorded_at"].endswith("Z")


def test_default_order_is_newest_created_first(api, world):
    assert ids_of(api.get(LIST)) == [world.seq2.pk, world.seq1.pk]
    assert ids_of(api.get(LIST, {"order_by": "recorded_at", "order_direction": "asc"})) == [
        world.seq1.pk,
        world.seq2.pk,
    ]


def test_detail_and_its_404(api, world):
    assert api.get(f"/api/v1/sequences/{world.seq2.pk}").json()["camera_name"] == "cam-2"

    missing = api.get("/api/v1/sequences/999999")

    assert missing.status_code == 404
    assert missing.json() == {"detail": "Sequence not found."}


@pytest.mark.parametrize("order_by", ["created_at", "recorded_at"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_pagination_ties_list_every_sequence_once(api, order_by, direction):
    """SPEC §9.4 #3: equal sort keys are broken by id, so pages never repeat or skip."""
    camera = CameraFactory()
    moment = timezone.now()
    for sequence_id in scrambled_ids(120):
        SequenceFactory(id=sequence_id, camera=camera, recorded_at=moment)
    Sequence.objects.update(created_at=moment)

    ids = walk_pages(api, LIST, order_by=order_by, order_direction=direction)

    assert len(ids) == 120 and set(ids) == set(Sequence.objects.values_list("id", flat=True))
    assert ids == sorted(ids, reverse=direction == "desc")  # ties in id order, same direction


def test_a_page_past_the_end_is_empty(api, world):
    body = api.get(LIST, {"page": 3, "size": 1}).json()

    assert body["items"] == [] and body["total"] == 2 and body["pages"] == 2


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"page": 0}, "page"),
        ({"page": "abc"}, "page"),
        ({"size": 0}, "size"),
        ({"size": 101}, "size"),
        ({"has_smoke": "banana"}, "has_smoke"),
        ({"has_smoke": ""}, "has_smoke"),
        ({"has_smoke": "1"}, "has_smoke"),
        ({"smoke_types": "smoke"}, "smoke_types"),
        ({"processing_stage": "done"}, "processing_stage"),
        ({"camera_id": "2" * 30}, "camera_id"),
        ({"recorded_at_gte": "yesterday"}, "recorded_at_gte"),
        ({"recorded_at_gte": "0001-01-01T00:00:00+01:00"}, "recorded_at_gte"),
        ({"recorded_at_lte": "9999-12-31T23:59:59-01:00"}, "recorded_at_lte"),
        ({"order_by": "id"}, "order_by"),
        ({"has_smok": "true"}, "has_smok"),
        ({"is_unsure": ["true", "false"]}, "is_unsure"),
    ],
)
def test_bad_query_parameters_are_422_naming_them(api, world, params, bad):
    assert detail_locs(api.get(LIST, params)) == [["query", bad]]


def test_every_bad_parameter_is_listed(api, world):
    locs = detail_locs(api.get(LIST, {"page": 0, "size": 500, "is_unsure": "maybe"}))

    assert sorted(locs) == [["query", "is_unsure"], ["query", "page"], ["query", "size"]]


# --- Filters -----------------------------------------------------------------------------------


@pytest.fixture
def catalogue(world):
    """Sequences with varied platform data and annotations, besides the §9.1 world."""
    org = OrganizationFactory(source_api="api_cenia", platform_id=7, name="Cenia")
    camera = CameraFactory(source_api="api_cenia", platform_id=70, name="andes", organization=org)
    group = SequenceGroupFactory(camera=world.cam1, azimuth=0)
    wildfire = SequenceFactory(
        camera=camera, source_api="api_cenia", is_wildfire_alertapi="wildfire_smoke"
    )
    flare = SequenceFactory(camera=world.cam1, group=group)
    excluded = SequenceFactory(camera=world.cam1, is_group_excluded=True)
    annotate(wildfire, smoke=["wildfire"], is_unsure=True)
    annotate(flare, smoke=["other"], fp=["lens_flare"], has_missed_smoke=True)
    annotate(excluded, fp=["other"], stage="ready_to_annotate")
    return {"wildfire": wildfire, "flare": flare, "excluded": excluded, "group": group}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"source_api": "api_cenia"}, ["wildfire"]),
        ({"camera_id": 70}, ["wildfire"]),
        ({"camera_name": "andes"}, ["wildfire"]),
        ({"organisation_id": 7}, ["wildfire"]),
        ({"organisation_name": "Cenia"}, ["wildfire"]),
        ({"is_wildfire_alertapi": "wildfire_smoke"}, ["wildfire"]),
        ({"has_annotation": "true"}, ["wildfire", "flare", "excluded"]),
        ({"processing_stage": "ready_to_annotate"}, ["excluded"]),
        ({"has_smoke": "true"}, ["wildfire", "flare"]),
        ({"has_smoke": "false"}, ["excluded"]),
        ({"has_false_positives": "true"}, ["flare", "excluded"]),
        ({"has_missed_smoke": "true"}, ["flare"]),
        ({"is_unsure": "true"}, ["wildfire"]),
        ({"is_unsure": "True"}, ["wildfire"]),  # what Python clients send
        ({"smoke_types": "wildfire"}, ["wildfire"]),
        ({"smoke_types": ["wildfire", "other"]}, ["wildfire", "flare"]),
        ({"smoke_types": "industrial"}, []),
        ({"false_positive_types": "lens_flare"}, ["flare"]),
        ({"false_positive_types": "other"}, ["excluded"]),
        ({"false_positive_types": ["other", "lens_flare"]}, ["flare", "excluded"]),
        ({"is_group_excluded": "true"}, ["excluded"]),
        ({"is_unsure": "true", "has_smoke": "true", "source_api": "api_cenia"}, ["wildfire"]),
    ],
)
def test_filters(api, catalogue, params, expected):
    ids = ids_of(api.get(LIST, params))

    assert sorted(ids) == sorted(catalogue[name].pk for name in expected)


def test_platform_class_null_and_no_annotation(api, world, catalogue):
    without_class = ids_of(api.get(LIST, {"is_wildfire_alertapi": "null"}))
    without_annotation = ids_of(api.get(LIST, {"processing_stage": "no_annotation"}))
    by_flag = ids_of(api.get(LIST, {"has_annotation": "false"}))

    assert catalogue["wildfire"].pk not in without_class and world.seq1.pk in without_class
    assert sorted(without_annotation) == sorted(by_flag) == sorted([world.seq1.pk, world.seq2.pk])


def test_group_and_time_filters(api, world, catalogue):
    in_group = ids_of(api.get(LIST, {"sequence_group_id": catalogue["group"].pk}))
    since = (timezone.now() - timedelta(hours=13)).isoformat()
    recent = ids_of(api.get(LIST, {"recorded_at_gte": since}))
    older = ids_of(api.get(LIST, {"recorded_at_lte": since}))

    assert in_group == [catalogue["flare"].pk]
    assert world.seq2.pk in recent and world.seq1.pk not in recent
    assert older == [world.seq1.pk]


def test_is_unsure_alone_joins_without_duplicates(api, world):
    """SPEC §9.4 #16 (reference #149): one annotation filter alone, no cross join."""
    unsure = [SequenceFactory() for _ in range(3)]
    for sequence in unsure:
        annotate(sequence, smoke=["wildfire"], is_unsure=True)
    annotate(world.seq1, smoke=["wildfire"])

    body = api.get(LIST, {"is_unsure": "true"}).json()

    assert body["total"] == 3
    assert sorted(item["id"] for item in body["items"]) == sorted(s.pk for s in unsure)


def test_an_annotation_filter_alone_makes_one_join(world):
    queryset = SequenceFilter({"is_unsure": "true"}, queryset=Sequence.objects.all()).qs

    sql = str(queryset.query)

    assert sql.count("JOIN") == 1 and "sequences_sequenceannotation" in sql


def test_include_annotation_adds_it_or_null(api, world, catalogue):
    plain = api.get(LIST, {"source_api": "api_cenia"}).json()["items"][0]
    items = {
        item["id"]: item for item in api.get(LIST, {"include_annotation": "true"}).json()["items"]
    }

    assert "annotation" not in plain
    assert items[catalogue["wildfire"].pk]["annotation"]["smoke_types"] == ["wildfire"]
    assert items[world.seq1.pk]["annotation"] is None


# --- Create ------------------------------------------------------------------------------------


def sequence_body(**overrides) -> dict:
    return {
        "source_api": "pyronear_french",
        "alert_api_id": 123,
        "camera_id": 42,
        "camera_name": "brison-01",
        "organisation_id": 3,
        "organisation_name": "SDIS 07",
        "lat": 44.51,
        "lon": 4.23,
        "azimuth": 91.5,
        "is_wildfire_alertapi": "wildfire_smoke",
        "recorded_at": "2025-07-01T12:00:00+02:00",
        "last_seen_at": "2025-07-01T12:09:30Z",
        **overrides,
    }


def test_create_upserts_camera_and_organisation(api):
    response = api.post(LIST, sequence_body(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["camera_id"] == 42 and body["organisation_id"] == 3
    assert body["azimuth"] == 92  # round half to even
    assert body["recorded_at"] == "2025-07-01T10:00:00Z"
    assert body["sequence_group_id"] is None and body["is_group_excluded"] is False
    assert Camera.objects.get(platform_id=42).organization == Organization.objects.get(
        platform_id=3
    )


def test_create_from_a_form_refreshes_names(api):
    api.post(LIST, sequence_body(), format="json")

    response = api.post(
        LIST, sequence_body(alert_api_id=124, camera_name="renamed", azimuth="359.6")
    )

    assert response.status_code == 201
    assert response.json()["azimuth"] == 0
    assert Camera.objects.get(platform_id=42).name == "renamed"
    assert Camera.objects.count() == 1


def test_create_accepts_a_null_azimuth(api):
    response = api.post(LIST, sequence_body(azimuth=None), format="json")

    assert response.status_code == 201 and response.json()["azimuth"] is None


def test_create_duplicate_is_409(api):
    api.post(LIST, sequence_body(), format="json")

    response = api.post(LIST, sequence_body(camera_name="other"), format="json")

    assert response.status_code == 409
    assert response.json() == {"detail": "Sequence (pyronear_french, 123) already exists"}
    assert Camera.objects.get(platform_id=42).name == "brison-01"  # nothing written


def test_create_with_bad_fields_is_422_and_writes_nothing(api):
    response = api.post(
        LIST,
        sequence_body(source_api="nasa", lat=91, azimuth="nan", recorded_at="soon"),
        format="json",
    )

    assert sorted(detail_locs(response)) == [
        ["body", "azimuth"],
        ["body", "lat"],
        ["body", "recorded_at"],
        ["body", "source_api"],
    ]
    assert not Sequence.objects.exists() and not Camera.objects.exists()


def test_a_json_body_needs_json_types(api):
    response = api.post(
        LIST, sequence_body(camera_name=0, alert_api_id="123", lat="44.5"), format="json"
    )

    assert sorted(detail_locs(response)) == [
        ["body", "alert_api_id"],
        ["body", "camera_name"],
        ["body", "lat"],
    ]


def test_create_with_an_unparsable_body_is_422(api):
    response = api.post(LIST, "{not json", content_type="application/json")

    assert detail_locs(response) == [["body"]]


# --- The platform's temporal model -------------------------------------------------------------


def test_create_stores_the_temporal_model_fields_and_shows_them(api):
    body = sequence_body(
        temporal_model_score=0.93, temporal_model_version="0.1.0", temporal_api_version="v0.3.2"
    )

    response = api.post(LIST, body, format="json")

    assert response.status_code == 201, response.content
    created = response.json()
    shown = api.get(f"{LIST}{created['id']}").json()
    for read in (created, shown):
        assert (
            read["temporal_model_score"],
            read["temporal_model_version"],
            read["temporal_api_version"],
        ) == (0.93, "0.1.0", "v0.3.2")
    sequence = Sequence.objects.get()
    assert (sequence.temporal_model_score, sequence.temporal_api_version) == (0.93, "v0.3.2")


@pytest.mark.parametrize("score", [None, "absent"])
def test_a_sequence_without_a_temporal_score_is_not_scored(api, score):
    body = sequence_body() if score == "absent" else sequence_body(temporal_model_score=None)

    response = api.post(LIST, body, format="json")

    assert response.status_code == 201
    assert response.json()["temporal_model_score"] is None
    assert Sequence.objects.get().temporal_model_score is None  # not scored, never "scored low"


def test_bad_temporal_model_fields_are_422_naming_them(api):
    body = sequence_body(
        temporal_model_score=1.5, temporal_model_version="v" * 65, temporal_api_version=""
    )

    response = api.post(LIST, body, format="json")

    assert sorted(detail_locs(response)) == [
        ["body", "temporal_api_version"],
        ["body", "temporal_model_score"],
        ["body", "temporal_model_version"],
    ]
    assert not Sequence.objects.exists()


def test_the_schema_documents_the_temporal_model_fields(api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    components = schema["components"]["schemas"]
    read = components["SequenceRead"]["properties"]
    create = components["SequenceCreateInputRequest"]
    for name in ("temporal_model_score", "temporal_model_version", "temporal_api_version"):
        assert read[name]["nullable"] is True
        assert create["properties"][name]["nullable"] is True
        assert name not in create.get("required", [])
    assert read["motion"]["nullable"] is True
    score = create["properties"]["temporal_model_score"]
    assert (score["minimum"], score["maximum"]) == (0, 1)
