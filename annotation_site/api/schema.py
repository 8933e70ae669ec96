"""What the OpenAPI schema says of every endpoint: its error responses (`api_schema`), the
shapes of errors and pages, and integer path parameters."""

from __future__ import annotations

from collections.abc import Iterable

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers

from annotation_site.api.paging import PageQuerySerializer

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
    429: "Too many login attempts (throttled, or locked out after repeated failures)",
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
                "total": serializers.IntegerField(
                    help_text="rows on every page: exact up to 1,000; beyond, on PostgreSQL, "
                    "the database's estimate (page on until a page comes back short)"
                ),
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
