"""The import pipeline shared by every source of sequences (SPEC §8.1), and the local export format.

A source (the local export folder here, the Pyronear platform in `platform.py`) only has to
hand over, for each record, a reference for the report, its natural key and a function that
builds a validated `SequenceRecord`. `record_process` then:

1. counts the record `already_present` when its key exists — before any validation or image
   read, so a re-import is cheap;
2. builds the record (validation: `RecordError` lists every problem with its field path);
3. `record_import` loads and checks every image, then writes the organisation, camera,
   sequence, detections and the `ready_to_annotate` placeholder in one transaction; image files
   written are deleted again if anything fails, so no half-imported sequence is ever seen.

`ImportReport` collects the counters, errors and warnings, renders the text of SPEC §8.4 and
decides the exit status; `chain_assignment` runs the group assignment after an import by
command name (the sequences app never imports the groups app).
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils.dateparse import parse_datetime

from sequences import payloads
from sequences.boxes import is_finite_number
from sequences.models import AnnotationType, Detection, ProcessingStage, Sequence, SourceApi
from sequences.services import (
    AutogenParams,
    SequenceExists,
    annotation_write,
    camera_upsert,
    detection_create,
    detection_payload_errors,
    image_check,
    organization_upsert,
    sequence_create,
)

Loc = tuple[Any, ...]

# Exit statuses of the import commands (SPEC §8.4).
EXIT_OK = 0
EXIT_FATAL = 1
EXIT_ASSIGNMENT_BUSY = 2
EXIT_RECORD_ERRORS = 3

FIELD_REQUIRED = payloads.FIELD_REQUIRED
NOT_AN_OBJECT = payloads.NOT_AN_OBJECT
NOT_A_LIST = payloads.NOT_A_LIST
NOT_AN_INTEGER = payloads.NOT_AN_INTEGER
NOT_A_NON_EMPTY_STRING = payloads.NOT_A_NON_EMPTY_STRING
NOT_A_NUMBER = "must be a finite number"
NOT_A_NUMBER_OR_NULL = "must be a finite number or null"
NAME_TOO_LONG = "must be at most 255 characters"
OUT_OF_RANGE = "must be between {low} and {high}"
SOURCE_API_INVALID = f"must be one of {', '.join(SourceApi.values)}"
PLATFORM_CLASS_INVALID = f"must be one of {', '.join(AnnotationType.values)}, or null"
DATETIME_INVALID = "must be an ISO-8601 date and time"
IMAGE_PATH_INVALID = "must be a relative path inside the export folder"
IMAGE_OUTSIDE = "must stay inside the export folder"
IMAGE_MISSING = "file not found: {path}"
IMAGE_UNREADABLE = "cannot be read: {reason}"
JSON_INVALID = "not valid JSON: {reason}"
UTF8_INVALID = "not valid UTF-8"
LINE_NOT_AN_OBJECT = "must be a JSON object"
ASSIGNMENT_SKIPPED = "assignment skipped: run {run_id} in progress"
ASSIGNMENT_FAILED = "assignment failed: {reason}"

BIGINT_MAX = 2**63 - 1
EXPORT_FILE = "sequences.jsonl"
# Counters of an assignment run, in the order its command prints them (SPEC §5.2).
ASSIGNMENT_COUNTERS = (
    "processed",
    "new_groups",
    "joined_existing",
    "inherited_annotations",
    "joined_not_inherited",
    "skipped_no_bbox",
)


class RecordError(Exception):
    """A record that cannot be imported; `errors` lists `(loc, message)` for every problem."""

    def __init__(self, errors: list[tuple[Loc, str]]):
        self.errors = errors
        super().__init__("; ".join(format_error(loc, msg) for loc, msg in errors))


def format_loc(loc: Loc) -> str:
    """`("detections", 2, "image")` -> `detections[2].image`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text


def format_error(loc: Loc, message: str) -> str:
    return f"{format_loc(loc)}: {message}" if loc else message


