"""What a request body may hold: body fields strict about JSON types, JSON values refused when
too deep or holding NUL, the parsers, and the negotiation of endpoints answering raw bytes."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers, serializers
from rest_framework.fields import empty
from rest_framework.negotiation import BaseContentNegotiation

from sequences.payloads import BIGINT_MAX

NOT_FINITE = "must be a finite number"
NUL_CHARACTER = "must not contain NUL characters"

# Set in the serializer context by `validated_body` when the body is JSON.
JSON_BODY = "json_body"
WRONG_JSON_TYPE = "must be a JSON {kind}"

JSON_TOO_DEEP = "is nested more than {depth} levels deep"
# The site's JSON documents are a few levels deep; a limit far above that keeps pathological
# nesting away from Python's recursion limit (decoding, re-encoding, validating).
MAX_JSON_DEPTH = 32


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
    """A boolean; missing from a form or multipart body it is missing, as in JSON.

    DRF reads an absent form boolean as False (an unchecked HTML checkbox sends nothing); the
    API has no checkboxes, so a required boolean left out is a 422 naming it, and an optional
    one takes its default.
    """

    json_kind, json_types = "boolean", (bool,)
    default_empty_html = empty


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


TOO_MANY_IDS = "must list at most {limit} ids"


class IdListField(serializers.ListField):
    """A list of ids of at most `GROUPS_MAX_REQUEST_IDS` items (read per request, so a test or
    an operator's setting applies at once). The length is checked before any item, so an
    oversized list costs nothing to refuse."""

    def __init__(self, **kwargs):
        super().__init__(child=id_field(), **kwargs)

    def to_internal_value(self, data):
        limit = settings.GROUPS_MAX_REQUEST_IDS
        if isinstance(data, list | tuple) and len(data) > limit:
            raise serializers.ValidationError(TOO_MANY_IDS.format(limit=limit))
        return super().to_internal_value(data)


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
