"""Query-string filters of the sequence API (django-filter), and the filter pieces groups reuse.

Every filter is strict: a value it cannot read is a 422 naming the parameter, never silently
ignored (django's own boolean widget turns "banana" into "no filter"). Integers are bounded by
their column so an oversized number is refused instead of overflowing the database driver.
JSON list columns (`smoke_types`, `false_positive_types`) are matched on whole elements with a
database-specific lookup (SPEC §7.2): containment on PostgreSQL, `json_each` on SQLite.
"""

from __future__ import annotations

import json
from datetime import UTC

import django_filters
from django import forms
from django.db import NotSupportedError
from django.db.models import F, Lookup, QuerySet
from django_filters.fields import IsoDateTimeField
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema_field

from sequences.models import (
    MACHINE_SOURCES,
    AnnotationType,
    Detection,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
    SourceApi,
)
from sequences.payloads import BIGINT_MAX, FALSE_POSITIVE_TYPES, INT_MAX, SMOKE_TYPES

NOT_TRUE_OR_FALSE = "must be true or false"
DATETIME_OUT_OF_RANGE = "must be a time between years 1 and 9999 in UTC"
NO_ANNOTATION = "no_annotation"
ORDER_DIRECTIONS = (("asc", "asc"), ("desc", "desc"))


# --- Strict building blocks ------------------------------------------------------------------


class StrictBooleanField(forms.Field):
    """`true` / `false` in any case (Python clients send `True`); anything else fails.

    An absent parameter means "no filter" (an empty value is refused before, see
    `annotation_site.api.query_shape_errors`).
    """

    widget = forms.TextInput
    values = {"true": True, "false": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            return self.values[str(value).strip().lower()]
        except KeyError as exc:
            raise forms.ValidationError(NOT_TRUE_OR_FALSE) from exc

    def validate(self, value) -> None:
        # `False` is a value here, not a missing one.
        return None


@extend_schema_field({"type": "boolean"})
class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time with any offset, as UTC; one that has no UTC equivalent (year 1 at
    +01:00) is refused instead of overflowing when the database adapts it."""

    def clean(self, value):
        moment = super().clean(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise forms.ValidationError(DATETIME_OUT_OF_RANGE) from exc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class _IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


def integer_filter(*, minimum: int, maximum: int, **kwargs) -> django_filters.Filter:
    """An integer filter bounded to its column's range, documented with those bounds."""
    schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    filter_ = _IntegerFilter(min_value=minimum, max_value=maximum, **kwargs)
    return extend_schema_field(schema)(filter_)


def order_by_filter(choices: list[str], *, default: str) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        choices=[(value, value) for value in choices],
        method="keep",
        help_text=f"default {default}; ties are broken by id in the same direction",
    )


def order_direction_filter() -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        choices=ORDER_DIRECTIONS, method="keep", help_text="default desc"
    )


class JsonListHasAny(Lookup):
    """`lhs` (a JSON list of strings) holds at least one of `rhs` as a whole element.

    Used directly as a filter expression: `qs.filter(JsonListHasAny(F("smoke_types"), ["a"]))`.
    PostgreSQL: jsonb containment `lhs @> '["a"]'` per value; SQLite: an EXISTS over
    `json_each(lhs)`. A NULL `lhs` (no annotation row on an outer join) matches nothing.
    """

    lookup_name = "json_list_has_any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"JSON list filters are not implemented on {connection.vendor}")

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = compiler.compile(self.lhs)
        placeholders = ", ".join(["%s"] * len(self.rhs))
        sql = f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value IN ({placeholders}))"
        return sql, (*lhs_params, *self.rhs)

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = compiler.compile(self.lhs)
        sql = " OR ".join([f"{lhs} @> %s::jsonb"] * len(self.rhs))
        params = [param for value in self.rhs for param in (*lhs_params, json.dumps([value]))]
        return f"({sql})", params


def json_list_filter(field: str, choices: tuple[str, ...]) -> django_filters.MultipleChoiceFilter:
    """A repeatable filter: rows whose JSON list `field` holds any of the values (OR)."""

    def filter_any(queryset: QuerySet, name: str, values: list[str]) -> QuerySet:
        return queryset.filter(JsonListHasAny(F(field), list(values)))

    return django_filters.MultipleChoiceFilter(
        choices=[(value, value) for value in choices],
        method=filter_any,
        help_text="repeatable; matches rows holding any of the values (whole elements)",
    )


class FilteredListSchema(AutoSchema):
    """Documents the django-filter parameters of a paged list (drf-spectacular only does that
    for views whose response is a bare list; ours is the page envelope)."""

    def get_filter_backends(self) -> list:
        return getattr(self.view, "filter_backends", []) if self.method == "GET" else []


class ApiFilterSet(django_filters.FilterSet):
    def keep(self, queryset: QuerySet, name: str, value) -> QuerySet:
        """The method of parameters that do not filter (ordering, output switches)."""
        return queryset


