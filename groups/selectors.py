"""Reads of the groups app: the group list and its counts, a group with its members (and which
of them are held back from its label), the audit history of a group, and the check queue.

Every function returns pre-joined rows, so a page costs the same number of queries whatever the
number of groups, members or operations it shows. `camera_id` / `organization_id` arguments are
local primary keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, Lower, RowNumber

from groups.models import GroupOperation, GroupOperationMember, OperationKind, SequenceGroup
from sequences.models import MACHINE_SOURCES, Detection, Sequence, SequenceAnnotation
from sequences.safeguards import Thresholds
from sequences.selectors import held_back_q, sequence_held_back


@dataclass(frozen=True)
class SortKey:
    """A column the group list sorts by (SPEC §6.2, §7.4): its header, the direction of a
    first click on it, and what the database sorts on."""

    label: str
    first_direction: str
    expression: Any


# The one list of sort keys: the page's columns, its form, the API filter and the selectors
# derive from it. A first click sorts biggest and newest first, names and angles in reading
# order. Camera names sort lower-cased (SPEC §7.4); collations may differ, the id tie-break
# keeps paging stable.
SORT_KEYS = {
    "member_count": SortKey("Members", "desc", F("member_count")),
    "created_at": SortKey("Created", "desc", F("created_at")),
    "camera": SortKey("Camera", "asc", Lower("camera__name")),
    "azimuth": SortKey("Azimuth", "asc", F("azimuth")),
}
ORDER_KEYS = tuple(SORT_KEYS)
DEFAULT_ORDER = "member_count"
TABS = ("unlabeled", "labeled", "all")
DIRECTIONS = ("asc", "desc")

UNKNOWN_TAB = f"tab must be one of {', '.join(TABS)}"
UNKNOWN_ORDER = f"order_by must be one of {', '.join(ORDER_KEYS)}"
UNKNOWN_DIRECTION = f"direction must be one of {', '.join(DIRECTIONS)}"

# How many operations the history panel of a group page shows, newest first.
HISTORY_LIMIT = 100

_LABELED = Q(smoke_type__isnull=False) | Q(false_positive_type__isnull=False)


# --- the group list --------------------------------------------------------------------------


def _listed_groups(
    *, camera_id: int | None = None, organization_id: int | None = None
) -> QuerySet[SequenceGroup]:
    """Groups with at least GROUPS_MIN_LISTED_MEMBERS members, annotated with `member_count`."""
    queryset = SequenceGroup.objects.annotate(member_count=Count("members")).filter(
        member_count__gte=settings.GROUPS_MIN_LISTED_MEMBERS
    )
    if camera_id is not None:
        queryset = queryset.filter(camera_id=camera_id)
    if organization_id is not None:
        queryset = queryset.filter(camera__organization_id=organization_id)
    return queryset


def group_list(
    *,
    tab: str = "unlabeled",
    camera_id: int | None = None,
    organization_id: int | None = None,
    is_validated: bool | None = None,
    order_by: str = DEFAULT_ORDER,
    direction: str = "desc",
) -> QuerySet[SequenceGroup]:
    """The listed groups of one tab, filtered and sorted (SPEC §6.2, §7.4).

    Only groups with at least GROUPS_MIN_LISTED_MEMBERS members; each row carries
    `member_count`, its camera and the camera's organisation. The order ends with `id` in the
    same direction, so it is total and offset paging never repeats or skips a group.
    Raises ValueError (naming the argument) for an unknown tab, order key or direction.
    """
    if tab not in TABS:
        raise ValueError(UNKNOWN_TAB)
    if direction not in DIRECTIONS:
        raise ValueError(UNKNOWN_DIRECTION)
    if order_by not in SORT_KEYS:
        raise ValueError(UNKNOWN_ORDER)
    queryset = _listed_groups(camera_id=camera_id, organization_id=organization_id)
    if tab == "unlabeled":
        queryset = queryset.exclude(_LABELED)
    elif tab == "labeled":
        queryset = queryset.filter(_LABELED)
    if is_validated is not None:
        queryset = queryset.filter(is_validated=is_validated)
    queryset = queryset.annotate(sort_key=SORT_KEYS[order_by].expression)
    descending = direction == "desc"
    ordering = [F("sort_key").desc() if descending else F("sort_key").asc()]
    ordering.append(F("id").desc() if descending else F("id").asc())
    return queryset.select_related("camera", "camera__organization", "validated_by").order_by(
        *ordering
    )


def group_stats(*, camera_id: int | None = None, organization_id: int | None = None) -> dict:
    """Counts over the listed population, in one query (SPEC §7.2 `/sequence_groups/stats`).

    Returns {"total", "labeled", "unlabeled", "validated", "unvalidated"}. Unfiltered,
    `unlabeled` is the navigation badge and the To-label tab count (SPEC §9.4 #15).
    """
    counts = _listed_groups(camera_id=camera_id, organization_id=organization_id).aggregate(
        total=Count("id"),
        labeled=Count("id", filter=_LABELED),
        validated=Count("id", filter=Q(is_validated=True)),
    )
    total = counts["total"] or 0
    labeled = counts["labeled"] or 0
    validated = counts["validated"] or 0
    return {
        "total": total,
        "labeled": labeled,
        "unlabeled": total - labeled,
        "validated": validated,
        "unvalidated": total - validated,
    }


def group_neighbors(
    *,
    group: SequenceGroup,
    member_count: int,
    tab: str = "unlabeled",
    camera_id: int | None = None,
    organization_id: int | None = None,
    order_by: str = DEFAULT_ORDER,
    direction: str = "desc",
) -> tuple[int | None, int | None]:
    """Ids of the groups just before and just after `group` in a list's order (two queries).

    Keyset comparisons on (sort key, id), so the answer is right even when `group` itself has
    left the list (e.g. it was just labeled and the list is the To-label tab).
    """
    listed = group_list(
        tab=tab,
        camera_id=camera_id,
        organization_id=organization_id,
        order_by=order_by,
        direction=direction,
    )
    if order_by == "member_count":
        key = Value(member_count)
    elif order_by == "camera":
        key = Lower(Value(group.camera.name))
    else:
        key = Value(getattr(group, order_by))
    listed = listed.exclude(pk=group.pk)
    greater = Q(sort_key__gt=key) | Q(sort_key=key, id__gt=group.pk)
    smaller = Q(sort_key__lt=key) | Q(sort_key=key, id__lt=group.pk)
    after, before = (smaller, greater) if direction == "desc" else (greater, smaller)
    next_id = listed.filter(after).values_list("id", flat=True).first()
    previous_id = listed.filter(before).reverse().values_list("id", flat=True).first()
    return previous_id, next_id


def _first_detection_id() -> Subquery:
    """The first detection of the outer sequence by (recorded_at, id) (SPEC §9.4 #2)."""
    first = Detection.objects.filter(sequence=OuterRef("pk")).order_by("recorded_at", "id")
    return Subquery(first.values("id")[:1])


def group_previews(*, group_ids: list[int]) -> dict[int, list[int]]:
    """`{group_id: [detection ids]}`: the first detection of each group's first, middle and last
    member by (recorded_at, id), in that order (duplicates dropped), in one query.

    Members without detections are skipped. Window functions pick the three members in the
    database, so a group with thousands of members costs no more than one with three.
    """
    if not group_ids:
        return {}
    window = {"partition_by": [F("group_id")], "order_by": [F("recorded_at"), F("id")]}
    rows = (
        Sequence.objects.filter(group_id__in=group_ids)
        .annotate(
            position=Window(RowNumber(), **window),
            size=Window(Count("id"), partition_by=[F("group_id")]),
        )
        .annotate(middle=(F("size") + 1) / 2)
        .filter(Q(position=1) | Q(position=F("size")) | Q(position=F("middle")))
        .annotate(first_detection_id=_first_detection_id())
        .values_list("group_id", "position", "first_detection_id")
    )
    previews: dict[int, list[tuple[int, int]]] = {group_id: [] for group_id in group_ids}
    for group_id, position, detection_id in rows:
        if detection_id is not None:
            previews[group_id].append((position, detection_id))
    return {
        group_id: list(dict.fromkeys(detection for _, detection in sorted(items)))
        for group_id, items in previews.items()
    }


def groups_with_held_back_counts(groups: list[SequenceGroup]) -> list[SequenceGroup]:
    """The given groups, each with `held_back_count`: its members a safeguard keeps from the
    group's label (`sequences.selectors.held_back_q`), in one query for the whole page."""
    if not groups:
        return groups
    counts = dict(
        Sequence.objects.filter(held_back_q(), group_id__in=[group.pk for group in groups])
        .order_by()
        .values("group_id")
        .annotate(count=Count("id"))
        .values_list("group_id", "count")
    )
    for group in groups:
        group.held_back_count = counts.get(group.pk, 0)
    return groups


# --- one group -------------------------------------------------------------------------------


def group_members(*, group_id: int) -> list[Sequence]:
    """The members of a group by (recorded_at, id), each with `.annotation_row` (or None) and
    `.first_detection` (or None), in two queries."""
    members = list(
        Sequence.objects.filter(group_id=group_id)
        .select_related(
            "annotation",
            "annotation__checked_by",
            "annotation__label_source_operation",
            "annotation__label_source_operation__actor",
        )
        .annotate(first_detection_id=_first_detection_id())
        .order_by("recorded_at", "id")
    )
    detection_ids = [m.first_detection_id for m in members if m.first_detection_id is not None]
    detections = Detection.objects.in_bulk(detection_ids)
    for member in members:
        member.annotation_row = getattr(member, "annotation", None)
        member.first_detection = detections.get(member.first_detection_id)
    return members


def group_detail(*, group_id: int) -> SequenceGroup:
    """A group with its camera, organisation, reviewers and `members_ordered` (see
    `group_members`), in three queries whatever the number of members.

    Each member also carries `held_back` (`sequences.selectors.HeldBack`, or None) and the group
    `held_back_count`. Raises SequenceGroup.DoesNotExist for an unknown id.
    """
    group = SequenceGroup.objects.select_related(
        "camera", "camera__organization", "validated_by", "labeled_by"
    ).get(pk=group_id)
    group.members_ordered = group_members(group_id=group.pk)
    thresholds = Thresholds.from_settings(settings)
    for member in group.members_ordered:
        member.group = group  # the row just read: no query per member
        member.held_back = sequence_held_back(member, thresholds=thresholds)
    group.held_back_count = sum(1 for m in group.members_ordered if m.held_back is not None)
    return group


def group_removed_members(*, group_id: int) -> list[Sequence]:
    """Sequences taken out of this group by hand and still out (SPEC §6.3 "Removed from this
    group"): their latest removal (`remove_member`, or a check's `reject`) names this group, and
    they are still excluded and ungrouped. One query; newest removal first."""
    removals = GroupOperation.objects.filter(
        kind__in=[OperationKind.REMOVE_MEMBER, OperationKind.REJECT], sequence=OuterRef("pk")
    ).order_by("-created_at", "-id")
    return list(
        Sequence.objects.filter(group__isnull=True, is_group_excluded=True)
        .filter(
            Exists(
                GroupOperation.objects.filter(
                    kind__in=[OperationKind.REMOVE_MEMBER, OperationKind.REJECT],
                    group_id=group_id,
                    sequence=OuterRef("pk"),
                )
            )
        )
        .annotate(
            removed_from_id=Subquery(removals.values("group_id")[:1]),
            removed_at=Subquery(removals.values("created_at")[:1]),
        )
        .filter(removed_from_id=group_id)
        .order_by("-removed_at", "-id")
    )


def group_history(*, group_id: int, limit: int | None = HISTORY_LIMIT) -> list[GroupOperation]:
    """The audit log of a group, newest first, in one query: operations naming the group,
    operations that wrote one of its current members (e.g. a check spanning several groups),
    and undos of either. Each carries `member_count` (member rows) and `undone_by` (or None).
    `limit=None` returns all of them."""
    touching = GroupOperationMember.objects.filter(sequence__group_id=group_id).values(
        "operation_id"
    )
    concerned = Q(group_id=group_id) | Q(pk__in=touching)
    undo_of_concerned = Q(undo_of__group_id=group_id) | Q(undo_of__in=touching)
    return list(
        GroupOperation.objects.filter(concerned | undo_of_concerned)
        .select_related("actor", "sequence", "undo_of", "undone_by")
        .annotate(member_count=Count("members"))
        .order_by("-created_at", "-id")[:limit]
    )


def group_operations(*, group_id: int) -> QuerySet[GroupOperation]:
    """The whole audit log of a group as a QuerySet, newest first, for paging in the database
    (the API): operations naming the group, operations that wrote one of its current members,
    and undos of either, each with `member_count` and `undone_by` (or None)."""
    touching = GroupOperationMember.objects.filter(sequence__group_id=group_id).values(
        "operation_id"
    )
    concerned = (
        Q(group_id=group_id)
        | Q(pk__in=touching)
        | Q(undo_of__group_id=group_id)
        | Q(undo_of__in=touching)
    )
    member_rows = (
        GroupOperationMember.objects.filter(operation=OuterRef("pk"))
        .order_by()
        .values("operation")
        .annotate(count=Count("*"))
        .values("count")
    )
    return (
        GroupOperation.objects.filter(concerned)
        .select_related("actor", "sequence", "undo_of", "undone_by")
        .annotate(member_count=Coalesce(Subquery(member_rows), 0))
        .order_by("-created_at", "-id")
    )


# --- the check queue (SPEC §5.9) --------------------------------------------------------------


def _unchecked() -> Q:
    return Q(label_source__in=sorted(MACHINE_SOURCES), checked_at__isnull=True)


def unchecked_machine_labels() -> QuerySet[SequenceAnnotation]:
    """Machine-applied labels nobody has confirmed yet, riskiest first: by `check_risk`
    descending, then sequence id, the order of the partial index `ann_check_queue_idx`, so a page
    reads from the index at any size of the queue.

    Rows carry their sequence (camera, organisation, current group), the source group and
    operation (with its actor), the last writer and `first_detection_id`.
    """
    first = Detection.objects.filter(sequence=OuterRef("sequence_id")).order_by("recorded_at", "id")
    return (
        SequenceAnnotation.objects.filter(_unchecked())
        .select_related(
            "sequence",
            "sequence__camera",
            "sequence__organization",
            "sequence__group",
            "label_source_group",
            "label_source_operation",
            "label_source_operation__actor",
            "updated_by",  # the card's actor when the operation row is gone
        )
        .annotate(first_detection_id=Subquery(first.values("id")[:1]))
        .order_by(F("check_risk").desc(), "sequence_id")
    )


def is_look_closely(annotation: SequenceAnnotation) -> bool:
    """Whether a machine label is risky enough to be confirmed only on its own."""
    return (annotation.check_risk or 0.0) >= settings.GROUPS_LOOK_CLOSELY_RISK


@dataclass(frozen=True)
class CheckCounts:
    """The check badge: machine labels waiting, and how many of them are "look closely"."""

    total: int
    look_closely: int


def unchecked_count() -> CheckCounts:
    """How many machine labels wait in the check queue, and how many of them need a close look
    (the navigation badge), in one query that reads only the check queue's index columns."""
    counts = SequenceAnnotation.objects.filter(_unchecked()).aggregate(
        total=Count("sequence"),
        look_closely=Count("sequence", filter=Q(check_risk__gte=settings.GROUPS_LOOK_CLOSELY_RISK)),
    )
    return CheckCounts(counts["total"] or 0, counts["look_closely"] or 0)


def detections_by_id(*, detection_ids: list[int]) -> dict[int, Any]:
    """`{id: Detection}` for the given ids, in one query (empty input: no query)."""
    if not detection_ids:
        return {}
    return Detection.objects.in_bulk(detection_ids)