# --- Records --------------------------------------------------------------------------------

ImageSource = bytes | Callable[[], bytes]


@dataclass
class DetectionRecord:
    """One image of a sequence. `image` is the bytes or a loader called only when importing.

    A loader may raise OSError or RecordError (e.g. a download that never succeeds); either
    becomes a record error on `detections[i].image`.
    """

    alert_api_id: int
    recorded_at: datetime
    image: ImageSource
    algo_predictions: dict[str, Any]
    others_bboxes: dict[str, Any] | None = None


@dataclass
class SequenceRecord:
    """A validated sequence with its detections, in the shape every source produces."""

    source_api: str
    alert_api_id: int
    organization_id: int
    organization_name: str
    camera_id: int
    camera_name: str
    lat: float
    lon: float
    azimuth: float | int | None
    is_wildfire_alertapi: str | None
    recorded_at: datetime
    last_seen_at: datetime | None
    detections: list[DetectionRecord] = field(default_factory=list)


@dataclass
class ImportedCounts:
    """What `record_import` did with one record."""

    status: str  # "created" | "already_present" | "skipped_empty"
    detections: int = 0
    placeholders: int = 0


# --- The pipeline ---------------------------------------------------------------------------


def record_exists(source_api: str, alert_api_id: int) -> bool:
    """Whether the sequence `(source_api, alert_api_id)` is already imported."""
    return Sequence.objects.filter(source_api=source_api, alert_api_id=alert_api_id).exists()


def _distinct_detections(record: SequenceRecord) -> list[tuple[int, DetectionRecord]]:
    """`(index in the record, detection)`; a repeated `alert_api_id` is kept once, first."""
    seen: set[int] = set()
    kept = []
    for index, detection in enumerate(record.detections):
        if detection.alert_api_id not in seen:
            seen.add(detection.alert_api_id)
            kept.append((index, detection))
    return kept


def _load_images(detections: list[tuple[int, DetectionRecord]]) -> list[tuple[bytes, str]]:
    """Every image's bytes and extension, or RecordError naming each one that fails."""
    loaded, errors = [], []
    for index, detection in detections:
        loc = ("detections", index, "image")
        try:
            data = detection.image() if callable(detection.image) else detection.image
            loaded.append((data, image_check(data)))
        except RecordError as exc:
            errors.extend(((*loc, *sub_loc), msg) for sub_loc, msg in exc.errors)
        except OSError as exc:
            errors.append((loc, IMAGE_UNREADABLE.format(reason=exc.strerror or exc)))
        except ValueError as exc:
            errors.append((loc, str(exc)))
    if errors:
        raise RecordError(errors)
    return loaded


def _check_payloads(detections: list[tuple[int, DetectionRecord]]) -> None:
    """Validate every detection's boxes before anything is written (SPEC §3.2)."""
    errors = []
    for index, detection in detections:
        *_, problems = detection_payload_errors(
            algo_predictions=detection.algo_predictions, others_bboxes=detection.others_bboxes
        )
        errors.extend((("detections", index, *loc), msg) for loc, msg in problems)
    if errors:
        raise RecordError(errors)


@contextmanager
def _files_deleted_on_error() -> Iterator[list[str]]:
    """Collect the storage names written in the block; delete them if the block raises.

    Files are not transactional, so this pairs them with the transaction that references them.
    """
    written: list[str] = []
    try:
        yield written
    except BaseException:
        storage = Detection._meta.get_field("image").storage
        for name in written:
            storage.delete(name)
        raise


