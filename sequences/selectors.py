"""Reads of the sequence domain: the annotation queue, the done list, the annotation page, and
which members are held back from their group's label.

Every function returns pre-joined rows, so a page costs the same number of queries whatever the
number of rows it shows. The group of a sequence is read through the `Sequence.group` relation
only: this module never imports the groups app (ARCHITECTURE.md).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery

from sequences.boxes import is_valid_box
from sequences.models import (
    LOCKED_STAGES,
    WRITABLE_STAGES,
    Detection,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import Label
from sequences.safeguards import (
    NOT_SMOKE_CLASS,
    SMOKE_CLASSES,
    HoldBack,
    Signals,
    Thresholds,
    hold_back,
    hold_back_text,
)
from sequences.services import annotation_generate

# The queue's pseudo-stage of a sequence that has no annotation row yet.
NO_ANNOTATION = "no_annotation"
# The Done list's pseudo-source of the labels a group wrote (propagated or inherited).
BY_GROUP = "by_group"
BY_GROUP_SOURCES = (LabelSource.PROPAGATED, LabelSource.INHERITED)


@dataclass(frozen=True)
class SequenceFilters:
    """The filters shared by the sequence lists (all optional; ids are local primary keys)."""

    camera_id: int | None = None
    organization_id: int | None = None
    source_api: str | None = None
    stage: str | None = None  # a ProcessingStage value or NO_ANNOTATION
    recorded_from: date | None = None  # inclusive, by recording day
    recorded_to: date | None = None  # inclusive
    label_source: str | None = None  # a LabelSource value or BY_GROUP


def _filtered(queryset: QuerySet[Sequence], filters: SequenceFilters) -> QuerySet[Sequence]:
    if filters.camera_id is not None:
        queryset = queryset.filter(camera_id=filters.camera_id)
    if filters.organization_id is not None:
        queryset = queryset.filter(organization_id=filters.organization_id)
    if filters.source_api:
        queryset = queryset.filter(source_api=filters.source_api)
    if filters.stage == NO_ANNOTATION:
        queryset = queryset.filter(annotation__isnull=True)
    elif filters.stage:
        queryset = queryset.filter(annotation__processing_stage=filters.stage)
    if filters.recorded_from is not None:
        queryset = queryset.filter(recorded_at__date__gte=filters.recorded_from)
    if filters.recorded_to is not None:
        queryset = queryset.filter(recorded_at__date__lte=filters.recorded_to)
    if filters.label_source == BY_GROUP:
        queryset = queryset.filter(annotation__label_source__in=BY_GROUP_SOURCES)
    elif filters.label_source:
        queryset = queryset.filter(annotation__label_source=filters.label_source)
    return queryset


# What a list row shows of a sequence and the rows joined to it: the group's reference box,
# the annotation's other JSON and the author's other columns would be read and decoded for
# nothing, 50 times a page.
_LIST_COLUMNS = (
    "id",
    "source_api",
    "azimuth",
    "recorded_at",
    "group_id",
    "is_group_excluded",
    "camera__name",
    "organization__name",
    "annotation__sequence",
    "annotation__annotation",
    "annotation__processing_stage",
    "annotation__is_unsure",
    "annotation__label_source",
    "annotation__updated_at",
    "annotation__updated_by__username",
)


def _list_rows(queryset: QuerySet[Sequence]) -> QuerySet[Sequence]:
    """Join what a list row shows: camera, organisation, annotation, its author, and the id of
    the first detection (for the thumbnail), in the page's one query."""
    first_detection = (
        Detection.objects.filter(sequence=OuterRef("pk")).order_by("recorded_at", "id").values("id")
    )
    return (
        queryset.select_related("camera", "organization", "annotation", "annotation__updated_by")
        .only(*_LIST_COLUMNS)
        .annotate(first_detection_id=Subquery(first_detection[:1]))
    )


def _writable() -> Q:
    return Q(annotation__isnull=True) | Q(annotation__processing_stage__in=WRITABLE_STAGES)


