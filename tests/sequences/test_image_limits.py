"""Issue 16, findings 1, 2, 3 and 13: the one image check of every way in (the local import,
the platform pull; the API upload is in tests/api/test_security_images.py), platform downloads
cut at the byte cap, and thumbnails that decode safely and are never seen half-written."""

import io
import json
import os
from pathlib import Path

import PIL.Image
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from sequences.importing.platform_client import (
    Account,
    ImageTooLargeError,
    PlatformClient,
    RetryPolicy,
)
from sequences.models import Detection, Sequence
from sequences.services import images
from sequences.services.images import (
    IMAGE_INVALID,
    ImageTooLarge,
    image_check,
    thumbnail_name,
    thumbnail_open,
)
from tests.factories import DetectionFactory, jpeg_bytes, png_bytes, truncated_jpeg_bytes
from tests.support.fake_platform import ENDLESS_IMAGE_BYTES, build_world

FOUR_K = (3840, 2160)
FAST = RetryPolicy(backoff=0.01, connect_timeout=1.0, read_timeout=2.0, image_read_timeout=5.0)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """The issue's PNG: 12,000 x 12,000 pixels in about 17 KB."""
    return png_bytes(12_000, 12_000, mode="1")


def junk_png() -> bytes:
    """A 10 x 10 PNG followed by 40 MB of junk."""
    return png_bytes(10, 10) + bytes(40 * 1024 * 1024)


def command(name: str, *args: str) -> tuple[str, int]:
    """Run a management command: (its output, its exit status)."""
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return out.getvalue() + str(exc), exc.returncode
    return out.getvalue(), 0


def export_folder(folder: Path, second_image: bytes) -> Path:
    """An export folder of one sequence of two frames; the second image is `second_image`."""
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "first.jpg").write_bytes(jpeg_bytes())
    (folder / "images" / "second.jpg").write_bytes(second_image)
    box = {"xyxyn": [0.1, 0.1, 0.3, 0.3], "confidence": 0.8, "class_name": "smoke"}
    line = {
        "source_api": "pyronear_french",
        "alert_api_id": 1,
        "organisation": {"id": 3, "name": "SDIS 07"},
        "camera": {"id": 42, "name": "brison-01", "lat": 44.51, "lon": 4.23},
        "azimuth": 91,
        "is_wildfire_alertapi": None,
        "recorded_at": "2025-07-01T12:00:00Z",
        "last_seen_at": "2025-07-01T12:09:30Z",
        "detections": [
            {
                "alert_api_id": 100 + index,
                "recorded_at": f"2025-07-01T12:0{index}:05Z",
                "image": f"images/{name}.jpg",
                "algo_predictions": {"predictions": [box]},
                "others_bboxes": None,
            }
            for index, name in enumerate(("first", "second"))
        ],
    }
    (folder / "sequences.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    return folder


# --- The check ---------------------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_before_it_is_decoded(bomb, settings):
    assert len(bomb) < 20_000

    with pytest.raises(ImageTooLarge) as caught:
        image_check(bomb)

    # Pillow's own bomb warning fires first at this size, and is a refusal naming the setting.
    assert str(caught.value) == (
        "image is 144000000 pixels, over the limit of 25000000 pixels (IMAGE_MAX_PIXELS)"
    )


def test_an_image_over_the_pixel_cap_is_refused_before_it_is_decoded(monkeypatch):
    data = png_bytes(6000, 5000, mode="1")
    decoded = []
    monkeypatch.setattr(PIL.Image.Image, "load", lambda image: decoded.append(image))

    with pytest.raises(ImageTooLarge) as caught:
        image_check(data)

    assert str(caught.value) == (
        "image is 6000 x 5000 pixels, over the limit of 25000000 pixels (IMAGE_MAX_PIXELS)"
    )
    assert decoded == []


def test_a_small_image_followed_by_junk_is_refused_by_its_size():
    with pytest.raises(ImageTooLarge) as caught:
        image_check(junk_png())

    assert str(caught.value) == (
        f"image is {len(junk_png())} bytes, over the limit of 10485760 bytes (IMAGE_MAX_BYTES)"
    )


def test_a_truncated_jpeg_is_refused_although_its_header_verifies():
    data = truncated_jpeg_bytes()
    PIL.Image.open(io.BytesIO(data)).verify()  # what the check used to rely on

    with pytest.raises(ValueError, match=IMAGE_INVALID):
        image_check(data)


def test_pillows_bomb_warning_is_a_refusal_too(settings, monkeypatch):
    settings.IMAGE_MAX_PIXELS = 10**9  # above Pillow's own threshold, lowered below
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)

    with pytest.raises(ImageTooLarge, match=r"image is 1600 pixels, over the limit of 10+ pixels"):
        image_check(png_bytes(40, 40))  # 1,600 pixels: Pillow warns