def record_import(record: SequenceRecord, *, autogen: AutogenParams) -> ImportedCounts:
    """Import one validated record whole or not at all (SPEC §8.1).

    - Present already (also when a concurrent import wins the unique key) -> `already_present`.
    - No detection -> `skipped_empty`, nothing written.
    - Every image is loaded and checked, and every box validated, before the first write;
      problems raise RecordError naming `detections[i]...`.
    - One transaction: organisation and camera upserts, the sequence, its detections and the
      `ready_to_annotate` placeholder (always created, clusters generated with `autogen`).
      If anything raises, the image files written are deleted and the error propagates.
    """
    if record_exists(record.source_api, record.alert_api_id):
        return ImportedCounts("already_present")
    detections = _distinct_detections(record)
    if not detections:
        return ImportedCounts("skipped_empty")
    _check_payloads(detections)
    images = _load_images(detections)
    try:
        with _files_deleted_on_error() as written, transaction.atomic():
            sequence = _sequence_write(record)
            for (_, detection), (data, extension) in zip(detections, images, strict=True):
                row = detection_create(
                    sequence=sequence,
                    alert_api_id=detection.alert_api_id,
                    recorded_at=detection.recorded_at,
                    image_bytes=data,
                    extension=extension,
                    algo_predictions=detection.algo_predictions,
                    others_bboxes=detection.others_bboxes,
                )
                written.append(row.image.name)
            annotation_write(
                sequence=sequence,
                processing_stage=ProcessingStage.READY_TO_ANNOTATE,
                has_missed_smoke=False,
                is_unsure=False,
                source=None,
                autogen=autogen,
            )
    except SequenceExists:
        return ImportedCounts("already_present")
    return ImportedCounts("created", detections=len(detections), placeholders=1)


def _sequence_write(record: SequenceRecord) -> Sequence:
    organization = organization_upsert(
        source_api=record.source_api,
        platform_id=record.organization_id,
        name=record.organization_name,
    )
    camera = camera_upsert(
        source_api=record.source_api,
        platform_id=record.camera_id,
        name=record.camera_name,
        organization=organization,
    )
    return sequence_create(
        source_api=record.source_api,
        alert_api_id=record.alert_api_id,
        camera=camera,
        organization=organization,
        lat=record.lat,
        lon=record.lon,
        azimuth=record.azimuth,
        is_wildfire_alertapi=record.is_wildfire_alertapi,
        recorded_at=record.recorded_at,
        last_seen_at=record.last_seen_at,
    )


def record_process(
    report: ImportReport,
    *,
    ref: str,
    key: tuple[str, int] | None,
    build: Callable[[], SequenceRecord],
    autogen: AutogenParams,
) -> None:
    """Run one record through the pipeline and count it in `report`.

    `ref` prefixes its errors (e.g. "line 7 (alert_api_id 4411)"); `key` is its
    `(source_api, alert_api_id)` when readable (None: straight to validation); `build` validates
    and returns the record or raises RecordError, and is not called for a present key.
    """
    if key is not None and record_exists(*key):
        report.already_present += 1
        return
    try:
        counts = record_import(build(), autogen=autogen)
    except RecordError as exc:
        report.record_failed(ref, exc.errors)
        return
    report.record_counted(counts)


# --- The report -----------------------------------------------------------------------------


