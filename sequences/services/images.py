"""Detection images: checking the bytes of every image that comes in, naming stored files, and
the smaller JPEG variants (thumbnails) generated once with Pillow and kept in storage.

`image_check` is the one gate of every way in (the API upload, the local import, the platform
pull, the demo): at most IMAGE_MAX_BYTES bytes (`image_bytes_check`, also usable before the
bytes are read) and IMAGE_MAX_PIXELS pixels, decoded whole once, so a truncated file or a
decompression bomb is refused with a message naming the limit instead of failing later.

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
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation_site.storage import storage_presigned_url, storage_presigns
from sequences.models import Detection

IMAGE_INVALID = "image cannot be opened as JPEG, PNG or WebP"
IMAGE_EXTENSION_INVALID = "must be one of .jpg, .png, .webp"
IMAGE_TOO_MANY_BYTES = "image is {size} bytes, over the limit of {limit} bytes (IMAGE_MAX_BYTES)"
IMAGE_TOO_MANY_PIXELS = (
    "image is {width} x {height} pixels, over the limit of {limit} pixels (IMAGE_MAX_PIXELS)"
)
IMAGE_BOMB = "image is {pixels} pixels, over the limit of {limit} pixels (IMAGE_MAX_PIXELS)"
# The pixel count in Pillow's decompression bomb message.
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

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


class ImageTooLarge(ValueError):
    """An image over IMAGE_MAX_BYTES or IMAGE_MAX_PIXELS; the message names the limit."""


def pil_image():
    """Pillow's Image module, with its decompression bomb warning turned into an error.

    The filter is (re)placed first in the process's list on every call, which replaces an
    identical one rather than piling up: `catch_warnings` around each decode would not be
    thread-safe, and a filter set once could be reset by whoever restores the list later.
    """
    from PIL import Image

    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
    return Image


def _bomb_refusal(exc: Exception) -> ImageTooLarge:
    """Pillow's decompression bomb warning (or error) as the refusal naming the limit."""
    found = _BOMB_PIXELS.search(str(exc))
    pixels = found[1] if found else "more"
    return ImageTooLarge(IMAGE_BOMB.format(pixels=pixels, limit=settings.IMAGE_MAX_PIXELS))


def image_bytes_check(size: int) -> None:
    """Refuse (ImageTooLarge) an image of `size` bytes over IMAGE_MAX_BYTES, before reading it
    when the size is known (an upload, a file on disk, a Content-Length)."""
    limit = settings.IMAGE_MAX_BYTES
    if size > limit:
        raise ImageTooLarge(IMAGE_TOO_MANY_BYTES.format(size=size, limit=limit))


def image_pixels_check(width: int, height: int) -> None:
    """Refuse (ImageTooLarge) an image of more than IMAGE_MAX_PIXELS pixels, from the size its
    header declares, before anything is decoded."""
    limit = settings.IMAGE_MAX_PIXELS
    if width * height > limit:
        raise ImageTooLarge(IMAGE_TOO_MANY_PIXELS.format(width=width, height=height, limit=limit))


def image_check(data: bytes) -> str:
    """The extension (".jpg", ".png", ".webp") of image bytes within the caps that Pillow
    decodes whole.

    Raises ImageTooLarge (a ValueError naming the limit) over IMAGE_MAX_BYTES or
    IMAGE_MAX_PIXELS, the pixel count read from the header before decoding, and
    ValueError(IMAGE_INVALID) for anything else that does not decode (other formats, a
    truncated file, text).
    """
    image_bytes_check(len(data))
    Image = pil_image()
    try:
        with Image.open(io.BytesIO(data)) as image:
            extension = IMAGE_FORMATS.get(image.format or "")
            if extension is None:
                raise ValueError(IMAGE_INVALID)
            image_pixels_check(*image.size)
            image.load()  # the whole image, once: a truncated one fails here
    except ImageTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_refusal(exc) from exc
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, struct.error...)
        raise ValueError(IMAGE_INVALID) from exc
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
    """JPEG bytes of the image at most `width` pixels wide (never enlarged, aspect kept).

    A JPEG is decoded at 1/2, 1/4 or 1/8 of its size when that still covers `width` (Pillow's
    draft), and the image is halved with `reduce` before the final resampling. Raises
    ImageTooLarge over IMAGE_MAX_PIXELS and ValueError(IMAGE_INVALID) for bytes that do not
    decode, so a stored image that went bad is a 404, never a 500.
    """
    Image = pil_image()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_pixels_check(*image.size)
            size = image.size
            if image.width > width:
                size = (width, max(1, round(image.height * width / image.width)))
            image.draft("RGB", size)
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            if rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            buffer = io.BytesIO()
            rgb.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    except ImageTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_refusal(exc) from exc
    except Exception as exc:
        raise ValueError(IMAGE_INVALID) from exc
    return buffer.getvalue()


def variant_store(storage, name: str, data: bytes) -> None:
    """Store a generated variant as `name` so that no reader ever sees it half-written.

    On the local disk the bytes go to a temporary file beside it, renamed over `name` (atomic;
    two requests generating the same variant both write the same bytes). A bucket's single PUT
    is atomic already; a copy a concurrent request stored first is kept.
    """
    try:
        path = Path(storage.path(name))
    except NotImplementedError:  # object storage
        stored = storage.save(name, ContentFile(data))
        if stored != name:
            storage.delete(stored)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        mode = getattr(storage, "file_permissions_mode", None)
        os.chmod(temporary, mode if mode is not None else 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def thumbnail_stored(detection: Detection, variant: str) -> str:
    """The storage name of the detection image's `variant`, generated and stored on first use.

    Raises ValueError for an unknown variant or an original that does not decode (ImageTooLarge
    for one over IMAGE_MAX_PIXELS) and FileNotFoundError when the original is gone.
    """
    storage = detection.image.storage
    name = thumbnail_name(detection.image.name, variant)
    if not storage.exists(name):
        with storage.open(detection.image.name, "rb") as original:
            data = thumbnail_render(original.read(), variant_width(variant))
        variant_store(storage, name, data)
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
