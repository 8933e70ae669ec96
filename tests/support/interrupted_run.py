"""A cron run of `manage.py assign_groups` in a process of its own, for tests that stop it with a
signal: `python tests/support/interrupted_run.py seed|run|report [READY_FILE]` (with the
project on PYTHONPATH).

- `seed`: two (camera, azimuth) buckets of one boxed sequence each: two batches;
- `run`: the command, pausing after its first committed batch until signalled (READY_FILE
  says when it got there);
- `report`: the run rows and the grouped sequences, as JSON on stdout.
"""

import json
import os
import sys
import time
from pathlib import Path

import django

BOX = [0.1, 0.1, 0.4, 0.4]


def seed() -> None:
    from tests.factories import CameraFactory, sequence_with_boxes

    camera = CameraFactory()
    for azimuth in (10, 20):
        sequence_with_boxes(BOX, BOX, camera=camera, azimuth=azimuth)


def run(ready: str) -> None:
    from django.core.management import execute_from_command_line

    from groups.assignment import run as assignment

    assignment.BATCH_MAX_SEQUENCES = 1  # one bucket per batch
    commit = assignment._batch_commit

    def commit_then_pause(**kwargs):
        counters = commit(**kwargs)
        Path(ready).write_text("committed")
        time.sleep(120)  # a long batch: the signal arrives here
        return counters

    assignment._batch_commit = commit_then_pause
    execute_from_command_line(["manage.py", "assign_groups"])


def report() -> None:
    from groups.models import AssignmentRun
    from sequences.models import Sequence

    runs = list(AssignmentRun.objects.order_by("pk").values("pk", "status", "error"))
    grouped = list(
        Sequence.objects.filter(group__isnull=False).values_list(
            "group__created_by_run_id", flat=True
        )
    )
    sys.stdout.write(json.dumps({"runs": runs, "grouped_by_run": grouped}))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotation_site.settings")
    django.setup()
    {"seed": seed, "run": lambda: run(sys.argv[2]), "report": report}[sys.argv[1]]()
