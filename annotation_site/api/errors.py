"""API errors: every error as `{"detail": ...}`.

Validation errors are 422 with a field list `{"detail": [{"loc": ["body", ...], "msg": ...,
"type": "value_error"}]}` (SPEC §3.5); any other `ServiceError` answers with the status of its
kind, from the one table the pages read too (`annotation_site.errors`); an unexpected exception
is a logged 500 in the same shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.signals import got_request_exception
from django.http import Http404
from django.utils.log import log_response
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from annotation_site.errors import http_status
from sequences.payloads import Loc
from sequences.services import AnnotationInvalid, ServiceError

VALUE_ERROR = "value_error"
SERVER_ERROR = "Internal server error; it has been logged."


class RequestInvalid(exceptions.APIException):
    """A 422 listing every problem of a request, each with its full `loc`."""

    status_code = 422
    default_detail = "Unprocessable request."

    def __init__(self, errors: Iterable[tuple[Loc, str]]):
        self.errors = [error_item(loc, msg) for loc, msg in errors]
        super().__init__(detail="invalid request")


def error_item(loc: Loc, msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": str(msg), "type": VALUE_ERROR}


def flatten_errors(detail: Any, prefix: Loc) -> list[tuple[Loc, str]]:
    """DRF's nested error structure as `(loc, msg)` pairs; non-field errors keep the prefix."""
    if isinstance(detail, dict):
        pairs = []
        for key, value in detail.items():
            loc = prefix if key in ("non_field_errors", "__all__") else (*prefix, key)
            pairs += flatten_errors(value, loc)
        return pairs
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [(prefix, str(item)) for item in detail]
        pairs = []
        for index, item in enumerate(detail):
            # A list of per-item errors (ListField, many=True): empty entries are valid items.
            pairs += flatten_errors(item, (*prefix, index)) if item else []
        return pairs
    return [(prefix, str(detail))]


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Every API error as `{"detail": ...}`, unexpected exceptions included (500)."""
    # Imported here: DRF imports this package (the authentication class) while loading its views.
    from rest_framework.views import set_rollback

    if isinstance(exc, AnnotationInvalid):
        # Its locations are relative to the payload, which the request sends as its body.
        exc = RequestInvalid((("body", *loc), msg) for loc, msg in exc.errors)
    elif isinstance(exc, ServiceError):
        set_rollback()
        detail = [error_item(loc, msg) for loc, msg in exc.errors] if exc.errors else exc.message
        return Response({"detail": detail}, status=http_status(exc))
    elif isinstance(exc, exceptions.ValidationError):
        exc = RequestInvalid(flatten_errors(exc.detail, ("body",)))
    elif isinstance(exc, exceptions.ParseError):
        exc = RequestInvalid([(("body",), str(exc.detail))])
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    if not isinstance(exc, exceptions.APIException):
        return None if settings.DEBUG else _server_error(exc, context["request"])
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    detail = exc.errors if isinstance(exc, RequestInvalid) else str(exc.detail)
    return Response({"detail": detail}, status=exc.status_code, headers=headers)


def _server_error(exc: Exception, request: Request) -> Response:
    """A 500 in the API's shape, reported as Django reports its own.

    The `got_request_exception` signal (error trackers, the test client) and the
    `django.request` log entry with the traceback, as Django's handler would do; with DEBUG on,
    Django's handler itself answers, with its traceback page.
    """
    from rest_framework.views import set_rollback

    set_rollback()
    django_request = request._request
    got_request_exception.send(sender=None, request=django_request)
    response = Response({"detail": SERVER_ERROR}, status=500)
    log_response(
        "Internal Server Error: %s",
        request.path,
        response=response,
        request=django_request,
        exception=exc,
    )
    return response
