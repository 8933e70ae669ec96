"""Reads of one group (SPEC §6.3): a page of its members with their annotations and first
images, which of them a safeguard holds back from its label, and the members removed from it by
hand, each page one range of an index whatever the group's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Window,
)

from groups.models import GroupOperation, OperationKind, SequenceGroup
from sequences.models import Detection, Sequence, SequenceAnnotation
from sequences.safeguards import Thresholds
from sequences.selectors import HeldBack, held_back_q, sequence_held_back

# Removed members per page of a group page's Removed section (its members per page are
# settings.GROUPS_MEMBERS_PAGE_SIZE).
REMOVED_PAGE_SIZE = 10


def first_detection_id() -> Subquery:
    """The first detection of the outer sequence by (recorded_at, id) (SPEC §9.4 #2)."""
    first = Detection.objects.filter(sequence=OuterRef("pk")).order_by("recorded_at", "id")
    return Subquery(first.values("id")[:1])


@dataclass(frozen=True)
class Member:
    """One member on a group page: its sequence, annotation and first detection (each None when
    it has none) and why a safeguard holds it back from the group's label (None: it does not)."""

    sequence: Sequence
    annotation: SequenceAnnotation | None
    first_detection: Detection | None
    held_back: HeldBack | None = None


# What a member card and the API's member rows read of a sequence, an annotation and a
# detection: the rest of their columns (JSON, text, timestamps) would be decoded for nothing.
_MEMBER_COLUMNS = (
    "alert_api_id",
    "camera_id",
    "recorded_at",
    "last_seen_at",
    "group_id",
    "is_wildfire_alertapi",
    "temporal_model_score",
    "motion",
    "annotation__sequence_id",
    "annotation__processing_stage",
    "annotation__annotation",
    "annotation__label_source",
    "annotation__is_unsure",
    "annotation__checked_at",
    "annotation__checked_by__username",
)
_DETECTION_COLUMNS = ("sequence_id", "algo_predictions")


def group_members(
    *, group: SequenceGroup, offset: int = 0, limit: int | None = None
) -> list[Member]:
    """Members of `group` by (recorded_at, id), from `offset`, at most `limit` (None: all), with
    their annotations, first detections and hold-backs, in two queries.

    A page's ids are picked by a subquery of their own along the members index (group,
    recorded_at, id): the rows skipped to reach a deep page of a group of thousands are index
    entries, not joined rows.
    """
    ordered = Sequence.objects.filter(group_id=group.pk).order_by("recorded_at", "id")
    page_ids = ordered.values("id")[offset : None if limit is None else offset + limit]
    sequences = list(
        Sequence.objects.filter(pk__in=Subquery(page_ids))
        .select_related("annotation", "annotation__checked_by")
        .only(*_MEMBER_COLUMNS)
        .annotate(first_detection_id=first_detection_id())
        .order_by("recorded_at", "id")
    )
    detection_ids = [s.first_detection_id for s in sequences if s.first_detection_id is not None]
    detections = Detection.objects.only(*_DETECTION_COLUMNS).in_bulk(detection_ids)
    thresholds = Thresholds.from_settings(settings)
    members = []
    for sequence in sequences:
        sequence.group = group  # the row just read: no query per member
        members.append(
            Member(
                sequence=sequence,
                annotation=getattr(sequence, "annotation", None),
                first_detection=detections.get(sequence.first_detection_id),
                held_back=sequence_held_back(sequence, thresholds=thresholds),
            )
        )
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


@dataclass(frozen=True)
class GroupPage:
    """A group as its page shows it: the group (with its camera, organisation and reviewers),
    one page of its members and how many of all its members are held back from its label."""

    group: SequenceGroup
    members: list[Member]
    page: MembersPage
    held_back_count: int


def group_detail(
    *, group_id: int, members_page: int = 1, members_size: int | None = None
) -> GroupPage:
    """A group with one page of its members (see `group_members`; by default
    settings.GROUPS_MEMBERS_PAGE_SIZE per page, a page past the end is the last one), in three
    queries, four for a labeled group, whatever the number of members. Raises
    SequenceGroup.DoesNotExist for an unknown id.
    """
    group = SequenceGroup.objects.select_related(
        "camera", "camera__organization", "validated_by", "labeled_by"
    ).get(pk=group_id)
    page = MembersPage.of(
        number=members_page,
        size=members_size or settings.GROUPS_MEMBERS_PAGE_SIZE,
        total=group.member_count,
    )
    return GroupPage(
        group=group,
        members=group_members(group=group, offset=page.offset, limit=page.size),
        page=page,
        held_back_count=group_held_back_count(group),
    )


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


@dataclass(frozen=True)
class RemovedMember:
    """A sequence taken out of a group by hand and still out, and when."""

    sequence: Sequence
    removed_at: datetime


def group_removed_page(
    *, group_id: int, number: int, size: int
) -> tuple[list[RemovedMember], MembersPage]:
    """Sequences taken out of this group by hand and still out (SPEC §6.3 "Removed from this
    group"): their latest removal (`remove_member`, or a check's `reject`) names this group, and
    they are still excluded and ungrouped; newest removal first.

    Page `number` of them (a page past the end is the last one) and its MembersPage, in one
    query: each row counts them all. A page past the end costs a count and a read of the last
    page more."""
    offset = (max(number, 1) - 1) * size
    removals = _removals_shown(group_id).annotate(total=Window(Count("*")))
    rows = list(removals[offset : offset + size])
    if rows or offset == 0:
        total = rows[0].total if rows else 0
    else:
        total = group_removed_count(group_id=group_id)
    page = MembersPage.of(number=number, size=size, total=total)
    if page.offset != offset:
        rows = list(removals[page.offset : page.offset + size])
    return [RemovedMember(removal.sequence, removal.created_at) for removal in rows], page


def _removals_shown(group_id: int) -> QuerySet[GroupOperation]:
    """`_last_removals` with what the Removed section shows of each sequence."""
    return (
        _last_removals(group_id)
        .select_related("sequence")
        .only("created_at", "sequence_id", "sequence__recorded_at")
    )


def group_removed_count(*, group_id: int) -> int:
    """How many sequences `group_removed_page` lists in all, in one query."""
    return _last_removals(group_id).count()
