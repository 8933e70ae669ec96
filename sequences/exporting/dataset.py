"""The dataset on disk, in the reference's layout:

    OUT/
    ├── manifest.jsonl                    one line per alert, the endpoint's item with each
    │                                     frame's `image_url` replaced by `image_path`
    └── images/{source_api}/{alert_api_id}/{detection_id}.jpg

Written page by page from the same keyset walk as the endpoint, so memory stays bounded
whatever the size: a page's rows and frames, and its image copies through a pool of
`workers` threads (the copies touch storage only, never the database). The manifest is written
to `manifest.jsonl.tmp` and renamed at the end, so an interrupted run leaves the previous
manifest whole. A rerun rewrites the manifest and copies only the images missing on disk (a
detection's image never changes; a copy lands under a `.part` name first, so a file present is
whole). The same database and options give the same bytes: nothing in a line depends on the
run. An image that cannot be copied is reported and its frame gets `image_path: null`; a rerun
heals it.

An image keeps its stored format: JPEG images (every platform image) are `.jpg`, as in the
reference; a PNG or WebP uploaded through the API keeps its own extension.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from sequences.exporting.items import FrameLink, page_items
from sequences.exporting.selection import AlertKey, ExportFilters, Page, page_read

MANIFEST = "manifest.jsonl"
IMAGES = "images"
IMAGE_FAILED = "detection {detection_id} ({name}): {reason}"
# Errors listed in a summary; the counters still count them all.
ERRORS_LISTED = 20
_COPY_CHUNK = 1 << 20


def image_path(source_api: str, alert_api_id: int, detection_id: int, image_name: str) -> str:
    """The dataset-relative path of a frame's image."""
    extension = Path(image_name).suffix.lower()
    extension = ".jpg" if extension in ("", ".jpeg") else extension
    return f"{IMAGES}/{source_api}/{alert_api_id}/{detection_id}{extension}"


@dataclass
class DatasetSummary:
    """What a dataset run wrote; `images_failed` frames have `image_path: null`."""

    alerts: int = 0
    withdrawn: int = 0
    objects: int = 0
    frames: int = 0
    images_copied: int = 0
    images_present: int = 0
    images_failed: int = 0
    errors: list[str] = field(default_factory=list)

    def count_item(self, item: dict[str, Any]) -> None:
        if item["withdrawn"]:
            self.withdrawn += 1
            return
        self.alerts += 1
        self.objects += len(item["objects"])

    def image_failed(self, message: str) -> None:
        self.images_failed += 1
        if len(self.errors) < ERRORS_LISTED:
            self.errors.append(message)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _copy(name: str, destination: Path) -> str | None:
    """Copy one stored image to `destination`; the reason it failed, or None."""
    partial = destination.with_name(destination.name + ".part")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(name, "rb") as source, partial.open("wb") as target:
            shutil.copyfileobj(source, target, _COPY_CHUNK)
        os.replace(partial, destination)
    # Any storage backend's error (a missing file, a refused request) fails this image only.
    except Exception as exc:
        partial.unlink(missing_ok=True)
        return str(exc) or type(exc).__name__
    return None


def _page_images(
    page: Page, out: Path, pool: ThreadPoolExecutor, summary: DatasetSummary
) -> dict[int, str]:
    """Copy the page's missing images; the dataset path of each frame whose image is there."""
    paths: dict[int, str] = {}
    copies: dict[int, tuple[str, str, Future]] = {}
    for row in page.rows:
        for frame in page.frames.get(row.pk, []):
            path = image_path(
                row.source_api, row.alert_api_id, frame.detection_id, frame.image_name
            )
            summary.frames += 1
            if (out / path).is_file():
                summary.images_present += 1
                paths[frame.detection_id] = path
            else:
                job = pool.submit(_copy, frame.image_name, out / path)
                copies[frame.detection_id] = (path, frame.image_name, job)
    for detection_id, (path, name, job) in copies.items():
        reason = job.result()
        if reason is None:
            summary.images_copied += 1
            paths[detection_id] = path
        else:
            summary.image_failed(
                IMAGE_FAILED.format(detection_id=detection_id, name=name, reason=reason)
            )
    return paths


def _frame_paths(paths: dict[int, str]) -> FrameLink:
    """How the manifest reaches a frame's image: its dataset path, null when not copied."""
    return lambda frame: {"image_path": paths.get(frame.detection_id)}


def dataset_write(
    *,
    out: Path,
    filters: ExportFilters,
    page_size: int,
    workers: int,
    on_page: Callable[[DatasetSummary], None] | None = None,
) -> DatasetSummary:
    """Walk the export and write the dataset into `out` (created if missing).

    `on_page(summary)` is called after each page (a progress line). Raises OSError when the
    folder or the manifest cannot be written; the previous manifest is then left as it was.
    """
    out.mkdir(parents=True, exist_ok=True)
    written = out / f"{MANIFEST}.tmp"
    summary = DatasetSummary()
    after: AlertKey | None = None
    try:
        with (
            ThreadPoolExecutor(max_workers=workers) as pool,
            written.open("w", encoding="utf-8", newline="\n") as manifest,
        ):
            while True:
                page = page_read(filters, after=after, limit=page_size)
                paths = _page_images(page, out, pool, summary)
                for item in page_items(page, _frame_paths(paths)):
                    manifest.write(json.dumps(item, ensure_ascii=False) + "\n")
                    summary.count_item(item)
                if on_page is not None:
                    on_page(summary)
                if page.next_key is None:
                    break
                after = page.next_key
    except BaseException:
        written.unlink(missing_ok=True)
        raise
    os.replace(written, out / MANIFEST)
    return summary
