"""A fake Pyronear alert platform: a real HTTP server on loopback for the pull tests.

It speaks the routes of PLATFORM_API.md §2–§3.5 the way the platform does (form login, bearer
tokens, 401/406/403/422 bodies, bare JSON lists, 307 to the slashed list routes, one detection
row per box, presigned-looking image URLs it serves itself) and can produce every edge case of
§5 on demand: see the attributes and `fail` / `slow` / `reset` below. Every request is recorded
(method, path, query, headers) so tests can assert what the client sent.

    platform = FakePlatform()
    platform.add_user("annotator", "pw", organization_id=2)
    ...
    with platform.running():
        client = PlatformClient(base_url=platform.url, ...)
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.factories import jpeg_bytes

# Fields a newer platform would send; the client must ignore them.
EXTRA_FIELDS = {"added_in_2027": {"nested": [1, "two", None]}, "crop_url": None}
# A sequence field an older platform does not send at all (as opposed to null).
ABSENT = object()
# The temporal model's fields of a scored sequence, as in PLATFORM_API.md §3.3.
TEMPORAL_SCORED = {
    "temporal_model_score": 0.93,
    "temporal_model_version": "0.1.0",
    "temporal_api_version": "v0.3.2",
}
# How much an "endless" image body sends at most before ending on its own.
ENDLESS_IMAGE_BYTES = 200 * 1024 * 1024
RISK_SCORES = ("very_low", "low", "moderate", "high", "very_high", "extreme")
TRUE_VALUES = ("true", "1", "yes", "on")
FALSE_VALUES = ("false", "0", "no", "off")
BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body></html>"
)
S3_ERRORS = {
    "expired": (403, "AccessDenied", "Request has expired"),
    "missing": (404, "NoSuchKey", "The specified key does not exist."),
    "two_auth": (400, "InvalidArgument", "Only one auth mechanism allowed"),
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Fault:
    """A misbehaviour of the requests whose target matches `pattern` (a regex).

    The target is the path with its query string: `"/cameras/"`, `"from_date=2026-05-10"`;
    kind "status": answer `status` with `body`; "slow": wait `delay` seconds, then answer
    normally; "reset": reset the TCP connection without answering. `times` None = forever.
    """

    pattern: str
    kind: str
    status: int = 500
    body: bytes = b"Internal Server Error"
    content_type: str = "text/plain; charset=utf-8"
    delay: float = 0.0
    times: int | None = 1


@dataclass
class FakePlatform:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    organizations: list[dict[str, Any]] = field(default_factory=list)
    cameras: list[dict[str, Any]] = field(default_factory=list)
    # Cameras the platform knows (visibility) but leaves out of /cameras/.
    unlisted_camera_ids: set[int] = field(default_factory=set)
    sequences: list[dict[str, Any]] = field(default_factory=list)
    detections: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    images: dict[str, bytes] = field(default_factory=dict)
    # bucket_key -> "expired" | "missing" | "not_image" | "endless" (an image body streamed
    # without Content-Length until the client hangs up, ENDLESS_IMAGE_BYTES at most)
    image_faults: dict[str, str] = field(default_factory=dict)
    # Bytes of "endless" image bodies the server managed to send.
    endless_bytes_sent: int = 0
    faults: list[Fault] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> login
    requests: list[RecordedRequest] = field(default_factory=list)
    # Status for unknown or revoked tokens (401 on the platform for expired ones; 406 for garbage).
    rejected_token_status: int = 401
    # Revoke every token after this many authenticated calls (a token expiring mid-run).
    revoke_tokens_after: int | None = None
    # Treat every token as unknown, fresh ones included (credentials revoked for good).
    refuse_tokens: bool = False
    # Older servers ignore `offset` and repeat the first page.
    ignore_offset: bool = False
    # Each page after the first starts with the last row of the previous one (unstable ties).
    repeat_across_pages: bool = False
    # Sequences inserted right after the first listing page of their day has been answered.
    insert_after_first_page: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def __post_init__(self):
        self._lock = threading.RLock()
        self._authenticated_calls = 0
        self._next_detection_id = 900_000
        self._issued_tokens = 0

    # --- building the world -------------------------------------------------------------------

    def add_user(
        self, login: str, password: str, *, scope: str = "user", organization_id: int = 1
    ) -> None:
        self.users[login] = {
            "id": len(self.users) + 1,
            "password": password,
            "scope": scope,
            "organization_id": organization_id,
        }

    def add_organization(self, org_id: int, name: str) -> None:
        self.organizations.append(
            {"id": org_id, "name": name, "telegram_id": None, "slack_hook": None}
        )

    def add_camera(
        self,
        camera_id: int,
        *,
        organization_id: int,
        name: str | None = None,
        lat: float = 44.765181,
        lon: float = 4.51488,
        is_trustable: bool = True,
        listed: bool = True,
    ) -> dict[str, Any]:
        camera = {
            "id": camera_id,
            "organization_id": organization_id,
            "name": name or f"cam-{camera_id}",
            "angle_of_view": 87.0,
            "elevation": 1582.0,
            "lat": lat,
            "lon": lon,
            "is_trustable": is_trustable,
            "last_active_at": "2026-05-11T08:14:02.001893",
            "last_image": None,
            "created_at": "2024-07-02T09:00:00",
            "poses": [{"id": camera_id * 10, "camera_id": camera_id, "azimuth": 212.5}],
            "last_image_url": None,
        }
        self.cameras.append(camera)
        if not listed:
            self.unlisted_camera_ids.add(camera_id)
        return camera

    def add_sequence(
        self,
        sequence_id: int,
        *,
        camera_id: int,
        started_at: str = "2026-05-10T14:03:22.417512",
        camera_azimuth: float | None = 212.5,
        is_wildfire: Any = None,
        last_seen_at: str | None = "2026-05-10T14:21:05",
        images: int = 0,
        bbox: str = "[(0.412,0.388,0.457,0.431,0.62)]",
        temporal: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A sequence started at `started_at`, with `images` one-box detections.

        It is scored by the temporal model as in the documentation's example; `temporal`
        overrides some of the three fields (a value of ABSENT leaves the field out).
        """
        sequence = {
            "id": sequence_id,
            "camera_id": camera_id,
            "pose_id": camera_id * 10,
            "camera_azimuth": camera_azimuth,
            "sequence_azimuth": 209.84,  # the smoke's direction: must be ignored
            "cone_angle": 4.1,
            "is_wildfire": is_wildfire,
            "started_at": started_at,
            "last_seen_at": last_seen_at,
            "max_conf": 0.81,
            "is_validated": False,
        }
        for name, value in {**TEMPORAL_SCORED, **(temporal or {})}.items():
            if value is not ABSENT:
                sequence[name] = value
        self.sequences.append(sequence)
        start = datetime.fromisoformat(started_at)
        for index in range(images):
            self.add_detection(sequence_id, created_at=_later(start, seconds=30 * index), bbox=bbox)
        return sequence

    def add_detection(
        self,
        sequence_id: int,
        *,
        detection_id: int | None = None,
        bucket_key: str | None = None,
        bbox: str | None = "[(0.412,0.388,0.457,0.431,0.62)]",
        others_bboxes: str | None = None,
        created_at: str = "2026-05-10T14:03:22",
        image: bytes | None = None,
    ) -> dict[str, Any]:
        """One detection row; a new `bucket_key` gets an image (a small JPEG by default)."""
        with self._lock:
            if detection_id is None:
                self._next_detection_id += 1
                detection_id = self._next_detection_id
        sequence = self.sequence(sequence_id)
        camera_id = sequence["camera_id"] if sequence else 0
        if bucket_key is None:
            bucket_key = f"{camera_id}-{detection_id:014d}-{detection_id:08x}.jpg"
        if bucket_key not in self.images or image is not None:
            self.images[bucket_key] = image if image is not None else jpeg_bytes()
        row = {
            "id": detection_id,
            "camera_id": camera_id,
            "pose_id": camera_id * 10,
            "sequence_id": sequence_id,
            "bucket_key": bucket_key,
            "crop_bucket_key": None,
            "bbox": bbox,
            "others_bboxes": others_bboxes,
            "created_at": created_at,
            "recorded_at": created_at,
        }
        self.detections[sequence_id].append(row)
        return row

    def add_day(
        self, day: str, count: int, *, camera_id: int, first_id: int, images: int = 0
    ) -> None:
        """`count` sequences on `day`, ids from `first_id`, one second apart."""
        start = datetime.fromisoformat(f"{day}T00:00:00")
        for index in range(count):
            self.add_sequence(
                first_id + index,
                camera_id=camera_id,
                started_at=_later(start, seconds=index),
                images=images,
            )

    def sequence(self, sequence_id: int) -> dict[str, Any] | None:
        return next((s for s in self.sequences if s["id"] == sequence_id), None)

    # --- misbehaviour -------------------------------------------------------------------------

    def fail(
        self,
        pattern: str,
        status: int = 500,
        *,
        times: int | None = 1,
        body: bytes = b"Internal Server Error",
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        self.faults.append(Fault(pattern, "status", status, body, content_type, times=times))

    def slow(self, pattern: str, delay: float, *, times: int | None = 1) -> None:
        self.faults.append(Fault(pattern, "slow", delay=delay, times=times))

    def reset(self, pattern: str, *, times: int | None = 1) -> None:
        self.faults.append(Fault(pattern, "reset", times=times))

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    # --- what the client sent -----------------------------------------------------------------

    def requests_to(self, pattern: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if re.search(pattern, r.path)]

    def count(self, pattern: str) -> int:
        return len(self.requests_to(pattern))

    # --- running ------------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[FakePlatform]:
        handler = type("BoundHandler", (_Handler,), {"platform": self})
        server = _QuietServer(("127.0.0.1", 0), handler)
        # A short poll interval keeps shutdown (once per test) from costing half a second.
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    # --- answering (called by the handler, one thread per request) ----------------------------

    def _take_fault(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times != 0 and re.search(fault.pattern, target):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _authenticate(self, headers: dict[str, str]) -> tuple[dict[str, Any] | None, Any]:
        """`(user, None)` for a good token, else `(None, (status, body, extra_headers))`."""
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None, (401, {"detail": "Not authenticated"}, {"WWW-Authenticate": "Bearer"})
        with self._lock:
            self._authenticated_calls += 1
            if (
                self.revoke_tokens_after is not None
                and self._authenticated_calls > self.revoke_tokens_after
            ):
                self.tokens.clear()
                self.revoke_tokens_after = None
            login = self.tokens.get(token)
        if not token.startswith("eyJ") or token.count(".") != 2:
            return None, (406, {"detail": "Invalid token."}, {})
        if login is None or self.refuse_tokens:
            detail = "Token has expired." if self.rejected_token_status == 401 else "Invalid token."
            return None, (self.rejected_token_status, {"detail": detail}, {})
        return self.users[login], None

    def _camera_org(self, camera_id: int) -> int | None:
        camera = next((c for c in self.cameras if c["id"] == camera_id), None)
        return camera["organization_id"] if camera else None

    def _visible(self, user: dict[str, Any], camera_id: int) -> bool:
        return user["scope"] == "admin" or self._camera_org(camera_id) == user["organization_id"]

    def login(self, form: dict[str, list[str]]) -> tuple[int, Any]:
        missing = [name for name in ("username", "password") if not form.get(name)]
        if missing:
            return 422, _validation_error("body", missing[0], "missing", "Field required", None)
        login, password = form["username"][0], form["password"][0]
        user = self.users.get(login)
        if user is None or user["password"] != password:
            return 401, {"detail": "Invalid credentials."}
        with self._lock:
            self._issued_tokens += 1
            token = f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI{user['id']}In0.sig{self._issued_tokens}"
            self.tokens[token] = login
        return 200, {"access_token": token, "token_type": "bearer"}

    def list_cameras(self, user: dict[str, Any], query: dict[str, list[str]]) -> tuple[int, Any]:
        include, error = _boolean(query, "include_non_trustable", False)
        if error:
            return 422, error
        return 200, [
            {**camera, **EXTRA_FIELDS}
            for camera in sorted(self.cameras, key=lambda c: c["id"])
            if camera["id"] not in self.unlisted_camera_ids
            and (include or camera["is_trustable"])
            and self._visible(user, camera["id"])
        ]

    def list_organizations(self, user: dict[str, Any]) -> tuple[int, Any]:
        if user["scope"] != "admin":
            return 403, {"detail": "Incompatible token scope."}
        return 200, [{**org, **EXTRA_FIELDS} for org in self.organizations]

    def list_sequences(self, user: dict[str, Any], query: dict[str, list[str]]) -> tuple[int, Any]:
        raw_day = (query.get("from_date") or [None])[0]
        if raw_day is None:
            return 422, _validation_error("query", "from_date", "missing", "Field required", None)
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            return 422, _validation_error(
                "query",
                "from_date",
                "date_from_datetime_parsing",
                "Input should be a date",
                raw_day,
            )
        limit, error = _integer(query, "limit", 15, minimum=0)
        if error:
            return 422, error
        offset, error = _integer(query, "offset", 0, minimum=0)
        if error:
            return 422, error
        if self.ignore_offset:
            offset = 0
        risk = (query.get("risk_score") or [None])[0]
        if risk is not None and risk not in RISK_SCORES:
            return 422, _validation_error("query", "risk_score", "enum", "Input should be", risk)
        with self._lock:
            rows = sorted(
                (
                    s
                    for s in self.sequences
                    if s["started_at"][:10] == day.isoformat()
                    and self._visible(user, s["camera_id"])
                ),
                key=lambda s: datetime.fromisoformat(s["started_at"]),
                reverse=True,
            )
            start = offset - 1 if self.repeat_across_pages and offset > 0 else offset
            page = [
                {**s, "detections_count": len(self.detections[s["id"]]), **EXTRA_FIELDS}
                for s in rows[start : start + limit]
            ]
            if offset == 0 and self.insert_after_first_page:
                self.sequences.extend(self.insert_after_first_page)
                self.insert_after_first_page = []
        return 200, page

    def list_detections(
        self, user: dict[str, Any], sequence_id: int, query: dict[str, list[str]], base: str
    ) -> tuple[int, Any]:
        limit, error = _integer(query, "limit", 10, minimum=1, maximum=100)
        if error:
            return 422, error
        offset, error = _integer(query, "offset", 0, minimum=0)
        if error:
            return 422, error
        desc, error = _boolean(query, "desc", True)
        if error:
            return 422, error
        sequence = self.sequence(sequence_id)
        if sequence is None:
            return 404, {"detail": "Table Sequence has no corresponding entry."}
        if not self._visible(user, sequence["camera_id"]):
            return 403, {"detail": "Access forbidden."}
        if self.ignore_offset:
            offset = 0
        rows = sorted(
            self.detections[sequence_id],
            key=lambda r: datetime.fromisoformat(r["created_at"]),
            reverse=desc,
        )
        return 200, [
            {**row, "url": f"{base}/images/{row['bucket_key']}?{_signature(row)}", **EXTRA_FIELDS}
            for row in rows[offset : offset + limit]
        ]

    def image(self, key: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
        if "authorization" in headers:
            return _s3_error("two_auth")
        fault = self.image_faults.get(key)
        if fault in S3_ERRORS:
            return _s3_error(fault)
        if fault == "not_image":
            return 200, b"<html><body>Service unavailable</body></html>", "text/html"
        if key not in self.images:
            return _s3_error("missing")
        return 200, self.images[key], "image/jpeg"


def _later(start: datetime, *, seconds: int) -> str:
    return (start + timedelta(seconds=seconds)).isoformat()


def _signature(row: dict[str, Any]) -> str:
    return (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={row['id']:064x}"
    )


def _s3_error(kind: str) -> tuple[int, bytes, str]:
    status, code, message = S3_ERRORS[kind]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return status, body.encode(), "application/xml"


def _validation_error(where: str, name: str, kind: str, msg: str, value: Any) -> dict[str, Any]:
    return {"detail": [{"type": kind, "loc": [where, name], "msg": msg, "input": value}]}


def _integer(
    query: dict[str, list[str]],
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> tuple[int, dict[str, Any] | None]:
    raw = (query.get(name) or [None])[0]
    if raw is None:
        return default, None
    try:
        value = int(raw)
    except ValueError:
        return 0, _validation_error("query", name, "int_parsing", "Input should be an int", raw)
    if minimum is not None and value < minimum:
        msg = f"Input should be greater than or equal to {minimum}"
        return 0, _validation_error("query", name, "greater_than_equal", msg, raw)
    if maximum is not None and value > maximum:
        msg = f"Input should be less than or equal to {maximum}"
        return 0, _validation_error("query", name, "less_than_equal", msg, raw)
    return value, None


def _boolean(
    query: dict[str, list[str]], name: str, default: bool
) -> tuple[bool, dict[str, Any] | None]:
    raw = (query.get(name) or [None])[0]
    if raw is None:
        return default, None
    if raw.lower() in TRUE_VALUES:
        return True, None
    if raw.lower() in FALSE_VALUES:
        return False, None
    return False, _validation_error("query", name, "bool_parsing", "Input should be a bool", raw)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Resets and client timeouts are part of the scenarios; no tracebacks on stderr.
        pass


class _Handler(BaseHTTPRequestHandler):
    platform: FakePlatform
    ROUTE_DETECTIONS = re.compile(r"/api/v1/sequences/(\d+)/detections")

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {name.lower(): value for name, value in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        platform = self.platform
        with platform._lock:
            platform.requests.append(RecordedRequest(method, path, query, headers))
        fault = platform._take_fault(self.path)
        if fault is not None:
            if fault.kind == "reset":
                self._reset()
                return
            if fault.kind == "status":
                self._send(fault.status, fault.body, fault.content_type)
                return
            time.sleep(fault.delay)
        key = path[len("/images/") :] if path.startswith("/images/") else None
        if key is not None and platform.image_faults.get(key) == "endless":
            self._send_endless()
            return
        status, payload, extra = self._route(method, path, query, headers, body)
        if isinstance(payload, bytes):
            self._send(status, payload, extra.pop("Content-Type"), extra)
        else:
            self._send(status, json.dumps(payload).encode(), "application/json", extra)

    def _route(self, method, path, query, headers, body) -> tuple[int, Any, dict[str, str]]:
        platform = self.platform
        if path.startswith("/images/") and method == "GET":
            status, content, content_type = platform.image(path[len("/images/") :], headers)
            return status, content, {"Content-Type": content_type}
        if path == "/status":
            return 200, {"status": "ok"}, {}
        if path == "/api/v1/login/creds" and method == "POST":
            if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return (
                    422,
                    _validation_error("body", "username", "missing", "Field required", None),
                    {},
                )
            status, payload = platform.login(parse_qs(body.decode(), keep_blank_values=True))
            return status, payload, {}
        if path in ("/api/v1/cameras", "/api/v1/organizations"):
            query_string = urlsplit(self.path).query
            location = f"{platform.url}{path}/" + (f"?{query_string}" if query_string else "")
            return 307, b"", {"Content-Type": "text/plain", "Location": location}
        if method != "GET":
            return 405, {"detail": "Method Not Allowed"}, {}
        user, refusal = platform._authenticate(headers)
        if refusal is not None:
            status, payload, extra = refusal
            return status, payload, dict(extra)
        if path == "/api/v1/login/validate":
            return (
                200,
                {
                    "sub": user["id"],
                    "scopes": [user["scope"]],
                    "organization_id": user["organization_id"],
                },
                {},
            )
        if path == "/api/v1/cameras/":
            return (*platform.list_cameras(user, query), {})
        if path == "/api/v1/organizations/":
            return (*platform.list_organizations(user), {})
        if path == "/api/v1/sequences/all/fromdate":
            return (*platform.list_sequences(user, query), {})
        match = self.ROUTE_DETECTIONS.fullmatch(path)
        if match:
            return (*platform.list_detections(user, int(match[1]), query, platform.url), {})
        return 404, {"detail": "Not Found"}, {}

    def _send(
        self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_endless(self) -> None:
        """A 200 image whose body (a PNG signature, then junk) has no Content-Length and goes
        on until the client closes the connection (or ENDLESS_IMAGE_BYTES)."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"\x89PNG\r\n\x1a\n" + bytes(64 * 1024 - 8)
        sent = 0
        try:
            while sent < ENDLESS_IMAGE_BYTES:
                self.wfile.write(chunk)
                sent += len(chunk)
                with self.platform._lock:
                    self.platform.endless_bytes_sent += len(chunk)
        except OSError:
            pass  # the client hung up

    def _reset(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0), as a crashed proxy would."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


def build_world(platform: FakePlatform | None = None) -> FakePlatform:
    """The small platform most tests start from.

    Organisations 1 "pyronear" and 2 "sdis-07"; login "annotator"/"annotator-pw" (user of
    organisation 2) and "admin"/"admin-pw" (admin); cameras 12 (trustable) and 13 (hidden
    unless include_non_trustable=true), both of organisation 2.
    """
    platform = platform or FakePlatform()
    platform.add_organization(1, "pyronear")
    platform.add_organization(2, "sdis-07")
    platform.add_user("annotator", "annotator-pw", organization_id=2)
    platform.add_user("admin", "admin-pw", scope="admin", organization_id=1)
    platform.add_camera(12, organization_id=2, name="cam-brison-01", lat=44.765181, lon=4.51488)
    platform.add_camera(
        13, organization_id=2, name="cam-ardeche-02", lat=44.6, lon=4.3, is_trustable=False
    )
    return platform
