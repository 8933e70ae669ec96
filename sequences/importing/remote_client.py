"""The client of another annotation API: another instance of this site, or the reference
(pyronear/pyro-annotator), for `clone_sequences` and `push_annotations`.

The two speak the same routes under `/api/v1` (`auth/login`, `sequences/`, `detections/`,
`detections/{id}/url`, `annotations/sequences/`) with the same page envelope (`items`, `page`,
`pages`); where the reference differs, the client takes either shape: a bare list is one page,
an image URL may be presigned on another host, and a request without a valid token may be
answered 403 "Not authenticated" instead of 401.

The retry rule: connection errors, timeouts, 5xx and 429 are retried 3 times with 1, 2, 4 s of
backoff (a 429's `Retry-After` is waited when longer, up to 60 s); a token refused once (401, or
403 "Not authenticated") brings one fresh login and one retry, then a fatal `RemoteAuthError`.
The `Authorization` header goes only to the remote API's own origin: an image URL on another
host (a presigned object-store URL) gets none. Passwords, tokens and image query strings never
appear in a message.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from sequences.importing.platform_client import (
    RETRY_STATUSES as PLATFORM_RETRY_STATUSES,
)
from sequences.importing.platform_client import (
    Account,
    PlatformError,
    RetryPolicy,
    _detail,
    _strip_authorization,
    pooled_session,
    send_retried,
)

API_PREFIX = "/api/v1"
PAGE_SIZE = 100
RETRY_STATUSES = PLATFORM_RETRY_STATUSES | {429}
# FastAPI's HTTPBearer answer to a request without a usable token (the reference).
NOT_AUTHENTICATED = "Not authenticated"

LOGIN_REFUSED = "login {login!r} at {url} refused: HTTP {status} {detail}"
LOGIN_NO_TOKEN = "login {login!r} at {url}: the answer holds no access_token"
TOKEN_REJECTED = (
    "the token of login {login!r} was rejected again after a fresh login ({call}: HTTP {status} "
    "{detail})"
)
CALL_FAILED = "{call}: HTTP {status} {detail}"
NOT_JSON = "{call}: the answer is not JSON"
NOT_A_PAGE = "{call}: expected a page of items"
IMAGE_FAILED = "image {name}: HTTP {status} {detail}"
IMAGE_EMPTY = "image {name}: empty body"
URL_INVALID = "must be an http:// or https:// address, e.g. https://annotation.example.org"


class RemoteError(PlatformError):
    """A call to the remote API that failed for good (as do the retry rule's own
    PlatformErrors: a call unavailable after the retries, an image over IMAGE_MAX_BYTES)."""


class RemoteAuthError(RemoteError):
    """The credentials or the token were refused: fatal for the whole command."""


class RemoteHTTPError(RemoteError):
    """A final non-success answer; `status` is the HTTP status."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


