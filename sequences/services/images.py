"""Detection images: checking uploaded bytes, naming stored files, and the smaller JPEG variants
(thumbnails) generated once with Pillow and kept in storage.

A variant lives next to the originals under a name derived from the original's name and the
variant's width (`thumbnails/thumb-640/<original name>.jpg`), so it is generated on first use
and served from storage afterwards; changing IMAGE_THUMBNAIL_WIDTH simply starts a new set.
Original names carry a hash of the bytes (SPEC §2.2), so a variant never goes stale.

With object storage (S3_BUCKET), originals and variants live in the bucket and
`image_presigned_url` gives the short-lived URL the image views redirect to; with the local disk
it gives None and the views stream the bytes.

Pillow is imported where it is used, so that modules importing the services do not pay for its
start-up.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation_site.storage import storage_presigned_url, storage_presigns
from sequences.models import Detection

IMAGE_INVALID = "image cannot be opened as JPEG, PNG or WebP"
IMAGE_EXTENSION_INVALID = "must be one of .jpg, .png, .webp"

# Pillow format name -> the extension the stored file gets.
IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
# The media type a stored image is served with, by its file extension.
IMAGE_MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
# Stored names carry a hash of the bytes: a client may keep an image this long.
IMAGE_CACHE_SECONDS = 86400


def image_check(data: bytes) -> str:
    """The extension (".jpg", ".png", ".webp") of image bytes Pillow can open and verify.

    Raises ValueError(IMAGE_INVALID) for anything else (other formats, truncated headers, text).
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            extension = IMAGE_FORMATS.get(image.format or "")
            image.verify()
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, struct.error...)
        raise ValueError(IMAGE_INVALID) from exc
    if extension is None:
        raise ValueError(IMAGE_INVALID)
    return extension


def detection_image_name(
    *, sequence_id: int, alert_api_id: int, recorded_at: datetime, data: bytes, extension: str
) -> str:
    """`detections/sequence_<sid>/<YYYYMMDD_HHMMSS>_det<alert_api_id>_<8 hex sha256><ext>`."""
    stamp = recorded_at.astimezone(UTC).strftime("%Y%m%d_%H%M%S")
    digest = hashlib.sha256(data).hexdigest()[:8]
    return f"detections/sequence_{sequence_id}/{stamp}_det{alert_api_id}_{digest}{extension}"


# --- Thumbnails ------------------------------------------------------------------------------

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
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        if image.width > width:
            height = max(1, round(image.height * width / image.width))
            image = image.resize((width, height), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def thumbnail_stored(detection: Detection, variant: str) -> str:
    """The storage name of the detection image's `variant`, generated and stored on first use.

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
    return name


def thumbnail_open(detection: Detection, variant: str) -> File:
    """An open file of the detection image's `variant` (see `thumbnail_stored`)."""
    return detection.image.storage.open(thumbnail_stored(detection, variant), "rb")


# --- Where a client fetches an image ---------------------------------------------------------


def image_media_type(name: str) -> str:
    """The media type a stored image is served with, from its name's extension."""
    return IMAGE_MEDIA_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def stored_image_url(name: str) -> str | None:
    """A URL at which the storage itself serves the stored image `name` for
    IMAGE_URL_EXPIRY_SECONDS, or None for a storage that cannot sign one (the local disk)."""
    return storage_presigned_url(
        default_storage,
        name,
        expires=settings.IMAGE_URL_EXPIRY_SECONDS,
        content_type=image_media_type(name),
        cache_seconds=IMAGE_CACHE_SECONDS,
    )


def image_presigned_url(detection: Detection, variant: str | None = None) -> str | None:
    """`stored_image_url` of the detection's image, or of its `variant` (generated first when
    missing, so it raises as `thumbnail_stored` does); None with the local disk.

    The original is not looked up: a missing one is the bucket's 404.
    """
    if not storage_presigns(detection.image.storage):
        return None
    name = thumbnail_stored(detection, variant) if variant else detection.image.name
    return stored_image_url(name)
