"""Platform answers read into import records (PLATFORM_API.md §4, SPEC §8.3): pure readers of
platform values (datetimes, the alert class, box strings, the source API of a host), the choice
of one detection row per image, and `platform_record`, which maps one listed sequence with its
detection rows to the `SequenceRecord` of the shared pipeline.

Box strings are parsed as literals, never evaluated; an invalid box is dropped and counted, and
a string that does not parse gives a warning and no box, so one garbled frame never costs the
whole sequence. Likewise a malformed temporal model field is stored as NULL with a warning,
never a failed record.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sequences.boxes import box_error, is_finite_number
from sequences.importing.export_format import RecordChecker
from sequences.importing.pipeline import DetectionRecord, RecordError, SequenceRecord
from sequences.importing.platform_client import PlatformClient, is_integer
from sequences.models import AnnotationType
from sequences.services import TEMPORAL_FIELDS

DETECTIONS_MAX_LIMIT = 100
# The extra rows of a detections call absorb sibling rows of one image (one row per box).
DETECTIONS_EXTRA_ROWS = 10
HOST_SOURCE_APIS = {
    "alertapi.pyronear.org": "pyronear_french",
    "apicenia.pyronear.org": "api_cenia",
}
PLATFORM_CLASSES = frozenset(AnnotationType.values)
CLASS_NAME = "smoke"
# A box string longer than this is not a platform box string (at most 5 boxes per image).
MAX_BOX_STRING = 4096
_BOX_STRING_CHARS = re.compile(r"[0-9\s.,()\[\]eE+-]*")

SOURCE_API_REQUIRED = "cannot tell the source API of host {host!r}: pass --source-api ({choices})"
SOURCE_API_INVALID = "--source-api must be one of {choices}, not {value!r}"
DATETIME_INVALID = "must be an ISO 8601 datetime"
CAMERA_UNKNOWN = "camera {camera_id} unknown to the platform"
ORGANISATION_UNKNOWN = (
    "organisation {organization_id} of camera {camera_id} unknown to the platform"
)
NOT_A_URL = "must be a non-empty string"
BOX_STRING_MALFORMED = "detection {detection_id}: {field} {value} is not a box string; ignored"
PLATFORM_CLASS_IGNORED = (
    "is_wildfire {value} is not null, wildfire_smoke, other_smoke or other; stored as null"
)
TEMPORAL_FIELD_IGNORED = "{field} {value}: {problem}; stored as null"


# --- reading platform values (pure) ---------------------------------------------------------


def source_api_for(url: str, override: str | None, *, choices: Iterable[str]) -> str:
    """The source API of a platform URL: `override` when given, else from the host.

    Raises ValueError with the message to show when the host is unknown and no override is
    given, or when the override is not one of `choices`.
    """
    choices = list(choices)
    if override is not None:
        if override not in choices:
            raise ValueError(SOURCE_API_INVALID.format(choices=", ".join(choices), value=override))
        return override
    host = (urlsplit(url).hostname or "").lower()
    if host in HOST_SOURCE_APIS:
        return HOST_SOURCE_APIS[host]
    raise ValueError(SOURCE_API_REQUIRED.format(host=host, choices=", ".join(choices)))


def parse_datetime(value: object) -> datetime:
    """A platform datetime as an aware UTC datetime.

    The platform writes naive ISO 8601 meaning UTC, with microseconds only when non-zero;
    `Z` and offsets are accepted too. Raises ValueError(DATETIME_INVALID) otherwise.
    """
    if not isinstance(value, str):
        raise ValueError(DATETIME_INVALID)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(DATETIME_INVALID) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def platform_class(value: object) -> str | None:
    """`is_wildfire` as an annotation type: one of the three strings, or None.

    Before August 2025 the field was a boolean; booleans and any other value give None (the
    caller counts them with :func:`is_unknown_class`).
    """
    return value if isinstance(value, str) and value in PLATFORM_CLASSES else None


def is_unknown_class(value: object) -> bool:
    """True for an `is_wildfire` value that is neither null nor one of the three strings."""
    return value is not None and platform_class(value) is None


def temporal_fields(sequence: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The temporal model's score and versions of a platform sequence, and the warnings.

    An absent or null field is None ("not scored"); a malformed one (a score that is not a
    finite number in [0, 1], a version that is not a short non-empty string) is None too, with
    a warning naming it: a field the platform garbled never costs the sequence.
    """
    values, warnings = {}, []
    for name, problem_of in TEMPORAL_FIELDS.items():
        value = sequence.get(name)
        problem = problem_of(value)
        if problem is not None:
            warnings.append(
                TEMPORAL_FIELD_IGNORED.format(field=name, value=_short(value), problem=problem)
            )
            value = None
        values[name] = value
    return values, warnings