# The queue's order, along the entries the database keeps (`sequences.queue`): ready_to_annotate
# first (rank 0: those already carry their auto-generated clusters), then no annotation or
# imported (rank 1), each by recorded time; annotated sequences have no entry.
QUEUE_ORDER = ("queue_entry__rank", "queue_entry__recorded_at", "id")


def _queue(filters: SequenceFilters | None) -> QuerySet[Sequence]:
    queryset = Sequence.objects.filter(queue_entry__isnull=False)
    return _filtered(queryset, filters or SequenceFilters()).order_by(*QUEUE_ORDER)


def sequence_queue(*, filters: SequenceFilters | None = None) -> QuerySet[Sequence]:
    """The To-annotate list (SPEC §6.5): writable sequences (no annotation, `imported`,
    `ready_to_annotate`), `ready_to_annotate` first, then by (recorded_at, id).

    The order is total (id breaks every tie), so offset paging never repeats or skips a row;
    a page is one range of the entries' index `queue_order_idx`.
    """
    return _list_rows(_queue(filters))


def sequence_done_list(*, filters: SequenceFilters | None = None) -> QuerySet[Sequence]:
    """The Done list (SPEC §6.5): LOCKED sequences, last annotated first (annotation
    `updated_at` desc, then id desc)."""
    queryset = Sequence.objects.filter(annotation__processing_stage__in=LOCKED_STAGES)
    queryset = _filtered(queryset, filters or SequenceFilters())
    return _list_rows(queryset).order_by("-annotation__updated_at", "-id")


def sequence_next_in_queue(
    *, after: Sequence, after_stage: str | None, filters: SequenceFilters | None = None
) -> Sequence | None:
    """The first sequence of the To-annotate list placed after `after`, or None.

    `after_stage` is the stage `after` had when the annotator opened it (None: no annotation),
    which fixes its place in the queue's order even once the save has taken it out.
    """
    rank = 0 if after_stage == ProcessingStage.READY_TO_ANNOTATE else 1
    later = (
        Q(queue_entry__rank__gt=rank)
        | Q(queue_entry__rank=rank, queue_entry__recorded_at__gt=after.recorded_at)
        | Q(queue_entry__rank=rank, queue_entry__recorded_at=after.recorded_at, id__gt=after.pk)
    )
    return _queue(filters).filter(later).exclude(pk=after.pk).only("id").first()


def sequence_next_in_group(*, group_id: int, after: Sequence) -> Sequence | None:
    """The first member of group `group_id` after `after` by (recorded_at, id) that is still
    writable, or None (the caller then goes back to the group page)."""
    later = Q(recorded_at__gt=after.recorded_at) | Q(recorded_at=after.recorded_at, id__gt=after.pk)
    return (
        Sequence.objects.filter(_writable(), later, group_id=group_id)
        .order_by("recorded_at", "id")
        .only("id")
        .first()
    )


# --- the annotation page ----------------------------------------------------------------------


@dataclass
class AnnotationPage:
    """What the annotation page of one sequence shows.

    `clusters` are the cluster dicts of SPEC §3.3 the annotator labels: the saved ones with
    their labels, the saved ones blanked at `ready_to_annotate` (auto clusters carry no decision
    yet), or clusters generated in memory when there is no annotation row (nothing is written).
    """

    sequence: Sequence
    annotation: SequenceAnnotation | None
    detections: list[Detection]
    clusters: list[dict[str, Any]]

    @property
    def stage(self) -> str | None:
        return self.annotation.processing_stage if self.annotation else None


def _blank(cluster: dict[str, Any]) -> dict[str, Any]:
    blank = copy.deepcopy(cluster)
    blank.update(is_smoke=None, smoke_type=None, false_positive_types=[])
    return blank


def _page_clusters(
    annotation: SequenceAnnotation | None, detections: list[Detection]
) -> list[dict[str, Any]]:
    if annotation is None:
        generated = annotation_generate(
            detections=[(detection.pk, detection.algo_predictions) for detection in detections]
        )
        return [_blank(cluster) for cluster in generated["sequences_bbox"]]
    clusters = [
        cluster
        for cluster in (annotation.annotation or {}).get("sequences_bbox") or []
        if isinstance(cluster, dict)
    ]
    if annotation.processing_stage == ProcessingStage.READY_TO_ANNOTATE:
        return [_blank(cluster) for cluster in clusters]
    return clusters


