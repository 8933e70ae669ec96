"""Reads of the groups app: the group list and its counts, a group with a page of its members
(and which of them are held back from its label), the audit history of a group, and the check
queue.

Every function returns pre-joined rows, so a page costs the same number of queries whatever the
number of groups, members or operations it shows, and reads what the page shows: the list and
the member pages are index ranges with a LIMIT, and counts come from the counters the database
keeps (`groups.counters`). `camera_id` / `organization_id` arguments are local primary keys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as Rows
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
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
from django.db.models.fields.tuple_lookups import TupleGreaterThan, TupleLessThan
from django.db.models.functions import Coalesce, RowNumber

from groups import counters
from groups.counters import CheckCounts
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
# order. Camera names sort lower-cased (SPEC §7.4), through the group's stored copy
# (`camera_sort_name`), so that every key is a column of the group list's indexes; collations
# may differ, the id tie-break keeps paging stable.
SORT_KEYS = {
    "member_count": SortKey("Members", "desc", F("member_count")),
    "created_at": SortKey("Created", "desc", F("created_at")),
    "camera": SortKey("Camera", "asc", F("camera_sort_name")),
    "azimuth": SortKey("Azimuth", "asc", F("azimuth")),
}
ORDER_KEYS = tuple(SORT_KEYS)
DEFAULT_ORDER = "member_count"
TABS = ("unlabeled", "unsure", "labeled", "all")
# Each tab's label state for the tallies: (labeled, unsure); None counts both.
TAB_STATES = {
    "unlabeled": (False, False),
    "unsure": (False, True),
    "labeled": (True, None),
    "all": (None, None),
}
DIRECTIONS = ("asc", "desc")

UNKNOWN_TAB = f"tab must be one of {', '.join(TABS)}"
UNKNOWN_ORDER = f"order_by must be one of {', '.join(ORDER_KEYS)}"
UNKNOWN_DIRECTION = f"direction must be one of {', '.join(DIRECTIONS)}"

# How many operations the history panel of a group page shows, newest first.
HISTORY_LIMIT = 25
# Members per page of the group page, and removed members per page of its Removed section.
MEMBERS_PAGE_SIZE = 36
REMOVED_PAGE_SIZE = 10

# A group is labeled exactly when `labeled_at` is set (CHECK labeled_at_consistency): the form
# the group list's partial indexes are declared with.
_LABELED = Q(labeled_at__isnull=False)


class CountedRows(Rows):
    """The rows of a list for django's Paginator: the count known beforehand (from the
    counters the database keeps) and each page read in two steps, the ids of the page from the
    list's index (deep pages skip index entries, not joined rows), then those rows joined.

    `queryset` must be totally ordered (it ends with the id).
    """

    def __init__(self, queryset: QuerySet, count: int):
        self.queryset = queryset
        self._count = count
        self.ordered = True

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        ids = list(self.queryset.values_list("pk", flat=True)[index])
        if not ids:
            return []
        by_id = {row.pk: row for row in self.queryset.order_by().filter(pk__in=ids)}
        return [by_id[pk] for pk in ids if pk in by_id]


# --- the group list --------------------------------------------------------------------------


def _listed_groups(
    *, camera_id: int | None = None, organization_id: int | None = None
) -> QuerySet[SequenceGroup]:
    """Groups with at least GROUPS_MIN_LISTED_MEMBERS members (the stored `member_count`)."""
    queryset = SequenceGroup.objects.filter(member_count__gte=settings.GROUPS_MIN_LISTED_MEMBERS)
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
    same direction, so it is total and offset paging never repeats or skips a group; each tab
    and sort key is one of the group list's partial indexes, read backwards or forwards.
    Raises ValueError (naming the argument) for an unknown tab, order key or direction.
    """
    if tab not in TABS:
        raise ValueError(UNKNOWN_TAB)
    if direction not in DIRECTIONS:
        raise ValueError(UNKNOWN_DIRECTION)
    if order_by not in SORT_KEYS:
        raise ValueError(UNKNOWN_ORDER)
    queryset = _listed_groups(camera_id=camera_id, organization_id=organization_id)
    # The label wins over unsure: an unsure group with a label is in the Labeled tab.
    if tab == "unlabeled":
        queryset = queryset.filter(labeled_at__isnull=True, is_unsure=False)
    elif tab == "unsure":
        queryset = queryset.filter(labeled_at__isnull=True, is_unsure=True)
    elif tab == "labeled":
        queryset = queryset.filter(_LABELED)
    if is_validated is not None:
        queryset = queryset.filter(is_validated=is_validated)
    queryset = queryset.alias(sort_key=SORT_KEYS[order_by].expression)
    descending = direction == "desc"
    ordering = [F("sort_key").desc() if descending else F("sort_key").asc()]
    ordering.append(F("id").desc() if descending else F("id").asc())
    return queryset.select_related("camera", "camera__organization", "validated_by").order_by(
        *ordering
    )


