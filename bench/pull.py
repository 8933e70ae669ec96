"""Benchmark of an import's image downloads (see bench/README.md, "Pulling").

Serves N sequences of 30 images each from the fake Pyronear platform of the tests
(tests/support/fake_platform.py), in a process of its own, answering every image after 50 ms
(an object store across a country), and times `manage.py pull_sequences` of that day into a
scratch SQLite database and media folder, for each IMPORT_DOWNLOAD_CONCURRENCY asked. Prints
one JSON line per run: images, seconds, images per second, and the pulling process's peak
resident memory (the server's is not counted).

    .venv/bin/python bench/pull.py                       # 1000 x 30 images at concurrency 8
    .venv/bin/python bench/pull.py --sequences 50 --concurrency 1 8 16
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
SCRATCH = Path(tempfile.mkdtemp(prefix="bench-pull-"))
os.environ["DATABASE_URL"] = f"sqlite:///{SCRATCH / 'pull.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation_site.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory
os.environ.setdefault("LOG_LEVEL", "WARNING")

DAY = "2026-05-10"
IMAGES_PER_SEQUENCE = 30
IMAGE_DELAY = 0.05


def serve(sequences: int, delay: float, urls) -> None:
    """The fake platform with `sequences` x 30 images, each image answered after `delay`."""
    import django

    django.setup()
    from tests.factories import jpeg_bytes
    from tests.support.fake_platform import build_world

    platform = build_world()
    # A camera frame's size class: 640x360, a few tens of kilobytes.
    image = jpeg_bytes(640, 360, color="gray")
    for index in range(sequences):
        platform.add_sequence(
            10_000 + index,
            camera_id=12,
            started_at=f"{DAY}T{index // 3600 % 24:02d}:{index // 60 % 60:02d}:{index % 60:02d}",
        )
        for frame in range(IMAGES_PER_SEQUENCE):
            platform.add_detection(
                10_000 + index, created_at=f"{DAY}T12:00:{frame:02d}", image=image
            )
    platform.slow(r"^/images/", delay, times=None)
    platform.requests = _Forgetful()
    with platform.running():
        urls.put(platform.url)
        while True:
            time.sleep(3600)


class _Forgetful(list):
    """The fake records every request; a bench does not need them kept."""

    def append(self, item) -> None:
        return None


def pull(url: str, concurrency: int) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.IMPORT_DOWNLOAD_CONCURRENCY = concurrency
    settings.MEDIA_ROOT = str(SCRATCH / f"media-{concurrency}")
    settings.PLATFORM_API_URL = url
    settings.PLATFORM_LOGIN, settings.PLATFORM_PASSWORD = "annotator", "annotator-pw"
    settings.PLATFORM_ADMIN_LOGIN, settings.PLATFORM_ADMIN_PASSWORD = "admin", "admin-pw"
    call_command("migrate", "--noinput", verbosity=0)
    from sequences.models import Detection, Sequence

    Detection.objects.all().delete()
    Sequence.objects.all().delete()
    out = io.StringIO()
    start = time.perf_counter()
    call_command(
        "pull_sequences",
        "--date-from",
        DAY,
        "--source-api",
        "pyronear_french",
        "--no-assign",
        "--json",
        stdout=out,
        stderr=io.StringIO(),
    )
    seconds = time.perf_counter() - start
    report = json.loads(out.getvalue())
    images = report["detections"]["created"]
    return {
        "concurrency": concurrency,
        "sequences": report["sequences"]["created"],
        "images": images,
        "failed": report["sequences"]["failed"],
        "seconds": round(seconds, 1),
        "images_per_second": round(images / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _pull_into(results, url: str, concurrency: int) -> None:
    results.put(pull(url, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8])
    parser.add_argument("--delay", type=float, default=IMAGE_DELAY, help="seconds per image")
    args = parser.parse_args()
    context = multiprocessing.get_context("fork")
    urls = context.Queue()
    server = context.Process(target=serve, args=(args.sequences, args.delay, urls), daemon=True)
    server.start()
    url = urls.get(timeout=600)
    try:
        for concurrency in args.concurrency:
            # Each run in a process of its own, so its peak memory is its own.
            results = context.Queue()
            run = context.Process(target=_pull_into, args=(results, url, concurrency))
            run.start()
            print(json.dumps(results.get()), flush=True)
            run.join()
    finally:
        server.terminate()
        shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    main()
