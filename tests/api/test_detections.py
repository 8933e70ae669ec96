"""`/detections/`: multipart upload, list, detail, image bytes and URL (SPEC §7.2)."""

import io
import json

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from sequences.models import Detection
from tests.factories import jpeg_bytes, predictions
from tests.support import detail_locs

pytestmark = pytest.mark.django_db

LIST = "/api/v1/detections/"
BOX = predictions(([0.1, 0.2, 0.3, 0.4], 0.8))


def upload(api, sequence, *, image=None, name="frame.jpg", **fields):
    data = {
        "sequence_id": sequence.pk,
        "alert_api_id": 77,
        "recorded_at": "2025-07-01T12:00:05Z",
        "algo_predictions": json.dumps(BOX),
        **fields,
    }
    data["file"] = io.BytesIO(jpeg_bytes() if image is None else image)
    data["file"].name = name
    return api.post(LIST, data, format="multipart")


def stored_files() -> list[str]:
    _, files = default_storage.listdir(
        f"detections/sequence_{Detection.objects.first().sequence_id}"
    )
    return files


def test_upload_creates_the_detection(api, world):
    response = upload(api, world.seq1, others_bboxes="null")

    assert response.status_code == 201
    body = response.json()
    assert body["sequence_id"] == world.seq1.pk and body["alert_api_id"] == 77
    assert body["algo_predictions"] == BOX and body["others_bboxes"] is None
    assert body["bucket_key"].startswith(
        f"detections/sequence_{world.seq1.pk}/20250701_120005_det77_"
    )
    assert body["bucket_key"].endswith(".jpg")
    assert body["image_url"] == f"http://testserver/api/v1/detections/{body['id']}/image"
    assert default_storage.exists(body["bucket_key"])


def test_upload_of_a_png_keeps_its_format(api, world):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), "red").save(buffer, format="PNG")

    response = upload(api, world.seq1, image=buffer.getvalue(), name="x.png")
    image = api.get(f"{LIST}{response.json()['id']}/image")

    assert response.json()["bucket_key"].endswith(".png")
    assert image["Content-Type"] == "image/png"


def test_duplicate_upload_is_409(api, world):
    upload(api, world.seq1)

    response = upload(api, world.seq1)

    assert response.status_code == 409
    assert response.json() == {"detail": f"Detection 77 already exists in sequence {world.seq1.pk}"}


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"algo_predictions": "{not json"}, ["body", "algo_predictions"]),
        (
            {
                "algo_predictions": json.dumps(
                    {
                        "predictions": [
                            {
                                "xyxyn": [0.5, 0.1, 0.2, 0.3],
                                "confidence": 0.5,
                                "class_name": "smoke",
                            }
                        ]
                    }
                )
            },
            ["body", "algo_predictions", "predictions", 0, "xyxyn"],
        ),
        (
            {"others_bboxes": json.dumps({"predictions": "none"})},
            ["body", "others_bboxes", "predictions"],
        ),
        ({"sequence_id": 999999}, ["body", "sequence_id"]),
        ({"recorded_at": "later"}, ["body", "recorded_at"]),
    ],
)
def test_bad_upload_is_422_and_writes_nothing(api, world, fields, loc):
    before = Detection.objects.count()

    response = upload(api, world.seq1, **fields)

    assert loc in detail_locs(response)
    assert Detection.objects.count() == before


def test_every_problem_of_an_upload_is_listed(api, world):
    bad_box = {"predictions": [{"xyxyn": [0, 0, 2, 1], "confidence": 0.5, "class_name": "smoke"}]}

    response = upload(
        api, world.seq1, sequence_id=999999, image=b"text", algo_predictions=json.dumps(bad_box)
    )

    assert sorted(map(str, detail_locs(response))) == sorted(
        map(
            str,
            [
                ["body", "sequence_id"],
                ["body", "file"],
                ["body", "algo_predictions", "predictions", 0, "xyxyn"],
            ],
        )
    )


def test_field_errors_and_upload_checks_are_listed_together(api, world):
    """A field failing its own check does not hide the upload's other problems (SPEC §3.5)."""
    response = upload(
        api, world.seq1, sequence_id=999999, image=b"text", algo_predictions="{not json"
    )

    assert sorted(map(str, detail_locs(response))) == sorted(
        map(str, [["body", "sequence_id"], ["body", "file"], ["body", "algo_predictions"]])
    )
    assert not Detection.objects.filter(alert_api_id=77).exists()


def test_a_file_pillow_cannot_open_is_422(api, world):
    response = upload(api, world.seq1, image=b"GIF89a not really", name="x.jpg")

    assert detail_locs(response) == [["body", "file"]]
    assert not Detection.objects.filter(alert_api_id=77).exists()


def test_list_by_sequence_and_order(api, world):
    newest_first = api.get(LIST, {"sequence_id": world.seq1.pk}).json()
    by_capture = api.get(
        LIST, {"sequence_id": world.seq1.pk, "order_by": "recorded_at", "order_direction": "asc"}
    ).json()

    assert newest_first["total"] == 2
    assert [item["id"] for item in newest_first["items"]] == [world.det2.pk, world.det1.pk]
    assert [item["id"] for item in by_capture["items"]] == [world.det1.pk, world.det2.pk]


def test_list_with_a_bad_parameter_is_422(api, world):
    response = api.get(LIST, {"sequence_id": "first", "order_direction": "up"})

    assert sorted(detail_locs(response)) == [["query", "order_direction"], ["query", "sequence_id"]]


def test_detail_and_its_404(api, world):
    assert (
        api.get(f"{LIST}{world.det3.pk}").json()["algo_predictions"] == world.det3.algo_predictions
    )

    missing = api.get(f"{LIST}999999")

    assert missing.status_code == 404
    assert missing.json() == {"detail": "Detection not found."}


def test_image_bytes(api, world):
    response = api.get(f"{LIST}{world.det1.pk}/image")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == world.det1.image.open("rb").read()


def test_thumbnail_is_a_narrow_jpeg(api, world, settings):
    settings.IMAGE_THUMBNAIL_WIDTH = 64
    world.det1.image.save("big.jpg", io.BytesIO(jpeg_bytes(width=400, height=200)))

    response = api.get(f"{LIST}{world.det1.pk}/image", {"variant": "thumb"})

    assert response["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert image.format == "JPEG" and image.size == (64, 32)


def test_image_errors(api, world):
    bad_variant = api.get(f"{LIST}{world.det1.pk}/image", {"variant": "huge"})
    missing_row = api.get(f"{LIST}999999/image")
    default_storage.delete(world.det2.image.name)
    missing_file = api.get(f"{LIST}{world.det2.pk}/image")

    assert detail_locs(bad_variant) == [["query", "variant"]]
    assert missing_row.status_code == missing_file.status_code == 404
    assert missing_row.json() == {"detail": "Detection not found."}


def test_image_url(api, world):
    response = api.get(f"{LIST}{world.det1.pk}/url")

    assert response.json() == {"url": f"http://testserver/api/v1/detections/{world.det1.pk}/image"}
    assert api.get(f"{LIST}999999/url").status_code == 404
