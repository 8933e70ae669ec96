"""API clients authenticated the way scripts authenticate: a real token in a Bearer header."""

import pytest
from rest_framework.test import APIClient

from annotation_site.api import auth_token_for
from sequences.models import LabelSource
from sequences.services import annotation_write


def token_client(user, scheme: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {auth_token_for(user=user)}")
    return client


@pytest.fixture
def api(staff_user) -> APIClient:
    """SPEC §9.1: the client is authenticated as staff."""
    return token_client(staff_user)


@pytest.fixture
def annotator_api(annotator) -> APIClient:
    return token_client(annotator)


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


def detail_locs(response) -> list[list]:
    """The `loc` of every field error of a 422."""
    assert response.status_code == 422, response.content
    return [error["loc"] for error in response.json()["detail"]]


def annotate(
    sequence,
    *,
    smoke=(),
    fp=(),
    stage="seq_annotation_done",
    is_unsure=False,
    has_missed_smoke=False,
):
    """A human save on `sequence`: one box-less cluster per smoke type and per FP type."""
    clusters = [
        {"is_smoke": True, "smoke_type": value, "false_positive_types": [], "bboxes": []}
        for value in smoke
    ] + [
        {"is_smoke": False, "smoke_type": None, "false_positive_types": [value], "bboxes": []}
        for value in fp
    ]
    return annotation_write(
        sequence=sequence,
        annotation={"sequences_bbox": clusters},
        processing_stage=stage,
        has_missed_smoke=has_missed_smoke,
        is_unsure=is_unsure,
        source=LabelSource.HUMAN,
    ).annotation


def walk_pages(client, path: str, *, size: int = 50, **params) -> list[int]:
    """Every id of a list, page after page."""
    ids, page = [], 1
    while True:
        body = client.get(path, {**params, "page": page, "size": size}).json()
        ids += [item["id"] for item in body["items"]]
        if page >= body["pages"]:
            return ids
        page += 1
