"""What the import commands (`import_sequences`, `pull_sequences`) share: the pipeline options
and the generation thresholds read from them, the progress line, and `ImportCommand`, which
chains the assignment, prints the report and exits with its status (SPEC §8.4).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from django.core.management.base import CommandError

from sequences.importing.pipeline import assignment_chain, assignment_chained
from sequences.importing.report import EXIT_FATAL, EXIT_OK, ImportReport
from sequences.management.base import ProjectCommand
from sequences.services import AutogenParams

CONFIDENCE_INVALID = "--confidence-threshold must be between 0 and 1"
IOU_INVALID = "--iou-threshold must be between 0 and 1"
MIN_CLUSTER_SIZE_INVALID = "--min-cluster-size must be at least 1"


def add_pipeline_arguments(parser: Any) -> None:
    """The options every import command shares: --no-assign, the generation thresholds
    (read back with `autogen_from_options`) and --json."""
    defaults = AutogenParams()
    parser.add_argument(
        "--no-assign", action="store_true", help="do not run the group assignment afterwards"
    )
    parser.add_argument("--confidence-threshold", type=float, default=defaults.confidence_threshold)
    parser.add_argument("--iou-threshold", type=float, default=defaults.iou_threshold)
    parser.add_argument("--min-cluster-size", type=int, default=defaults.min_cluster_size)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def autogen_from_options(options: dict[str, Any]) -> AutogenParams:
    """The generation parameters (SPEC §4.2) of the options `add_pipeline_arguments` declared,
    or CommandError naming the bad option."""
    confidence, iou = options["confidence_threshold"], options["iou_threshold"]
    if not (math.isfinite(confidence) and 0 <= confidence <= 1):
        raise CommandError(CONFIDENCE_INVALID)
    if not (math.isfinite(iou) and 0 <= iou <= 1):
        raise CommandError(IOU_INVALID)
    if options["min_cluster_size"] < 1:
        raise CommandError(MIN_CLUSTER_SIZE_INVALID)
    return AutogenParams(
        confidence_threshold=confidence,
        iou_threshold=iou,
        min_cluster_size=options["min_cluster_size"],
    )


class ImportCommand(ProjectCommand):
    """What both import commands do around their source: the pipeline options, the chained
    assignment, the printed report and the exit status (SPEC §8.4).

    A subclass declares its own arguments before calling `add_arguments` of this class, sets
    `records_failed` (the message of exit status 3, with `{count}`) and ends `handle` with
    `finish`.
    """

    records_failed: str
    reports_fatal = False

    def add_arguments(self, parser) -> None:
        add_pipeline_arguments(parser)

    def finish(self, report: ImportReport, options: dict[str, Any], *, fatal: str | None = None):
        """Chain the assignment, print the report and raise the CommandError of its status.

        `fatal` is the error that stopped the import half-way (exit 1); what it imported still
        gets its assignment run.
        """
        if assignment_chained(options["no_assign"]) and (fatal is None or report.created):
            assignment_chain(report)
        self.stdout.write(self.report_text(report, fatal=fatal, as_json=options["json"]))
        if fatal is not None:
            raise CommandError(fatal, returncode=EXIT_FATAL)
        if report.exit_code == EXIT_FATAL:
            raise CommandError(report.assignment_line(), returncode=EXIT_FATAL)
        if report.exit_code != EXIT_OK:
            count = report.failed + report.listings_failed
            raise CommandError(self.records_failed.format(count=count), returncode=report.exit_code)

    def report_text(self, report: ImportReport, *, fatal: str | None, as_json: bool) -> str:
        """What goes to stdout: the report's text, or its JSON with `--json` (with the fatal
        error and its exit status when the command `reports_fatal`: a source that can fail
        half-way). A fatal error is the CommandError's message (stderr), not a line of the
        text."""
        if not as_json:
            return report.render()
        data = report.as_dict()
        if self.reports_fatal:
            data["fatal_error"] = fatal
            if fatal is not None:
                data["exit_code"] = EXIT_FATAL
        return json.dumps(data)


class ProgressLine:
    """A progress line rewritten in place on a terminal (silent when not a terminal)."""

    INTERVAL_SECONDS = 0.5

    def __init__(self, stream: Any, *, total: int | None = None, label: str = "records"):
        self.stream = stream
        self.total = total
        self.label = label
        self.count = 0
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0

    def tick(self, report: ImportReport) -> None:
        self.count += 1
        now = time.monotonic()
        if not self.enabled or now - self._last < self.INTERVAL_SECONDS:
            return
        self._last = now
        of_total = f"/{self.total}" if self.total is not None else ""
        self.stream.write(
            f"\r{self.count}{of_total} {self.label}: created={report.created} "
            f"already_present={report.already_present} failed={report.failed}",
            ending="",
        )
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self._last:
            self.stream.write("")
