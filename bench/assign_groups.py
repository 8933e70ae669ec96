"""Benchmark of the group assignment run at scale (see bench/README.md).

Builds a synthetic history directly in a scratch database -- N sequences of 10 detections over
hundreds of cameras, mostly recurring spots plus one-off sightings -- then times

  (a) the first run over all of it, and
  (b) an incremental run of --new-sequences new sequences against the existing groups (some
      of them labeled, so inheritance is exercised),

printing one JSON line per run: sequences, groups, seconds, sequences_per_second, queries,
peak_memory_mb, floor_seconds (a bare SQL read of the same detection rows: the run's window
query through a raw cursor, each JSON document decoded as psycopg does by default) and
ratio_to_floor, plus the same against the read with the JSON left undecoded; for a run that
reads ahead (read_ahead), the reading process's CPU time and peak memory.

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
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation_site.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.assign_history import (  # noqa: E402
    HISTORY_SPAN,
    HISTORY_START,
    World,
    analyze,
    label_some_groups,
    reset_history,
    seed_label,
)
from groups import assignment  # noqa: E402
from groups.assignment import read_ahead  # noqa: E402
from groups.models import (  # noqa: E402
    SequenceGroup,
)
from sequences.models import (  # noqa: E402
    Camera,
    Organization,
    Sequence,
)

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
    machine or a busy database server can be told from slow Python. A run that reads ahead
    (``read_ahead``) only snapshots the candidates in this phase: its waves are read by the
    read-ahead process while the batches are written (``read_ahead_cpu_seconds``)."""

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


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children: the run's read-ahead process."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def children_peak_mb() -> float:
    """The largest peak resident size of a finished child (the read-ahead process, whose
    pages are shared with this one until either writes them)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


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
    reads_ahead = read_ahead.read_ahead_possible(candidates)
    baseline_mb = reset_peak_memory()
    children_before = children_cpu_seconds()
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count), phases.timing_plan():
        outcome = assignment.assignment_run(trigger="command")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    read_ahead_cpu = children_cpu_seconds() - children_before
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
        "read_ahead": reads_ahead,
        "read_ahead_cpu_seconds": round(read_ahead_cpu, 3) if reads_ahead else None,
        "read_ahead_peak_memory_mb": children_peak_mb() if reads_ahead else None,
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
