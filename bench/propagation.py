"""Benchmark of propagation: one human save fanning a label out to N group members.

Builds a validated, unlabeled group of N + 1 members (each with one detection and, by default,
its import placeholder), then times one human save of the first member at
`seq_annotation_done`: the save, the group label and the seed-and-stamp of the N others
(SPEC §5.7, §4.8). Prints one JSON line: members, members_written, seconds, cpu_seconds
(this process only), queries, database.

    DATABASE_URL=postgres://USER@HOST:5432/NAME .venv/bin/python bench/propagation.py

The data goes to a throw-away test database created next to the configured one (Django's
`test_<NAME>`, created and dropped by the script); the configured database is not touched.
Without DATABASE_URL it uses an in-memory SQLite database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation_site.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DEBUG", "false")  # DEBUG would keep every query in memory

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from sequences.models import ProcessingStage  # noqa: E402
from tests.factories import (  # noqa: E402
    add_members,
    human_label,
    validated_group,
)


def measure(*, members: int, placeholders: bool | str) -> dict:
    """Build the group, time one fan-out, return the figures."""
    group = validated_group()
    saver, *_ = add_members(group, members + 1, placeholders=placeholders)
    detection = saver.detections.get()
    with CaptureQueriesContext(connection) as queries:
        started, cpu_started = time.perf_counter(), time.process_time()
        outcome = human_label(
            saver, detection, stage=ProcessingStage.SEQ_ANNOTATION_DONE, smoke_type="wildfire"
        )
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    if outcome.effect.warning:
        raise SystemExit(f"propagation failed: {outcome.effect.warning}")
    return {
        "bench": "propagation",
        "members": members,
        "placeholders": placeholders,
        "members_written": outcome.effect.members_updated,
        "seconds": round(seconds, 4),
        # This process only (not the database server): tells a loaded machine from slow code.
        "cpu_seconds": round(cpu_seconds, 4),
        "queries": len(queries),
        "database": connection.vendor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000, help="members written (N)")
    parser.add_argument(
        "--placeholders",
        choices=["all", "none", "alternate"],
        default="all",
        help="members holding an import placeholder (updated) vs none (created)",
    )
    options = parser.parse_args()
    placeholders = {"all": True, "none": False, "alternate": "alternate"}[options.placeholders]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(json.dumps(measure(members=options.members, placeholders=placeholders)))
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)


if __name__ == "__main__":
    main()
