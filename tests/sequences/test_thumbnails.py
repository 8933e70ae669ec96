"""Thumbnails (Pillow, cached in storage) and the login-protected image view (SPEC §7.2, §6.3)."""

import io

import PIL.Image
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from sequences.services import images
from sequences.services.images import PREVIEW_WIDTH, thumbnail_name, thumbnail_open
from tests.factories import DetectionFactory, jpeg_bytes

pytestmark = pytest.mark.django_db


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (width, height), "orange").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def detection():
    return DetectionFactory(image=ContentFile(jpeg_bytes(1280, 720), name="frame.jpg"))


def image_of(data: bytes) -> PIL.Image.Image:
    image = PIL.Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(("variant", "width"), [("thumb", 640), ("preview", PREVIEW_WIDTH)])
def test_variants_are_smaller_jpegs_keeping_the_aspect(detection, variant, width):
    with thumbnail_open(detection, variant) as file:
        image = image_of(file.read())
    assert image.format == "JPEG"
    assert image.size == (width, width * 720 // 1280)


def test_thumb_follows_the_setting(detection, settings):
    settings.IMAGE_THUMBNAIL_WIDTH = 200
    with thumbnail_open(detection, "thumb") as file:
        assert image_of(file.read()).width == 200


def test_small_images_are_not_enlarged_and_png_becomes_jpeg():
    small = DetectionFactory(image=ContentFile(png_bytes(100, 50), name="small.png"))
    with thumbnail_open(small, "thumb") as file:
        image = image_of(file.read())
    assert image.format == "JPEG" and image.size == (100, 50)


def test_a_variant_is_generated_once_then_served_from_storage(detection, monkeypatch):
    with thumbnail_open(detection, "thumb") as file:
        first = file.read()
    stored = detection.image.storage
    assert stored.exists(thumbnail_name(detection.image.name, "thumb"))

    def refuse(*args, **kwargs):
        raise AssertionError("the thumbnail was rendered again")

    monkeypatch.setattr(images, "thumbnail_render", refuse)
    with thumbnail_open(detection, "thumb") as file:
        assert file.read() == first


def test_unknown_variant_is_refused(detection):
    with pytest.raises(ValueError, match="unknown image variant 'huge'"):
        thumbnail_open(detection, "huge")


# --- The view ---------------------------------------------------------------------------------


def image_url(detection, variant: str | None = None) -> str:
    url = reverse("sequences:detection_image", args=[detection.pk])
    return f"{url}?variant={variant}" if variant else url


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_anonymous_visitors_are_sent_to_login(client, detection):
    response = client.get(image_url(detection, "thumb"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login") + "?next=")


def test_original_image_is_served_with_caching_headers(client, annotator, detection):
    client.force_login(annotator)
    response = client.get(image_url(detection))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"] and "max-age=86400" in response["Cache-Control"]
    assert response["ETag"] and response["Last-Modified"]
    with detection.image.open("rb") as file:
        assert body(response) == file.read()


def test_thumb_is_a_jpeg_at_most_the_configured_width(client, annotator, detection, settings):
    client.force_login(annotator)
    response = client.get(image_url(detection, "thumb"))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    image = image_of(body(response))
    assert image.format == "JPEG" and image.width <= settings.IMAGE_THUMBNAIL_WIDTH


def test_png_original_keeps_its_content_type(client, annotator):
    client.force_login(annotator)
    detection = DetectionFactory(image=ContentFile(png_bytes(80, 40), name="frame.png"))
    response = client.get(image_url(detection))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_conditional_get_answers_not_modified(client, annotator, detection):
    client.force_login(annotator)
    etag = client.get(image_url(detection, "preview"))["ETag"]
    again = client.get(image_url(detection, "preview"), headers={"If-None-Match": etag})
    assert again.status_code == 304
    other_variant = client.get(image_url(detection, "thumb"), headers={"If-None-Match": etag})
    assert other_variant.status_code == 200


@pytest.mark.parametrize("case", ["unknown id", "unknown variant", "file gone"])
def test_missing_things_are_404(client, annotator, detection, case):
    client.force_login(annotator)
    if case == "unknown id":
        url = reverse("sequences:detection_image", args=[detection.pk + 1000])
    elif case == "unknown variant":
        url = image_url(detection, "huge")
    else:
        detection.image.storage.delete(detection.image.name)
        url = image_url(detection, "thumb")
    assert client.get(url).status_code == 404
