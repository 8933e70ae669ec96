"""Form and multipart bodies are held to the JSON rules (finding 16): a required boolean left
out is a 422 naming it, never a silent false; optional ones keep their defaults."""

import pytest

from sequences.models import SequenceAnnotation
from tests.support import detail_locs

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/annotations/sequences/"


@pytest.mark.parametrize("body_format", ["form", "multipart", "json"])
def test_a_missing_required_boolean_is_a_422_in_every_body_format(api, world, body_format):
    body = {"sequence_id": world.seq1.pk, "processing_stage": "ready_to_annotate"}
    if body_format == "form":
        response = api.post(
            CREATE,
            "&".join(f"{key}={value}" for key, value in body.items()),
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = api.post(CREATE, body, format=body_format)

    assert detail_locs(response) == [["body", "has_missed_smoke"]]
    assert response.json()["detail"][0]["msg"] == "This field is required."
    assert not SequenceAnnotation.objects.exists()


def test_a_form_body_with_the_boolean_still_creates(api, world):
    response = api.post(
        CREATE,
        {
            "sequence_id": world.seq1.pk,
            "processing_stage": "ready_to_annotate",
            "has_missed_smoke": "false",
        },
        format="multipart",
    )

    assert response.status_code == 201
    assert response.json()["has_missed_smoke"] is False
    assert response.json()["is_unsure"] is False  # optional: its default


def test_an_optional_boolean_left_out_of_a_form_keeps_its_default(api, world, seed_group):
    group = seed_group()
    response = api.post(
        "/api/v1/annotations/sequences/bulk",
        {"sequence_ids": [world.seq1.pk], "group_id": group.pk, "smoke_type": "wildfire"},
        format="multipart",
    )

    assert response.status_code == 200


def test_a_patch_in_a_form_body_leaves_unsent_booleans_alone(api, world):
    created = api.post(
        CREATE,
        {
            "sequence_id": world.seq1.pk,
            "processing_stage": "ready_to_annotate",
            "has_missed_smoke": True,
            "is_unsure": True,
        },
        format="json",
    ).json()

    response = api.patch(
        f"{CREATE}{created['id']}", {"processing_stage": "ready_to_annotate"}, format="multipart"
    )

    assert response.status_code == 200
    assert response.json()["has_missed_smoke"] is True and response.json()["is_unsure"] is True
