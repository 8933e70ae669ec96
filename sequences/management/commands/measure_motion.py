"""`manage.py measure_motion`: fill the motion of sequences imported before it was measured.

An import measures a sequence's motion as it stores the detections; sequences already in the
database when a site upgrades have none until this runs once after `migrate`. Batches commit
one by one, so memory stays flat and an interrupted run loses nothing: running it again
continues with the sequences still unmeasured. Safe to run while imports go on.
"""

import json

from django.core.management.base import CommandError, CommandParser

from sequences.management.base import ProjectCommand
from sequences.services import MotionBatch, sequence_motion_fill

BATCH_SIZE_DEFAULT = 500
BATCH_SIZE_MAX = 5000
BATCH_SIZE_INVALID = f"--batch-size must be between 1 and {BATCH_SIZE_MAX}"


class Command(ProjectCommand):
    help = (
        "Measure the motion of every sequence that has none yet (sequences imported before "
        "the motion was measured at import), in batches that each commit on their own: "
        "rerunning continues where a run stopped. Prints examined = measured + unmeasurable "
        "(fewer than three frames with a box: left unmeasured) and the number of batches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE_DEFAULT,
            help=f"sequences per batch (default {BATCH_SIZE_DEFAULT})",
        )
        parser.add_argument("--json", action="store_true", help="print the counters as JSON")

    def handle(self, *args, **options) -> None:
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= BATCH_SIZE_MAX:
            raise CommandError(BATCH_SIZE_INVALID)
        total, batches = MotionBatch(), 0
        while True:
            batch = sequence_motion_fill(after_id=total.last_id, batch_size=batch_size)
            if not batch.examined:
                break
            batches += 1
            total.examined += batch.examined
            total.measured += batch.measured
            total.unmeasurable += batch.unmeasurable
            total.last_id = batch.last_id
        counters = {
            "examined": total.examined,
            "measured": total.measured,
            "unmeasurable": total.unmeasurable,
            "batches": batches,
        }
        if options["json"]:
            self.stdout.write(json.dumps(counters))
        else:
            self.stdout.write("motion: " + " ".join(f"{k}={v}" for k, v in counters.items()))
