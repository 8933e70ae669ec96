"""Benchmark of the group assignment run at scale (see bench/README.md).

Builds a synthetic history directly in a scratch database -- N sequences of 10 detections over
hundreds of cameras, mostly recurring spots plus one-off sightings -- then times

  (a) the first run over all of it, and
  (b) an incremental run of --new-sequences new sequences against the existing groups (some
      of them labeled, so inheritance is exercised),

printing one JSON line per run: sequences, groups, seconds, sequences_per_second, queries,
peak_memory_mb, floor_seconds (a bare SQL read of the same detection rows: the run's window
query through a raw cursor, each JSON document decoded as psycopg does by default) and
ratio_to_floor, plus the same against the read with the JSON left undecoded.

    DATABASE_URL=postgres://USER@HOST:5432/NAME .venv/bin/python bench/assign_groups.py

The data goes to a scratch database next to the configured one (Django's test database,
``test_<NAME>``, created with its schema by the migrations and dropped at the end); the
configured database itself is never touched. ``--keep`` keeps the scratch database, and the
next ``--keep`` run of the same size reuses its history (ungrouped again) instead of building
it anew. Without DATABASE_URL it uses an in-memory SQLite database.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation_site.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory

import django
import numpy as np

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import DatabaseError, connection, transaction  # noqa: E402
from django.db.models import Count, Max  # noqa: E402
from django.utils import timezone  # noqa: E402

from groups import assignment  # noqa: E402
from groups.models import (  # noqa: E402
    AssignmentRun,
    GroupOperation,
    GroupOperationMember,
    SequenceGroup,
)
from sequences.models import (  # noqa: E402
    Camera,
    Detection,
    Organization,
    Sequence,
    SequenceAnnotation,
)

DETECTIONS_PER_SEQUENCE = 10
SPOTS_PER_CAMERA = 12
AZIMUTHS_PER_CAMERA = 4
ONE_OFF_SHARE = 0.2  # sightings that happen once: fires, birds, passing trucks
CHUNK_SEQUENCES = 5000
DUMMY_IMAGE = "detections/bench/dummy.jpg"
HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY_SPAN = timedelta(days=365)


# --- Synthetic history --------------------------------------------------------------------------


def seed_label(seed: int) -> str:
    """Organisation names carry the seed, so that a kept history is reused only by its seed."""
    return f"bench-seed-{seed}-org-"


class World:
    """Cameras, their azimuths and their recurring spots (a box each), from one seed."""

    def __init__(self, seed: int, cameras: int, *, existing: bool = False):
        """Create the cameras, or with `existing` reuse those a previous build created."""
        self.rng = rng = random.Random(seed)
        if existing:
            self.cameras = list(Camera.objects.order_by("platform_id"))
        else:
            organizations = Organization.objects.bulk_create(
                Organization(
                    source_api="pyronear_french", platform_id=i, name=f"{seed_label(seed)}{i}"
                )
                for i in range(max(1, cameras // 10))
            )
            self.cameras = Camera.objects.bulk_create(
                Camera(
                    source_api="pyronear_french",
                    platform_id=i,
                    name=f"camera-{i}",
                    organization=organizations[i % len(organizations)],
                )
                for i in range(cameras)
            )
        self.azimuths = {
            camera.pk: rng.sample(range(360), AZIMUTHS_PER_CAMERA) for camera in self.cameras
        }
        self.spots = {
            camera.pk: [
                (rng.choice(self.azimuths[camera.pk]), self.random_box())
                for _ in range(SPOTS_PER_CAMERA)
            ]
            for camera in self.cameras
        }
        self.next_alert_id = (Sequence.objects.aggregate(top=Max("alert_api_id"))["top"] or 0) + 1
        # The sequences and detections are drawn with numpy, from the same seed and the history
        # already there (a reused history draws other new sequences than a fresh one).
        self.draw = np.random.default_rng([seed, self.next_alert_id])
        self.camera_azimuths = np.array([self.azimuths[c.pk] for c in self.cameras])
        self.spot_azimuths = np.array([[a for a, _ in self.spots[c.pk]] for c in self.cameras])
        self.spot_boxes = np.array([[b for _, b in self.spots[c.pk]] for c in self.cameras])

    def random_box(self) -> list[float]:
        width, height = self.rng.uniform(0.03, 0.25), self.rng.uniform(0.03, 0.2)
        x1, y1 = self.rng.uniform(0, 1 - width), self.rng.uniform(0, 1 - height)
        return [x1, y1, x1 + width, y1 + height]

    def _random_boxes(self, count: int) -> np.ndarray:
        """``count`` boxes anywhere, as :meth:`random_box` draws them."""
        draw = self.draw
        width, height = draw.uniform(0.03, 0.25, count), draw.uniform(0.03, 0.2, count)
        x1, y1 = draw.uniform(0, 1 - width), draw.uniform(0, 1 - height)
        return np.stack([x1, y1, x1 + width, y1 + height], axis=-1)

    def _jitter(self, boxes: np.ndarray, amount: float) -> np.ndarray:
        """``boxes`` (..., 4) moved by Gaussian noise of `amount` times their size, kept
        valid and rounded to 4 decimals."""
        scale = amount * np.maximum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1])
        moved = boxes + self.draw.normal(0.0, 1.0, boxes.shape) * scale[..., np.newaxis]
        x1, y1 = np.clip(moved[..., 0], 0.0, 0.98), np.clip(moved[..., 1], 0.0, 0.98)
        x2 = np.minimum(np.maximum(moved[..., 2], x1 + 0.01), 1.0)
        y2 = np.minimum(np.maximum(moved[..., 3], y1 + 0.01), 1.0)
        return np.round(np.stack([x1, y1, x2, y2], axis=-1), 4)

    def sequences(self, count: int, start: datetime, span: timedelta) -> None:
        """Insert `count` sequences with their detections, in chunks drawn with numpy.

        PostgreSQL: two COPYs per chunk (a million sequences and their ten million detections
        in minutes); elsewhere ``bulk_create``.
        """
        write = self._copy if connection.vendor == "postgresql" else self._bulk_create
        cameras = len(self.cameras)
        for offset in range(0, count, CHUNK_SEQUENCES):
            size = min(CHUNK_SEQUENCES, count - offset)
            camera = self.draw.integers(0, cameras, size)
            one_off = self.draw.random(size) < ONE_OFF_SHARE
            spot = self.draw.integers(0, SPOTS_PER_CAMERA, size)
            azimuth = np.where(
                one_off,
                self.camera_azimuths[camera, self.draw.integers(0, AZIMUTHS_PER_CAMERA, size)],
                self.spot_azimuths[camera, spot],
            )
            boxes = np.where(
                one_off[:, np.newaxis],
                self._random_boxes(size),
                self._jitter(self.spot_boxes[camera, spot], 0.08),
            )
            offsets = self.draw.random(size) * span.total_seconds()
            frames = self._jitter(
                np.repeat(boxes[:, np.newaxis, :], DETECTIONS_PER_SEQUENCE, axis=1), 0.05
            )
            confidences = np.round(self.draw.uniform(0.3, 0.95, frames.shape[:2]), 3)
            rows = []
            for index, seconds in zip(camera.tolist(), offsets.tolist(), strict=True):
                camera_row = self.cameras[index]
                rows.append(
                    Sequence(
                        source_api="pyronear_french",
                        alert_api_id=self.next_alert_id,
                        camera=camera_row,
                        organization_id=camera_row.organization_id,
                        lat=44.5,
                        lon=4.2,
                        recorded_at=start + timedelta(seconds=seconds),
                    )
                )
                self.next_alert_id += 1
            for row, value in zip(rows, azimuth.tolist(), strict=True):
                row.azimuth = value
            write(rows, frames.tolist(), confidences.tolist())

    @staticmethod
    def _predictions(box: list[float], confidence: float) -> str:
        x1, y1, x2, y2 = box
        return (
            f'{{"predictions": [{{"xyxyn": [{x1!r}, {y1!r}, {x2!r}, {y2!r}], '
            f'"confidence": {confidence!r}, "class_name": "smoke"}}]}}'
        )

    def _bulk_create(
        self, rows: list[Sequence], frames: list[list[list[float]]], confidences: list
    ) -> None:
        Sequence.objects.bulk_create(rows, batch_size=2000)
        Detection.objects.bulk_create(
            (
                Detection(
                    sequence=sequence,
                    alert_api_id=frame,
                    recorded_at=sequence.recorded_at + timedelta(seconds=30 * frame),
                    image=DUMMY_IMAGE,
                    algo_predictions=json.loads(self._predictions(box, confidence)),
                )
                for sequence, boxes, own in zip(rows, frames, confidences, strict=True)
                for frame, (box, confidence) in enumerate(zip(boxes, own, strict=True))
            ),
            batch_size=5000,
        )

    def _copy(self, rows: list[Sequence], frames: list[list[list[float]]], confidences: list):
        """COPY the sequences (ids taken from the table's identity), then their detections.

        Every value is a number, a timestamp or a fixed string: nothing to escape.
        """
        table = connection.ops.quote_name(Sequence._meta.db_table)
        now = timezone.now().isoformat()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Sequence._meta.db_table, len(rows)],
            )
            for sequence, (pk,) in zip(rows, cursor.fetchall(), strict=True):
                sequence.pk = pk
            lines = "".join(
                f"{s.pk}\t{s.source_api}\t{s.alert_api_id}\t{s.lat}\t{s.lon}\t{s.azimuth}\t"
                f"{s.recorded_at.isoformat()}\t{now}\t{s.camera_id}\t{s.organization_id}\tf\n"
                for s in rows
            )
            with cursor.copy(
                f"COPY {table} (id, source_api, alert_api_id, lat, lon, azimuth, recorded_at, "
                "created_at, camera_id, organization_id, is_group_excluded) FROM STDIN"
            ) as copy:
                copy.write(lines)
            steps = [timedelta(seconds=30 * frame) for frame in range(DETECTIONS_PER_SEQUENCE)]
            lines = "".join(
                f"{sequence.pk}\t{frame}\t{(sequence.recorded_at + steps[frame]).isoformat()}\t"
                f"{now}\t{DUMMY_IMAGE}\t{self._predictions(box, confidence)}\n"
                for sequence, boxes, own in zip(rows, frames, confidences, strict=True)
                for frame, (box, confidence) in enumerate(zip(boxes, own, strict=True))
            )
            with cursor.copy(
                f"COPY {connection.ops.quote_name(Detection._meta.db_table)} (sequence_id, "
                "alert_api_id, recorded_at, created_at, image, algo_predictions) FROM STDIN"
            ) as copy:
                copy.write(lines)


def label_some_groups() -> int:
    """Label the groups of 3+ members (FP/antenna), so that the next run inherits."""
    busy = SequenceGroup.objects.annotate(size=Count("members")).filter(size__gte=3).values("pk")
    return SequenceGroup.objects.filter(pk__in=busy).update(
        false_positive_type="antenna", labeled_at=timezone.now()
    )


def reset_history(count: int, *, keep_motion: bool = False) -> None:
    """Back to the state right after a build: the first `count` sequences, none grouped and,
    unless `keep_motion`, none with a measured motion (the first run measures and stores them
    all, as on a site whose sequences arrived before the importer stored it)."""
    Sequence.objects.filter(alert_api_id__gt=count).delete()
    if keep_motion:
        Sequence.objects.update(group=None)
    else:
        Sequence.objects.update(group=None, motion=None)
    with connection.cursor() as cursor:  # plain deletes: no rows loaded into memory
        for model in (
            GroupOperationMember,
            SequenceAnnotation,
            GroupOperation,
            SequenceGroup,
            AssignmentRun,
        ):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def analyze() -> None:
    """Vacuum and fresh planner statistics, as autovacuum keeps a production database.

    Without it a freshly built history is measured with unset hint bits and visibility maps
    (autovacuum may be off on a scratch server), which is not the state a cron run meets.
    """
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    if connection.vendor == "postgresql":
        _checkpoint()


def _checkpoint() -> None:
    """Write out the build's dirty pages before the clock starts (PostgreSQL).

    Building a history dirties about half a gigabyte that the server would otherwise flush
    during the timed run, long after the build that wrote it; a cron run on a real site does
    not pay for writes made minutes before. Needs superuser or pg_checkpoint; skipped without.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError as error:
        print(f"no CHECKPOINT before the run ({error})", file=sys.stderr)


# --- Measurements -------------------------------------------------------------------------------


def floor_seconds() -> tuple[float, float]:
    """A bare read of the rows the run reads: the same window query, through a raw cursor.

    Returns ``(decoded, undecoded)``: the time to get the rows as Python objects, each JSON
    document decoded with ``json.loads`` as psycopg does by default, and the time to fetch
    them with the JSON left as text (what Django's connection hands over).
    """
    query = assignment.reads._first_detections(
        assignment.reads._candidates().filter(azimuth__isnull=False)
    ).query
    sql, params = query.sql_with_params()
    times = []
    for decode in (True, False):
        started = time.perf_counter()
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(assignment.reads.READ_CHUNK_ROWS):
                if decode:
                    for _, predictions in rows:
                        json.loads(predictions)
        times.append(time.perf_counter() - started)
    return times[0], times[1]


def reset_peak_memory() -> float:
    """Give freed memory back and restart the peak (Linux); return the resident size in MB.

    Building the history leaves freed but still mapped memory behind, which would otherwise
    count as the run's peak.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    # Writing 5 resets the peak resident set size (VmHWM) to the current one.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return resident_mb("VmRSS")


def resident_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident size; ru_maxrss elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Phases:
    """Wall and CPU time of the run's read phase (candidates, detections, representative
    boxes, groups), the rest being the batches; CPU time is this process only, so a loaded
    machine or a busy database server can be told from slow Python."""

    def __init__(self):
        self.plan_seconds = self.plan_cpu_seconds = 0.0

    @contextlib.contextmanager
    def timing_plan(self):
        plan = assignment.run._plan

        def timed(**kwargs):
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return plan(**kwargs)
            finally:
                self.plan_seconds += time.perf_counter() - started
                self.plan_cpu_seconds += time.process_time() - cpu

        assignment.run._plan = timed
        try:
            yield
        finally:
            assignment.run._plan = plan


def wal_bytes() -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(cursor.fetchone()[0])


def measure(name: str) -> dict:
    candidates = assignment.reads._candidates().count()
    floor, undecoded = floor_seconds()
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    phases, wal_before = Phases(), wal_bytes()
    baseline_mb = reset_peak_memory()
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count), phases.timing_plan():
        outcome = assignment.assignment_run(trigger="command")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    wal_after = wal_bytes()
    return {
        "run": name,
        "database": connection.vendor,
        "sequences": candidates,
        "groups": SequenceGroup.objects.count(),
        "seconds": round(seconds, 3),
        "sequences_per_second": round(candidates / seconds),
        "queries": queries,
        "peak_memory_mb": resident_mb(),
        "baseline_memory_mb": baseline_mb,
        "floor_seconds": round(floor, 3),
        "ratio_to_floor": round(seconds / floor, 2),
        "floor_undecoded_seconds": round(undecoded, 3),
        "ratio_to_undecoded_floor": round(seconds / undecoded, 2),
        "cpu_seconds": round(cpu_seconds, 3),
        "read_phase_seconds": round(phases.plan_seconds, 3),
        "read_phase_cpu_seconds": round(phases.plan_cpu_seconds, 3),
        "wal_mb": None if wal_before is None else round((wal_after - wal_before) / 2**20, 1),
        "load_average": round(os.getloadavg()[0], 2),
        "counters": {k: v for k, v in outcome.as_dict().items() if k != "run_id"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=100_000, help="history size")
    parser.add_argument("--new-sequences", type=int, default=1_000, help="incremental run")
    parser.add_argument("--cameras", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-labels",
        action="store_true",
        help="leave every group unlabeled before the incremental run (no inheritance)",
    )
    parser.add_argument(
        "--motion-stored",
        action="store_true",
        help="with a reused history, keep the motion a previous run stored (as an importer "
        "stores it) instead of leaving the first run to measure every sequence's",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the scratch database afterwards; reuse a kept history of the same size",
    )
    args = parser.parse_args()

    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(
        verbosity=0, autoclobber=True, keepdb=args.keep, serialize=False
    )
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0, keepdb=args.keep)


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    reuse = (
        Camera.objects.count() == args.cameras
        and Organization.objects.filter(name__startswith=seed_label(args.seed)).exists()
        and Sequence.objects.filter(alert_api_id__lte=args.sequences).count() == args.sequences
    )
    if reuse:
        reset_history(args.sequences, keep_motion=args.motion_stored)
        world = World(args.seed, args.cameras, existing=True)
    else:
        call_command("flush", interactive=False, verbosity=0)
        world = World(args.seed, args.cameras)
        world.sequences(args.sequences, HISTORY_START, HISTORY_SPAN)
    analyze()
    print(
        f"{'reused' if reuse else 'built'} {args.sequences} sequences in "
        f"{time.perf_counter() - started:.1f} s ({connection.vendor})",
        file=sys.stderr,
    )
    print(json.dumps(measure("first")), flush=True)

    labeled = 0 if args.no_labels else label_some_groups()
    world.sequences(args.new_sequences, HISTORY_START + HISTORY_SPAN, timedelta(days=1))
    analyze()
    print(f"labeled {labeled} groups; added {args.new_sequences} sequences", file=sys.stderr)
    print(json.dumps(measure("incremental")), flush=True)


if __name__ == "__main__":
    main()
