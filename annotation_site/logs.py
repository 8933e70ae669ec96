"""Logs: a request id on every line, one line per request and per command, text or JSON.

- `RequestIdMiddleware` (first in MIDDLEWARE) keeps the proxy's `X-Request-ID` when it is a
  plain token, or makes one, returns it in the response's `X-Request-ID`, and writes one line
  per request on the `annotation_site.requests` logger: method, path, status, duration, user.
- `command_logged` gives a management command run an id of its own (or the `REQUEST_ID` of its
  environment, so a wrapper script can tie its lines together) and writes one line when it ends,
  on `annotation_site.commands`: the command, its exit status and its duration.
- `RequestContextFilter` puts the current id on every record, whoever logs it (a service's
  warning inside a request carries that request's id).
- `JsonFormatter` (LOG_FORMAT=json) writes one JSON object per line: time, level, logger,
  message, request_id and, where known, user_id, method, path, status, duration_ms, command,
  exit_status, exception. `TextFormatter` is the readable default.

Nothing here reads settings at import time: gunicorn's master imports the formatter too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only when it is a plain token: nothing that could forge a log line.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# The fields a record may carry besides the message (set with `extra=`), in output order.
CONTEXT_FIELDS = (
    "request_id",
    "user_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "command",
    "exit_status",
)

request_logger = logging.getLogger("annotation_site.requests")
command_logger = logging.getLogger("annotation_site.commands")
_current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_current() -> str | None:
    """The id of the request or command being served in this context, if any."""
    return _current_request_id.get()


def request_id_accepted(raw: str | None) -> str:
    """`raw` when it is a plain token (as a proxy's id is), else a new id."""
    if raw and REQUEST_ID_PATTERN.fullmatch(raw):
        return raw
    return request_id_new()


@contextmanager
def request_id_bound(request_id: str) -> Iterator[str]:
    token = _current_request_id.set(request_id)
    try:
        yield request_id
    finally:
        _current_request_id.reset(token)


# --- Formatting -------------------------------------------------------------------------------


class RequestContextFilter(logging.Filter):
    """Adds the current request id to every record that has none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_current()
        return True


def _context(record: logging.LogRecord) -> dict:
    return {
        name: getattr(record, name)
        for name in CONTEXT_FIELDS
        if getattr(record, name, None) is not None
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a traceback is one string field, never extra lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_current(),
            **_context(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger> [<request id>] <message> key=value...` for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = _context(record)
        request_id = context.pop("request_id", None) or request_id_current()
        if request_id:
            line = line.replace(f" {record.name} ", f" {record.name} [{request_id}] ", 1)
        if context:
            line += " " + " ".join(f"{name}={value}" for name, value in context.items())
        return line


# --- Requests ---------------------------------------------------------------------------------


def _user_id(request) -> int | None:
    user = getattr(request, "user", None)  # absent when a middleware answered before auth
    try:
        return user.pk if user is not None and user.is_authenticated else None
    except Exception:  # the session could not be read (the database is down): still log
        return None


class RequestIdMiddleware:
    """Binds the request's id, answers it in `X-Request-ID`, and logs the request's line.

    Server errors are logged at ERROR, client errors at WARNING, the rest at INFO. The health
    probes' successful answers are not logged: a load balancer asks every few seconds.
    """

    QUIET_PATHS = frozenset({"/healthz", "/readyz"})

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_accepted(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        started = time.monotonic()
        with request_id_bound(request_id):
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            status = response.status_code
            if status < 400 and request.path in self.QUIET_PATHS:
                return response
            level = logging.INFO
            if status >= 400:
                level = logging.ERROR if status >= 500 else logging.WARNING
            request_logger.log(
                level,
                "%s %s %s",
                request.method,
                request.path,
                status,
                extra={
                    "request_id": request_id,
                    "user_id": _user_id(request),
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
        return response


# --- Commands ---------------------------------------------------------------------------------


@contextmanager
def command_logged(name: str) -> Iterator[str]:
    """Run a command's body under an id of its own and log its end (status 0 or the error's).

    The id is the one already bound (a command called from another), else the environment's
    REQUEST_ID when it is a plain token, else a new one.
    """
    request_id = request_id_current() or request_id_accepted(os.environ.get("REQUEST_ID"))
    started = time.monotonic()
    exit_status = 1
    with request_id_bound(request_id):
        try:
            yield request_id
            exit_status = 0
        except SystemExit as exc:
            exit_status = exc.code if isinstance(exc.code, int) else 1
            raise
        except BaseException as exc:
            exit_status = getattr(exc, "returncode", 1)
            raise
        finally:
            command_logger.log(
                logging.INFO if exit_status == 0 else logging.WARNING,
                "command %s ended with status %s",
                name,
                exit_status,
                extra={
                    "request_id": request_id,
                    "command": name,
                    "exit_status": exit_status,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
