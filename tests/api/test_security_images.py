"""Issue 16, findings 1, 2, 3 and 9 through the API: `POST /api/v1/detections/` refuses
decompression bombs, oversized and truncated images with a 422 naming the limit, and the image
endpoint answers with the page view's caching and conditional requests."""

import io
import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from sequences.models import Detection
from tests.factories import (
    DetectionFactory,
    jpeg_bytes,
    png_bytes,
    predictions,
    truncated_jpeg_bytes,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/detections/"


def upload(api, sequence, image: bytes, name: str = "frame.png"):
    data = {
        "sequence_id": sequence.pk,
        "alert_api_id": 77,
        "recorded_at": "2025-07-01T12:00:05Z",
        "algo_predictions": json.dumps(predictions(([0.1, 0.2, 0.3, 0.4], 0.8))),
        "file": io.BytesIO(image),
    }
    data["file"].name = name
    return api.post(LIST, data, format="multipart")


def stored_files(sequence) -> list[str]:
    folder = f"detections/sequence_{sequence.pk}"
    return sorted(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else []


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            "bomb",
            "image is 144000000 pixels, over the limit of 25000000 pixels (IMAGE_MAX_PIXELS)",
        ),
        ("junk", "over the limit of 10485760 bytes (IMAGE_MAX_BYTES)"),
        ("truncated", "image cannot be opened as JPEG, PNG or WebP"),
    ],
)
def test_an_upload_beyond_the_caps_or_cut_short_is_a_422_naming_the_problem(
    annotator_api, world, image, message
):
    data = {
        "bomb": lambda: png_bytes(12_000, 12_000, mode="1"),
        "junk": lambda: png_bytes(10, 10) + bytes(40 * 1024 * 1024),
        "truncated": truncated_jpeg_bytes,
    }[image]()
    files = stored_files(world.seq1)

    response = upload(annotator_api, world.seq1, data)

    assert response.status_code == 422
    ((loc, msg),) = [(item["loc"], item["msg"]) for item in response.json()["detail"]]
    assert loc == ["body", "file"] and message in msg
    assert not Detection.objects.filter(alert_api_id=77).exists()
    assert stored_files(world.seq1) == files


def test_an_image_within_the_caps_is_still_accepted(annotator_api, world, settings):
    data = jpeg_bytes(400, 300)
    settings.IMAGE_MAX_BYTES = len(data)
    settings.IMAGE_MAX_PIXELS = 400 * 300

    assert upload(annotator_api, world.seq1, data, name="frame.jpg").status_code == 201


# --- The image endpoint -----------------------------------------------------------------------


@pytest.mark.parametrize("variant", [None, "thumb"])
def test_the_image_endpoint_caches_like_the_page_view(annotator_api, client_in, world, variant):
    query = {"variant": variant} if variant else {}
    page = client_in.get(f"/sequences/detections/{world.det1.pk}/image/", query)

    response = annotator_api.get(f"{LIST}{world.det1.pk}/image", query)

    assert response.status_code == 200
    for header in ("ETag", "Last-Modified", "Cache-Control", "Content-Type"):
        assert response[header] == page[header], header
    assert {part.strip() for part in response["Cache-Control"].split(",")} == {
        "private",
        "max-age=86400",
    }
    unchanged = annotator_api.get(
        f"{LIST}{world.det1.pk}/image", query, headers={"If-None-Match": response["ETag"]}
    )
    assert unchanged.status_code == 304 and unchanged["ETag"] == response["ETag"]
    since = annotator_api.get(
        f"{LIST}{world.det1.pk}/image",
        query,
        headers={"If-Modified-Since": response["Last-Modified"]},
    )
    assert since.status_code == 304


def test_a_stored_image_that_does_not_decode_has_no_thumbnail_404(annotator_api):
    detection = DetectionFactory(image=ContentFile(truncated_jpeg_bytes(), name="frame.jpg"))

    response = annotator_api.get(f"{LIST}{detection.pk}/image", {"variant": "thumb"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Image file not found."}