def group_list_rows(**arguments) -> CountedRows:
    """`group_list(**arguments)` for a Paginator: its count from the tallies, its pages two
    index reads."""
    rows = group_list(**arguments)
    labeled, unsure = TAB_STATES[arguments.get("tab", "unlabeled")]
    counts = counters.group_counts(
        camera_id=arguments.get("camera_id"), organization_id=arguments.get("organization_id")
    )
    validated = arguments.get("is_validated")
    return CountedRows(rows, counts.count(labeled=labeled, unsure=unsure, validated=validated))


def group_stats(*, camera_id: int | None = None, organization_id: int | None = None) -> dict:
    """Counts over the listed population, in one query over the tallies whatever the number of
    groups (SPEC §7.2 `/sequence_groups/stats`).

    Returns {"total", "labeled", "unsure", "unlabeled", "validated", "unvalidated"}: `unsure`
    counts the unsure groups without a label (a label wins over unsure), `unlabeled` the others
    without one. Unfiltered, `unlabeled` is the navigation badge and the To-label tab count
    (SPEC §9.4 #15).
    """
    counts = counters.group_counts(camera_id=camera_id, organization_id=organization_id)
    total = counts.count()
    labeled = counts.count(labeled=True)
    unsure = counts.count(labeled=False, unsure=True)
    validated = counts.count(validated=True)
    return {
        "total": total,
        "labeled": labeled,
        "unsure": unsure,
        "unlabeled": total - labeled - unsure,
        "validated": validated,
        "unvalidated": total - validated,
    }


def group_neighbors(
    *,
    group: SequenceGroup,
    member_count: int | None = None,
    tab: str = "unlabeled",
    camera_id: int | None = None,
    organization_id: int | None = None,
    order_by: str = DEFAULT_ORDER,
    direction: str = "desc",
) -> tuple[int | None, int | None]:
    """Ids of the groups just before and just after `group` in a list's order (two queries).

    Keyset comparisons on (sort key, id), so the answer is right even when `group` itself has
    left the list (e.g. it was just labeled and the list is the To-label tab); each is one step
    along the list's index. `member_count` defaults to the group's stored count.
    """
    listed = group_list(
        tab=tab,
        camera_id=camera_id,
        organization_id=organization_id,
        order_by=order_by,
        direction=direction,
    )
    if order_by == "member_count":
        key = Value(group.member_count if member_count is None else member_count)
    elif order_by == "camera":
        key = Value(group.camera_sort_name)
    else:
        key = Value(getattr(group, order_by))
    listed = listed.exclude(pk=group.pk)
    # Row comparisons, (sort key, id) > (value, id): PostgreSQL starts the index scan there,
    # where the equivalent OR of two comparisons filtered every row before it (40 ms at a
    # million sequences); SQLite gets the OR.
    position = (F("sort_key"), F("id"))
    greater = TupleGreaterThan(position, (key, Value(group.pk)))
    smaller = TupleLessThan(position, (key, Value(group.pk)))
    after, before = (smaller, greater) if direction == "desc" else (greater, smaller)
    next_id = listed.filter(after).values_list("id", flat=True).first()
    previous_id = listed.filter(before).reverse().values_list("id", flat=True).first()
    return previous_id, next_id


