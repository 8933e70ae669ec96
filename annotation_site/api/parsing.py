"""Reading a request: the body through a serializer and the query string, every problem of
either listed in one 422 with its `loc` (`["body", ...]`, `["query", name]`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import exceptions, serializers
from rest_framework.fields import SkipField
from rest_framework.request import Request

from annotation_site.api.errors import RequestInvalid, flatten_errors
from annotation_site.api.fields import JSON_BODY
from sequences.payloads import Loc

UNKNOWN_PARAMETER = "unknown query parameter"
EMPTY_PARAMETER = "must not be empty"
REPEATED_PARAMETER = "must be given once"

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
