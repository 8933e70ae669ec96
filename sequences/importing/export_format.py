"""The local export format (SPEC §8.2): a folder holding `sequences.jsonl` and its images.

- `RecordChecker` collects `(loc, message)` errors while reading one JSON record; the platform
  reader (`platform_records`) uses it too;
- `export_record_parse` validates one line into a `SequenceRecord` (all-zero boxes dropped
  silently, any other invalid box fails the record; images only located, read on import);
- `export_lines` decodes the file line by line and `export_import_line` hands each line to the
  shared pipeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.utils.dateparse import parse_datetime

from sequences import payloads
from sequences.boxes import is_finite_number
from sequences.importing.pipeline import (
    DetectionRecord,
    RecordError,
    SequenceRecord,
    record_process,
)
from sequences.importing.report import ImportReport
from sequences.models import AnnotationType, SourceApi
from sequences.payloads import (
    BIGINT_MAX,
    FIELD_REQUIRED,
    NOT_A_LIST,
    NOT_A_NON_EMPTY_STRING,
    NOT_A_NUMBER,
    NOT_AN_INTEGER,
    NOT_AN_OBJECT,
    Loc,
)
from sequences.services import TEMPORAL_FIELDS, AutogenParams
from sequences.services.images import image_bytes_check

EXPORT_FILE = "sequences.jsonl"

NOT_A_NUMBER_OR_NULL = "must be a finite number or null"
NAME_TOO_LONG = "must be at most 255 characters"
OUT_OF_RANGE = "must be between {low} and {high}"
SOURCE_API_INVALID = f"must be one of {', '.join(SourceApi.values)}"
PLATFORM_CLASS_INVALID = f"must be one of {', '.join(AnnotationType.values)}, or null"
DATETIME_INVALID = "must be an ISO-8601 date and time"
IMAGE_PATH_INVALID = "must be a relative path inside the export folder"
IMAGE_OUTSIDE = "must stay inside the export folder"
IMAGE_MISSING = "file not found: {path}"
JSON_INVALID = "not valid JSON: {reason}"
UTF8_INVALID = "not valid UTF-8"
LINE_NOT_AN_OBJECT = "must be a JSON object"


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

    def temporal(self, value: Any, loc: Loc) -> float | str | None:
        """A temporal model field (`loc` ends with its name): the score, a number in [0, 1],
        or a version, a short string; null is "not scored"."""
        problem = TEMPORAL_FIELDS[loc[-1]](value)
        if problem is not None:
            self.error(loc, problem)
            return None
        return value

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
    """The bytes of an export image (the one place the local format reads image files); one
    over IMAGE_MAX_BYTES is refused (ImageTooLarge) before it is read."""
    image_bytes_check(path.stat().st_size)
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

    Every problem is listed with its field path. The temporal model's score and versions are
    optional (null or absent: not scored). All-zero boxes are dropped silently; any other
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
    temporal = {name: c.get(data, name, (), c.temporal, required=False) for name in TEMPORAL_FIELDS}
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
        **temporal,
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
