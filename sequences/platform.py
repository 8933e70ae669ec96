"""The Pyronear alert platform: its API client, the reading of its records, and the pull.

What the platform serves and how its fields map into this project is described in
PLATFORM_API.md; SPEC §8.3 fixes the calls and wins where the two differ. The client fetches
JSON and image bytes; pure helpers turn platform values into the `SequenceRecord` of the shared
import pipeline (`sequences.imports`); `platform_pull` walks the days and hands every sequence
to that pipeline, which owns all database work (idempotency, one transaction per sequence).

One retry rule covers every call (SPEC §8.3): connect timeout 5 s, read timeout 60 s (30 s for
images); connection errors, timeouts and 500/502/503/504 are retried 3 times with 1, 2, 4 s of
backoff; any other 4xx is final; a 401 or 406 triggers one fresh login and one retry, then a
fatal `PlatformAuthError` naming the login. Error bodies are never assumed to be JSON. Passwords,
tokens and presigned query strings never appear in a message.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from sequences.boxes import box_error, is_finite_number
from sequences.imports import (
    NOT_AN_INTEGER,
    DetectionRecord,
    ImportReport,
    ProgressLine,
    RecordChecker,
    RecordError,
    SequenceRecord,
    record_process,
)
from sequences.services import AutogenParams

API_PREFIX = "/api/v1"
SEQUENCES_PAGE_SIZE = 1000
DETECTIONS_MAX_LIMIT = 100
# The extra rows of a detections call absorb sibling rows of one image (one row per box).
DETECTIONS_EXTRA_ROWS = 10
RETRY_STATUSES = frozenset({500, 502, 503, 504})
TOKEN_REJECTED_STATUSES = frozenset({401, 406})
# `risk_score=extreme` switches off the platform's fire-weather filter of non-admin listings.
RISK_SCORE = "extreme"
HOST_SOURCE_APIS = {
    "alertapi.pyronear.org": "pyronear_french",
    "apicenia.pyronear.org": "api_cenia",
}
PLATFORM_CLASSES = frozenset({"wildfire_smoke", "other_smoke", "other"})
CLASS_NAME = "smoke"
# A box string longer than this is not a platform box string (at most 5 boxes per image).
MAX_BOX_STRING = 4096
_BOX_STRING_CHARS = re.compile(r"[0-9\s.,()\[\]eE+-]*")
_TAG = re.compile(r"<[^>]*>")

LOGIN_REFUSED = "platform login {login!r} refused: HTTP {status} {detail}"
LOGIN_NO_TOKEN = "platform login {login!r}: the answer holds no access_token"
TOKEN_REJECTED = (
    "platform token of login {login!r} rejected again after a fresh login "
    "({call}: HTTP {status} {detail})"
)
CALL_FAILED = "{call}: HTTP {status} {detail}"
NOT_ADMIN = "platform login {login!r} is not an admin account ({reason})"
CALL_UNAVAILABLE = "{call}: {reason} (gave up after {attempts} attempts)"
REQUEST_INVALID = "{call}: the request cannot be sent ({kind})"
NOT_JSON = "{call}: the answer is not JSON"
NOT_A_LIST = "{call}: expected a JSON list"
IMAGE_FAILED = "image {name}: HTTP {status} {detail}"
IMAGE_EMPTY = "image {name}: empty body"
SOURCE_API_REQUIRED = "cannot tell the source API of host {host!r}: pass --source-api ({choices})"
SOURCE_API_INVALID = "--source-api must be one of {choices}, not {value!r}"
DATETIME_INVALID = "must be an ISO 8601 datetime"


class PlatformError(Exception):
    """A platform call that failed for good (after the retries the rule allows)."""


class PlatformAuthError(PlatformError):
    """Credentials or tokens refused: fatal for the whole pull."""


class PlatformHTTPError(PlatformError):
    """A final non-success answer; `status` is the HTTP status."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Account:
    """One platform login; `repr` never shows the password."""

    login: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts (seconds) and retries of every call; `backoff` doubles per retry (1, 2, 4)."""

    retries: int = 3
    backoff: float = 1.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    image_read_timeout: float = 30.0

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        """The policy of the `PLATFORM_RETRY_BACKOFF` / `PLATFORM_*_TIMEOUT` settings."""
        return cls(
            backoff=settings.PLATFORM_RETRY_BACKOFF,
            connect_timeout=settings.PLATFORM_CONNECT_TIMEOUT,
            read_timeout=settings.PLATFORM_READ_TIMEOUT,
            image_read_timeout=settings.PLATFORM_IMAGE_READ_TIMEOUT,
        )


def _strip_authorization(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """requests auth hook that sends no Authorization at all (presigned URLs refuse a second
    credential, and this also keeps a ~/.netrc entry out of image downloads)."""
    request.headers.pop("Authorization", None)
    return request


def _detail(response: requests.Response) -> str:
    """A short printable reason from an answer's body, whatever its content type."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):  # FastAPI validation errors
            return "; ".join(
                str(item.get("msg", item)) if isinstance(item, dict) else str(item)
                for item in detail
            )
        return str(detail)
    # text/plain, HTML from a proxy, XML from S3: tags dropped, whitespace collapsed.
    text = " ".join(_TAG.sub(" ", response.text).split())
    return text[:160] or response.reason or ""


