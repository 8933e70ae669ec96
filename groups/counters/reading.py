"""Reading the tallies the database keeps (the tab counts, the list's page count and the
navigation badges) and folding their delta rows when they pile up."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    Func,
    IntegerField,
    Q,
    Sum,
)

from groups.models import TALLY_SIZE_CAP, CheckTally, GroupTally, SequenceGroup
from sequences.models import MACHINE_SOURCES, SequenceAnnotation

# A tally read that sums more delta rows than this folds them first.
FOLD_AFTER_ROWS = 500
# PostgreSQL advisory lock key of a fold (any constant; one fold at a time).
_FOLD_LOCK = 0x67726F75


def unchecked() -> Q:
    """Machine labels nobody has confirmed: the check queue (its partial index's condition)."""
    return Q(label_source__in=sorted(MACHINE_SOURCES), checked_at__isnull=True)


class RiskBucket(Func):
    """A risk in hundredths, floored, exactly as the triggers compute it."""

    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="floor(%(expressions)s * 100)", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        template = "CAST(%(expressions)s * 100 AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra)


def risk_bucket(risk: float | None) -> int | None:
    return None if risk is None else math.floor(risk * 100)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupCounts:
    """Listed groups (at least GROUPS_MIN_LISTED_MEMBERS members) by label state and
    validation: `by_state[(is_labeled, is_validated, is_unsure)]`, where `is_unsure` is true
    only for an unsure group without a label (the label wins)."""

    by_state: dict[tuple[bool, bool, bool], int]

    def count(
        self,
        *,
        labeled: bool | None = None,
        validated: bool | None = None,
        unsure: bool | None = None,
    ) -> int:
        return sum(
            n
            for (is_labeled, is_validated, is_unsure), n in self.by_state.items()
            if labeled in (None, is_labeled)
            and validated in (None, is_validated)
            and unsure in (None, is_unsure)
        )


def group_counts(
    *, camera_id: int | None = None, organization_id: int | None = None
) -> GroupCounts:
    """The listed groups of one camera, one organisation's cameras, or every camera, in one
    query over the tallies (a few dozen rows whatever the history); counted from the groups
    themselves when the listing minimum is above the tallies' size cap."""
    minimum = settings.GROUPS_MIN_LISTED_MEMBERS
    if minimum > TALLY_SIZE_CAP:
        rows = SequenceGroup.objects.filter(member_count__gte=minimum)
        if camera_id is not None:
            rows = rows.filter(camera_id=camera_id)
        if organization_id is not None:
            rows = rows.filter(camera__organization_id=organization_id)
        labeled = ExpressionWrapper(Q(labeled_at__isnull=False), output_field=BooleanField())
        unsure = ExpressionWrapper(
            Q(labeled_at__isnull=True, is_unsure=True), output_field=BooleanField()
        )
        counted = (
            rows.annotate(labeled=labeled, unsure=unsure)
            .values_list("labeled", "is_validated", "unsure")
            .annotate(n=Count("id"))
            .order_by()
        )
        return GroupCounts({tuple(row[:3]): row[3] for row in counted})
    rows = GroupTally.objects.all()
    if camera_id is not None:
        rows = rows.filter(camera_id=camera_id)
        if organization_id is not None:
            rows = rows.filter(camera__organization_id=organization_id)
    elif organization_id is not None:
        rows = rows.filter(camera__organization_id=organization_id)
    else:
        rows = rows.filter(camera__isnull=True)
    summed = list(
        rows.values_list("is_labeled", "is_validated", "is_unsure")
        .annotate(n=Sum("groups", filter=Q(size__gte=minimum)), deltas=Count("id"))
        .order_by()
    )
    if sum(deltas for *_, deltas in summed) > FOLD_AFTER_ROWS:
        tallies_fold()
    return GroupCounts({tuple(row[:3]): row[3] for row in summed if row[3]})


@dataclass(frozen=True)
class CheckCounts:
    """The check badge: machine labels waiting, and how many of them are "look closely"."""

    total: int
    look_closely: int


def check_counts() -> CheckCounts:
    """Unchecked machine labels, and those at or above GROUPS_LOOK_CLOSELY_RISK, in two small
    queries: the tallies by risk bucket, and an exact count inside the one bucket the
    threshold falls in (an index range of the check queue)."""
    threshold = settings.GROUPS_LOOK_CLOSELY_RISK
    bucket = math.floor(threshold * 100)
    summed = list(
        CheckTally.objects.values_list("risk_bucket")
        .annotate(n=Sum("labels"), deltas=Count("id"))
        .order_by()
    )
    if sum(deltas for *_, deltas in summed) > FOLD_AFTER_ROWS:
        tallies_fold()
    total = sum(n for _, n, _ in summed)
    above = sum(n for risk, n, _ in summed if risk is not None and risk > bucket)
    # Risks in the threshold's bucket lie below (bucket + 2) / 100: the bound keeps the scan
    # to that bucket's stretch of the check queue's index.
    edge = (
        SequenceAnnotation.objects.filter(
            unchecked(), check_risk__gte=threshold, check_risk__lt=(bucket + 2) / 100
        )
        .annotate(bucket=RiskBucket("check_risk"))
        .filter(bucket=bucket)
        .count()
    )
    return CheckCounts(total, above + edge)


# --- folding ---------------------------------------------------------------------------------

TALLIES = {
    GroupTally: ("camera_id", "is_labeled", "is_validated", "is_unsure", "size"),
    CheckTally: ("risk_bucket",),
}


def tallies_fold() -> None:
    """Fold the tallies' delta rows to one row per key (keys summing to zero go).

    PostgreSQL: one `DELETE ... RETURNING` feeding the `INSERT` of the sums, so the rows summed
    are exactly the rows deleted, whatever is appended meanwhile; one fold at a time (an
    advisory lock; a reader finding one under way leaves it). SQLite: its transactions take
    the write lock when they start, so a read, a delete and an insert are atomic.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_FOLD_LOCK])
                if not cursor.fetchone()[0]:
                    return
                for model, key in TALLIES.items():
                    table, keys = model._meta.db_table, ", ".join(key)
                    value = value_column(model)
                    cursor.execute(
                        f"WITH moved AS (DELETE FROM {table} RETURNING {keys}, {value}) "
                        f"INSERT INTO {table} ({keys}, {value}) "
                        f"SELECT {keys}, sum({value}) FROM moved GROUP BY {keys} "
                        f"HAVING sum({value}) <> 0"
                    )
            return
        for model, key in TALLIES.items():
            value = value_column(model)
            sums = list(model.objects.values(*key).annotate(total=Sum(value)).order_by())
            model.objects.all().delete()
            model.objects.bulk_create(
                model(**{name: row[name] for name in key}, **{value: row["total"]})
                for row in sums
                if row["total"]
            )


def value_column(model) -> str:
    return "groups" if model is GroupTally else "labels"