class OrderedFilterSet(ApiFilterSet):
    """A FilterSet with `order_by` / `order_direction`, ending every ordering with `id`.

    Subclasses map each `order_by` value to a field path in `ordering_fields` and name the
    default in `default_order_by`; the direction defaults to descending.
    """

    ordering_fields: dict[str, str] = {}
    default_order_by = ""

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        key = self.form.cleaned_data.get("order_by") or self.default_order_by
        prefix = "" if self.form.cleaned_data.get("order_direction") == "asc" else "-"
        return queryset.order_by(f"{prefix}{self.ordering_fields[key]}", f"{prefix}id")


# --- Sequences -------------------------------------------------------------------------------


def _annotation_flag(name: str) -> StrictBooleanFilter:
    return StrictBooleanFilter(field_name=f"annotation__{name}")


class SequenceFilter(OrderedFilterSet):
    """Filters of `GET /sequences/` (SPEC §7.2); annotation filters join the one annotation."""

    source_api = django_filters.ChoiceFilter(choices=SourceApi.choices)
    camera_id = integer_filter(
        minimum=-INT_MAX - 1, maximum=INT_MAX, field_name="camera__platform_id"
    )
    camera_name = django_filters.CharFilter(field_name="camera__name")
    organisation_id = integer_filter(
        minimum=-INT_MAX - 1, maximum=INT_MAX, field_name="organization__platform_id"
    )
    organisation_name = django_filters.CharFilter(field_name="organization__name")
    is_wildfire_alertapi = django_filters.ChoiceFilter(
        choices=AnnotationType.choices, null_label="null", null_value="null"
    )
    has_annotation = StrictBooleanFilter(
        field_name="annotation", lookup_expr="isnull", exclude=True
    )
    include_annotation = StrictBooleanFilter(
        method="keep", help_text="adds `annotation` (or null) to each item"
    )
    processing_stage = django_filters.ChoiceFilter(
        choices=[*ProcessingStage.choices, (NO_ANNOTATION, NO_ANNOTATION)],
        method="filter_stage",
        help_text=f"a stage, or {NO_ANNOTATION} for sequences without an annotation",
    )
    has_smoke = _annotation_flag("has_smoke")
    has_false_positives = _annotation_flag("has_false_positives")
    has_missed_smoke = _annotation_flag("has_missed_smoke")
    is_unsure = _annotation_flag("is_unsure")
    smoke_types = json_list_filter("annotation__smoke_types", SMOKE_TYPES)
    false_positive_types = json_list_filter(
        "annotation__false_positive_types", FALSE_POSITIVE_TYPES
    )
    recorded_at_gte = UtcDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    recorded_at_lte = UtcDateTimeFilter(field_name="recorded_at", lookup_expr="lte")
    sequence_group_id = integer_filter(minimum=0, maximum=BIGINT_MAX, field_name="group_id")
    is_group_excluded = StrictBooleanFilter()
    order_by = order_by_filter(["created_at", "recorded_at"], default="created_at")
    order_direction = order_direction_filter()

    ordering_fields = {"created_at": "created_at", "recorded_at": "recorded_at"}
    default_order_by = "created_at"

    class Meta:
        model = Sequence
        fields: list[str] = []

    def filter_stage(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == NO_ANNOTATION:
            return queryset.filter(annotation__isnull=True)
        return queryset.filter(annotation__processing_stage=value)


# --- Detections ------------------------------------------------------------------------------


class DetectionFilter(OrderedFilterSet):
    sequence_id = integer_filter(minimum=0, maximum=BIGINT_MAX)
    order_by = order_by_filter(["created_at", "recorded_at"], default="created_at")
    order_direction = order_direction_filter()

    ordering_fields = {"created_at": "created_at", "recorded_at": "recorded_at"}
    default_order_by = "created_at"

    class Meta:
        model = Detection
        fields: list[str] = []


# --- Sequence annotations --------------------------------------------------------------------


class SequenceAnnotationFilter(OrderedFilterSet):
    """Filters of `GET /annotations/sequences/`; `checked=false` lists unchecked machine labels."""

    sequence_id = integer_filter(minimum=0, maximum=BIGINT_MAX)
    has_smoke = StrictBooleanFilter()
    has_false_positives = StrictBooleanFilter()
    has_missed_smoke = StrictBooleanFilter()
    is_unsure = StrictBooleanFilter()
    processing_stage = django_filters.ChoiceFilter(choices=ProcessingStage.choices)
    label_source = django_filters.ChoiceFilter(choices=LabelSource.choices)
    checked = StrictBooleanFilter(
        method="filter_checked",
        help_text="true: confirmed by a person (or saved by one); false: unchecked machine labels",
    )
    smoke_types = json_list_filter("smoke_types", SMOKE_TYPES)
    false_positive_types = json_list_filter("false_positive_types", FALSE_POSITIVE_TYPES)
    order_by = order_by_filter(["created_at", "sequence_recorded_at"], default="created_at")
    order_direction = order_direction_filter()

    ordering_fields = {"created_at": "created_at", "sequence_recorded_at": "sequence__recorded_at"}
    default_order_by = "created_at"

    class Meta:
        model = SequenceAnnotation
        fields: list[str] = []

    def filter_checked(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        if value:
            return queryset.filter(checked_at__isnull=False)
        return queryset.filter(label_source__in=sorted(MACHINE_SOURCES), checked_at__isnull=True)