@dataclass
class ImportReport:
    """Counters, errors and the chained assignment of one import command (SPEC §8.4)."""

    created: int = 0
    already_present: int = 0
    skipped_empty: int = 0
    failed: int = 0
    detections_created: int = 0
    placeholders_created: int = 0
    # Platform pull: invalid boxes dropped from box strings (PLATFORM_API.md §4), and listing
    # calls (a day of sequences) that failed for good; a failed listing is an error (exit 3).
    boxes_dropped: int = 0
    listings_failed: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    assignment: dict[str, Any] | None = None
    assignment_skipped_run: int | None = None
    assignment_error: str | None = None

    def record_counted(self, counts: ImportedCounts) -> None:
        setattr(self, counts.status, getattr(self, counts.status) + 1)
        self.detections_created += counts.detections
        self.placeholders_created += counts.placeholders

    def record_failed(self, ref: str, errors: list[tuple[Loc, str]]) -> None:
        self.failed += 1
        self.errors.extend(f"{ref}: {format_error(loc, msg)}" for loc, msg in errors)

    def listing_failed(self, ref: str, message: str) -> None:
        self.listings_failed += 1
        self.errors.append(f"{ref}: {message}")

    @property
    def exit_code(self) -> int:
        """1 when the chained assignment failed, else 3 with a record error, else 0."""
        if self.assignment_error is not None:
            return EXIT_FATAL
        if self.failed or self.listings_failed:
            return EXIT_RECORD_ERRORS
        return EXIT_OK

    def assignment_line(self) -> str | None:
        if self.assignment is not None:
            counters = " ".join(
                f"{name}={self.assignment[name]}"
                for name in ASSIGNMENT_COUNTERS
                if name in self.assignment
            )
            return f"assignment: run={self.assignment.get('run_id')} {counters}"
        if self.assignment_skipped_run is not None:
            return ASSIGNMENT_SKIPPED.format(run_id=self.assignment_skipped_run)
        if self.assignment_error is not None:
            return ASSIGNMENT_FAILED.format(reason=self.assignment_error)
        return None

    def render(self) -> str:
        lines = [
            f"sequences: created={self.created} already_present={self.already_present} "
            f"skipped_empty={self.skipped_empty} failed={self.failed}",
            f"detections: created={self.detections_created}",
            f"placeholders: created={self.placeholders_created}",
        ]
        if self.boxes_dropped:
            lines.append(f"boxes: dropped={self.boxes_dropped}")
        if self.listings_failed:
            lines.append(f"listings: failed={self.listings_failed}")
        for title, items in (("errors", self.errors), ("warnings", self.warnings)):
            if items:
                lines.append(f"{title}:")
                lines.extend(f"  {item}" for item in items)
        assignment = self.assignment_line()
        if assignment:
            lines.append(assignment)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sequences": {
                "created": self.created,
                "already_present": self.already_present,
                "skipped_empty": self.skipped_empty,
                "failed": self.failed,
            },
            "detections": {"created": self.detections_created},
            "placeholders": {"created": self.placeholders_created},
            "boxes": {"dropped": self.boxes_dropped},
            "listings": {"failed": self.listings_failed},
            "errors": self.errors,
            "warnings": self.warnings,
            "assignment": self.assignment,
            "assignment_skipped_run": self.assignment_skipped_run,
            "assignment_error": self.assignment_error,
            "exit_code": self.exit_code,
        }


