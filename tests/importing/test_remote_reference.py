"""Cloning from and pushing to the reference's shapes (a fake of it on loopback): presigned
image URLs on another host, fastapi-pagination pages, 429 then success, a token that expires
(401) and a request without one (403 "Not authenticated")."""

import pytest

from sequences.models import Detection, RemoteCopy, Sequence
from sequences.services import annotation_write
from tests.factories import smoke_annotation
from tests.support.command_run import command_run

pytestmark = pytest.mark.django_db


def clone(reference, *args: str):
    return command_run(
        "clone_sequences", "--source-url", reference.url, "--stage", "all", "--no-assign", *args
    )


def seed(reference, count: int, frames: int = 2) -> list[dict]:
    return [
        reference.sequence_add(
            alert_api_id=500 + n,
            recorded_at=f"2026-05-01T10:{n // 60:02d}:{n % 60:02d}",
            frames=frames,
        )
        for n in range(count)
    ]


def test_presigned_images_on_another_host_get_no_authorization(reference):
    seed(reference, 1, frames=3)

    ran = clone(reference)

    assert ran.code == 0, ran.everything
    assert Detection.objects.count() == 3
    assert len(reference.image_requests) == 3
    assert all("authorization" not in r.headers for r in reference.image_requests)
    api_calls = [r for r in reference.requests if r.path != "/api/v1/auth/login"]
    assert all(r.headers["authorization"].startswith("Bearer ") for r in api_calls)
    assert "secret" not in ran.everything
    sequence = Sequence.objects.get()
    assert (sequence.alert_api_id, sequence.azimuth, sequence.temporal_model_score) == (
        500,
        200,
        None,
    )


def test_pages_of_items_are_walked_to_the_last(reference):
    seed(reference, 105, frames=1)

    ran = clone(reference, "--json")

    assert ran.code == 0, ran.everything
    assert ran.json()["sequences"]["created"] == 105
    pages = [r.param("page") for r in reference.requests if r.path == "/api/v1/sequences/"]
    assert pages == ["1", "2"]


def test_429_then_success_is_retried(reference):
    seed(reference, 1)
    reference.fault(r"^/api/v1/sequences/$", 429, times=2)

    ran = clone(reference)

    assert ran.code == 0, ran.everything
    assert Sequence.objects.count() == 1
    assert sum(r.path == "/api/v1/sequences/" for r in reference.requests) == 3


def test_an_expired_token_brings_one_fresh_login(reference):
    seed(reference, 2)
    reference.fault(r"^/api/v1/detections/$", 401, times=1)

    ran = clone(reference)

    assert ran.code == 0, ran.everything
    assert Sequence.objects.count() == 2
    assert sum(r.path == "/api/v1/auth/login" for r in reference.requests) == 2


def test_a_token_refused_again_after_a_fresh_login_is_fatal(reference):
    seed(reference, 1)
    reference.fault(r"^/api/v1/sequences/$", 401, times=5)

    ran = clone(reference)

    assert ran.code == 1
    assert "rejected again after a fresh login" in ran.message
    assert "reference-password" not in ran.everything


def test_not_authenticated_403_brings_a_login_and_a_push_lands(reference):
    (seeded,) = seed(reference, 1)
    assert clone(reference, "--mark-source-stage", "under_annotation").code == 0
    sequence = Sequence.objects.get()
    first = Detection.objects.filter(sequence=sequence).first()
    annotation_write(
        sequence=sequence,
        annotation=smoke_annotation(first.pk, "wildfire"),
        processing_stage="seq_annotation_done",
        has_missed_smoke=False,
        is_unsure=False,
        source="human",
    )
    reference.fault(r"^/api/v1/annotations/sequences/$", 403, detail="Not authenticated")

    ran = command_run("push_annotations", "--remote-url", reference.url, "--json")

    assert ran.code == 0, ran.everything
    assert ran.json()["annotations"]["updated"] == 1
    (there,) = [a for a in reference.annotations if a["sequence_id"] == seeded["id"]]
    assert there["processing_stage"] == "seq_annotation_done"
    remote_first = min(d["id"] for d in reference.detections if d["sequence_id"] == seeded["id"])
    assert there["annotation"]["sequences_bbox"][0]["bboxes"][0]["detection_id"] == remote_first
    assert RemoteCopy.objects.get().pushes == 1
    pushes_logins = [r for r in reference.requests if r.path == "/api/v1/auth/login"]
    assert len(pushes_logins) == 3  # the clone's, the push's, and the one after the 403
