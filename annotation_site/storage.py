"""Where detection images live: the local disk by default, an S3-compatible bucket on request.

`s3_storage_backend` turns the S3_* settings into the `STORAGES["default"]` entry of
django-storages' S3 backend, so the code that stores and reads images (`default_storage`, the
`Detection.image` field) is the same for both. On top of Django's storage API the site needs
two things the API does not name:

- `storage_presigned_url`: a short-lived URL at which the storage itself serves a file, for the
  image views to redirect to (None for the local disk, which the views keep streaming);
- `storage_check`: whether the storage answers, for `/readyz`.

boto3 and django-storages are imported only when a bucket is configured.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

S3_BACKEND = "storages.backends.s3.S3Storage"
S3_ADDRESSING_STYLES = ("auto", "path", "virtual")
MEDIA_NOT_WRITABLE = "the media folder (or the folder it will be created in) is not writable"


def s3_storage_backend(
    *,
    bucket: str,
    endpoint_url: str = "",
    region: str = "",
    access_key_id: str = "",
    secret_access_key: str = "",
    prefix: str = "",
    url_expiry_seconds: int = 300,
    addressing_style: str = "auto",
    timeout_seconds: float = 10.0,
) -> dict[str, Any]:
    """The `STORAGES["default"]` entry for a bucket; empty values mean "boto3's default".

    Without keys, boto3 finds credentials itself (AWS_* variables, an instance role...).
    Objects are private (no ACL is sent), and a name already taken gets a suffix instead of
    being overwritten, as on the local disk: a rolled-back import then deletes only its own
    objects, never those of a concurrent import of the same alert.
    """
    from botocore.config import Config

    return {
        "BACKEND": S3_BACKEND,
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region or None,
            "access_key": access_key_id or None,
            "secret_key": secret_access_key or None,
            "location": prefix.strip("/"),
            "querystring_auth": True,
            "querystring_expire": url_expiry_seconds,
            "file_overwrite": False,
            "default_acl": None,
            "client_config": Config(
                signature_version="s3v4",
                s3={"addressing_style": addressing_style},
                connect_timeout=timeout_seconds,
                read_timeout=timeout_seconds,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        },
    }


def storage_presigns(storage) -> bool:
    """Whether the storage hands out signed URLs of its own (an S3 bucket does)."""
    return bool(getattr(storage, "querystring_auth", False)) and hasattr(storage, "bucket_name")


def storage_presigned_url(
    storage,
    name: str,
    *,
    expires: int,
    content_type: str | None = None,
    cache_seconds: int | None = None,
) -> str | None:
    """A URL that serves `name` for `expires` seconds, or None when the storage cannot sign.

    The bucket answers with `content_type` and a private `Cache-Control` of `cache_seconds`
    when given (stored names carry a hash of the bytes, so the bytes never change).
    """
    if not storage_presigns(storage):
        return None
    parameters = {}
    if content_type:
        parameters["ResponseContentType"] = content_type
    if cache_seconds:
        parameters["ResponseCacheControl"] = f"private, max-age={cache_seconds}"
    return storage.url(name, parameters=parameters, expire=expires)


def storage_check(storage) -> None:
    """Raise when the storage cannot be used: the bucket must answer to our credentials, the
    media folder must be writable (or creatable)."""
    if hasattr(storage, "bucket_name"):
        storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)
        return
    folder = Path(storage.location)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
        raise PermissionError(MEDIA_NOT_WRITABLE)


def presigned_redirect(url: str, *, expires: int):
    """A 302 to a presigned `url` that lives `expires` seconds.

    Only the browser may keep the redirect (`private`), and for half the signature's life at
    most, so a kept redirect never points at an expired signature.
    """
    from django.http import HttpResponseRedirect
    from django.utils.cache import patch_cache_control

    response = HttpResponseRedirect(url)
    patch_cache_control(response, private=True, max_age=max(expires // 2, 0))
    return response