def _json_from(output: str) -> dict[str, Any] | None:
    """The last JSON object printed on a line of `output`, if any."""
    for line in reversed(output.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def chain_assignment(report: ImportReport, *, stderr: Any = None) -> None:
    """Run the group assignment after an import and record its outcome in `report`.

    Called by name (`assign_groups --trigger import --json`) because the sequences app never
    imports the groups app. A run already in progress (the command's exit status 2) is not a
    failure: the report says "assignment skipped" and cron catches up. Any other failure sets
    `assignment_error`, which makes the import exit 1. `stderr` receives the assignment
    command's own messages (None discards them).
    """
    buffer = io.StringIO()
    try:
        call_command(
            "assign_groups",
            trigger="import",
            json=True,
            stdout=buffer,
            stderr=stderr or io.StringIO(),
        )
    except CommandError as exc:
        printed = _json_from(buffer.getvalue()) or {}
        if exc.returncode == EXIT_ASSIGNMENT_BUSY:
            report.assignment_skipped_run = printed.get("run_id")
        else:
            report.assignment_error = str(exc) or printed.get("error") or "unknown error"
        return
    except Exception as exc:  # a crash of the run must still leave the import's report
        report.assignment_error = f"{type(exc).__name__}: {exc}"
        return
    report.assignment = _json_from(buffer.getvalue())
    if report.assignment is None:
        report.assignment_error = "the assignment printed no result"


def assignment_chained(no_assign: bool) -> bool:
    """Whether an import ends with an assignment run (`--no-assign`, IMPORT_CHAIN_ASSIGNMENT)."""
    return not no_assign and settings.IMPORT_CHAIN_ASSIGNMENT


# --- The local export format (SPEC §8.2) ----------------------------------------------------


class RecordChecker:
    """Collects `(loc, message)` errors while reading one JSON record (export or platform)."""

    def __init__(self) -> None:
        self.errors: list[tuple[Loc, str]] = []

    def error(self, loc: Loc, message: str) -> None:
        self.errors.append((loc, message))

    def get(self, data: dict[str, Any], key: str, loc: Loc, check, *, required: bool = True):
        if key not in data:
            if required:
                self.error((*loc, key), FIELD_REQUIRED)
            return None
        return check(data[key], (*loc, key))

    def obj(self, value: Any, loc: Loc) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.error(loc, NOT_AN_OBJECT)
        return None

    def integer(self, value: Any, loc: Loc) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= BIGINT_MAX:
            return value
        self.error(loc, NOT_AN_INTEGER)
        return None

    def name(self, value: Any, loc: Loc) -> str | None:
        if not (isinstance(value, str) and value.strip()):
            self.error(loc, NOT_A_NON_EMPTY_STRING)
            return None
        if len(value) > 255:
            self.error(loc, NAME_TOO_LONG)
            return None
        return value

    def number(self, value: Any, loc: Loc, *, low: float, high: float) -> float | None:
        if not is_finite_number(value):
            self.error(loc, NOT_A_NUMBER)
            return None
        if not low <= value <= high:
            self.error(loc, OUT_OF_RANGE.format(low=low, high=high))
            return None
        return float(value)

    def azimuth(self, value: Any, loc: Loc) -> float | None:
        if value is None or is_finite_number(value):
            return value
        self.error(loc, NOT_A_NUMBER_OR_NULL)
        return None

    def choice(self, value: Any, loc: Loc, *, choices: list[str], message: str) -> str | None:
        if isinstance(value, str) and value in choices:
            return value
        self.error(loc, message)
        return None

    def moment(self, value: Any, loc: Loc, *, nullable: bool = False) -> datetime | None:
        if value is None and nullable:
            return None
        parsed = None
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
        if parsed is None:
            self.error(loc, DATETIME_INVALID)
            return None
        # A time without an offset is taken as UTC, as the platform writes it.
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_all_zero_box(prediction: Any) -> bool:
    """The platform's "no box" placeholder: `xyxyn` of four zeros."""
    box = prediction.get("xyxyn") if isinstance(prediction, dict) else None
    return (
        isinstance(box, list) and len(box) == 4 and all(is_finite_number(v) and v == 0 for v in box)
    )


def drop_all_zero_boxes(value: Any) -> tuple[Any, list[int] | None]:
    """`value` without its all-zero predictions (dropped silently, SPEC §8.2).

    Returns `(value, index map)` where the map gives each kept prediction's original index, so
    errors found later still name the position in the file.
    """
    if not (isinstance(value, dict) and isinstance(value.get("predictions"), list)):
        return value, None
    kept = [(i, p) for i, p in enumerate(value["predictions"]) if not _is_all_zero_box(p)]
    return {**value, "predictions": [p for _, p in kept]}, [i for i, _ in kept]


def _boxes(checker: RecordChecker, value: Any, loc: Loc, *, nullable: bool) -> Any:
    """Validate a predictions payload of the export, naming positions as in the file."""
    filtered, index_map = drop_all_zero_boxes(value)
    cleaned, errors = payloads.clean_predictions(filtered, nullable=nullable)
    for sub_loc, message in errors:
        if index_map is not None and sub_loc[:1] == ("predictions",) and len(sub_loc) > 1:
            sub_loc = ("predictions", index_map[sub_loc[1]], *sub_loc[2:])
        checker.error((*loc, *sub_loc), message)
    return cleaned


def _image_path(checker: RecordChecker, value: Any, loc: Loc, folder: Path) -> Path | None:
    """The image's path inside `folder`; absolute paths and `..` escapes are refused."""
    if not (isinstance(value, str) and value and not Path(value).is_absolute()):
        checker.error(loc, IMAGE_PATH_INVALID)
        return None
    path = (folder / value).resolve()
    if not path.is_relative_to(folder.resolve()):
        checker.error(loc, IMAGE_OUTSIDE)
        return None
    if not path.is_file():
        checker.error(loc, IMAGE_MISSING.format(path=value))
        return None
    return path


def read_image(path: Path) -> bytes:
    """The bytes of an export image (the one place the local format reads image files)."""
    return path.read_bytes()


def _detection(
    checker: RecordChecker, value: Any, loc: Loc, folder: Path
) -> DetectionRecord | None:
    data = checker.obj(value, loc)
    if data is None:
        return None
    alert_api_id = checker.get(data, "alert_api_id", loc, checker.integer)
    recorded_at = checker.get(data, "recorded_at", loc, checker.moment)
    path = checker.get(data, "image", loc, lambda v, at: _image_path(checker, v, at, folder))
    predictions = checker.get(
        data, "algo_predictions", loc, lambda v, at: _boxes(checker, v, at, nullable=False)
    )
    others = checker.get(
        data,
        "others_bboxes",
        loc,
        lambda v, at: _boxes(checker, v, at, nullable=True),
        required=False,
    )
    if None in (alert_api_id, recorded_at, path, predictions):
        return None
    return DetectionRecord(
        alert_api_id=alert_api_id,
        recorded_at=recorded_at,
        image=lambda: read_image(path),
        algo_predictions=predictions,
        others_bboxes=others,
    )


def export_record_parse(data: Any, *, folder: Path) -> SequenceRecord:
    """Validate one line of `sequences.jsonl` (SPEC §8.2) into a record, or raise RecordError.

    Every problem is listed with its field path. All-zero boxes are dropped silently; any other
    invalid box fails the record. Images are only located here (they must exist inside the
    folder); they are read and checked when the record is imported.
    """
    c = RecordChecker()
    if not isinstance(data, dict):
        raise RecordError([((), LINE_NOT_AN_OBJECT)])
    source_api = c.get(
        data,
        "source_api",
        (),
        lambda v, at: c.choice(v, at, choices=SourceApi.values, message=SOURCE_API_INVALID),
    )
    alert_api_id = c.get(data, "alert_api_id", (), c.integer)
    organisation = c.get(data, "organisation", (), c.obj) or {}
    organisation_id = c.get(organisation, "id", ("organisation",), c.integer)
    organisation_name = c.get(organisation, "name", ("organisation",), c.name)
    camera = c.get(data, "camera", (), c.obj) or {}
    camera_id = c.get(camera, "id", ("camera",), c.integer)
    camera_name = c.get(camera, "name", ("camera",), c.name)
    lat = c.get(camera, "lat", ("camera",), lambda v, at: c.number(v, at, low=-90, high=90))
    lon = c.get(camera, "lon", ("camera",), lambda v, at: c.number(v, at, low=-180, high=180))
    azimuth = c.get(data, "azimuth", (), c.azimuth, required=False)
    platform_class = c.get(
        data,
        "is_wildfire_alertapi",
        (),
        lambda v, at: (
            None
            if v is None
            else c.choice(v, at, choices=AnnotationType.values, message=PLATFORM_CLASS_INVALID)
        ),
        required=False,
    )
    recorded_at = c.get(data, "recorded_at", (), c.moment)
    last_seen_at = c.get(
        data, "last_seen_at", (), lambda v, at: c.moment(v, at, nullable=True), required=False
    )
    items = c.get(data, "detections", (), lambda v, at: v if isinstance(v, list) else None)
    if "detections" in data and items is None:
        c.error(("detections",), NOT_A_LIST)
    detections = [
        _detection(c, item, ("detections", index), folder) for index, item in enumerate(items or [])
    ]
    if c.errors:
        raise RecordError(c.errors)
    return SequenceRecord(
        source_api=source_api,
        alert_api_id=alert_api_id,
        organization_id=organisation_id,
        organization_name=organisation_name,
        camera_id=camera_id,
        camera_name=camera_name,
        lat=lat,
        lon=lon,
        azimuth=azimuth,
        is_wildfire_alertapi=platform_class,
        recorded_at=recorded_at,
        last_seen_at=last_seen_at,
        detections=detections,
    )


@dataclass
class ExportLine:
    """One non-blank line of `sequences.jsonl`, decoded as far as it goes."""

    number: int
    data: Any = None
    error: str | None = None

    @property
    def key(self) -> tuple[str, int] | None:
        """`(source_api, alert_api_id)` when both are readable, for the idempotency check."""
        if not isinstance(self.data, dict):
            return None
        source_api, alert_api_id = self.data.get("source_api"), self.data.get("alert_api_id")
        if isinstance(source_api, str) and type(alert_api_id) is int:
            return source_api, alert_api_id
        return None

    @property
    def ref(self) -> str:
        """ "line 7 (alert_api_id 4411)" — how the report names this record."""
        alert_api_id = self.data.get("alert_api_id") if isinstance(self.data, dict) else None
        if isinstance(alert_api_id, int | str) and not isinstance(alert_api_id, bool):
            return f"line {self.number} (alert_api_id {alert_api_id})"
        return f"line {self.number}"


def export_lines(path: Path) -> list[ExportLine]:
    """The non-blank lines of an export file, each decoded (UTF-8, JSON) or with its error.

    A line that cannot be decoded is a record error, not a fatal one. Raises OSError when the
    file cannot be read.
    """
    lines = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            lines.append(ExportLine(number, error=UTF8_INVALID))
            continue
        if not text.strip():
            continue
        try:
            lines.append(ExportLine(number, data=json.loads(text)))
        except ValueError as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            lines.append(ExportLine(number, error=JSON_INVALID.format(reason=reason)))
    return lines


def export_import_line(
    report: ImportReport, line: ExportLine, *, folder: Path, autogen: AutogenParams
) -> None:
    """Import one line of an export folder into `report` (the pipeline of §8.1)."""
    if line.error is not None:
        report.record_failed(line.ref, [((), line.error)])
        return
    record_process(
        report,
        ref=line.ref,
        key=line.key,
        build=lambda: export_record_parse(line.data, folder=folder),
        autogen=autogen,
    )


def autogen_params(*, confidence: float, iou: float, min_cluster_size: int) -> AutogenParams:
    """Validated generation parameters (SPEC §4.2), or ValueError naming the bad option."""
    if not (math.isfinite(confidence) and 0 <= confidence <= 1):
        raise ValueError("--confidence-threshold must be between 0 and 1")
    if not (math.isfinite(iou) and 0 <= iou <= 1):
        raise ValueError("--iou-threshold must be between 0 and 1")
    if min_cluster_size < 1:
        raise ValueError("--min-cluster-size must be at least 1")
    return AutogenParams(
        confidence_threshold=confidence, iou_threshold=iou, min_cluster_size=min_cluster_size
    )


def add_pipeline_arguments(parser: Any) -> None:
    """The options every import command shares: --no-assign, the generation thresholds
    (read back with `autogen_params`) and --json."""
    defaults = AutogenParams()
    parser.add_argument(
        "--no-assign", action="store_true", help="do not run the group assignment afterwards"
    )
    parser.add_argument("--confidence-threshold", type=float, default=defaults.confidence_threshold)
    parser.add_argument("--iou-threshold", type=float, default=defaults.iou_threshold)
    parser.add_argument("--min-cluster-size", type=int, default=defaults.min_cluster_size)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def autogen_from_options(options: dict[str, Any]) -> AutogenParams:
    """`autogen_params` of the options `add_pipeline_arguments` declared (ValueError if bad)."""
    return autogen_params(
        confidence=options["confidence_threshold"],
        iou=options["iou_threshold"],
        min_cluster_size=options["min_cluster_size"],
    )


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