def sequence_annotation_page(*, sequence_id: int) -> AnnotationPage:
    """The sequence (with camera, organisation, group and annotation), its detections by
    (recorded_at, id) and the clusters to label, in two queries.

    Raises Sequence.DoesNotExist for an unknown id.
    """
    sequence = Sequence.objects.select_related("camera", "organization", "group", "annotation").get(
        pk=sequence_id
    )
    detections = list(sequence.detections.order_by("recorded_at", "id"))
    annotation = getattr(sequence, "annotation", None)
    return AnnotationPage(
        sequence=sequence,
        annotation=annotation,
        detections=detections,
        clusters=_page_clusters(annotation, detections),
    )


def valid_boxes(predictions: Any) -> list[list[float]]:
    """The §3.1-valid boxes of an `algo_predictions` / `others_bboxes` value (None allowed);
    anything malformed is skipped, because stored rows may predate validation."""
    items = predictions.get("predictions") if isinstance(predictions, dict) else None
    if not isinstance(items, list):
        return []
    return [
        [float(value) for value in item["xyxyn"]]
        for item in items
        if isinstance(item, dict) and is_valid_box(item.get("xyxyn"))
    ]


# --- held back from the group's label (sequences.safeguards) ------------------------------------


def held_back_q(*, thresholds: Thresholds | None = None) -> Q:
    """Sequences held back from their group's label, as a filter on `Sequence`: the SQL form of
    `sequence_held_back` (and of `sequences.safeguards.hold_back`).

    A member is held back when its group carries a label of the kind the safeguards refuse for
    the member's own signals, and no person labeled it (no annotation, or one at a writable
    stage). Signals are read as stored: a NULL score or motion holds nothing back. Only positive
    comparisons, so a NULL never turns into a match.
    """
    limits = thresholds or Thresholds.from_settings(settings)
    by_nobody = Q(annotation__isnull=True) | Q(annotation__processing_stage__in=WRITABLE_STAGES)
    refuses_fp = (
        Q(is_wildfire_alertapi__in=sorted(SMOKE_CLASSES))
        | Q(temporal_model_score__gte=limits.temporal_score)
        | Q(motion__gte=limits.motion)
    )
    refuses_smoke = Q(is_wildfire_alertapi=NOT_SMOKE_CLASS)
    return by_nobody & (
        (Q(group__false_positive_type__isnull=False) & refuses_fp)
        | (Q(group__smoke_type__isnull=False) & refuses_smoke)
    )


@dataclass(frozen=True)
class HeldBack:
    """Why a member does not carry its group's label: the safeguard's code, in words, and the
    group's label it was held back from."""

    code: HoldBack
    text: str
    label: Label


def sequence_signals_of(sequence: Sequence) -> Signals:
    """What a sequence row says of itself, as the safeguards read it."""
    return Signals(sequence.is_wildfire_alertapi, sequence.temporal_model_score, sequence.motion)


def sequence_held_back(
    sequence: Sequence, *, thresholds: Thresholds | None = None
) -> HeldBack | None:
    """Whether `sequence` is held back from its group's label, and why (the rule of
    `held_back_q`, on rows already read: the sequence's `group` and `annotation` must be loaded
    with it, or each costs a query)."""
    group = sequence.group
    label = Label.from_columns(group.smoke_type, group.false_positive_type) if group else None
    if label is None:
        return None
    annotation = getattr(sequence, "annotation", None)
    if annotation is not None and annotation.processing_stage not in WRITABLE_STAGES:
        return None
    limits = thresholds or Thresholds.from_settings(settings)
    signals = sequence_signals_of(sequence)
    code = hold_back(smoke=label.kind == "smoke", signals=signals, thresholds=limits)
    if code is None:
        return None
    return HeldBack(code, hold_back_text(code, signals, limits), label)
