"""``manage.py assign_groups``: put ungrouped sequences into groups (SPEC §5.2), cron-safe.

A thin shell around :func:`groups.assignment.assignment_run`. Exit status: 0 done; 2 another
run holds the lock (nothing was touched); 128 + the signal's number when stopped by SIGTERM
(143) or SIGINT (130), the run marked failed at once so the next run need not wait; 1 anything
else (the run is marked failed).
"""

import argparse
import json

from django.core.management.base import CommandError, CommandParser

from groups.assignment import (
    COUNTER_NAMES,
    AssignmentAlreadyRunning,
    AssignmentArgumentInvalid,
    AssignmentInterrupted,
    RunOutcome,
    assignment_run,
    interruptible,
    iso_z,
)
from groups.models import RunTrigger
from sequences.management.base import ProjectCommand

# A progress line is only worth printing for a backlog this big, and only to a terminal.
PROGRESS_MIN_BACKLOG = 5000
EXIT_LOCKED = 2


class Command(ProjectCommand):
    help = (
        "Assign every ungrouped, non-excluded sequence to a group of the same camera and "
        "azimuth, creating groups where nothing matches, and let joiners of labeled groups "
        "inherit the label. Safe to run from cron: a second run exits with status 2 while "
        "one is in progress. Prints the counters: processed = new_groups + joined_existing + "
        "skipped_no_bbox; inherited_annotations = joiners that got their group's label; "
        "joined_not_inherited = joiners of a labeled group whose box overlapped too little "
        "to inherit; held_back = joiners of a labeled group that a safeguard kept from its "
        "label (the platform's verdict, the temporal score or the motion: they stay writable "
        "for a person); skipped_no_bbox = sequences without azimuth or usable box (retried on "
        "every run)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report the counters a run would produce now; write nothing, take no lock.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON object (run_id, the counters, duration_seconds) instead.",
        )
        parser.add_argument(
            "--threshold",
            type=float,
            default=None,
            help="IoU a sequence must strictly exceed to join a group (default: "
            "GROUPS_MATCH_IOU_THRESHOLD).",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="If another run is in progress, wait for it to finish instead of exiting 2.",
        )
        # Who started the run, recorded on its row; importers pass "import".
        parser.add_argument(
            "--trigger",
            default=RunTrigger.COMMAND,
            choices=RunTrigger.values,
            help=argparse.SUPPRESS,
        )

    def handle(self, *args, **options) -> None:
        as_json = options["json"]
        try:
            with interruptible():
                outcome = assignment_run(
                    trigger=options["trigger"],
                    dry_run=options["dry_run"],
                    threshold=options["threshold"],
                    wait=options["wait"],
                    progress=self._progress_printer(options),
                )
        except AssignmentInterrupted as exc:
            message = f"group assignment {exc}; the run is marked failed"
            raise CommandError(message, returncode=128 + exc.signum) from None
        except AssignmentAlreadyRunning as exc:
            if as_json:
                held = {
                    "status": "in_progress",
                    "run_id": exc.run.pk,
                    "started_at": iso_z(exc.run.started_at),
                }
                self.stdout.write(json.dumps(held))
            raise CommandError(str(exc), returncode=EXIT_LOCKED) from exc
        except AssignmentArgumentInvalid as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            raise CommandError(f"group assignment failed: {exc}") from exc
        self._report(outcome, options)

    def _report(self, outcome: RunOutcome, options) -> None:
        if options["json"]:
            payload = {**outcome.as_dict(), "duration_seconds": outcome.duration_seconds}
            self.stdout.write(json.dumps(payload))
            return
        if options["verbosity"] == 0:
            return
        counters = " ".join(f"{name}={getattr(outcome, name)}" for name in COUNTER_NAMES)
        prefix = "dry-run (nothing written)" if options["dry_run"] else f"run={outcome.run_id}"
        self.stdout.write(f"{prefix} {counters}")

    def _progress_printer(self, options):
        """A progress callback writing one updating line to stderr, for terminals only."""
        if options["json"] or options["verbosity"] == 0 or not self.stdout.isatty():
            return None

        def show(done: int, total: int) -> None:
            if total < PROGRESS_MIN_BACKLOG:
                return
            end = "\n" if done >= total else ""
            self.stderr.write(f"\rassigning groups: {done:,} / {total:,} sequences", ending=end)
            self.stderr.flush()

        return show
