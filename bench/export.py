"""Benchmark of the training export at scale (see bench/README.md).

Builds a synthetic history directly in a scratch database -- N alerts of 10 frames over 300
cameras: 85% labeled by a person (smoke or a false positive), 10% an inherited label nobody
checked, 5% import placeholders -- then measures

  (a) a walk of `GET /api/v1/export/alerts` over all of it at `limit=100`, through the API with
      a token: seconds and queries of every page, the first pages against the last, and a page
      asked with the last cursor straight away;
  (b) an incremental pull: the walk with a watermark after which 1% of the alerts changed;
  (c) `manage.py export_alerts` over the first M alerts (images copied from storage), twice
      (the second run copies nothing), with the process's peak memory (and, with
      `--trace-memory`, the peak of its Python allocations), for a few M.

One JSON line per measurement.

    DATABASE_URL=postgres://USER@HOST:5432/NAME .venv/bin/python bench/export.py --keep

The data goes to Django's test database next to the configured one (``test_<NAME>``, dropped
at the end unless ``--keep``; a kept history of the same size is reused); the configured
database is never touched. Without DATABASE_URL it uses an in-memory SQLite database.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation_site.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_HTTPS", "false")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from bench.assign_groups import reset_peak_memory, resident_mb  # noqa: E402
from bench.assign_history import analyze  # noqa: E402
from sequences.models import (  # noqa: E402
    Camera,
    Detection,
    LabelSource,
    Organization,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import FALSE_POSITIVE_TYPES, SMOKE_TYPES, derived_flags  # noqa: E402
from tests.factories import UserFactory, jpeg_bytes  # noqa: E402
from tests.support import token_client  # noqa: E402

FRAMES = 10
CAMERAS = 300
CHUNK = 5000
IMAGE = "detections/bench/frame.jpg"
START = datetime(2025, 1, 1, tzinfo=UTC)
LABELED_AT = START + timedelta(days=400)


def _cluster(rng: random.Random, detection_ids: list[int], box: list[float]) -> dict:
    smoke = rng.random() < 0.3
    return {
        "is_smoke": smoke,
        "smoke_type": rng.choice(SMOKE_TYPES) if smoke else None,
        "false_positive_types": [] if smoke else [rng.choice(FALSE_POSITIVE_TYPES)],
        "bboxes": [{"detection_id": pk, "xyxyn": box} for pk in detection_ids],
    }


def build(alerts: int, seed: int) -> None:
    """The history, in chunks of bulk inserts (no images but one shared file)."""
    rng = random.Random(seed)
    organizations = Organization.objects.bulk_create(
        Organization(source_api="pyronear_french", platform_id=n, name=f"org-{n}")
        for n in range(30)
    )
    cameras = Camera.objects.bulk_create(
        Camera(
            source_api="pyronear_french",
            platform_id=n,
            name=f"camera-{n}",
            organization=organizations[n % 30],
        )
        for n in range(CAMERAS)
    )
    for first in range(1, alerts + 1, CHUNK):
        numbers = range(first, min(first + CHUNK, alerts + 1))
        sequences = Sequence.objects.bulk_create(
            Sequence(
                source_api="pyronear_french",
                alert_api_id=number,
                camera=(camera := cameras[number % CAMERAS]),
                organization_id=camera.organization_id,
                lat=44.5,
                lon=4.2,
                azimuth=number % 360,
                recorded_at=START + timedelta(minutes=5 * number),
                temporal_model_score=round(rng.random(), 3) if number % 2 else None,
            )
            for number in numbers
        )
        boxes = {}
        detections = []
        for sequence in sequences:
            x, y = rng.uniform(0, 0.8), rng.uniform(0, 0.8)
            boxes[sequence.pk] = [round(x, 4), round(y, 4), round(x + 0.1, 4), round(y + 0.1, 4)]
            prediction = {"xyxyn": boxes[sequence.pk], "confidence": 0.8, "class_name": "smoke"}
            detections += [
                Detection(
                    sequence=sequence,
                    alert_api_id=frame,
                    recorded_at=sequence.recorded_at + timedelta(seconds=30 * frame),
                    image=IMAGE,
                    algo_predictions={"predictions": [prediction]},
                )
                for frame in range(FRAMES)
            ]
        Detection.objects.bulk_create(detections)
        frames: dict[int, list[int]] = {}
        for detection in detections:
            frames.setdefault(detection.sequence_id, []).append(detection.pk)
        annotations = []
        for sequence in sequences:
            kind = rng.random()
            content = {"sequences_bbox": [_cluster(rng, frames[sequence.pk], boxes[sequence.pk])]}
            if kind < 0.05:  # an import placeholder
                content["sequences_bbox"][0].update(is_smoke=True, smoke_type=None)
                content["sequences_bbox"][0]["false_positive_types"] = []
            annotations.append(
                SequenceAnnotation(
                    sequence=sequence,
                    annotation=content,
                    processing_stage=ProcessingStage.READY_TO_ANNOTATE
                    if kind < 0.05
                    else ProcessingStage.SEQ_ANNOTATION_DONE,
                    label_source=None
                    if kind < 0.05
                    else LabelSource.INHERITED
                    if kind < 0.15
                    else LabelSource.HUMAN,
                    checked_at=LABELED_AT if kind >= 0.15 else None,
                    check_risk=0.0 if 0.05 <= kind < 0.15 else None,
                    **derived_flags(content),
                )
            )
        SequenceAnnotation.objects.bulk_create(annotations)
        print(f"built {numbers[-1]} alerts", file=sys.stderr, end="\r")
    SequenceAnnotation.objects.update(updated_at=LABELED_AT)
    print(file=sys.stderr)


def _walk(client: APIClient, **params) -> tuple[list[float], list[int], int]:
    """Every page of a walk: seconds and queries of each, and the number of items."""
    seconds, queries, items, cursor = [], [], 0, None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get("/api/v1/export/alerts", query)
            seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content[:500]
        queries.append(len(captured))
        body = response.json()
        items += len(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seconds, queries, items


def _milliseconds(values: list[float]) -> float:
    return round(1000 * statistics.mean(values), 1)


def measure_walk(client: APIClient, alerts: int) -> dict:
    seconds, queries, items = _walk(client, limit=100)
    ten = max(1, len(seconds) // 100)
    started = time.perf_counter()
    last = client.get(
        "/api/v1/export/alerts", {"limit": 100, "cursor": f"pyronear_french:{alerts - 150}"}
    )
    deep = time.perf_counter() - started
    assert last.status_code == 200
    return {
        "bench": "export_walk",
        "alerts": alerts,
        "items": items,
        "pages": len(seconds),
        "seconds": round(sum(seconds), 2),
        "first_pages_ms": _milliseconds(seconds[1 : 1 + ten]),  # the first page warms caches
        "last_pages_ms": _milliseconds(seconds[-ten:]),
        "median_page_ms": round(1000 * statistics.median(seconds), 1),
        "deep_cursor_page_ms": round(1000 * deep, 1),
        "queries_per_page": sorted(set(queries)),
        "database": connection.vendor,
        "load_average": round(os.getloadavg()[0], 2),
    }


def measure_incremental(client: APIClient, alerts: int) -> dict:
    changed = list(range(1, alerts + 1, 100))
    watermark = timezone.now()
    SequenceAnnotation.objects.filter(sequence__alert_api_id__in=changed).update(
        updated_at=watermark + timedelta(seconds=1)
    )
    seconds, queries, items = _walk(client, limit=100, annotation_updated_gte=watermark.isoformat())
    SequenceAnnotation.objects.update(updated_at=LABELED_AT)
    return {
        "bench": "export_incremental",
        "alerts": alerts,
        "changed": len(changed),
        "items": items,
        "pages": len(seconds),
        "seconds": round(sum(seconds), 2),
        "queries_per_page": sorted(set(queries)),
        "database": connection.vendor,
    }


def measure_command(alerts: int, out: Path, *, trace: bool) -> list[dict]:
    results = []
    for run in ("first", "rerun"):
        baseline = reset_peak_memory()
        if trace:
            tracemalloc.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        stdout = io.StringIO()
        call_command(
            "export_alerts",
            "--out",
            str(out),
            "--include-unchecked",
            "--recorded-at-lte",
            (START + timedelta(minutes=5 * alerts)).isoformat(),
            "--json",
            stdout=stdout,
        )
        summary = json.loads(stdout.getvalue())
        python_peak = None
        if trace:
            python_peak = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
            tracemalloc.stop()
        results.append(
            {
                "bench": "export_command",
                "run": run,
                "alerts": summary["alerts"],
                "frames": summary["frames"],
                "images_copied": summary["images_copied"],
                "seconds": round(time.perf_counter() - started, 2),
                "cpu_seconds": round(time.process_time() - cpu_started, 2),
                "baseline_memory_mb": baseline,
                "peak_memory_mb": resident_mb(),
                # Python's own allocations (--trace-memory): what the command holds, without
                # the allocator's arenas.
                "python_peak_mb": python_peak,
                "manifest_mb": round((out / "manifest.jsonl").stat().st_size / 2**20, 1),
                "database": connection.vendor,
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="history size")
    parser.add_argument(
        "--command-alerts",
        default="1000,10000",
        help="comma-separated sizes of the command runs (alerts, 10 frames each)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="also the command's peak of Python allocations (tracemalloc; slower)",
    )
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the history")
    args = parser.parse_args()

    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(
        verbosity=0, autoclobber=True, keepdb=args.keep, serialize=False
    )
    try:
        with tempfile.TemporaryDirectory() as scratch:
            settings.MEDIA_ROOT = str(Path(scratch) / "media")
            run(args, Path(scratch))
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0, keepdb=args.keep)


def run(args: argparse.Namespace, scratch: Path) -> None:
    started = time.perf_counter()
    if Sequence.objects.count() != args.alerts:
        call_command("flush", interactive=False, verbosity=0)
        build(args.alerts, args.seed)
    analyze()
    default_storage.save(IMAGE, io.BytesIO(jpeg_bytes()))
    print(
        f"history of {args.alerts} alerts in {time.perf_counter() - started:.1f} s", file=sys.stderr
    )
    client = token_client(UserFactory(username="bench"))
    print(json.dumps(measure_walk(client, args.alerts)), flush=True)
    print(json.dumps(measure_incremental(client, args.alerts)), flush=True)
    for size in (int(size) for size in args.command_alerts.split(",")):
        for result in measure_command(size, scratch / f"dataset-{size}", trace=args.trace_memory):
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
