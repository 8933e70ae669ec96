"""Reads of one group (SPEC §6.3): a page of its members with their annotations and first
images, which of them a safeguard holds back from its label, and the members removed from it by
hand, each page one range of an index whatever the group's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)

from groups.models import GroupOperation, OperationKind, SequenceGroup
from sequences.models import Detection, Sequence
from sequences.safeguards import Thresholds
from sequences.selectors import held_back_q, sequence_held_back

# Members per page of the group page, and removed members per page of its Removed section.
MEMBERS_PAGE_SIZE = 36
REMOVED_PAGE_SIZE = 10


def first_detection_id() -> Subquery:
    """The first detection of the outer sequence by (recorded_at, id) (SPEC §9.4 #2)."""
    first = Detection.objects.filter(sequence=OuterRef("pk")).order_by("recorded_at", "id")
    return Subquery(first.values("id")[:1])


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
        # Not the operation that wrote a member's label: its JSON (a big inherit lists every
        # member it held back) was decoded once per card for nothing the page shows.
        .select_related("annotation", "annotation__checked_by")
        .annotate(first_detection_id=first_detection_id())
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
