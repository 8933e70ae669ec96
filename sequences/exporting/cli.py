"""What `manage.py export_alerts` does around the writers: its options (the endpoint's filters,
read by the same FilterSet, so a bad value gets the same message, naming the option), the
progress line, the summary (text, or `--json`) and the exit status, as the importers':
0 done, 1 fatal (bad options, an unwritable folder, a crash), 3 some images could not be
copied (listed; a rerun heals them).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.http import QueryDict

from sequences.exporting.dataset import DatasetSummary, dataset_write
from sequences.exporting.parameters import LIMIT_DEFAULT, LIMIT_MAX, MULTIPLE, filters_read
from sequences.exporting.selection import ExportFilters
from sequences.exporting.split import Split, split_parse
from sequences.exporting.yolo import YoloSummary, yolo_write
from sequences.importing.cli import ProgressLine
from sequences.importing.report import EXIT_FATAL, EXIT_RECORD_ERRORS

FORMATS = ("manifest", "yolo")
WORKERS_MAX = 32
# The endpoint's filters, by the option that sets each.
FILTER_OPTIONS = {
    "source_api": "--source-api",
    "organisation_id": "--organisation-id",
    "organisation_name": "--organisation-name",
    "camera_id": "--camera-id",
    "camera_name": "--camera-name",
    "recorded_at_gte": "--recorded-at-gte",
    "recorded_at_lte": "--recorded-at-lte",
    "annotation_updated_gte": "--since",
    "smoke_types": "--smoke-types",
    "false_positive_types": "--false-positive-types",
    "label_source": "--label-source",
    "include_unchecked": "--include-unchecked",
}
OPTION_INVALID = "{option}: {message}"
PAGE_SIZE_INVALID = f"must be between 1 and {LIMIT_MAX}"
WORKERS_INVALID = f"must be between 1 and {WORKERS_MAX}"
OUT_NOT_A_FOLDER = "{path} is not a folder"
SPLIT_NEEDS_YOLO = "applies to --format yolo only"
YOLO_NEEDS_FULL_PULL = "builds a whole training set: it cannot be combined with --since"
WRITE_FAILED = "cannot write the dataset in {path}: {reason}"
IMAGES_FAILED = "{count} image(s) could not be copied; see the errors above (rerun to heal)"


def add_export_arguments(parser: Any) -> None:
    parser.add_argument("--out", type=Path, required=True, help="the dataset folder")
    parser.add_argument(
        "--format", choices=FORMATS, default="manifest", help="yolo: also a YOLO tree"
    )
    parser.add_argument(
        "--split", help="with --format yolo: val=0.2 puts whole cameras in validation"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the seed that draws the cameras of --split"
    )
    parser.add_argument(
        "--page-size", type=int, default=LIMIT_DEFAULT, help=f"alerts per page (1..{LIMIT_MAX})"
    )
    parser.add_argument("--workers", type=int, default=4, help="concurrent image copies")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    for name, option in FILTER_OPTIONS.items():
        if name == "include_unchecked":
            parser.add_argument(option, action="store_true", help="also unchecked machine labels")
        elif name in MULTIPLE:
            parser.add_argument(option, action="append", help="comma-separated, repeatable")
        else:
            parser.add_argument(option, help="as the endpoint's parameter of the same name")


@dataclass(frozen=True)
class ExportPlan:
    out: Path
    filters: ExportFilters
    page_size: int
    workers: int
    yolo: bool
    split: Split | None


def _filter_params(options: dict[str, Any]) -> QueryDict:
    params = QueryDict(mutable=True)
    for name, option in FILTER_OPTIONS.items():
        value = options.get(option.removeprefix("--").replace("-", "_"))
        if name == "include_unchecked":
            value = "true" if value else None
        if value is None:
            continue
        if name in MULTIPLE:
            params.setlist(name, [part.strip() for text in value for part in text.split(",")])
        else:
            params[name] = value
    return params


def plan_from_options(options: dict[str, Any]) -> ExportPlan:
    """The export the options ask for, or CommandError naming every bad option."""
    filters, filter_errors = filters_read(_filter_params(options))
    errors = [
        OPTION_INVALID.format(option=FILTER_OPTIONS[name], message=message)
        for name, messages in filter_errors.items()
        for message in messages
    ]
    checks = [
        ("--page-size", not 1 <= options["page_size"] <= LIMIT_MAX, PAGE_SIZE_INVALID),
        ("--workers", not 1 <= options["workers"] <= WORKERS_MAX, WORKERS_INVALID),
        ("--out", options["out"].exists() and not options["out"].is_dir(), OUT_NOT_A_FOLDER),
        ("--split", options["split"] is not None and options["format"] != "yolo", SPLIT_NEEDS_YOLO),
        ("--format yolo", options["format"] == "yolo" and options["since"], YOLO_NEEDS_FULL_PULL),
    ]
    for option, failed, message in checks:
        if failed:
            message = message.format(path=options["out"])
            errors.append(OPTION_INVALID.format(option=option, message=message))
    split = None
    if options["split"] is not None:
        try:
            split = split_parse(options["split"], seed=options["seed"])
        except ValueError as exc:
            errors.append(OPTION_INVALID.format(option="--split", message=exc))
    if errors:
        raise CommandError("; ".join(errors), returncode=EXIT_FATAL)
    return ExportPlan(
        out=options["out"],
        filters=filters,
        page_size=options["page_size"],
        workers=options["workers"],
        yolo=options["format"] == "yolo",
        split=split,
    )


class ExportProgress(ProgressLine):
    """The importers' progress line, counting alerts and images instead of records."""

    def tick(self, summary: DatasetSummary) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < self.INTERVAL_SECONDS:
            return
        self._last = now
        self.stream.write(
            f"\ralerts: {summary.alerts} withdrawn: {summary.withdrawn} images: "
            f"copied={summary.images_copied} present={summary.images_present} "
            f"failed={summary.images_failed}",
            ending="",
        )
        self.stream.flush()


