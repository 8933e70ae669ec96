"""Smaller JPEG variants of detection images, generated once with Pillow and kept in storage.

A variant lives next to the originals under a name derived from the original's name and the
variant's width (`thumbnails/thumb-640/<original name>.jpg`), so it is generated on first use
and served from storage afterwards; changing IMAGE_THUMBNAIL_WIDTH simply starts a new set.
Original names carry a hash of the bytes (SPEC §2.2), so a variant never goes stale.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from PIL import Image

from sequences.models import Detection

PREVIEW_WIDTH = 320
JPEG_QUALITY = 82
UNKNOWN_VARIANT = "unknown image variant {variant!r}; use one of {choices}"

# variant -> its width in pixels (read when used, so settings overrides apply).
VARIANT_WIDTHS: dict[str, Callable[[], int]] = {
    "thumb": lambda: settings.IMAGE_THUMBNAIL_WIDTH,
    "preview": lambda: PREVIEW_WIDTH,
}


def variant_width(variant: str) -> int:
    """The width of `variant`, or ValueError for an unknown variant."""
    if variant not in VARIANT_WIDTHS:
        raise ValueError(UNKNOWN_VARIANT.format(variant=variant, choices=", ".join(VARIANT_WIDTHS)))
    return VARIANT_WIDTHS[variant]()


def thumbnail_name(image_name: str, variant: str) -> str:
    """The storage name of a variant of the image stored as `image_name`."""
    return f"thumbnails/{variant}-{variant_width(variant)}/{image_name}.jpg"


def thumbnail_render(data: bytes, width: int) -> bytes:
    """JPEG bytes of the image at most `width` pixels wide (never enlarged, aspect kept)."""
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        if image.width > width:
            height = max(1, round(image.height * width / image.width))
            image = image.resize((width, height), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def thumbnail_open(detection: Detection, variant: str) -> File:
    """An open file of the detection image's `variant`, generated and stored on first use.

    Raises ValueError for an unknown variant and FileNotFoundError when the original is gone.
    """
    storage = detection.image.storage
    name = thumbnail_name(detection.image.name, variant)
    if not storage.exists(name):
        with storage.open(detection.image.name, "rb") as original:
            data = thumbnail_render(original.read(), variant_width(variant))
        stored = storage.save(name, ContentFile(data))
        if stored != name:
            # Another request generated the same variant meanwhile; keep that one.
            storage.delete(stored)
    return storage.open(name, "rb")
