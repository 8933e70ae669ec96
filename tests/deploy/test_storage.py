"""Object storage: detection images and thumbnails in an S3 bucket (moto's server on loopback),
served through redirects to short-lived presigned URLs, to logged-in users only."""

import io
import json
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import PIL.Image
import pytest
import requests
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.urls import reverse

from sequences.checks import check_knobs
from sequences.importing import pipeline
from sequences.models import Detection, Sequence
from sequences.services import images
from sequences.services.images import thumbnail_name
from tests.factories import DetectionFactory, jpeg_bytes
from tests.support import token_client

pytestmark = pytest.mark.django_db

BOX = {"xyxyn": [0.1, 0.1, 0.3, 0.3], "confidence": 0.8, "class_name": "smoke"}


def export_folder(folder, alert_api_id: int = 7, frames: int = 3):
    """An export folder of one alert with `frames` images (each a different JPEG)."""
    (folder / "images").mkdir(parents=True)
    detections = []
    for index in range(frames):
        image = f"images/{alert_api_id}_{index}.jpg"
        (folder / image).write_bytes(jpeg_bytes(color=["red", "green", "blue", "gray"][index]))
        detections.append(
            {
                "alert_api_id": alert_api_id * 100 + index,
                "recorded_at": f"2025-07-01T12:0{index}:05Z",
                "image": image,
                "algo_predictions": {"predictions": [BOX]},
                "others_bboxes": None,
            }
        )
    line = {
        "source_api": "pyronear_french",
        "alert_api_id": alert_api_id,
        "organisation": {"id": 3, "name": "SDIS 07"},
        "camera": {"id": 42, "name": "brison-01", "lat": 44.51, "lon": 4.23},
        "azimuth": 91.4,
        "recorded_at": "2025-07-01T12:00:00Z",
        "detections": detections,
    }
    (folder / "sequences.jsonl").write_text(json.dumps(line) + "\n")
    return folder