class PlatformClient:
    """The platform calls the pull needs, with the retry rule and per-account tokens.

    `user` reads cameras, sequences and detections; `admin` only lists organisations. Each
    account logs in on first use. `sleep` is injectable for tests of the backoff.
    """

    def __init__(
        self,
        *,
        base_url: str,
        user: Account,
        admin: Account,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.accounts = {"user": user, "admin": admin}
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.sleep = sleep
        self._tokens: dict[str, str] = {}

    # --- transport --------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, call: str, read_timeout: float, **kwargs):
        """One request under the retry rule; returns the first answer that is not retryable."""
        policy = self.policy
        attempts = policy.retries + 1
        for attempt in range(attempts):
            try:
                response = self.session.request(
                    method, url, timeout=(policy.connect_timeout, read_timeout), **kwargs
                )
            except requests.Timeout:
                reason = "timed out"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                reason = f"connection failed ({type(exc).__name__})"
            except requests.RequestException as exc:
                # A malformed URL and the like: retrying cannot help. The URL stays out of the
                # message (an image URL's query string is a credential).
                message = REQUEST_INVALID.format(call=call, kind=type(exc).__name__)
                raise PlatformError(message) from None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                reason = f"HTTP {response.status_code} {_detail(response)}".rstrip()
            if attempt + 1 < attempts:
                self.sleep(policy.backoff * 2**attempt)
        raise PlatformError(CALL_UNAVAILABLE.format(call=call, reason=reason, attempts=attempts))

    def login(self, account: str) -> str:
        """A fresh token for `account` ("user" or "admin"); PlatformAuthError when refused."""
        credentials = self.accounts[account]
        call = f"POST {API_PREFIX}/login/creds"
        response = self._send(
            "POST",
            f"{self.base_url}{API_PREFIX}/login/creds",
            call=call,
            read_timeout=self.policy.read_timeout,
            data={"username": credentials.login, "password": credentials.password},
        )
        if response.status_code != 200:
            raise PlatformAuthError(
                LOGIN_REFUSED.format(
                    login=credentials.login, status=response.status_code, detail=_detail(response)
                )
            )
        try:
            token = response.json().get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise PlatformAuthError(LOGIN_NO_TOKEN.format(login=credentials.login))
        self._tokens[account] = token
        return token

    def _get(self, path: str, *, params: dict[str, Any], account: str) -> Any:
        """GET a JSON route as `account`, re-logging in once when the token is rejected."""
        call = f"GET {API_PREFIX}{path}"
        url = f"{self.base_url}{API_PREFIX}{path}"
        token = self._tokens.get(account) or self.login(account)
        for fresh in (False, True):
            response = self._send(
                "GET",
                url,
                call=call,
                read_timeout=self.policy.read_timeout,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code not in TOKEN_REJECTED_STATUSES:
                break
            if fresh:
                raise PlatformAuthError(
                    TOKEN_REJECTED.format(
                        login=self.accounts[account].login,
                        call=call,
                        status=response.status_code,
                        detail=_detail(response),
                    )
                )
            token = self.login(account)
        if response.status_code != 200:
            message = CALL_FAILED.format(
                call=call, status=response.status_code, detail=_detail(response)
            )
            raise PlatformHTTPError(message, status=response.status_code)
        try:
            return response.json()
        except ValueError:
            raise PlatformError(NOT_JSON.format(call=call)) from None

    def _get_list(self, path: str, *, params: dict[str, Any], account: str) -> list[Any]:
        body = self._get(path, params=params, account=account)
        if not isinstance(body, list):
            raise PlatformError(NOT_A_LIST.format(call=f"GET {API_PREFIX}{path}"))
        return body

    # --- routes -----------------------------------------------------------------------------

    def cameras(self) -> list[Any]:
        """Every camera the user account may see, untrustworthy ones included."""
        return self._get_list("/cameras/", params={"include_non_trustable": "true"}, account="user")

    def organizations(self) -> list[Any]:
        """Every organisation; PlatformAuthError when the admin account is not an admin."""
        try:
            return self._get_list("/organizations/", params={}, account="admin")
        except PlatformHTTPError as exc:
            if exc.status != 403:
                raise
            login = self.accounts["admin"].login
            raise PlatformAuthError(NOT_ADMIN.format(login=login, reason=exc)) from exc

    def sequences_of_day(self, day: date, *, page_size: int = SEQUENCES_PAGE_SIZE) -> list[Any]:
        """The sequences started on the UTC day `day`, each platform id once.

        Pages at `page_size` until a short page. Pages are not a snapshot (new sequences shift
        the offsets, equal `started_at` have no stable order), so a sequence may come twice:
        the first copy is kept. A full page bringing no new id ends the walk too, since an
        older server ignoring `offset` would otherwise repeat its first page forever. Items
        without an integer `id` are kept as they are, for the caller to report.
        """
        listed: dict[int, Any] = {}
        unkeyed: list[Any] = []
        offset = 0
        while True:
            page = self._get_list(
                "/sequences/all/fromdate",
                params={
                    "from_date": day.isoformat(),
                    "limit": page_size,
                    "offset": offset,
                    "risk_score": RISK_SCORE,
                },
                account="user",
            )
            new = 0
            for item in page:
                key = item.get("id") if isinstance(item, dict) else None
                if not is_integer(key):
                    unkeyed.append(item)
                elif key not in listed:
                    listed[key] = item
                    new += 1
            if len(page) < page_size or new == 0:
                return [*listed.values(), *unkeyed]
            offset += page_size

    def detections(self, sequence_id: int, *, limit: int) -> list[Any]:
        """Detection rows of a sequence, oldest first, one call of at most `limit` rows."""
        return self._get_list(
            f"/sequences/{sequence_id}/detections",
            params={"limit": limit, "desc": "false"},
            account="user",
        )

    def image(self, url: str, *, name: str) -> bytes:
        """The bytes behind a presigned image URL, fetched without any Authorization header.

        `name` (the bucket key) stands for the image in messages: the URL's query string is
        a credential.
        """
        response = self._send(
            "GET",
            url,
            call=f"image {name}",
            read_timeout=self.policy.image_read_timeout,
            auth=_strip_authorization,
        )
        if response.status_code != 200:
            message = IMAGE_FAILED.format(
                name=name, status=response.status_code, detail=_detail(response)
            )
            raise PlatformHTTPError(message, status=response.status_code)
        if not response.content:
            raise PlatformError(IMAGE_EMPTY.format(name=name))
        return response.content


# --- reading platform values (pure) ---------------------------------------------------------


def is_integer(value: object) -> bool:
    """An int that is not a bool (JSON `true` is no id)."""
    return isinstance(value, int) and not isinstance(value, bool)


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

CAMERA_UNKNOWN = "camera {camera_id} unknown to the platform"
ORGANISATION_UNKNOWN = (
    "organisation {organization_id} of camera {camera_id} unknown to the platform"
)
NOT_A_URL = "must be a non-empty string"
BOX_STRING_MALFORMED = "detection {detection_id}: {field} {value} is not a box string; ignored"
PLATFORM_CLASS_IGNORED = (
    "is_wildfire {value} is not null, wildfire_smoke, other_smoke or other; stored as null"
)
DAY_REF = "day {day}"
LISTING_ITEM_REF = "day {day} item {index}"
SEQUENCE_REF = "sequence {sequence_id}"


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
        )
    )
    if is_unknown_class(sequence.get("is_wildfire")):
        pulled.warnings.append(PLATFORM_CLASS_IGNORED.format(value=_short(sequence["is_wildfire"])))
    rows = distinct_image_rows(fetch_rows(), wanted=wanted)
    _detection_records(checker, rows, pulled, fetch_image)
    if checker.errors:
        raise RecordError(checker.errors)
    return pulled


