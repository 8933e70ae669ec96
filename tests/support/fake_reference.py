"""A small fake of the reference annotation API (pyronear/pyro-annotator) on loopback, for the
clone and push tests of the shapes where the reference differs from this site: JSON login,
`fastapi-pagination` pages (`items`, `total`, `page`, `size`, `pages`), 403 "Not authenticated"
without a token and 401 for a token it no longer knows, detections without an `image_url` whose
`/detections/{id}/url` is a presigned-looking URL on another host (an object store of its own,
which records the headers it gets). Every request is recorded.

    reference = FakeReference()
    reference.sequence_add(...)
    with reference.running():
        ...
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.factories import jpeg_bytes
from tests.support.fake_platform import RecordedRequest, _QuietServer

LOGIN, PASSWORD = "reference-user", "reference-password"


@dataclass
class FakeReference:
    sequences: list[dict[str, Any]] = field(default_factory=list)
    detections: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    image_requests: list[RecordedRequest] = field(default_factory=list)
    # [path regex, status, times, detail]: answered instead of the route, e.g. a 429 or a 401.
    faults: list[list[Any]] = field(default_factory=list)
    url: str = ""
    store_url: str = ""

    def __post_init__(self):
        self._lock = threading.RLock()
        self._ids = 0

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    # --- building -------------------------------------------------------------------------------

    def sequence_add(self, *, alert_api_id: int, recorded_at: str, frames: int = 2) -> dict:
        """A reference sequence (naive UTC times, no temporal fields) and its detections."""
        sequence = {
            "id": self._id(),
            "source_api": "pyronear_french",
            "alert_api_id": alert_api_id,
            "created_at": recorded_at,
            "recorded_at": recorded_at,
            "last_seen_at": recorded_at,
            "camera_name": "ref-cam",
            "camera_id": 77,
            "lat": 43.6,
            "lon": 1.44,
            "azimuth": 200,
            "is_wildfire_alertapi": None,
            "organisation_name": "ref-org",
            "organisation_id": 8,
            "sequence_group_id": None,
        }
        self.sequences.append(sequence)
        for index in range(frames):
            key = f"seq{sequence['id']}/frame{index}.jpg"
            self.images[key] = jpeg_bytes(color="olive")
            self.detections.append(
                {
                    "id": self._id(),
                    "sequence_id": sequence["id"],
                    "alert_api_id": alert_api_id * 10 + index,
                    "recorded_at": recorded_at[:-2] + f"{index:02d}",
                    "bucket_key": key,
                    "algo_predictions": {
                        "predictions": [
                            {
                                "xyxyn": [0.2, 0.2, 0.4, 0.4],
                                "confidence": 0.7,
                                "class_name": "smoke",
                            }
                        ]
                    },
                    "created_at": recorded_at,
                }
            )
        return sequence

    def fault(self, pattern: str, status: int, *, times: int = 1, detail: str = "fault") -> None:
        self.faults.append([pattern, status, times, detail])

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    # --- running --------------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[FakeReference]:
        api = _QuietServer(("127.0.0.1", 0), type("Api", (_ApiHandler,), {"reference": self}))
        # The object store answers on "localhost": another host than the API's 127.0.0.1.
        store = _QuietServer(("127.0.0.1", 0), type("Store", (_StoreHandler,), {"reference": self}))
        threads = [
            threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
            for server in (api, store)
        ]
        for thread in threads:
            thread.start()
        self.url = f"http://127.0.0.1:{api.server_address[1]}"
        self.store_url = f"http://localhost:{store.server_address[1]}"
        try:
            yield self
        finally:
            for server in (api, store):
                server.shutdown()
                server.server_close()

    # --- answering --------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict, headers: dict, body: Any):
        import re

        with self._lock:
            for fault in self.faults:
                if fault[2] > 0 and re.search(fault[0], path):
                    fault[2] -= 1
                    return fault[1], {"detail": fault[3]}, {"Retry-After": "0"}
            if path == "/api/v1/auth/login" and method == "POST":
                if body == {"username": LOGIN, "password": PASSWORD}:
                    token = f"token-{self._id()}"
                    self.tokens.add(token)
                    return 200, {"access_token": token, "token_type": "bearer"}, {}
                return 401, {"detail": "Incorrect username or password"}, {}
            auth = headers.get("authorization", "")
            if not auth.startswith("Bearer "):
                return 403, {"detail": "Not authenticated"}, {}
            if auth.removeprefix("Bearer ") not in self.tokens:
                return 401, {"detail": "Could not validate credentials"}, {}
            return self._route(method, path, query, body)

    def _route(self, method, path, query, body):
        def one(name):
            return query.get(name, [None])[0]

        if path == "/api/v1/sequences/":
            rows = self.sequences
            if one("processing_stage") == "no_annotation":
                annotated = {a["sequence_id"] for a in self.annotations}
                rows = [s for s in rows if s["id"] not in annotated]
            return 200, _page(rows, query), {}
        if path == "/api/v1/detections/":
            wanted = int(one("sequence_id"))
            rows = [d for d in self.detections if d["sequence_id"] == wanted]
            return 200, _page(rows, query), {}
        if path.startswith("/api/v1/detections/") and path.endswith("/url"):
            detection_id = int(path.split("/")[4])
            detection = next(d for d in self.detections if d["id"] == detection_id)
            url = f"{self.store_url}/bucket/{detection['bucket_key']}?X-Amz-Signature=secret"
            return 200, {"url": url}, {}
        if path == "/api/v1/annotations/sequences/" and method == "GET":
            wanted = int(one("sequence_id"))
            rows = [a for a in self.annotations if a["sequence_id"] == wanted]
            return 200, _page(rows, query), {}
        if path == "/api/v1/annotations/sequences/" and method == "POST":
            annotation = {"id": self._id(), "is_unsure": False, **body}
            self.annotations.append(annotation)
            return 201, annotation, {}
        if path.startswith("/api/v1/annotations/sequences/") and method == "PATCH":
            annotation_id = int(path.rstrip("/").split("/")[-1])
            annotation = next(a for a in self.annotations if a["id"] == annotation_id)
            annotation.update(body)
            return 200, annotation, {}
        return 404, {"detail": "Not Found"}, {}


def _page(rows: list, query: dict) -> dict:
    """fastapi-pagination's Page: `page` from 1, `size` at most 100."""
    page = int(query.get("page", ["1"])[0])
    size = min(int(query.get("size", ["50"])[0]), 100)
    return {
        "items": rows[(page - 1) * size : page * size],
        "total": len(rows),
        "page": page,
        "size": size,
        "pages": math.ceil(len(rows) / size),
    }


class _ApiHandler(BaseHTTPRequestHandler):
    reference: FakeReference

    def log_message(self, format, *args):
        return

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        headers = {name.lower(): value for name, value in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.reference.requests.append(RecordedRequest(method, parts.path, query, headers))
        status, payload, extra = self.reference.answer(method, parts.path, query, headers, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _StoreHandler(BaseHTTPRequestHandler):
    reference: FakeReference

    def log_message(self, format, *args):
        return

    def do_GET(self):
        parts = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.reference.image_requests.append(
            RecordedRequest("GET", parts.path, parse_qs(parts.query), headers)
        )
        data = self.reference.images.get(parts.path.removeprefix("/bucket/"))
        self.send_response(200 if data else 404)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")