def test_a_4k_frame_passes_with_the_default_caps():
    assert image_check(jpeg_bytes(*FOUR_K)) == ".jpg"


def test_the_caps_follow_the_settings(settings):
    settings.IMAGE_MAX_PIXELS = 99
    with pytest.raises(ImageTooLarge, match=r"image is 10 x 10 pixels, over the limit of 99"):
        image_check(png_bytes(10, 10))
    settings.IMAGE_MAX_PIXELS = 100
    settings.IMAGE_MAX_BYTES = len(png_bytes(10, 10)) - 1
    with pytest.raises(ImageTooLarge, match=r"IMAGE_MAX_BYTES"):
        image_check(png_bytes(10, 10))


# --- The local import (and the demo, which seeds through it) -----------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("bomb", "over the limit of 25000000 pixels (IMAGE_MAX_PIXELS)"),
        ("junk", "over the limit of 10485760 bytes (IMAGE_MAX_BYTES)"),
        ("truncated", IMAGE_INVALID),
    ],
)
def test_the_local_import_refuses_the_image_naming_the_limit(
    tmp_path, settings, bomb, image, message
):
    data = {"bomb": bomb, "junk": junk_png(), "truncated": truncated_jpeg_bytes()}[image]
    folder = export_folder(tmp_path / "export", data)

    out, code = command("import_sequences", str(folder))

    assert code != 0
    assert "detections[1].image" in out and message in out
    assert not Sequence.objects.exists() and not Detection.objects.exists()


@pytest.mark.django_db
def test_the_local_import_does_not_read_an_oversized_file(tmp_path, monkeypatch):
    folder = export_folder(tmp_path / "export", junk_png())
    read = []
    real_read_bytes = Path.read_bytes
    monkeypatch.setattr(
        Path, "read_bytes", lambda path: read.append(path.name) or real_read_bytes(path)
    )

    command("import_sequences", str(folder))

    assert [name for name in read if name.endswith(".jpg")] == ["first.jpg"]


# --- Platform downloads ----------------------------------------------------------------------


@pytest.fixture
def fake_platform():
    fake = build_world()
    with fake.running():
        yield fake


def client_for(platform) -> PlatformClient:
    return PlatformClient(
        base_url=platform.url,
        user=Account("annotator", "annotator-pw"),
        admin=Account("admin", "admin-pw"),
        policy=FAST,
    )


def test_an_endless_image_download_is_cut_at_the_byte_cap(fake_platform, settings):
    settings.IMAGE_MAX_BYTES = 1024 * 1024
    fake_platform.add_sequence(1, camera_id=12)
    fake_platform.add_detection(1, bucket_key="12-endless.png")
    fake_platform.image_faults["12-endless.png"] = "endless"
    client = client_for(fake_platform)
    (row,) = client.detections(1, limit=40)

    with pytest.raises(ImageTooLargeError) as caught:
        client.image(row["url"], name=row["bucket_key"])

    assert str(caught.value).startswith(
        "image 12-endless.png: over the limit of 1048576 bytes (IMAGE_MAX_BYTES); "
        "the download was cut after "
    )
    assert "X-Amz" not in str(caught.value)
    # The client hung up: the server could send its socket buffers' worth, not the whole body.
    assert fake_platform.endless_bytes_sent < ENDLESS_IMAGE_BYTES // 4
    assert fake_platform.count("/images/") == 1  # refused for good, not retried


def test_an_image_announced_over_the_cap_is_not_downloaded(fake_platform, settings):
    picture = jpeg_bytes(400, 300)
    settings.IMAGE_MAX_BYTES = len(picture) - 1
    fake_platform.add_sequence(1, camera_id=12)
    fake_platform.add_detection(1, bucket_key="12-big.jpg", image=picture)
    client = client_for(fake_platform)
    (row,) = client.detections(1, limit=40)

    with pytest.raises(ImageTooLargeError) as caught:
        client.image(row["url"], name=row["bucket_key"])

    assert str(caught.value) == (
        f"image 12-big.jpg: {len(picture)} bytes announced, over the limit of "
        f"{len(picture) - 1} bytes (IMAGE_MAX_BYTES); not downloaded"
    )


