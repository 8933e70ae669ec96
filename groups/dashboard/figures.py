"""The dashboard's figures (reads): what an annotation lead asks about progress, in a constant
number of queries that stay cheap at a million sequences.

Every figure but two is bounded by a window of recent days over an indexed column (sequences by
`recorded_at`, operations by `created_at`); the two others are kept cheap by an index or a
stored counter (the annotations saved by groups, by `label_source`; the check queue, by the
counters of `groups.counters`). Days are the site's TIME_ZONE days, the ones the sequence lists
filter on, so every figure is exactly the count of the list it links to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from groups.counters import check_counts
from groups.models import GroupOperation, OperationKind
from groups.reports import assignment_replay, human_labels, replay_history_read, threshold_row
from sequences.models import LOCKED_STAGES, LabelSource, Sequence, SequenceAnnotation
from sequences.selectors import BY_GROUP_SOURCES

DEFAULT_DAYS = 28
MAX_DAYS = 366
# "Who labeled" of the share chart, in the order it is drawn; None: annotations saved before the
# provenance was recorded.
SOURCE_ORDER = (
    LabelSource.HUMAN,
    LabelSource.PROPAGATED,
    LabelSource.INHERITED,
    LabelSource.BULK,
    None,
)


@dataclass(frozen=True)
class Day:
    """One day of the window: sequences recorded that day, annotated or still to annotate."""

    day: date
    annotated: int
    to_annotate: int

    @property
    def total(self) -> int:
        return self.annotated + self.to_annotate


@dataclass(frozen=True)
class Window:
    """The days the bounded figures count, `first` to `last` inclusive."""

    first: date
    last: date

    @classmethod
    def ending_today(cls, days: int) -> Window:
        last = timezone.localdate()
        return cls(first=last - timedelta(days=days - 1), last=last)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        """The first moment of the window, in the site's time zone."""
        return timezone.make_aware(datetime.combine(self.first, time.min))


@dataclass
class Figures:
    window: Window
    daily: list[Day]
    # label_source value (None: unknown) -> annotated sequences of the window it labeled
    sources: dict[str | None, int]
    saved_by_groups: int
    check_waiting: int
    check_look_closely: int
    rejected: int

    @property
    def annotated(self) -> int:
        return sum(self.sources.values())


def daily_counts(window: Window) -> list[Day]:
    """Per day of the window (every day, zeros included), the sequences recorded that day that
    are annotated (a locked stage) and those still to annotate, in one query."""
    rows = (
        Sequence.objects.filter(recorded_at__gte=window.start)
        .annotate(day=TruncDate("recorded_at"))
        .values("day")
        .annotate(
            total=Count("id"),
            annotated=Count("id", filter=Q(annotation__processing_stage__in=LOCKED_STAGES)),
        )
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    days = []
    for offset in range(window.days):
        day = window.first + timedelta(days=offset)
        row = by_day.get(day, {"total": 0, "annotated": 0})
        days.append(Day(day, row["annotated"], row["total"] - row["annotated"]))
    return days


def source_counts(window: Window) -> dict[str | None, int]:
    """Who labeled the annotated sequences recorded in the window: `{label_source: count}`
    for every source of SOURCE_ORDER, in one query."""
    rows = (
        SequenceAnnotation.objects.filter(
            sequence__recorded_at__gte=window.start, processing_stage__in=LOCKED_STAGES
        )
        .values("label_source")
        .annotate(count=Count("id"))
    )
    counts = {row["label_source"]: row["count"] for row in rows}
    return {source: counts.get(source, 0) for source in SOURCE_ORDER}


def latest_recorded_day() -> date | None:
    """The day the newest sequence was recorded (None: no sequence yet), over the
    `recorded_at` index: what the dashboard says when its window holds no sequence."""
    latest = Sequence.objects.aggregate(latest=Max("recorded_at"))["latest"]
    return timezone.localdate(latest) if latest else None


def saved_by_groups_count() -> int:
    """Annotations a group wrote so far (propagated or inherited), over the `label_source`
    index."""
    return SequenceAnnotation.objects.filter(
        label_source__in=BY_GROUP_SOURCES, processing_stage__in=LOCKED_STAGES
    ).count()


def rejected_count(window: Window) -> int:
    """Machine labels rejected ("Not this") in the window and not undone."""
    return GroupOperation.objects.filter(
        created_at__gte=window.start, kind=OperationKind.REJECT, undone_by__isnull=True
    ).count()


def dashboard_figures(*, days: int = DEFAULT_DAYS) -> Figures:
    """Every figure of the dashboard over the last `days` days, in five queries."""
    window = Window.ending_today(days)
    check = check_counts()
    return Figures(
        window=window,
        daily=daily_counts(window),
        sources=source_counts(window),
        saved_by_groups=saved_by_groups_count(),
        check_waiting=check.total,
        check_look_closely=check.look_closely,
        rejected=rejected_count(window),
    )


# --- the threshold report (staff) ---------------------------------------------------------------

THRESHOLDS_CACHE_KEY = "dashboard:thresholds"
# The replay reads the whole history: its answer is kept this long (seconds).
THRESHOLDS_CACHE_SECONDS = 600


def threshold_rows() -> list[dict]:
    """`group_report`'s per-threshold rows (groups, clicks saved, label disagreement) at its
    default thresholds. The replay reads the whole history in memory, so the answer is cached
    for THRESHOLDS_CACHE_SECONDS and the dashboard loads it apart from its cheap figures."""
    from groups.management.commands.group_report import DEFAULT_THRESHOLDS

    def replay() -> list[dict]:
        history = replay_history_read()
        labels = human_labels()
        thresholds = [float(value) for value in DEFAULT_THRESHOLDS.split(",")]
        return [
            asdict(threshold_row(t, assignment_replay(history=history, threshold=t), labels))
            for t in thresholds
        ]

    return cache.get_or_set(THRESHOLDS_CACHE_KEY, replay, THRESHOLDS_CACHE_SECONDS)
