"""What every endpoint of the REST API shares: authentication, errors, paging, query parsing.

- `BearerOrTokenAuthentication`: `Authorization: Bearer <key>` (the reference's scheme) or
  `Token <key>` over rest_framework.authtoken's tokens; a missing or bad credential is a 401.
- `exception_handler`: every error is `{"detail": ...}`; validation errors are 422 with a field
  list `{"detail": [{"loc": ["body", ...], "msg": ..., "type": "value_error"}]}` (SPEC §3.5);
  any other `ServiceError` answers with the status of its kind (`annotation_site.errors`).
- `paginated_response`: the `{items, total, page, size, pages}` envelope (SPEC §7.1), with the
  query string (paging and a django-filter FilterSet) validated as one: every bad parameter is
  listed with `loc: ["query", name]`.
- `api_schema`: `extend_schema` with the error responses an endpoint documents.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.signals import got_request_exception
from django.db.models import QuerySet
from django.http import Http404, QueryDict
from django.utils.log import log_response
from django_filters import CharFilter, MultipleChoiceFilter
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, parsers, serializers
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token
from rest_framework.fields import SkipField
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from annotation_site.errors import http_status
from sequences.services import AnnotationInvalid, ServiceError

Loc = tuple[Any, ...]

# Largest value of a 64-bit key column; larger numbers in a request are refused up front (they
# would overflow the database driver instead of simply matching nothing).
BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1

VALUE_ERROR = "value_error"
INVALID_TOKEN = "Invalid token."


# --- Authentication --------------------------------------------------------------------------


class BearerOrTokenAuthentication(TokenAuthentication):
    """Token authentication accepting both `Bearer <key>` and `Token <key>`.

    Defining `authenticate_header` (inherited) makes DRF answer 401, not 403, to a request
    without credentials. Keys are checked for shape before any query, so garbage never reaches
    the database.
    """

    keywords = ("Bearer", "Token")
    key_length = 40

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in {k.lower().encode() for k in self.keywords}:
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: expected '<Bearer|Token> <key>'."
            )
        try:
            key = auth[1].decode("ascii")
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN) from exc
        if len(key) != self.key_length or not key.isalnum():
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
        return self.authenticate_credentials(key)

    def authenticate_header(self, request) -> str:
        return "Bearer"


def auth_token_for(*, user) -> str:
    """The user's single API token (created on first use); revoked tokens are re-created."""
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


class BearerOrTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token scheme as HTTP bearer (`Token <key>` is accepted as well)."""

    target_class = "annotation_site.api.BearerOrTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Bearer"
        )
        scheme["description"] = (
            "The access_token of POST /api/v1/auth/login, sent as `Bearer <key>` "
            "(or `Token <key>`)."
        )
        return scheme


# --- Errors ----------------------------------------------------------------------------------


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


SERVER_ERROR = "Internal server error; it has been logged."


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Every API error as `{"detail": ...}`, unexpected exceptions included (500)."""
    # Imported here: DRF imports this module (the authentication class) while loading its views.
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


# --- Input helpers ---------------------------------------------------------------------------

NOT_FINITE = "must be a finite number"
NUL_CHARACTER = "must not contain NUL characters"


# Set in the serializer context by `validated_body` when the body is JSON.
JSON_BODY = "json_body"
WRONG_JSON_TYPE = "must be a JSON {kind}"


class JsonTypedField:
    """A body field whose value, in a JSON body, must already have its JSON type.

    DRF converts "12" to 12 and "true" to True, which a form (all text) needs; in JSON such a
    value is the wrong type, and SPEC §5.5 asks a non-boolean `is_validated` to be a 422.
    """

    json_kind = ""
    json_types: tuple[type, ...] = ()

    def to_internal_value(self, data):
        if self.context.get(JSON_BODY):
            # bool is an int subclass: `true` is no number, and only booleans are booleans.
            is_bool = isinstance(data, bool)
            if is_bool != (bool in self.json_types) or not isinstance(data, self.json_types):
                raise serializers.ValidationError(WRONG_JSON_TYPE.format(kind=self.json_kind))
        return super().to_internal_value(data)