def detections_call_limit(wanted: int) -> int:
    """`limit` of the detections call: wanted + 10 rows, at most 100 (wanted <= 0 means all)."""
    if wanted <= 0:
        return DETECTIONS_MAX_LIMIT
    return min(wanted + DETECTIONS_EXTRA_ROWS, DETECTIONS_MAX_LIMIT)


def distinct_image_rows(rows: list[dict[str, Any]], *, wanted: int) -> list[dict[str, Any]]:
    """The first row of each `bucket_key`, in ascending `created_at`, at most `wanted`.

    The platform stores one row per box, so an image with three boxes comes as three rows
    with one `bucket_key`. Rows without a `bucket_key` are skipped. Rows are expected
    oldest first (the call sends `desc=false`); a stable sort on the parsed `created_at` keeps
    that order for older servers, rows whose `created_at` does not parse keeping their place
    at the end for the caller to report. `wanted <= 0` means up to 100.
    """
    cap = wanted if wanted > 0 else DETECTIONS_MAX_LIMIT

    def order(row: dict[str, Any]) -> tuple[int, datetime]:
        try:
            return 0, parse_datetime(row.get("created_at"))
        except ValueError:
            return 1, datetime.max.replace(tzinfo=UTC)

    kept: dict[str, dict[str, Any]] = {}
    for row in sorted((r for r in rows if isinstance(r, dict)), key=order):
        key = row.get("bucket_key")
        if not isinstance(key, str) or not key or key in kept:
            continue
        kept[key] = row
        if len(kept) == cap:
            break
    return list(kept.values())


# --- box strings ------------------------------------------------------------------------------


@dataclass
class ParsedBoxes:
    """What a box string yields: valid predictions, boxes dropped, whether it parsed at all."""

    predictions: list[dict[str, Any]]
    dropped: int = 0
    malformed: bool = False


def _literal(text: str) -> tuple[bool, Any]:
    """`(True, value)` when `text` is a literal made of numbers, brackets and commas only.

    The character whitelist runs first, so `ast.literal_eval` only ever sees numeric tuples
    and lists (never names, strings or calls); nothing is evaluated.
    """
    text = text.strip()
    if not text or len(text) > MAX_BOX_STRING or not _BOX_STRING_CHARS.fullmatch(text):
        return False, None
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _prediction(candidate: object) -> dict[str, Any] | None:
    """One `(x1, y1, x2, y2, conf, ...)` as a prediction, or None when the box is invalid.

    Invalid: fewer than 5 numbers (values past the fifth are ignored), a coordinate outside
    [0, 1], x1 >= x2 or y1 >= y2 (which includes the all-zero placeholder box), or a
    confidence outside [0, 1].
    """
    if not isinstance(candidate, (list, tuple)) or len(candidate) < 5:
        return None
    values = candidate[:5]
    if not all(is_finite_number(value) for value in values):
        return None
    x1, y1, x2, y2, confidence = (float(value) for value in values)
    if box_error([x1, y1, x2, y2]) is not None or not 0 <= confidence <= 1:
        return None
    return {"xyxyn": [x1, y1, x2, y2], "confidence": confidence, "class_name": CLASS_NAME}