def _first_detection_id() -> Subquery:
    """The first detection of the outer sequence by (recorded_at, id) (SPEC §9.4 #2)."""
    first = Detection.objects.filter(sequence=OuterRef("pk")).order_by("recorded_at", "id")
    return Subquery(first.values("id")[:1])


# PostgreSQL: each group's first and last member along the members index (group, recorded_at,
# id), and its middle one: the first member recorded at or after the midpoint of the two (the
# middle member when they come evenly), each one index step, whatever the group's size.
_PREVIEWS_SQL = """
SELECT g.id, p.position, (
    SELECT d.id FROM {detection} AS d WHERE d.sequence_id = p.member_id
    ORDER BY d.recorded_at, d.id LIMIT 1
)
FROM {group} AS g
CROSS JOIN LATERAL (
    SELECT s.id, s.recorded_at FROM {sequence} AS s WHERE s.group_id = g.id
    ORDER BY s.recorded_at, s.id LIMIT 1
) AS first
CROSS JOIN LATERAL (
    SELECT s.id, s.recorded_at FROM {sequence} AS s WHERE s.group_id = g.id
    ORDER BY s.recorded_at DESC, s.id DESC LIMIT 1
) AS last
CROSS JOIN LATERAL (
    SELECT s.id FROM {sequence} AS s
    WHERE s.group_id = g.id
      AND s.recorded_at >= first.recorded_at + (last.recorded_at - first.recorded_at) / 2
    ORDER BY s.recorded_at, s.id LIMIT 1
) AS middle
CROSS JOIN LATERAL (
    SELECT DISTINCT ON (member_id) position, member_id
    FROM (VALUES (1, first.id), (2, middle.id), (3, last.id)) AS v(position, member_id)
    ORDER BY member_id, position
) AS p
WHERE g.id = ANY(%s)
"""


def group_previews(*, group_ids: list[int]) -> dict[int, list[int]]:
    """`{group_id: [detection ids]}`: the first detection of each group's first, middle and last
    member by (recorded_at, id), in that order (duplicates dropped), in one query.

    Members without detections are skipped. A group with thousands of members costs no more
    than one with three: on PostgreSQL the middle member is the first recorded at or after the
    midpoint of the first and last members' times (the middle one when members come evenly),
    each found by one step along the members index; elsewhere (small sites) window functions
    number the members and take the middle one by position.
    """
    if not group_ids:
        return {}
    if connection.vendor == "postgresql":
        sql = _PREVIEWS_SQL.format(
            detection=Detection._meta.db_table,
            group=SequenceGroup._meta.db_table,
            sequence=Sequence._meta.db_table,
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(group_ids)])
            return _previews_by_group(group_ids, cursor.fetchall())
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
    return _previews_by_group(group_ids, rows)


