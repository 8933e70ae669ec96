"""Paging: the `{items, total, page, size, pages}` envelope of every list (SPEC §7.1), with the
query string (paging and a django-filter FilterSet) validated as one: every bad parameter is
listed with `loc: ["query", name]`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django_filters import CharFilter, MultipleChoiceFilter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotation_site.api.errors import RequestInvalid, flatten_errors
from annotation_site.api.parsing import query_errors, query_shape_errors
from sequences.paging import estimated_count
from sequences.payloads import INT_MAX, Loc


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
    # Exact up to EXACT_COUNT_UP_TO rows; beyond, PostgreSQL's estimate (a list of a million
    # rows is not counted on every page). Pages are read whatever the estimate says.
    total = estimated_count(queryset)[0] if isinstance(queryset, QuerySet) else len(queryset)
    offset = (page - 1) * size
    rows = list(queryset[offset : offset + size])
    return Response(
        {
            "items": serialize(rows, query),
            "total": total,
            "page": page,
            "size": size,
            "pages": math.ceil(total / size),
        }
    )
