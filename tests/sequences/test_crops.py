"""Zoomed crops: the square window around a sequence's box, the box drawn on it, stored once and
served by a login-protected view (SPEC §6.3, issue 18 "Zoomed crops")."""

import io

import PIL.Image
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from sequences.services import crops
from sequences.services.crops import CROP_BOX_COLOUR, CROP_SIZE, crop_stored, crop_window
from tests.factories import DetectionFactory, SequenceFactory, jpeg_bytes, predictions

pytestmark = pytest.mark.django_db

PLUME = [0.5, 0.5, 0.51, 0.52]  # a 13 x 14 pixel plume on a 1280 x 720 frame


def frame(sequence, box=PLUME, *, width=1280, height=720):
    return DetectionFactory(
        sequence=sequence,
        image=ContentFile(jpeg_bytes(width, height, "skyblue"), name="frame.jpg"),
        algo_predictions=predictions((box, 0.9)) if box else predictions(),
    )


def image_of(data: bytes) -> PIL.Image.Image:
    image = PIL.Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def test_the_window_is_square_around_the_box_with_a_margin_and_inside_the_image():
    left, top, right, bottom = crop_window([0.4, 0.4, 0.6, 0.5], 1000, 500)
    assert right - left == bottom - top == 500  # 3 x 200 px, capped at the shorter side
    assert (left, top) == (250, 0)
    # A tiny box gets the minimum window, not a blur of a few pixels.
    left, top, right, bottom = crop_window(PLUME, 1280, 720)
    assert right - left == round(0.15 * 720)
    assert left < 0.5 * 1280 < right and top < 0.5 * 720 < bottom
    # A box at the corner: the window stays inside the image.
    assert crop_window([0.95, 0.9, 1.0, 1.0], 1280, 720)[2:] == (1280, 720)


def test_the_crop_is_a_square_jpeg_with_the_box_drawn(client, annotator):
    sequence = SequenceFactory()
    detection = frame(sequence)
    client.force_login(annotator)
    response = client.get(reverse("sequences:detection_crop", args=[detection.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    image = image_of(b"".join(response.streaming_content))
    assert image.size == (CROP_SIZE, CROP_SIZE)
    colours = image.getcolors(CROP_SIZE * CROP_SIZE)
    yellow = [
        count
        for count, rgb in colours
        if all(abs(a - b) < 60 for a, b in zip(rgb, CROP_BOX_COLOUR, strict=True))
    ]
    assert sum(yellow) > 100  # the box's outline, enlarged: a 13-px plume is 40 px wide here


def test_a_crop_is_rendered_once_then_served_from_storage(monkeypatch):
    detection = frame(SequenceFactory())
    name = crop_stored(detection)
    assert detection.image.storage.exists(name)

    def refuse(*args, **kwargs):
        raise AssertionError("the crop was rendered again")

    monkeypatch.setattr(crops, "crop_render", refuse)
    assert crop_stored(detection) == name


def test_every_frame_is_cropped_around_the_same_sequence_box():
    sequence = SequenceFactory()
    first = frame(sequence, [0.5, 0.5, 0.52, 0.52])
    second = frame(sequence, [0.5, 0.5, 0.52, 0.52])
    third = frame(sequence, [0.1, 0.1, 0.2, 0.2])  # an outlier frame: the median ignores it
    names = [crop_stored(detection) for detection in (first, second, third)]
    assert len({name.rsplit("-", 1)[1] for name in names}) == 1


def test_no_box_or_a_broken_image_is_a_404(client, annotator):
    client.force_login(annotator)
    boxless = frame(SequenceFactory(), box=None)
    response = client.get(reverse("sequences:detection_crop", args=[boxless.pk]))
    assert response.status_code == 404
    broken = DetectionFactory(image=ContentFile(b"not an image", name="broken.jpg"))
    response = client.get(reverse("sequences:detection_crop", args=[broken.pk]))
    assert response.status_code == 404
    assert client.get(reverse("sequences:detection_crop", args=[987654])).status_code == 404


def test_the_crop_needs_a_login(client):
    detection = frame(SequenceFactory())
    response = client.get(reverse("sequences:detection_crop", args=[detection.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]