def parse_boxes(value: object) -> ParsedBoxes:
    """Read a platform box string `"[(x1,y1,x2,y2,conf),...]"` (PLATFORM_API.md §4).

    Accepts spaces, `.5`-style numbers, inner square brackets and a bare tuple taken as one
    box. Each invalid box is dropped and counted. A string that does not parse at all (e.g.
    `"[(0.1,0.2"`, `"None"`, `""`) gives no box and `malformed=True`; `"[]"` and None are
    normal empty values.
    """
    if value is None:
        return ParsedBoxes([])
    parsed_ok, parsed = (True, value) if isinstance(value, list) else (False, None)
    if isinstance(value, str):
        parsed_ok, parsed = _literal(value)
    if not parsed_ok or not isinstance(parsed, (list, tuple)):
        return ParsedBoxes([], malformed=True)
    # A flat sequence of numbers is one box: "(x1,y1,x2,y2,conf)".
    candidates = [parsed] if parsed and all(map(is_finite_number, parsed)) else list(parsed)
    predictions = [p for p in map(_prediction, candidates) if p is not None]
    return ParsedBoxes(predictions, dropped=len(candidates) - len(predictions))


# --- platform records -> import records -----------------------------------------------------


def _by_id(items: list[Any]) -> dict[int, dict[str, Any]]:
    return {
        item["id"]: item for item in items if isinstance(item, dict) and is_integer(item.get("id"))
    }


@dataclass
class PlatformMetadata:
    """Cameras (untrustworthy ones included) and organisations, by platform id."""

    cameras: dict[int, dict[str, Any]]
    organizations: dict[int, dict[str, Any]]

    @classmethod
    def fetch(cls, client: PlatformClient) -> PlatformMetadata:
        return cls(cameras=_by_id(client.cameras()), organizations=_by_id(client.organizations()))


@dataclass
class PulledRecord:
    """A platform sequence as an import record, with what its box strings cost."""

    record: SequenceRecord
    boxes_dropped: int = 0
    # Sequence fields the platform garbled, stored as NULL (each with its warning).
    fields_ignored: int = 0
    warnings: list[str] = field(default_factory=list)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _moment(
    checker: RecordChecker, data: dict[str, Any], key: str, loc: tuple, *, nullable: bool = False
) -> datetime | None:
    """`data[key]` read with :func:`parse_datetime`; errors go to `checker`."""

    def check(value: object, at: tuple) -> datetime | None:
        if value is None and nullable:
            return None
        try:
            return parse_datetime(value)
        except ValueError:
            checker.error(at, DATETIME_INVALID)
            return None

    return checker.get(data, key, loc, check, required=not nullable)


def _url(checker: RecordChecker, value: object, loc: tuple) -> str | None:
    if isinstance(value, str) and value:
        return value
    checker.error(loc, NOT_A_URL)
    return None


def _detection_records(
    checker: RecordChecker,
    rows: list[dict[str, Any]],
    pulled: PulledRecord,
    fetch_image: Callable[[str, str], bytes],
) -> None:
    """Add the kept rows to `pulled.record` as detections; box costs are counted in `pulled`.

    Images are fetched only when the pipeline imports the record.
    """
    detections = pulled.record.detections
    for index, row in enumerate(rows):
        loc = ("detections", index)
        detection_id = checker.get(row, "id", loc, checker.integer)
        recorded_at = _moment(checker, row, "created_at", loc)
        url = checker.get(row, "url", loc, lambda value, at: _url(checker, value, at))
        parsed = {name: parse_boxes(row.get(name)) for name in ("bbox", "others_bboxes")}
        for name, boxes in parsed.items():
            pulled.boxes_dropped += boxes.dropped
            if boxes.malformed:
                pulled.warnings.append(
                    BOX_STRING_MALFORMED.format(
                        detection_id=row.get("id"), field=name, value=_short(row.get(name))
                    )
                )
        if None in (detection_id, recorded_at, url):
            continue
        key = row["bucket_key"]
        detections.append(
            DetectionRecord(
                alert_api_id=detection_id,
                recorded_at=recorded_at,
                # Bound now: the loop variables move on before the pipeline loads the images.
                image=lambda url=url, key=key: fetch_image(url, key),
                algo_predictions={"predictions": parsed["bbox"].predictions},
                others_bboxes=(
                    {"predictions": parsed["others_bboxes"].predictions}
                    if parsed["others_bboxes"].predictions
                    else None
                ),
            )
        )


