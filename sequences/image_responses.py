"""HTTP answers with a stored detection image, one rule for the pages and the API.

With object storage the answer is a redirect to a presigned URL, kept by the browser only, for
at most half the signature's life (`presigned_redirect`). From the local disk the bytes are
streamed with their validators: stored names carry a hash of the bytes, so the ETag derived
from the name never changes, a client may keep the image for a day (private cache), and a
conditional request answers 304 without touching storage. An image that is gone, or whose
variant cannot be made from it (it does not decode), is a 404, never a 500.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date

from annotation_site.storage import presigned_redirect
from sequences.models import Detection
from sequences.services.images import IMAGE_CACHE_SECONDS, image_media_type

IMAGE_NOT_FOUND = "Image not found."


def stored_image_response(
    request: HttpRequest,
    detection: Detection,
    name: str,
    location: str | None,
    open_file: Callable[[], Any],
    *,
    not_found: str = IMAGE_NOT_FOUND,
) -> HttpResponse:
    """A redirect to the presigned `location`, or the stored image `name` (of `detection`)
    streamed with its validators; `open_file` opens it (and may generate a variant first).

    Raises Http404(`not_found`) when the file is gone or cannot be decoded into its variant.
    """
    if location is not None:
        return presigned_redirect(location, expires=settings.IMAGE_URL_EXPIRY_SECONDS)
    etag = f'"{hashlib.sha256(name.encode()).hexdigest()[:32]}"'
    last_modified = int(detection.created_at.timestamp())
    response = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if response is None:
        try:
            file = open_file()
        except (FileNotFoundError, ValueError) as exc:  # ValueError: does not decode
            raise Http404(not_found) from exc
        response = FileResponse(file, content_type=image_media_type(name))
    response["ETag"] = etag
    response["Last-Modified"] = http_date(last_modified)
    patch_cache_control(response, private=True, max_age=IMAGE_CACHE_SECONDS)
    return response
