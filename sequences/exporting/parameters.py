"""The parameters of an export, read the same way from the endpoint's query string and from the
command's options: the filters (a django-filter FilterSet, strict like every filter of the
API), the cursor and the page size.

The FilterSet only reads and validates: which alerts come out is `selection.alert_rows`'s job,
because a withdrawn alert passes the alert filters but not the label filters.
"""

from __future__ import annotations

import django_filters
from django.http import QueryDict

from sequences.exporting.selection import ExportFilters
from sequences.filters import (
    ApiFilterSet,
    StrictBooleanFilter,
    UtcDateTimeFilter,
    integer_filter,
    json_list_filter,
)
from sequences.models import LabelSource, Sequence, SourceApi
from sequences.payloads import FALSE_POSITIVE_TYPES, INT_MAX, SMOKE_TYPES

LIMIT_DEFAULT = 100
LIMIT_MAX = 500


def _platform_id(relation: str) -> django_filters.Filter:
    """A filter on the platform's id of the alert's camera or organisation (a 32-bit column)."""
    return integer_filter(
        minimum=-INT_MAX - 1,
        maximum=INT_MAX,
        field_name=f"{relation}__platform_id",
        help_text=f"the platform's {relation} id",
    )


class ExportFilterSet(ApiFilterSet):
    """The filters of `GET /export/alerts` and of `manage.py export_alerts`."""

    source_api = django_filters.ChoiceFilter(choices=SourceApi.choices)
    organisation_id = _platform_id("organization")
    organisation_name = django_filters.CharFilter(field_name="organization__name")
    camera_id = _platform_id("camera")
    camera_name = django_filters.CharFilter(field_name="camera__name")
    recorded_at_gte = UtcDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    recorded_at_lte = UtcDateTimeFilter(field_name="recorded_at", lookup_expr="lte")
    annotation_updated_gte = UtcDateTimeFilter(
        field_name="annotation__updated_at",
        lookup_expr="gte",
        help_text="watermark of an incremental pull (the start of the previous one): alerts "
        "whose annotation changed since, and alerts withdrawn since (`withdrawn: true`)",
    )
    smoke_types = json_list_filter("annotation__smoke_types", SMOKE_TYPES)
    false_positive_types = json_list_filter(
        "annotation__false_positive_types", FALSE_POSITIVE_TYPES
    )
    label_source = django_filters.MultipleChoiceFilter(
        choices=LabelSource.choices,
        method="keep",
        help_text="repeatable; labels of any of these sources",
    )
    include_unchecked = StrictBooleanFilter(
        help_text="also machine labels nobody confirmed in the check queue (default false: "
        "only labels a person stands behind)"
    )

    class Meta:
        model = Sequence
        fields: list[str] = []


MULTIPLE = tuple(
    name
    for name, kind in ExportFilterSet.base_filters.items()
    if isinstance(kind, django_filters.MultipleChoiceFilter)
)
FREE_TEXT = tuple(
    name
    for name, kind in ExportFilterSet.base_filters.items()
    if isinstance(kind, django_filters.CharFilter)
)


def filters_read(params: QueryDict) -> tuple[ExportFilters | None, dict[str, list[str]]]:
    """`(filters, {})`, or `(None, errors)`: the messages of each bad parameter by name."""
    filterset = ExportFilterSet(params, queryset=Sequence.objects.none())
    if not filterset.is_valid():
        return None, dict(filterset.errors)
    values = {
        name: tuple(value) if name in MULTIPLE else value
        for name, value in filterset.form.cleaned_data.items()
        if value not in (None, "", [])
    }
    values["include_unchecked"] = bool(values.get("include_unchecked"))
    return ExportFilters(**values), {}