def _previews_by_group(group_ids: list[int], rows) -> dict[int, list[int]]:
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
    group's label (`sequences.selectors.held_back_q`), in one query for the whole page; only
    members of labeled groups are read (an unlabeled group holds nobody back)."""
    labeled = [group.pk for group in groups if group.labeled_at is not None]
    if not labeled:
        for group in groups:
            group.held_back_count = 0
        return groups
    counts = dict(
        Sequence.objects.filter(held_back_q(), group_id__in=labeled)
        .order_by()
        .values("group_id")
        .annotate(count=Count("id"))
        .values_list("group_id", "count")
    )
    for group in groups:
        group.held_back_count = counts.get(group.pk, 0)
    return groups


# --- one group -------------------------------------------------------------------------------


def group_members(*, group_id: int, offset: int = 0, limit: int | None = None) -> list[Sequence]:
    """Members of a group by (recorded_at, id), from `offset`, at most `limit` (None: all),
    each with `.annotation_row` (or None) and `.first_detection` (or None), in two queries.

    A page's ids are picked by a subquery of their own along the members index (group,
    recorded_at, id): the rows skipped to reach a deep page of a group of thousands are index
    entries, not joined rows.
    """
    ordered = Sequence.objects.filter(group_id=group_id).order_by("recorded_at", "id")
    page_ids = ordered.values("id")[offset : None if limit is None else offset + limit]
    rows = (
        Sequence.objects.filter(pk__in=Subquery(page_ids))
        .select_related(
            "annotation",
            "annotation__checked_by",
            "annotation__label_source_operation",
            "annotation__label_source_operation__actor",
        )
        .annotate(first_detection_id=_first_detection_id())
        .order_by("recorded_at", "id")
    )
    members = list(rows)
    detection_ids = [m.first_detection_id for m in members if m.first_detection_id is not None]
    detections = Detection.objects.in_bulk(detection_ids)
    for member in members:
        member.annotation_row = getattr(member, "annotation", None)
        member.first_detection = detections.get(member.first_detection_id)
    return members


@dataclass(frozen=True)
class MembersPage:
    """Which members a group page shows: page `number` of `pages`, members `start`..`end`
    (1-based, inclusive) of `total`."""

    number: int
    pages: int
    size: int
    total: int

    @classmethod
    def of(cls, *, number: int, size: int, total: int) -> MembersPage:
        pages = max(1, math.ceil(total / size))
        return cls(min(max(number, 1), pages), pages, size, total)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def start(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def end(self) -> int:
        return min(self.offset + self.size, self.total)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def group_held_back_count(group: SequenceGroup) -> int:
    """How many members of `group` a safeguard holds back from its label: one query over a
    labeled group's members, none for an unlabeled group (which holds nobody back)."""
    if group.labeled_at is None:
        return 0
    return Sequence.objects.filter(held_back_q(), group_id=group.pk).count()


def group_detail(
    *, group_id: int, members_page: int = 1, members_size: int | None = None
) -> SequenceGroup:
    """A group with its camera, organisation, reviewers and one page of its members
    (`members_ordered`, see `group_members`; `members_page`, a MembersPage; by default
    MEMBERS_PAGE_SIZE per page, a page past the end is the last one), in three queries, four
    for a labeled group, whatever the number of members.

    Each member shown carries `held_back` (`sequences.selectors.HeldBack`, or None); the group
    carries `held_back_count` over all its members. Raises SequenceGroup.DoesNotExist for an
    unknown id.
    """
    group = SequenceGroup.objects.select_related(
        "camera", "camera__organization", "validated_by", "labeled_by"
    ).get(pk=group_id)
    page = MembersPage.of(
        number=members_page, size=members_size or MEMBERS_PAGE_SIZE, total=group.member_count
    )
    group.members_page = page
    group.members_ordered = group_members(group_id=group.pk, offset=page.offset, limit=page.size)
    thresholds = Thresholds.from_settings(settings)
    for member in group.members_ordered:
        member.group = group  # the row just read: no query per member
        member.held_back = sequence_held_back(member, thresholds=thresholds)
    group.held_back_count = group_held_back_count(group)
    return group


_REMOVALS = (OperationKind.REMOVE_MEMBER, OperationKind.REJECT)


def _last_removals(group_id: int) -> QuerySet[GroupOperation]:
    """The removals (`remove_member`, or a check's `reject`) naming this group that are their
    sequence's latest and whose sequence is still excluded and ungrouped, newest first: read
    along the group's operations (index group, created_at), each checked against its
    sequence."""
    later = GroupOperation.objects.filter(
        kind__in=_REMOVALS, sequence_id=OuterRef("sequence_id")
    ).filter(
        Q(created_at__gt=OuterRef("created_at"))
        | Q(created_at=OuterRef("created_at"), id__gt=OuterRef("id"))
    )
    return (
        GroupOperation.objects.filter(
            group_id=group_id,
            kind__in=_REMOVALS,
            sequence__group__isnull=True,
            sequence__is_group_excluded=True,
        )
        .exclude(Exists(later))
        .order_by("-created_at", "-sequence_id")
    )


