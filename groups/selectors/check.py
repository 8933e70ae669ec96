"""Reads of the check queue (SPEC §5.9): the machine labels waiting for a person, which of them
need a close look, and their counts from the counters the database keeps.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import (
    F,
    OuterRef,
    QuerySet,
    Subquery,
)

from groups import counters
from groups.counters import CheckCounts
from sequences.models import Detection, SequenceAnnotation


def unchecked_machine_labels() -> QuerySet[SequenceAnnotation]:
    """Machine-applied labels nobody has confirmed yet, riskiest first: by `check_risk`
    descending, then sequence id, the order of the partial index `ann_check_queue_idx`, so a page
    reads from the index at any size of the queue.

    Rows carry their sequence (camera, current group), the source group and operation (with
    its actor), the last writer and `first_detection_id`: the columns a card shows
    (`_CARD_COLUMNS`).
    """
    first = Detection.objects.filter(sequence=OuterRef("sequence_id")).order_by("recorded_at", "id")
    return (
        SequenceAnnotation.objects.filter(counters.unchecked())
        .select_related(
            "sequence__camera",
            "sequence__group",
            "label_source_group",
            "label_source_operation__actor",
            "updated_by",  # the card's actor when the operation row is gone
        )
        .only(*_CARD_COLUMNS)
        .annotate(first_detection_id=Subquery(first.values("id")[:1]))
        .order_by(F("check_risk").desc(), "sequence_id")
    )


# What a card reads of a label and the rows joined to it; the sequences' and groups' other
# columns, the operations' snapshots and the users' other columns would be decoded for nothing.
_CARD_COLUMNS = (
    "sequence__recorded_at",
    "sequence__camera__name",
    "sequence__group__representative_bbox",
    "annotation",
    "is_unsure",
    "label_source",
    "check_risk",
    "check_reasons",
    "updated_at",
    "updated_by__username",
    "label_source_group__representative_bbox",
    "label_source_operation__created_at",
    "label_source_operation__details",
    "label_source_operation__actor__username",
)


def is_look_closely(annotation: SequenceAnnotation) -> bool:
    """Whether a machine label is risky enough to be confirmed only on its own."""
    return (annotation.check_risk or 0.0) >= settings.GROUPS_LOOK_CLOSELY_RISK


def unchecked_count() -> CheckCounts:
    """How many machine labels wait in the check queue, and how many of them need a close look
    (the navigation badge), from the counters the database keeps (`groups.counters`)."""
    return counters.check_counts()


def detections_by_id(*, detection_ids: list[int]) -> dict[int, Any]:
    """`{id: Detection}` for the given ids, in one query (empty input: no query)."""
    if not detection_ids:
        return {}
    # A thumbnail draws the detection's boxes: its image and other columns are not read.
    return Detection.objects.only("id", "algo_predictions").in_bulk(detection_ids)
