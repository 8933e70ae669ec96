"""Zoomed crops: the `crop` image variant, a square window around a sequence's box with a
context margin, the box drawn on it, generated once with Pillow and kept in storage beside the
thumbnails.

A small plume is a few pixels of a 1280-pixel frame and vanishes in a thumbnail; the crop shows
it large. The box is the sequence's representative box (the per-coordinate median of the boxes
of its first GROUPS_REPRESENTATIVE_DETECTIONS frames, `boxes.representative_box`), so every
frame of a sequence is cropped to the same window and a growing plume grows in it.

The stored name carries the original's name (which carries a hash of its bytes) and a hash of
the box, so a crop never goes stale: `thumbnails/crop-320/<original name>-<box hash>.jpg`.
"""

from __future__ import annotations

import hashlib
import io

from django.conf import settings

from sequences.boxes import representative_box
from sequences.models import Detection
from sequences.services.images import (
    IMAGE_INVALID,
    JPEG_QUALITY,
    ImageTooLarge,
    image_pixels_check,
    pil_image,
    variant_store,
)

CROP_SIZE = 320
# The window is the box's longer side plus this much of it on every side (context)...
CROP_MARGIN = 1.0
# ...but never narrower than this fraction of the image's shorter side (a 4-pixel box would
# otherwise be blown up into a blur), nor larger than the shorter side.
CROP_MIN_FRACTION = 0.15
# The drawn box: a bright line with a dark rim, visible on sky, smoke and ground.
CROP_BOX_COLOUR = (255, 212, 0)
CROP_BOX_RIM = (20, 20, 20)

NO_BOX = "sequence #{sequence_id} has no box to crop around"


class NoCropBox(LookupError):
    """The detection's sequence has no valid box in its first frames: nothing to crop around."""


def sequence_box(sequence_id: int) -> list[float] | None:
    """The sequence's representative box (xyxyn) from its first frames, in one query."""
    predictions = (
        Detection.objects.filter(sequence_id=sequence_id)
        .order_by("recorded_at", "id")
        .values_list("algo_predictions", flat=True)[: settings.GROUPS_REPRESENTATIVE_DETECTIONS]
    )
    box = representative_box(predictions)
    return box["xyxyn"] if box else None


def crop_window(box: list[float], width: int, height: int) -> tuple[int, int, int, int]:
    """The square pixel window `(left, top, right, bottom)` shown around an xyxyn `box` on a
    `width` x `height` image: centred on the box, kept inside the image (pure)."""
    x1, y1, x2, y2 = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    shorter = min(width, height)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * CROP_MARGIN)
    side = round(min(shorter, max(side, CROP_MIN_FRACTION * shorter)))
    left = round(min(max((x1 + x2) / 2 - side / 2, 0), width - side))
    top = round(min(max((y1 + y2) / 2 - side / 2, 0), height - side))
    return left, top, left + side, top + side


def crop_render(data: bytes, box: list[float], *, size: int = CROP_SIZE) -> bytes:
    """JPEG bytes of the `size` x `size` crop around `box` with the box drawn on it.

    Raises ValueError(IMAGE_INVALID) for bytes Pillow cannot decode (ImageTooLarge over
    IMAGE_MAX_PIXELS).
    """
    from PIL import ImageDraw

    Image = pil_image()
    try:
        with Image.open(io.BytesIO(data)) as image:
            full_width, full_height = image.size
            image_pixels_check(full_width, full_height)
            left, top, right, bottom = crop_window(box, full_width, full_height)
            # A JPEG decodes at 1/2, 1/4 or 1/8 scale when the window stays at least `size`.
            image.draft(
                "RGB", (full_width * size // (right - left), full_height * size // (bottom - top))
            )
            scale = image.width / full_width
            window = tuple(round(value * scale) for value in (left, top, right, bottom))
            crop = image.convert("RGB").crop(window).resize((size, size), Image.Resampling.LANCZOS)
    except ImageTooLarge:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise ValueError(IMAGE_INVALID) from exc
    factor = size / (right - left)
    drawn = [
        (box[0] * full_width - left) * factor,
        (box[1] * full_height - top) * factor,
        (box[2] * full_width - left) * factor,
        (box[3] * full_height - top) * factor,
    ]
    draw = ImageDraw.Draw(crop)
    draw.rectangle([drawn[0] - 2, drawn[1] - 2, drawn[2] + 2, drawn[3] + 2], outline=CROP_BOX_RIM)
    draw.rectangle(
        [drawn[0] - 1, drawn[1] - 1, drawn[2] + 1, drawn[3] + 1], outline=CROP_BOX_COLOUR, width=2
    )
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def crop_name(image_name: str, box: list[float]) -> str:
    """The storage name of the crop of the image stored as `image_name` around `box`."""
    digest = hashlib.sha256(",".join(f"{value:.6f}" for value in box).encode()).hexdigest()[:8]
    return f"thumbnails/crop-{CROP_SIZE}/{image_name}-{digest}.jpg"


def crop_stored(detection: Detection) -> str:
    """The storage name of the detection image's crop, generated and stored on first use.

    Raises NoCropBox when its sequence has no box, FileNotFoundError when the original is gone
    and ValueError(IMAGE_INVALID) when it cannot be decoded.
    """
    box = sequence_box(detection.sequence_id)
    if box is None:
        raise NoCropBox(NO_BOX.format(sequence_id=detection.sequence_id))
    storage = detection.image.storage
    name = crop_name(detection.image.name, box)
    if not storage.exists(name):
        with storage.open(detection.image.name, "rb") as original:
            data = crop_render(original.read(), box)
        variant_store(storage, name, data)
    return name
