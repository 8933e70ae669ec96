"""Which alerts the training export gives, in which order: the provenance rule, the filters,
withdrawn alerts and the keyset cursor.

An alert is one sequence, keyed by `(source_api, alert_api_id)`. It is **exported** when its
annotation is at a done stage (`DONE_STAGES`), not unsure, holds at least one labeled cluster
(a smoke type, or false-positive types), and a person stands behind its label: a human label,
or a machine label (inherited, propagated, bulk) confirmed in the check queue. With
`include_unchecked` unchecked machine labels count too; `label_source`, `smoke_types` and
`false_positive_types` narrow the labels further.

With a watermark (`annotation_updated_gte`), an alert is exported when its annotation changed
at or after it, and **withdrawn** when it is not exported now although its label changed at or
after it: its annotation, at a done stage, was written since (made unsure, relabeled out of
the filters, an undone check), or its label at a done stage was taken off since (deleted, or
sent back to an earlier stage: `Sequence.label_withdrawn_at`). A consumer drops a withdrawn
alert if it holds one; one it never received is harmless to drop.

Pages are walked by keyset, `(source_api, alert_api_id) > cursor`, on the unique index of that
pair, so a page costs the same at the end of a walk as at its start, and rows inserted between
two pages neither repeat nor shift the walk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan
from django.db.models.lookups import GreaterThan

from sequences.filters import JsonListHasAny
from sequences.models import (
    DONE_STAGES,
    MACHINE_SOURCES,
    Detection,
    LabelSource,
    Sequence,
    SourceApi,
)
from sequences.payloads import SMOKE_TYPES

AlertKey = tuple[str, int]

# An alert's key as text, `<source_api>:<alert_api_id>`: the cursor of the next page. The id
# has at most 18 digits, so every cursor the pattern allows fits the 64-bit column.
CURSOR_PATTERN = rf"^({'|'.join(SourceApi.values)}):(-?[0-9]{{1,18}})$"
CURSOR_INVALID = "must be '<source_api>:<alert_api_id>', the next_cursor of a page"
ORDERING = ("source_api", "alert_api_id")
# What an item reads of a row (the other columns, JSON and times among them, cost decoding).
ROW_FIELDS = (
    *ORDERING,
    "lat",
    "lon",
    "azimuth",
    "recorded_at",
    "temporal_model_score",
    "temporal_model_version",
    "temporal_api_version",
    "group",
    "label_withdrawn_at",
    "camera__platform_id",
    "camera__name",
    "organization__platform_id",
    "organization__name",
    "annotation__annotation",
    "annotation__has_missed_smoke",
    "annotation__label_source",
    "annotation__label_source_group",
    "annotation__checked_at",
    "annotation__updated_at",
)


def cursor_text(key: AlertKey) -> str:
    return f"{key[0]}:{key[1]}"


def cursor_parse(text: str) -> AlertKey:
    """The key a cursor names; ValueError (CURSOR_INVALID) for anything else."""
    found = re.fullmatch(CURSOR_PATTERN, text)
    if found is None:
        raise ValueError(CURSOR_INVALID)
    return found[1], int(found[2])


@dataclass(frozen=True)
class ExportFilters:
    """What an export asks for: the alert filters, the label filters and the watermark.

    `camera_id` and `organisation_id` are the platform's ids, as everywhere in the API.
    Empty tuples and None mean "no filter".
    """

    source_api: str | None = None
    organisation_id: int | None = None
    organisation_name: str | None = None
    camera_id: int | None = None
    camera_name: str | None = None
    recorded_at_gte: datetime | None = None
    recorded_at_lte: datetime | None = None
    annotation_updated_gte: datetime | None = None
    smoke_types: tuple[str, ...] = ()
    false_positive_types: tuple[str, ...] = ()
    label_source: tuple[str, ...] = ()
    include_unchecked: bool = False


class _RowAfter(TupleGreaterThan):
    """`(a, b) > (x, y)` as a row-value comparison on every database.

    Django spells it as ORs where it assumes no row values (SQLite has had them since 3.15),
    which no index can seek: the end of a walk would scan everything before it.
    """

    def as_sql(self, compiler, connection):
        return GreaterThan.as_sql(self, compiler, connection)


def _after(key: AlertKey) -> _RowAfter:
    return _RowAfter(Tuple(*(F(name) for name in ORDERING)), key)


def _alert_q(filters: ExportFilters) -> Q:
    """The filters of the alert itself, which withdrawn alerts pass as well."""
    given = {
        "source_api": filters.source_api,
        "organization__platform_id": filters.organisation_id,
        "organization__name": filters.organisation_name,
        "camera__platform_id": filters.camera_id,
        "camera__name": filters.camera_name,
        "recorded_at__gte": filters.recorded_at_gte,
        "recorded_at__lte": filters.recorded_at_lte,
    }
    return Q(**{lookup: value for lookup, value in given.items() if value is not None})


def stood_behind() -> Q:
    """The default provenance rule: a human label, or a machine label a person confirmed."""
    return Q(annotation__label_source=LabelSource.HUMAN) | Q(
        annotation__label_source__in=sorted(MACHINE_SOURCES),
        annotation__checked_at__isnull=False,
    )


def _labeled() -> Q:
    """At least one labeled cluster: a typed smoke cluster, or false-positive types."""
    return Q(annotation__has_false_positives=True) | Q(
        JsonListHasAny(F("annotation__smoke_types"), list(SMOKE_TYPES))
    )


def exported_q(filters: ExportFilters) -> Q:
    """The label rule and the label filters (not the watermark) of an exported alert."""
    rule = (
        Q(annotation__processing_stage__in=sorted(DONE_STAGES), annotation__is_unsure=False)
        & _labeled()
    )
    if filters.include_unchecked:
        rule &= Q(annotation__label_source__isnull=False)
    else:
        rule &= stood_behind()
    if filters.label_source:
        rule &= Q(annotation__label_source__in=list(filters.label_source))
    if filters.smoke_types:
        rule &= Q(JsonListHasAny(F("annotation__smoke_types"), list(filters.smoke_types)))
    if filters.false_positive_types:
        fp_types = list(filters.false_positive_types)
        rule &= Q(JsonListHasAny(F("annotation__false_positive_types"), fp_types))
    return rule


def _touched_since(moment: datetime) -> Q:
    """The alert's label changed at or after `moment` (see the module's docstring)."""
    return Q(label_withdrawn_at__gte=moment) | Q(
        annotation__processing_stage__in=sorted(DONE_STAGES), annotation__updated_at__gte=moment
    )


def alert_rows(
    filters: ExportFilters, *, after: AlertKey | None = None, limit: int
) -> QuerySet[Sequence]:
    """The next `limit` alerts after the key `after`, in key order, as one query.

    Each row carries its camera, organisation and annotation (None for a deleted one), and
    `exported`: truthy for an exported alert, falsy for a withdrawn one.
    """
    exported = exported_q(filters)
    watermark = filters.annotation_updated_gte
    # With a watermark every alert touched since is given, exported or withdrawn: an exported
    # annotation is at a done stage, so "exported and changed since" is part of "touched".
    wanted = exported if watermark is None else _touched_since(watermark)
    rows = (
        Sequence.objects.select_related("camera", "organization", "annotation")
        .only(*ROW_FIELDS)
        .filter(_alert_q(filters))
        .filter(wanted)
        .annotate(exported=ExpressionWrapper(exported, output_field=BooleanField()))
    )
    if after is not None:
        rows = rows.filter(_after(after))
    return rows.order_by(*ORDERING)[:limit]


class Frame(NamedTuple):
    """One detection of an exported alert, as the item shapes read it."""

    detection_id: int
    recorded_at: datetime
    image_name: str
    algo_predictions: Any


@dataclass
class Page:
    """One page of alerts: the rows in key order, the frames of the exported ones by sequence
    id in `(recorded_at, id)` order, and the key after which the next page starts (None on
    the last page)."""

    rows: list[Sequence]
    frames: dict[int, list[Frame]] = field(default_factory=dict)
    next_key: AlertKey | None = None


def page_read(filters: ExportFilters, *, after: AlertKey | None = None, limit: int) -> Page:
    """The page of `limit` alerts after `after`: two queries, one when nothing is exported.

    One row more than asked tells whether another page follows, so the last page says so
    itself instead of leaving the caller one empty page to fetch.
    """
    rows = list(alert_rows(filters, after=after, limit=limit + 1))
    page = Page(rows=rows[:limit])
    if len(rows) > limit:
        last = page.rows[-1]
        page.next_key = (last.source_api, last.alert_api_id)
    exported = [row.pk for row in page.rows if row.exported]
    if exported:
        detections = (
            Detection.objects.filter(sequence_id__in=exported)
            .order_by("sequence_id", "recorded_at", "id")
            .values_list("sequence_id", "id", "recorded_at", "image", "algo_predictions")
        )
        for sequence_id, *frame in detections:
            page.frames.setdefault(sequence_id, []).append(Frame(*frame))
    return page