# --- the pull ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullOptions:
    """What `pull_sequences` asks for (SPEC §8.3, §8.4)."""

    source_api: str
    days: list[date]
    autogen: AutogenParams
    sequence_ids: frozenset[int] | None = None
    max_sequences: int | None = None
    detections_limit: int = 30


@dataclass
class _Listed:
    ref: str
    key: tuple[str, int] | None
    sequence: Any


def _listed_sequences(
    client: PlatformClient, options: PullOptions, report: ImportReport
) -> list[_Listed]:
    """The sequences to pull, day by day, filtered by `sequence_ids`, capped at `max_sequences`.

    A day whose listing fails for good is reported as a failed listing and the walk goes on;
    a rejected login stops everything (PlatformAuthError).
    """
    listed: list[_Listed] = []
    for day in options.days:
        try:
            items = client.sequences_of_day(day)
        except PlatformAuthError:
            raise
        except PlatformError as exc:
            report.listing_failed(DAY_REF.format(day=day.isoformat()), str(exc))
            continue
        for index, item in enumerate(items):
            sequence_id = item.get("id") if isinstance(item, dict) else None
            if not is_integer(sequence_id):
                if options.sequence_ids is None:
                    ref = LISTING_ITEM_REF.format(day=day.isoformat(), index=index)
                    listed.append(_Listed(ref, None, item))
            elif options.sequence_ids is None or sequence_id in options.sequence_ids:
                ref = SEQUENCE_REF.format(sequence_id=sequence_id)
                listed.append(_Listed(ref, (options.source_api, sequence_id), item))
            if options.max_sequences is not None and len(listed) >= options.max_sequences:
                return listed
    return listed