@dataclass
class ExportOutcome:
    out: Path
    dataset: DatasetSummary
    yolo: YoloSummary | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            **self.dataset.as_dict(),
            "yolo": self.yolo.as_dict() if self.yolo else None,
            "exit_code": EXIT_RECORD_ERRORS if self.dataset.images_failed else 0,
        }

    def render(self) -> str:
        data = self.dataset
        lines = [
            f"alerts: exported={data.alerts} withdrawn={data.withdrawn} "
            f"objects={data.objects} frames={data.frames}",
            f"images: copied={data.images_copied} present={data.images_present} "
            f"failed={data.images_failed}",
        ]
        if self.yolo is not None:
            lines.append("yolo: " + " ".join(f"{k}={v}" for k, v in self.yolo.as_dict().items()))
        if data.errors:
            lines += ["errors:", *(f"  {error}" for error in data.errors)]
            if data.images_failed > len(data.errors):
                lines.append(f"  ... and {data.images_failed - len(data.errors)} more")
        lines.append(f"out: {self.out}")
        return "\n".join(lines)


def export_run(plan: ExportPlan, *, progress: ExportProgress | None = None) -> ExportOutcome:
    """Write the dataset (and the YOLO tree); CommandError when the folder cannot be written."""
    try:
        dataset = dataset_write(
            out=plan.out,
            filters=plan.filters,
            page_size=plan.page_size,
            workers=plan.workers,
            on_page=progress.tick if progress is not None else None,
        )
        if progress is not None:
            progress.done()
        yolo = yolo_write(out=plan.out, split=plan.split) if plan.yolo else None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CommandError(WRITE_FAILED.format(path=plan.out, reason=reason)) from exc
    return ExportOutcome(out=plan.out, dataset=dataset, yolo=yolo)


def export_finish(command: Any, outcome: ExportOutcome, *, as_json: bool) -> None:
    """Print the summary and raise the CommandError of exit status 3 when images failed."""
    command.stdout.write(json.dumps(outcome.as_dict()) if as_json else outcome.render())
    if outcome.dataset.images_failed:
        count = outcome.dataset.images_failed
        raise CommandError(IMAGES_FAILED.format(count=count), returncode=EXIT_RECORD_ERRORS)