def api_base(url: str) -> str:
    """The remote API's base: `url` without a trailing slash, `/api/v1` appended when missing.

    Raises ValueError(URL_INVALID) for anything but an http(s) address with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(URL_INVALID)
    base = url.strip().rstrip("/")
    return base if base.endswith(API_PREFIX) else f"{base}{API_PREFIX}"


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of `url` (the default port spelled out)."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


class RemoteClient:
    """Calls to one remote annotation API as one account, under the retry rule.

    Logs in on first use. `sleep` is injectable for tests of the backoff.
    """

    def __init__(
        self,
        *,
        base_url: str,
        account: Account,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = api_base(base_url)
        self.account = account
        self.policy = policy or RetryPolicy()
        self.session = session or pooled_session()
        # A ~/.netrc entry must not add credentials the commands did not ask for.
        self.session.trust_env = False
        self.sleep = sleep
        self._token: str | None = None

    # --- transport --------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, call: str, read_timeout: float, **kwargs):
        """One request under the retry rule, 429 included (`send_retried`)."""
        return send_retried(
            self.session,
            method,
            url,
            policy=self.policy,
            sleep=self.sleep,
            call=call,
            read_timeout=read_timeout,
            retry_statuses=RETRY_STATUSES,
            **kwargs,
        )

    def login(self) -> str:
        """A fresh token; RemoteAuthError when the login is refused."""
        login = self.account.login
        response = self._send(
            "POST",
            f"{self.base_url}/auth/login",
            call=f"POST {API_PREFIX}/auth/login",
            read_timeout=self.policy.read_timeout,
            json={"username": login, "password": self.account.password},
        )
        if response.status_code != 200:
            raise RemoteAuthError(
                LOGIN_REFUSED.format(
                    login=login,
                    url=self.base_url,
                    status=response.status_code,
                    detail=_detail(response),
                )
            )
        try:
            token = response.json().get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RemoteAuthError(LOGIN_NO_TOKEN.format(login=login, url=self.base_url))
        self._token = token
        return token

    def logout(self) -> None:
        """Revoke the token this client logged in with (best effort: the reference has no such
        route, and a failure here costs nothing but a token left to expire)."""
        if self._token is None:
            return
        with contextlib.suppress(requests.RequestException):
            self.session.post(
                f"{self.base_url}/auth/logout",
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=(self.policy.connect_timeout, self.policy.read_timeout),
            )
        self._token = None

    @staticmethod
    def _token_refused(response: requests.Response) -> bool:
        if response.status_code == 401:
            return True
        return response.status_code == 403 and _detail(response) == NOT_AUTHENTICATED

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        """`method path` (under the API base) as the account, its JSON answer.

        A refused token brings one fresh login and one retry. An answer whose status is not in
        `ok` raises RemoteHTTPError naming the call, the status and the answer's detail.
        """
        call = f"{method} {API_PREFIX}{path}"
        token = self._token or self.login()
        for fresh in (False, True):
            response = self._send(
                method,
                f"{self.base_url}{path}",
                call=call,
                read_timeout=self.policy.read_timeout,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {token}"},
            )
            if not self._token_refused(response):
                break
            if fresh:
                raise RemoteAuthError(
                    TOKEN_REJECTED.format(
                        login=self.account.login,
                        call=call,
                        status=response.status_code,
                        detail=_detail(response),
                    )
                )
            token = self.login()
        if response.status_code not in ok:
            message = CALL_FAILED.format(
                call=call, status=response.status_code, detail=_detail(response)
            )
            raise RemoteHTTPError(message, status=response.status_code)
        try:
            return response.json()
        except ValueError:
            raise RemoteError(NOT_JSON.format(call=call)) from None

    def pages(self, path: str, *, params: dict[str, Any]) -> Iterator[Any]:
        """Every item of a paged list, page after page (`page`, `size`; `items` and `pages` in
        the answer). A bare JSON list is the whole list."""
        page = 1
        while True:
            body = self.call("GET", path, params={**params, "page": page, "size": PAGE_SIZE})
            if isinstance(body, list):
                yield from body
                return
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise RemoteError(NOT_A_PAGE.format(call=f"GET {API_PREFIX}{path}"))
            yield from body["items"]
            pages = body.get("pages")
            if not body["items"] or not isinstance(pages, int) or page >= pages:
                return
            page += 1

    def total(self, path: str, *, params: dict[str, Any]) -> int | None:
        """The `total` of a paged list (one call of one item), or None when not given."""
        body = self.call("GET", path, params={**params, "page": 1, "size": 1})
        total = body.get("total") if isinstance(body, dict) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    # --- images -----------------------------------------------------------------------------

    def image_url(self, detection: dict[str, Any]) -> str:
        """Where the image of a listed detection is fetched: its `image_url` (this site), or
        the answer of `detections/{id}/url` (the reference's presigned URL)."""
        url = detection.get("image_url")
        if not isinstance(url, str) or not url:
            url = self.call("GET", f"/detections/{detection['id']}/url").get("url")
        if not isinstance(url, str) or not url:
            raise RemoteError(f"detection {detection['id']}: no image URL")
        return urljoin(f"{self.base_url}/", url)

    def image(self, url: str, *, name: str) -> bytes:
        """The bytes at `url`, streamed and cut past IMAGE_MAX_BYTES; the token goes only to
        the API's own origin.

        `name` stands for the image in messages (a presigned URL's query string is a
        credential). On the API's origin a refused token brings one fresh login.
        """
        own = origin(url) == origin(self.base_url)
        call = f"image {name}"
        for fresh in (False, True):
            if own:
                token = self._token or self.login()
                extra = {"headers": {"Authorization": f"Bearer {token}"}}
            else:
                extra = {"auth": _strip_authorization}
            response = self._send(
                "GET",
                url,
                call=call,
                read_timeout=self.policy.image_read_timeout,
                body_limit=settings.IMAGE_MAX_BYTES,
                **extra,
            )
            if not (own and self._token_refused(response)) or fresh:
                break
            self.login()
        if response.status_code != 200:
            message = IMAGE_FAILED.format(
                name=name, status=response.status_code, detail=_detail(response)
            )
            raise RemoteHTTPError(message, status=response.status_code)
        if not response.content:
            raise RemoteError(IMAGE_EMPTY.format(name=name))
        return response.content