def platform_record(
    sequence: dict[str, Any],
    *,
    metadata: PlatformMetadata,
    source_api: str,
    wanted: int,
    fetch_rows: Callable[[], list[Any]],
    fetch_image: Callable[[str, str], bytes],
) -> PulledRecord:
    """Map one listed platform sequence to an import record (PLATFORM_API.md §4, SPEC §8.3).

    The sequence's own fields are checked first, so a sequence whose camera (or the camera's
    organisation) is unknown costs no detections call: RecordError "camera 42 unknown to the
    platform". Then `fetch_rows()` lists its detection rows, which are reduced to the first
    row of each image (`distinct_image_rows`, at most `wanted`); an empty result makes a
    record without detections (the pipeline counts it `skipped_empty`). Box strings are
    parsed safely: invalid boxes are dropped and counted, a string that does not parse gives a
    warning and no box. Images are fetched by the pipeline, through `fetch_image(url, key)`,
    only once the whole record is valid. Raises RecordError listing every problem.
    """
    checker = RecordChecker()
    camera_id = sequence.get("camera_id")
    camera = metadata.cameras.get(camera_id) if is_integer(camera_id) else None
    if camera is None:
        raise RecordError([((), CAMERA_UNKNOWN.format(camera_id=camera_id))])
    organization_id = camera.get("organization_id")
    organization = (
        metadata.organizations.get(organization_id) if is_integer(organization_id) else None
    )
    if organization is None:
        message = ORGANISATION_UNKNOWN.format(organization_id=organization_id, camera_id=camera_id)
        raise RecordError([((), message)])
    camera_name = checker.get(camera, "name", ("camera",), checker.name)
    lat = checker.get(
        camera, "lat", ("camera",), lambda v, at: checker.number(v, at, low=-90, high=90)
    )
    lon = checker.get(
        camera, "lon", ("camera",), lambda v, at: checker.number(v, at, low=-180, high=180)
    )
    organization_name = checker.get(organization, "name", ("organisation",), checker.name)
    azimuth = checker.get(sequence, "camera_azimuth", (), checker.azimuth, required=False)
    recorded_at = _moment(checker, sequence, "started_at", ())
    last_seen_at = _moment(checker, sequence, "last_seen_at", (), nullable=True)
    if checker.errors:
        raise RecordError(checker.errors)

    temporal, temporal_warnings = temporal_fields(sequence)
    pulled = PulledRecord(
        SequenceRecord(
            source_api=source_api,
            alert_api_id=sequence["id"],
            organization_id=organization_id,
            organization_name=organization_name,
            camera_id=camera_id,
            camera_name=camera_name,
            lat=lat,
            lon=lon,
            azimuth=azimuth,
            is_wildfire_alertapi=platform_class(sequence.get("is_wildfire")),
            recorded_at=recorded_at,
            last_seen_at=last_seen_at,
            **temporal,
        )
    )
    if is_unknown_class(sequence.get("is_wildfire")):
        pulled.warnings.append(PLATFORM_CLASS_IGNORED.format(value=_short(sequence["is_wildfire"])))
        pulled.fields_ignored += 1
    pulled.warnings.extend(temporal_warnings)
    pulled.fields_ignored += len(temporal_warnings)
    rows = distinct_image_rows(fetch_rows(), wanted=wanted)
    _detection_records(checker, rows, pulled, fetch_image)
    if checker.errors:
        raise RecordError(checker.errors)
    return pulled