def test_an_image_within_the_cap_downloads_whole(fake_platform, settings):
    picture = jpeg_bytes(400, 300)
    settings.IMAGE_MAX_BYTES = len(picture)
    fake_platform.add_sequence(1, camera_id=12)
    fake_platform.add_detection(1, bucket_key="12-fits.jpg", image=picture)
    client = client_for(fake_platform)
    (row,) = client.detections(1, limit=40)

    assert client.image(row["url"], name=row["bucket_key"]) == picture


@pytest.mark.django_db
def test_the_pull_reports_a_cut_download_and_a_bomb_and_stores_neither(platform, settings, bomb):
    settings.IMAGE_MAX_BYTES = 1024 * 1024
    platform.add_sequence(1, camera_id=12)
    platform.add_detection(1, bucket_key="12-endless.png")
    platform.image_faults["12-endless.png"] = "endless"
    platform.add_sequence(2, camera_id=12, started_at="2026-05-10T08:00:00")
    platform.add_detection(2, bucket_key="12-bomb.png", image=bomb)

    out, code = command(
        "pull_sequences",
        "--date-from",
        "2026-05-10",
        "--source-api",
        "pyronear_french",
        "--no-assign",
    )

    assert code != 0
    assert "failed=2" in out
    assert "over the limit of 1048576 bytes (IMAGE_MAX_BYTES); the download was cut" in out
    assert "over the limit of 25000000 pixels (IMAGE_MAX_PIXELS)" in out
    assert not Sequence.objects.exists()


# --- Thumbnails ------------------------------------------------------------------------------


def image_page(detection, variant=None) -> str:
    url = reverse("sequences:detection_image", args=[detection.pk])
    return f"{url}?variant={variant}" if variant else url


@pytest.mark.django_db
@pytest.mark.parametrize("stored", ["truncated", "bomb", "not an image"])
def test_a_stored_image_that_does_not_decode_is_404_for_its_variants(client_in, stored, bomb):
    data = {"truncated": truncated_jpeg_bytes(), "bomb": bomb, "not an image": b"GIF89a"}[stored]
    detection = DetectionFactory(image=ContentFile(data, name="frame.jpg"))
    api_url = reverse("api:detection_image", args=[detection.pk])

    for variant in ("thumb", "preview"):
        assert client_in.get(image_page(detection, variant)).status_code == 404
    assert client_in.get(f"{api_url}?variant=thumb").status_code == 404
    assert (
        client_in.get(reverse("sequences:detection_crop", args=[detection.pk])).status_code == 404
    )
    # The original itself is still served as stored.
    assert client_in.get(image_page(detection)).status_code == 200


@pytest.mark.django_db
def test_a_thumbnail_cut_short_while_written_is_never_served(monkeypatch):
    detection = DetectionFactory(image=ContentFile(jpeg_bytes(1280, 720), name="frame.jpg"))
    storage = detection.image.storage
    name = thumbnail_name(detection.image.name, "thumb")
    real_fdopen = os.fdopen

    class DiskFull:
        """Writes half of what it is given, then fails as a full disk does."""

        def __init__(self, file):
            self.file = file

        def write(self, data):
            self.file.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

        def __getattr__(self, attribute):
            return getattr(self.file, attribute)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(
        os, "fdopen", lambda *args, **kwargs: DiskFull(real_fdopen(*args, **kwargs))
    )
    with pytest.raises(OSError):
        thumbnail_open(detection, "thumb")
    monkeypatch.setattr(os, "fdopen", real_fdopen)

    assert not storage.exists(name)
    folder = Path(storage.path(name)).parent
    assert [path.name for path in folder.iterdir()] == []  # no temporary file left behind
    with thumbnail_open(detection, "thumb") as file:
        assert PIL.Image.open(file).size == (640, 360)


@pytest.mark.django_db
def test_a_jpeg_thumbnail_is_decoded_at_a_reduced_scale(monkeypatch):
    detection = DetectionFactory(image=ContentFile(jpeg_bytes(*FOUR_K), name="frame.jpg"))
    decoded = []
    real_load = PIL.Image.Image.load

    def load(image):
        decoded.append(image.size)
        return real_load(image)

    monkeypatch.setattr(PIL.Image.Image, "load", load)
    images.thumbnail_stored(detection, "preview")  # 320 wide

    assert decoded and max(width for width, _ in decoded) <= FOUR_K[0] // 8