def import_folder(folder) -> str:
    out = io.StringIO()
    call_command("import_sequences", str(folder), "--no-assign", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def local_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def fetched(url: str) -> requests.Response:
    """The URL fetched as a browser would after the redirect: no cookie, no credentials."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer


@pytest.fixture
def wide_detection(s3_bucket):
    return DetectionFactory(image=ContentFile(jpeg_bytes(1280, 720), name="frame.jpg"))


def image_page_url(detection, variant: str | None = None) -> str:
    url = reverse("sequences:detection_image", args=[detection.pk])
    return f"{url}?variant={variant}" if variant else url


# --- Writing -----------------------------------------------------------------------------------


def test_an_import_writes_its_images_to_the_bucket_and_nothing_to_disk(
    s3_bucket, s3_server, tmp_path, settings
):
    out = import_folder(export_folder(tmp_path / "export"))

    assert "detections: created=3" in out
    names = sorted(Detection.objects.values_list("image", flat=True))
    assert s3_server.keys(s3_bucket) == names
    assert all(name.startswith("detections/sequence_") for name in names)
    first = Detection.objects.order_by("recorded_at").first()
    assert (
        s3_server.get(s3_bucket, first.image.name)
        == (tmp_path / "export" / "images" / "7_0.jpg").read_bytes()
    )
    assert local_files(settings) == []


def test_the_key_prefix_holds_every_object(s3_server, settings, tmp_path):
    bucket = s3_server.bucket_new()
    backend = s3_server.backend(bucket, prefix="/site-a/")
    settings.STORAGES = {**settings.STORAGES, "default": backend}

    import_folder(export_folder(tmp_path / "export", frames=2))

    keys = s3_server.keys(bucket)
    assert len(keys) == 2
    assert all(key.startswith("site-a/detections/sequence_") for key in keys)
    # The rows keep the name without the prefix: moving the prefix moves nothing in the database.
    names = Detection.objects.values_list("image", flat=True)
    assert all(not name.startswith("site-a") for name in names)


def test_a_platform_pull_writes_its_images_to_the_bucket(platform, s3_bucket, s3_server):
    platform.add_sequence(48213, camera_id=12, images=2)
    picture = jpeg_bytes(color="orange")
    platform.add_detection(48213, bucket_key="12-20260510140422-aa.jpg", image=picture)

    out = io.StringIO()
    call_command(
        "pull_sequences",
        "--date-from",
        "2026-05-10",
        "--source-api",
        "pyronear_french",
        "--no-assign",
        stdout=out,
        stderr=io.StringIO(),
    )

    assert "detections: created=3" in out.getvalue(), out.getvalue()
    names = sorted(Detection.objects.values_list("image", flat=True))
    assert s3_server.keys(s3_bucket) == names
    assert picture in {s3_server.get(s3_bucket, name) for name in names}


def test_a_rolled_back_import_leaves_no_object(s3_bucket, s3_server, tmp_path, monkeypatch):
    written = []

    def explode(**kwargs):
        # Reached once every detection (and its object) was written.
        written.extend(s3_server.keys(s3_bucket))
        raise RuntimeError("injected failure")

    monkeypatch.setattr(pipeline, "annotation_write", explode)
    with pytest.raises(RuntimeError, match="injected failure"):
        import_folder(export_folder(tmp_path / "export"))

    assert len(written) == 3
    assert s3_server.keys(s3_bucket) == []
    assert not Sequence.objects.exists() and not Detection.objects.exists()


def test_a_detection_refused_by_the_database_leaves_no_object(
    s3_bucket, s3_server, tmp_path, monkeypatch
):
    real_create = Detection.objects.create
    calls = []

    def create_then_fail(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_create(**kwargs)

    monkeypatch.setattr(Detection.objects, "create", create_then_fail)
    with pytest.raises(RuntimeError, match="database went away"):
        import_folder(export_folder(tmp_path / "export"))

    assert s3_server.keys(s3_bucket) == []


# --- Thumbnails and the page's image view ----------------------------------------------------


def test_a_thumbnail_is_made_once_in_the_bucket_and_served_by_redirect(
    client_in, wide_detection, s3_bucket, s3_server, monkeypatch
):
    response = client_in.get(image_page_url(wide_detection, "thumb"))

    assert response.status_code == 302
    name = thumbnail_name(wide_detection.image.name, "thumb")
    assert name in s3_server.keys(s3_bucket)
    answer = fetched(response["Location"])
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert PIL.Image.open(io.BytesIO(answer.content)).size == (640, 360)

    def refuse(*args, **kwargs):
        raise AssertionError("the thumbnail was rendered again")

    monkeypatch.setattr(images, "thumbnail_render", refuse)
    again = client_in.get(image_page_url(wide_detection, "thumb"))
    assert again.status_code == 302
    assert fetched(again["Location"]).content == answer.content


def test_the_original_is_a_redirect_to_a_url_that_expires_with_the_setting(
    client_in, wide_detection, settings
):
    settings.IMAGE_URL_EXPIRY_SECONDS = 120

    response = client_in.get(image_page_url(wide_detection))

    assert response.status_code == 302
    query = query_of(response["Location"])
    assert query["X-Amz-Expires"] == "120"
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 60
    # A browser may keep the redirect for half the signature's life; no shared cache may.
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert cache_control == {"private", "max-age=60"}
    assert "ETag" not in response
    answer = fetched(response["Location"])
    assert answer.content == wide_detection.image.storage.open(wide_detection.image.name).read()
    assert answer.headers["Content-Type"] == "image/jpeg"


def test_each_redirect_is_signed_anew(client_in, wide_detection, settings):
    settings.IMAGE_URL_EXPIRY_SECONDS = 2
    first = client_in.get(image_page_url(wide_detection))["Location"]
    time.sleep(1.1)  # signatures are dated to the second

    second = client_in.get(image_page_url(wide_detection))

    assert second["Location"] != first
    assert query_of(second["Location"])["X-Amz-Expires"] == "2"
    assert second["Cache-Control"] in ("private, max-age=1", "max-age=1, private")


def test_an_unknown_variant_or_detection_is_still_404(client_in, wide_detection):
    assert client_in.get(image_page_url(wide_detection, "huge")).status_code == 404
    assert client_in.get(reverse("sequences:detection_image", args=[999999])).status_code == 404


def test_a_missing_original_is_404_for_a_thumbnail(client_in, wide_detection):
    wide_detection.image.storage.delete(wide_detection.image.name)

    assert client_in.get(image_page_url(wide_detection, "thumb")).status_code == 404


def test_anonymous_users_are_refused_before_anything_is_signed(client, wide_detection, s3_bucket):
    response = client.get(image_page_url(wide_detection))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))

    api = client.get(reverse("api:detection_image", args=[wide_detection.pk]))
    url = client.get(reverse("api:detection_url", args=[wide_detection.pk]))
    assert (api.status_code, url.status_code) == (401, 401)
    assert s3_bucket not in api.content.decode() + url.content.decode()


# --- The API --------------------------------------------------------------------------------


def test_the_api_image_and_url_endpoints_hand_out_presigned_urls(
    wide_detection, annotator, s3_bucket, s3_server, settings
):
    api = token_client(annotator)

    original = api.get(reverse("api:detection_image", args=[wide_detection.pk]))
    thumb = api.get(reverse("api:detection_image", args=[wide_detection.pk]), {"variant": "thumb"})
    url = api.get(reverse("api:detection_url", args=[wide_detection.pk]))

    assert (original.status_code, thumb.status_code, url.status_code) == (302, 302, 200)
    expected = s3_server.get(s3_bucket, wide_detection.image.name)
    assert fetched(original["Location"]).content == expected
    assert fetched(url.json()["url"]).content == expected
    assert PIL.Image.open(io.BytesIO(fetched(thumb["Location"]).content)).width == 640
    assert query_of(url.json()["url"])["X-Amz-Expires"] == str(settings.IMAGE_URL_EXPIRY_SECONDS)


@pytest.mark.parametrize("variant", [None, "thumb"])
def test_the_api_image_redirect_is_never_kept_past_its_signature(
    wide_detection, annotator, settings, variant
):
    settings.IMAGE_URL_EXPIRY_SECONDS = 120
    query = {"variant": variant} if variant else {}

    response = token_client(annotator).get(
        reverse("api:detection_image", args=[wide_detection.pk]), query
    )

    assert response.status_code == 302
    assert query_of(response["Location"])["X-Amz-Expires"] == "120"
    # As the page view: only the browser may keep it, for half the signature's life.
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert cache_control == {"private", "max-age=60"}
    assert "ETag" not in response


def test_the_export_gives_presigned_image_urls_the_caller_can_fetch(
    s3_bucket, s3_server, export_history, annotator
):
    response = token_client(annotator).get("/api/v1/export/alerts")

    assert response.status_code == 200
    frames = [
        frame
        for item in response.json()["items"]
        for record in item["objects"]
        for frame in record["frames"]
    ]
    assert frames
    for frame in frames:
        assert urlsplit(frame["image_url"]).path.endswith(frame["bucket_key"])
        assert "X-Amz-Signature" in query_of(frame["image_url"])
    first = frames[0]
    assert fetched(first["image_url"]).content == s3_server.get(s3_bucket, first["bucket_key"])


@pytest.mark.parametrize("value", [0, 604801])
def test_an_expiry_no_signature_can_have_stops_the_site(settings, value):
    settings.IMAGE_URL_EXPIRY_SECONDS = value

    assert [error.msg for error in check_knobs()] == [
        f"IMAGE_URL_EXPIRY_SECONDS={value} must be between 1 and 604800."
    ]