class IntegerField(JsonTypedField, serializers.IntegerField):
    json_kind, json_types = "integer", (int,)


class BooleanField(JsonTypedField, serializers.BooleanField):
    json_kind, json_types = "boolean", (bool,)


class CharField(JsonTypedField, serializers.CharField):
    json_kind, json_types = "string", (str,)


class FiniteFloatField(JsonTypedField, serializers.FloatField):
    """A number that refuses NaN and infinities (form values like "nan" parse as floats)."""

    json_kind, json_types = "number", (int, float)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError(NOT_FINITE)
        return value


def id_field(**kwargs) -> IntegerField:
    """An id in a request body; one beyond a 64-bit key is refused instead of overflowing."""
    return IntegerField(min_value=0, max_value=BIGINT_MAX, **kwargs)


JSON_TOO_DEEP = "is nested more than {depth} levels deep"
# The site's JSON documents are a few levels deep; a limit far above that keeps pathological
# nesting away from Python's recursion limit (decoding, re-encoding, validating).
MAX_JSON_DEPTH = 32


def json_problem(value: Any) -> str | None:
    """Why a decoded JSON value cannot be accepted as such, or None.

    Too deep, or a string holding NUL (PostgreSQL's jsonb cannot store `\\u0000`, so it would
    fail in the database instead of being reported). Iterative, so depth costs no stack.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return JSON_TOO_DEEP.format(depth=MAX_JSON_DEPTH)
        if isinstance(item, str) and "\x00" in item:
            return NUL_CHARACTER
        if isinstance(item, dict):
            stack += [(key, depth + 1) for key in item]
            stack += [(child, depth + 1) for child in item.values()]
        elif isinstance(item, list):
            stack += [(child, depth + 1) for child in item]
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body too deep to decode safely is refused like malformed JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError(JSON_TOO_DEEP.format(depth=MAX_JSON_DEPTH)) from exc
        problem = json_problem(data)
        if problem:
            raise exceptions.ParseError(f"JSON body {problem}")
        return data


API_PARSERS = [JSONParser, parsers.FormParser, parsers.MultiPartParser]


class JsonInputField(serializers.JSONField):
    """A JSON value handed to a service for validation (also JSON text in a form field).

    Refused up front: NUL characters and pathological nesting (see `json_problem`).
    """

    def to_internal_value(self, data):
        try:
            value = super().to_internal_value(data)
        except RecursionError as exc:
            raise serializers.ValidationError(JSON_TOO_DEEP.format(depth=MAX_JSON_DEPTH)) from exc
        problem = json_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class IgnoreAcceptNegotiation(BaseContentNegotiation):
    """For endpoints answering raw bytes: the Accept header picks nothing, errors stay JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


ExtraChecks = Callable[[dict[str, Any], Any], list[tuple[Loc, str]]]
ServiceChecks = Callable[[dict[str, Any]], list[tuple[Loc, str]]]


def validated_body(
    serializer_class: type[serializers.Serializer],
    request: Request,
    *,
    extra_checks: ExtraChecks | None = None,
    service_checks: ServiceChecks | None = None,
):
    """`serializer_class` bound to the request body and validated (422 listing every error).

    A JSON body (anything but a form's QueryDict) gets strict JSON types (`JsonTypedField`).
    `extra_checks(values, raw)` adds the endpoint's own checks (a rule across fields, a row
    that must exist, an image that must open) to the same 422: `values` holds the fields that
    passed on their own, even when others failed, and the checks may add derived values to it.
    `service_checks(values)` are the checks the service makes itself on a valid request (and
    reports with its own 422): they run here only when the request fails anyway, so that its
    422 still lists them, without doing the work twice otherwise.
    """
    context = {"request": request, JSON_BODY: not isinstance(request.data, QueryDict)}
    serializer = serializer_class(data=request.data, context=context)
    if serializer.is_valid():
        values, errors = dict(serializer.validated_data), []
    elif isinstance(request.data, Mapping):
        values, errors = _fields_that_pass(serializer), flatten_errors(serializer.errors, ("body",))
    else:  # not an object at all: nothing else to check
        raise RequestInvalid(flatten_errors(serializer.errors, ("body",)))
    if extra_checks is not None:
        errors += extra_checks(values, request.data)
    if errors and service_checks is not None:
        errors += service_checks(values)
    if errors:
        raise RequestInvalid(errors)
    return values


