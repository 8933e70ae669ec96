"""The Pyronear alert platform's API client: logins, the routes the pull reads, image downloads.

What the platform serves is described in PLATFORM_API.md; SPEC §8.3 fixes the calls and wins
where the two differ. The client fetches JSON and image bytes and knows nothing of the
database; `platform_records` reads its answers into import records and `platform_pull` walks
the days.

One retry rule covers every call (SPEC §8.3): connect timeout 5 s, read timeout 60 s (30 s for
images); connection errors, timeouts and 500/502/503/504 are retried 3 times with 1, 2, 4 s of
backoff; any other 4xx is final; a 401 or 406 triggers one fresh login and one retry, then a
fatal `PlatformAuthError` naming the login. Error bodies are never assumed to be JSON. Passwords,
tokens and presigned query strings never appear in a message.

Images are streamed and cut at IMAGE_MAX_BYTES (`capped_body`, reusable by any downloader): an
oversized image is refused without its body ever being held whole in memory.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import requests
from django.conf import settings

API_PREFIX = "/api/v1"
SEQUENCES_PAGE_SIZE = 1000
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# The longest a 429's Retry-After is waited (another annotation API may ask for more).
RETRY_AFTER_MAX = 60.0
TOKEN_REJECTED_STATUSES = frozenset({401, 406})
# `risk_score=extreme` switches off the platform's fire-weather filter of non-admin listings.
RISK_SCORE = "extreme"
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
IMAGE_ANNOUNCED_TOO_LARGE = (
    "{what}: {size} bytes announced, over the limit of {limit} bytes (IMAGE_MAX_BYTES); "
    "not downloaded"
)
IMAGE_CUT = (
    "{what}: over the limit of {limit} bytes (IMAGE_MAX_BYTES); the download was cut "
    "after {received} bytes"
)
# Bytes read from the socket at a time while streaming an image.
IMAGE_CHUNK_BYTES = 64 * 1024


def is_integer(value: object) -> bool:
    """An int that is not a bool (JSON `true` is no id)."""
    return isinstance(value, int) and not isinstance(value, bool)


class PlatformError(Exception):
    """A platform call that failed for good (after the retries the rule allows)."""


class PlatformAuthError(PlatformError):
    """Credentials or tokens refused: fatal for the whole pull."""


class ImageTooLargeError(PlatformError):
    """An image whose body goes past the byte cap: refused, not retried."""


def capped_body(response: requests.Response, *, what: str, limit: int | None = None) -> bytes:
    """The body of a streamed (`stream=True`) answer, read in chunks and cut as soon as it goes
    past `limit` bytes (IMAGE_MAX_BYTES by default): ImageTooLargeError naming the limit, and
    the connection is closed rather than drained.

    A Content-Length over the limit is refused before anything is read. The limit applies to
    the decoded bytes, so a compressed body cannot expand past it either. `what` names the
    download in messages ("image <bucket key>": never the URL, whose query may be a credential).
    """
    limit = settings.IMAGE_MAX_BYTES if limit is None else limit
    declared = response.headers.get("Content-Length", "")
    chunks: list[bytes] = []
    received = 0
    try:
        if declared.isdigit() and int(declared) > limit:
            raise ImageTooLargeError(
                IMAGE_ANNOUNCED_TOO_LARGE.format(what=what, size=int(declared), limit=limit)
            )
        for chunk in response.iter_content(IMAGE_CHUNK_BYTES):
            received += len(chunk)
            if received > limit:
                raise ImageTooLargeError(
                    IMAGE_CUT.format(what=what, received=received, limit=limit)
                )
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)


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


def pooled_session() -> requests.Session:
    """A session keeping as many connections per host as the importers download images at
    once (IMPORT_DOWNLOAD_CONCURRENCY; requests keeps 10 by default and drops the others)."""
    session = requests.Session()
    size = max(10, settings.IMPORT_DOWNLOAD_CONCURRENCY)
    adapter = requests.adapters.HTTPAdapter(pool_connections=size, pool_maxsize=size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


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


def _retry_after(response: requests.Response) -> float:
    """A 429's `Retry-After` in seconds (at most RETRY_AFTER_MAX; 0 when absent or a date)."""
    try:
        return min(max(float(response.headers.get("Retry-After", 0)), 0.0), RETRY_AFTER_MAX)
    except ValueError:
        return 0.0


def send_retried(
    session: requests.Session,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    call: str,
    read_timeout: float,
    body_limit: int | None = None,
    retry_statuses: frozenset[int] = RETRY_STATUSES,
    **kwargs,
) -> requests.Response:
    """One request under the retry rule; returns the first answer that is not retryable.

    Connection errors, timeouts and `retry_statuses` are retried `policy.retries` times,
    backing off 1, 2, 4 times `policy.backoff` (a 429's `Retry-After` when longer); then
    PlatformError naming `call` and the last reason. With `body_limit` the body is streamed and
    cut past that many bytes (`capped_body`; ImageTooLargeError, final); a connection lost
    while reading it is retried too.
    """
    attempts = policy.retries + 1
    for attempt in range(attempts):
        wait = policy.backoff * 2**attempt
        try:
            response = session.request(
                method,
                url,
                timeout=(policy.connect_timeout, read_timeout),
                stream=body_limit is not None,
                **kwargs,
            )
            if body_limit is not None:
                # What `Response.content` would hold, read within the limit.
                response._content = capped_body(response, what=call, limit=body_limit)
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
            if response.status_code not in retry_statuses:
                return response
            reason = f"HTTP {response.status_code} {_detail(response)}".rstrip()
            if response.status_code == 429:
                wait = max(wait, _retry_after(response))
        if attempt + 1 < attempts:
            sleep(wait)
    raise PlatformError(CALL_UNAVAILABLE.format(call=call, reason=reason, attempts=attempts))


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
        self.session = session or pooled_session()
        self.sleep = sleep
        self._tokens: dict[str, str] = {}

    # --- transport --------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, call: str, read_timeout: float, **kwargs):
        """One request under the retry rule (`send_retried`)."""
        return send_retried(
            self.session,
            method,
            url,
            policy=self.policy,
            sleep=self.sleep,
            call=call,
            read_timeout=read_timeout,
            **kwargs,
        )

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
        """The bytes behind a presigned image URL, fetched without any Authorization header,
        streamed and cut past IMAGE_MAX_BYTES (ImageTooLargeError naming the limit).

        `name` (the bucket key) stands for the image in messages: the URL's query string is
        a credential.
        """
        response = self._send(
            "GET",
            url,
            call=f"image {name}",
            read_timeout=self.policy.image_read_timeout,
            body_limit=settings.IMAGE_MAX_BYTES,
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