def _as_record_error(call: Callable[[], Any]) -> Any:
    """Run a platform call; a failure that is not an auth failure fails only this record."""
    try:
        return call()
    except PlatformAuthError:
        raise
    except PlatformError as exc:
        raise RecordError([((), str(exc))]) from exc


def _record_builder(
    client: PlatformClient,
    listed: _Listed,
    *,
    metadata: PlatformMetadata,
    options: PullOptions,
    report: ImportReport,
) -> Callable[[], SequenceRecord]:
    """The `build` step of the pipeline for one listed sequence (run only when not present)."""

    def build() -> SequenceRecord:
        if listed.key is None:
            raise RecordError([(("id",), NOT_AN_INTEGER)])
        sequence_id = listed.key[1]
        pulled = platform_record(
            listed.sequence,
            metadata=metadata,
            source_api=options.source_api,
            wanted=options.detections_limit,
            fetch_rows=lambda: _as_record_error(
                lambda: client.detections(
                    sequence_id, limit=detections_call_limit(options.detections_limit)
                )
            ),
            fetch_image=lambda url, key: _as_record_error(lambda: client.image(url, name=key)),
        )
        report.boxes_dropped += pulled.boxes_dropped
        report.warnings.extend(f"{listed.ref}: {warning}" for warning in pulled.warnings)
        return pulled.record

    return build


def platform_pull(
    *,
    client: PlatformClient,
    options: PullOptions,
    report: ImportReport,
    progress: ProgressLine | None = None,
) -> None:
    """Pull the platform's sequences of `options.days` into the database, counting in `report`.

    Cameras and organisations are read once; every listed sequence then goes through the
    shared pipeline (`record_process`): present ones are counted `already_present` before any
    detections call or download; the others are mapped, their images downloaded, and written
    whole in one transaction, or reported as a record error with nothing left behind.
    Raises PlatformError when the metadata cannot be read and PlatformAuthError when a login
    is refused for good (fatal: the caller stops and reports).
    """
    metadata = PlatformMetadata.fetch(client)
    listed = _listed_sequences(client, options, report)
    if progress is not None:
        progress.total = len(listed)
    for item in listed:
        record_process(
            report,
            ref=item.ref,
            key=item.key,
            build=_record_builder(client, item, metadata=metadata, options=options, report=report),
            autogen=options.autogen,
        )
        if progress is not None:
            progress.tick(report)