def _fields_that_pass(serializer: serializers.Serializer) -> dict[str, Any]:
    """The values of the bound serializer's fields that are valid on their own."""
    values = {}
    for field in serializer.fields.values():
        if field.read_only:
            continue
        try:
            primitive = field.get_value(serializer.initial_data)
            values[field.field_name] = field.run_validation(primitive)
        except (exceptions.ValidationError, SkipField):
            continue
    return values


UNKNOWN_PARAMETER = "unknown query parameter"
EMPTY_PARAMETER = "must not be empty"
REPEATED_PARAMETER = "must be given once"


def query_errors(form_errors: dict[str, list[str]]) -> list[tuple[Loc, str]]:
    return [(("query", name), msg) for name, messages in form_errors.items() for msg in messages]


def query_shape_errors(
    request: Request,
    *,
    allowed: Iterable[str],
    free_text: Iterable[str] = (),
    repeatable: Iterable[str] = (),
) -> list[tuple[Loc, str]]:
    """Parameters an endpoint does not know, empty values of typed parameters, and repeats of
    single-valued ones.

    A misspelt filter would otherwise be ignored silently and answer with unfiltered rows, and
    `?a=1&a=2` would silently mean `a=2`. `free_text` names the string parameters for which an
    empty value is a value; `repeatable` the list parameters.
    """
    allowed, free_text, repeatable = set(allowed), set(free_text), set(repeatable)
    errors = []
    for name, values in request.query_params.lists():
        if name not in allowed:
            errors.append((("query", name), UNKNOWN_PARAMETER))
        elif name not in free_text and "" in values:
            errors.append((("query", name), EMPTY_PARAMETER))
        elif name not in repeatable and len(values) > 1:
            errors.append((("query", name), REPEATED_PARAMETER))
    return errors


def validated_query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """Query parameters validated by a serializer; errors carry `loc: ["query", name]`."""
    serializer = serializer_class(data=request.query_params)
    errors = query_shape_errors(request, allowed=serializer.fields)
    if not serializer.is_valid():
        errors += flatten_errors(serializer.errors, ("query",))
    if errors:
        raise RequestInvalid(errors)
    return serializer.validated_data


# --- Pagination ------------------------------------------------------------------------------


class PageQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(required=False, default=1, min_value=1, max_value=INT_MAX)
    size = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.API_MAX_PAGE_SIZE,
        help_text=f"1..{settings.API_MAX_PAGE_SIZE}, default {settings.API_DEFAULT_PAGE_SIZE}",
    )


def _page_params(request: Request) -> tuple[tuple[int, int] | None, list[tuple[Loc, str]]]:
    serializer = PageQuerySerializer(data=request.query_params)
    if not serializer.is_valid():
        return None, flatten_errors(serializer.errors, ("query",))
    data = serializer.validated_data
    return (data["page"], data.get("size") or settings.API_DEFAULT_PAGE_SIZE), []