def group_removed_members(
    *, group_id: int, offset: int = 0, limit: int | None = None
) -> list[Sequence]:
    """Sequences taken out of this group by hand and still out (SPEC §6.3 "Removed from this
    group"): their latest removal (`remove_member`, or a check's `reject`) names this group, and
    they are still excluded and ungrouped. One query; newest removal first; from `offset`, at
    most `limit` (None: all). Each carries `removed_at` and `removed_from_id`."""
    removals = _last_removals(group_id).select_related("sequence")
    removed = []
    for removal in removals[offset : None if limit is None else offset + limit]:
        sequence = removal.sequence
        sequence.removed_at, sequence.removed_from_id = removal.created_at, group_id
        removed.append(sequence)
    return removed


def group_removed_count(*, group_id: int) -> int:
    """How many sequences `group_removed_members` lists, in one query."""
    return _last_removals(group_id).count()


def operation_member_count() -> Coalesce:
    """The member rows of the outer operation, counted per operation shown (an index range of
    the unique (operation, sequence) index each), not by grouping the whole log."""
    rows = (
        GroupOperationMember.objects.filter(operation=OuterRef("pk"))
        .order_by()
        .values("operation")
        .annotate(count=Count("*"))
        .values("count")
    )
    return Coalesce(Subquery(rows), 0)


def group_history(*, group_id: int, limit: int | None = HISTORY_LIMIT) -> list[GroupOperation]:
    """The audit log of a group, newest first: operations naming the group, operations that
    wrote one of its current members (e.g. a check spanning several groups), and undos of
    either. Each carries `member_count` (member rows) and `undone_by` (or None). `limit=None`
    returns all of them.

    With a limit, on PostgreSQL, each of the four kinds is read newest first up to the limit,
    in one query, then the newest of them in a second one: a group with years of history
    reads about four times the limit, not its whole log. The operations that wrote its members
    are listed first, in a query of their own (as a subquery, the planner may probe the whole
    log newest first for them).
    """
    touching = GroupOperationMember.objects.filter(sequence__group_id=group_id).values(
        "operation_id"
    )
    if limit is not None:
        # Distinct in the database: the members of a big group were mostly written by a few
        # operations (one inherit per run), not one each.
        touching = list(
            touching.order_by("operation_id").values_list("operation_id", flat=True).distinct()
        )
    # `undo_of__isnull=False` is implied, but said, it lets PostgreSQL start from the few undos
    # (the undo_of index) instead of walking the whole log newest first.
    undos = Q(undo_of__isnull=False)
    kinds = [
        Q(group_id=group_id),
        Q(pk__in=touching),
        undos & Q(undo_of__group_id=group_id),
        undos & Q(undo_of__in=touching),
    ]
    order = ("-created_at", "-id")
    operations = GroupOperation.objects.all()
    if limit is not None and connection.features.supports_slicing_ordering_in_compound:
        newest = [
            GroupOperation.objects.filter(kind)
            .order_by(*order)
            .values_list("id", flat=True)[:limit]
            for kind in kinds
        ]
        ids = set(newest[0].union(*newest[1:], all=True))
        operations = operations.filter(pk__in=ids)
    else:
        operations = operations.filter(kinds[0] | kinds[1] | kinds[2] | kinds[3])
    return list(
        operations.select_related("actor", "sequence", "undo_of", "undone_by")
        .annotate(member_count=operation_member_count())
        .order_by(*order)[:limit]
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
    return (
        GroupOperation.objects.filter(concerned)
        .select_related("actor", "sequence", "undo_of", "undone_by")
        .annotate(member_count=operation_member_count())
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


def unchecked_count() -> CheckCounts:
    """How many machine labels wait in the check queue, and how many of them need a close look
    (the navigation badge), from the counters the database keeps (`groups.counters`)."""
    return counters.check_counts()


def detections_by_id(*, detection_ids: list[int]) -> dict[int, Any]:
    """`{id: Detection}` for the given ids, in one query (empty input: no query)."""
    if not detection_ids:
        return {}
    return Detection.objects.in_bulk(detection_ids)