def paginated_response(
    *,
    request: Request,
    queryset: QuerySet | list,
    serialize: Callable[[list, dict], Any],
    filterset_class=None,
) -> Response:
    """One page of `queryset` (filtered by `filterset_class` on the query string), enveloped.

    The filterset (or the queryset, without one) must order with `id` as the last key, so
    offset paging never repeats or skips a row. Paging and filter errors are reported together
    as one 422. `serialize(rows, query)` gets the filterset's cleaned parameters.
    """
    filters = filterset_class.base_filters if filterset_class is not None else {}
    errors = query_shape_errors(
        request,
        allowed=[*PageQuerySerializer().fields, *filters],
        free_text=[name for name, kind in filters.items() if isinstance(kind, CharFilter)],
        repeatable=[
            name for name, kind in filters.items() if isinstance(kind, MultipleChoiceFilter)
        ],
    )
    paging, page_errors = _page_params(request)
    errors += page_errors
    query: dict = {}
    if filterset_class is not None:
        filterset = filterset_class(request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            errors += query_errors(filterset.errors)
        else:
            queryset = filterset.qs
            query = filterset.form.cleaned_data
    if errors:
        raise RequestInvalid(errors)
    page, size = paging
    total = queryset.count() if isinstance(queryset, QuerySet) else len(queryset)
    offset = (page - 1) * size
    rows = list(queryset[offset : offset + size]) if offset < total else []
    return Response(
        {
            "items": serialize(rows, query),
            "total": total,
            "page": page,
            "size": size,
            "pages": math.ceil(total / size),
        }
    )


# --- Documentation ---------------------------------------------------------------------------

# Integer path parameters match at most 18 digits (annotation_site.api_urls), so they always fit
# a 64-bit key; longer ones fall through to the JSON 404 of the URLconf.
PATH_ID_MAX = 10**18 - 1


def path_id(name: str, description: str) -> OpenApiParameter:
    """A documented integer path parameter."""
    return OpenApiParameter(
        name,
        {"type": "integer", "minimum": 0, "maximum": PATH_ID_MAX},
        OpenApiParameter.PATH,
        description=description,
        examples=[OpenApiExample("the first one", value=1)],
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class FieldErrorSerializer(serializers.Serializer):
    loc = serializers.ListField(
        child=serializers.JSONField(), help_text='e.g. ["body", "annotation", "sequences_bbox", 0]'
    )
    msg = serializers.CharField()
    type = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    detail = FieldErrorSerializer(many=True)


ERROR_DESCRIPTIONS = {
    400: "The request contradicts the current state",
    401: "Missing or invalid credentials",
    403: "Not allowed (staff only, or a session request without a CSRF token)",
    404: "Not found",
    409: "Conflict with existing data",
    422: "Invalid input: every problem with its location",
}


_page_serializers: dict[str, type[serializers.Serializer]] = {}


def page_of(item_serializer: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The documented envelope of a page of `item_serializer` (one component per item type)."""
    name = item_serializer.__name__.removesuffix("Serializer")
    if name not in _page_serializers:
        _page_serializers[name] = inline_serializer(
            name=f"Page{name}",
            fields={
                "items": item_serializer(many=True),
                "total": serializers.IntegerField(),
                "page": serializers.IntegerField(),
                "size": serializers.IntegerField(),
                "pages": serializers.IntegerField(),
            },
        )
    return _page_serializers[name]


def api_schema(
    *,
    summary: str,
    responses: dict,
    errors: Iterable[int] = (),
    public: bool = False,
    paged: bool = False,
    **kwargs,
):
    """`extend_schema` with the documented error responses of an endpoint.

    Every authenticated endpoint documents 401; `errors` adds the others, each with its
    `{"detail": ...}` shape (422 with the field list). `paged` documents `page` and `size`
    (the filters of a list come from its view's `filterset_class`).
    """
    if paged:
        kwargs["parameters"] = [*kwargs.get("parameters", []), PageQuerySerializer]
    documented = dict(responses)
    codes = set(errors) | (set() if public else {401})
    for code in sorted(codes):
        body = ValidationErrorSerializer if code == 422 else ErrorSerializer
        documented[code] = OpenApiResponse(body, description=ERROR_DESCRIPTIONS[code])
    return extend_schema(summary=summary, responses=documented, **kwargs)
