"""The counters the database keeps for the group pages, and their upkeep.

- `SequenceGroup.member_count` and `.camera_sort_name`, on each group;
- `GroupTally`: listed groups by camera, label state, validation and size (the tab counts,
  the list's page count and the navigation badge);
- `CheckTally`: unchecked machine labels by risk (the Check badge and the check queue's pages).

Triggers keep them (PostgreSQL: migration 0005, statement-level; SQLite: the row-level
triggers below, installed after every migrate). The tallies are delta rows: a count is a sum
over a few dozen rows whatever the history, and `tallies_fold` folds them when they pile up.
`counters_drift` compares every stored figure with a fresh count and `counters_fix` repairs
them (`manage.py recount_groups`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Q,
    Sum,
)
from django.db.models.functions import Lower

from groups.models import TALLY_SIZE_CAP, CheckTally, GroupTally, SequenceGroup
from sequences.models import MACHINE_SOURCES, SequenceAnnotation

# A tally read that sums more delta rows than this folds them first.
FOLD_AFTER_ROWS = 500
# PostgreSQL advisory lock key of a fold (any constant; one fold at a time).
_FOLD_LOCK = 0x67726F75


def _unchecked() -> Q:
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
            _unchecked(), check_risk__gte=threshold, check_risk__lt=(bucket + 2) / 100
        )
        .annotate(bucket=RiskBucket("check_risk"))
        .filter(bucket=bucket)
        .count()
    )
    return CheckCounts(total, above + edge)


# --- folding ---------------------------------------------------------------------------------

_TALLIES = {
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
                for model, key in _TALLIES.items():
                    table, keys = model._meta.db_table, ", ".join(key)
                    value = _value_column(model)
                    cursor.execute(
                        f"WITH moved AS (DELETE FROM {table} RETURNING {keys}, {value}) "
                        f"INSERT INTO {table} ({keys}, {value}) "
                        f"SELECT {keys}, sum({value}) FROM moved GROUP BY {keys} "
                        f"HAVING sum({value}) <> 0"
                    )
            return
        for model, key in _TALLIES.items():
            value = _value_column(model)
            sums = list(model.objects.values(*key).annotate(total=Sum(value)).order_by())
            model.objects.all().delete()
            model.objects.bulk_create(
                model(**{name: row[name] for name in key}, **{value: row["total"]})
                for row in sums
                if row["total"]
            )


def _value_column(model) -> str:
    return "groups" if model is GroupTally else "labels"


# --- verifying and repairing -----------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    """One stored figure that differs from a fresh count."""

    counter: str
    key: tuple
    stored: object
    actual: object

    def __str__(self) -> str:
        key = ", ".join(str(part) for part in self.key)
        return f"{self.counter} [{key}]: stored {self.stored}, counted {self.actual}"


def _group_tally_actual() -> Counter:
    actual: Counter = Counter()
    rows = SequenceGroup.objects.values_list(
        "camera_id", "labeled_at", "is_validated", "is_unsure", "member_count"
    )
    for camera_id, labeled_at, validated, unsure, members in rows.iterator(chunk_size=5000):
        labeled = labeled_at is not None
        key = (labeled, validated, unsure and not labeled, min(members, TALLY_SIZE_CAP))
        actual[(camera_id, *key)] += 1
        actual[(None, *key)] += 1
    return actual


def _stored(model, key: tuple[str, ...]) -> Counter:
    value = _value_column(model)
    return Counter(
        {
            tuple(row[name] for name in key): row["total"]
            for row in model.objects.values(*key).annotate(total=Sum(value)).order_by()
            if row["total"]
        }
    )


def _check_tally_actual() -> Counter:
    risks = SequenceAnnotation.objects.filter(_unchecked()).values_list("check_risk", flat=True)
    return Counter((risk_bucket(risk),) for risk in risks.iterator(chunk_size=5000))


def _tally_drift(name: str, stored: Counter, actual: Counter) -> list[Drift]:
    return [
        Drift(name, key, stored.get(key, 0), actual.get(key, 0))
        for key in sorted(set(stored) | set(actual), key=repr)
        if stored.get(key, 0) != actual.get(key, 0)
    ]


def counters_drift() -> list[Drift]:
    """Every stored figure that differs from a fresh count of the rows it stands for."""
    drift = [
        Drift("member_count", (group_id,), stored, actual)
        for group_id, stored, actual in SequenceGroup.objects.annotate(actual=Count("members"))
        .exclude(member_count=F("actual"))
        .values_list("pk", "member_count", "actual")
        .order_by("pk")
    ]
    drift += [
        Drift("camera_sort_name", (group_id,), stored, actual)
        for group_id, stored, actual in SequenceGroup.objects.annotate(actual=Lower("camera__name"))
        .filter(~Q(camera_sort_name=F("actual")) | Q(camera_sort_name__isnull=True))
        .values_list("pk", "camera_sort_name", "actual")
        .order_by("pk")
    ]
    drift += _tally_drift(
        "group_tally", _stored(GroupTally, _TALLIES[GroupTally]), _group_tally_actual()
    )
    drift += _tally_drift(
        "check_tally", _stored(CheckTally, _TALLIES[CheckTally]), _check_tally_actual()
    )
    return drift


@transaction.atomic
def counters_fix() -> list[Drift]:
    """Repair every drifted figure; return what was wrong (empty: nothing to do).

    Member counts and sort names are rewritten from the rows; the tallies are rebuilt whole
    while writers that would append to them wait (PostgreSQL: a table lock until commit).
    """
    drift = counters_drift()
    if not drift:
        return drift
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The triggers keep the stored columns from application writes; this one is let in.
            cursor.execute("SET LOCAL groups.recount = 'on'")
            for model in _TALLIES:
                cursor.execute(f"LOCK TABLE {model._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
    for item in drift:
        if item.counter == "member_count":
            SequenceGroup.objects.filter(pk=item.key[0]).update(member_count=item.actual)
        elif item.counter == "camera_sort_name":
            SequenceGroup.objects.filter(pk=item.key[0]).update(camera_sort_name=item.actual)
    _tally_rebuild(GroupTally, _group_tally_actual())
    _tally_rebuild(CheckTally, _check_tally_actual())
    return drift


def _tally_rebuild(model, actual: Counter) -> None:
    key, value = _TALLIES[model], _value_column(model)
    model.objects.all().delete()
    model.objects.bulk_create(
        (model(**dict(zip(key, parts, strict=True)), **{value: n}) for parts, n in actual.items()),
        batch_size=1000,
    )


# --- SQLite's triggers -----------------------------------------------------------------------

_MACHINE = "('" + "', '".join(sorted(MACHINE_SOURCES)) + "')"
_COUNT = "(SELECT count(*) FROM sequences_sequence WHERE group_id = {group})"
_CAMERA_NAME = "(SELECT lower(name) FROM sequences_camera WHERE id = NEW.camera_id)"


def _recount(group: str) -> str:
    return (
        f"UPDATE groups_sequencegroup SET member_count = {_COUNT.format(group=group)} "
        f"WHERE id = {group};"
    )


def _group_tally_rows(row: str, sign: int) -> str:
    key = (
        f"{row}.labeled_at IS NOT NULL, {row}.is_validated, "
        f"({row}.is_unsure AND {row}.labeled_at IS NULL), "
        f"min({row}.member_count, {TALLY_SIZE_CAP}), {sign}"
    )
    return (
        "INSERT INTO groups_grouptally "
        "(camera_id, is_labeled, is_validated, is_unsure, size, groups) "
        f"VALUES ({row}.camera_id, {key}), (NULL, {key});"
    )


def _unchecked_sql(row: str) -> str:
    return f"({row}.label_source IN {_MACHINE} AND {row}.checked_at IS NULL)"


def _bucket_sql(row: str) -> str:
    return f"CAST({row}.check_risk * 100 AS INTEGER)"


def _check_tally_row(row: str, sign: int) -> str:
    return (
        "INSERT INTO groups_checktally (risk_bucket, labels) "
        f"SELECT {_bucket_sql(row)}, {sign} WHERE {_unchecked_sql(row)};"
    )


_GROUP_KEY_CHANGED = " OR ".join(
    [
        "OLD.camera_id IS NOT NEW.camera_id",
        "(OLD.labeled_at IS NULL) IS NOT (NEW.labeled_at IS NULL)",
        "OLD.is_validated IS NOT NEW.is_validated",
        "OLD.is_unsure IS NOT NEW.is_unsure",
        f"min(OLD.member_count, {TALLY_SIZE_CAP}) IS NOT min(NEW.member_count, {TALLY_SIZE_CAP})",
    ]
)
_KEEP = (
    f"UPDATE groups_sequencegroup SET member_count = {_COUNT.format(group='NEW.id')}, "
    f"camera_sort_name = {_CAMERA_NAME} WHERE id = NEW.id;"
)

# Member counts are recounted (an index lookup at SQLite's scale), which also puts back a
# stale value an application save may write; the rest mirrors the PostgreSQL triggers.
SQLITE_TRIGGERS = {
    "groups_member_count_insert": "AFTER INSERT ON sequences_sequence "
    f"WHEN NEW.group_id IS NOT NULL BEGIN {_recount('NEW.group_id')} END",
    "groups_member_count_delete": "AFTER DELETE ON sequences_sequence "
    f"WHEN OLD.group_id IS NOT NULL BEGIN {_recount('OLD.group_id')} END",
    "groups_member_count_update": "AFTER UPDATE OF group_id ON sequences_sequence "
    "WHEN OLD.group_id IS NOT NEW.group_id "
    f"BEGIN {_recount('OLD.group_id')} {_recount('NEW.group_id')} END",
    "groups_sequencegroup_keep_insert": f"AFTER INSERT ON groups_sequencegroup BEGIN {_KEEP} END",
    "groups_sequencegroup_keep_update": "AFTER UPDATE OF member_count, camera_sort_name "
    f"ON groups_sequencegroup WHEN NEW.member_count IS NOT {_COUNT.format(group='NEW.id')} "
    f"OR NEW.camera_sort_name IS NOT {_CAMERA_NAME} BEGIN {_KEEP} END",
    "groups_camera_sort_name_update": "AFTER UPDATE OF name ON sequences_camera "
    "WHEN OLD.name IS NOT NEW.name BEGIN UPDATE groups_sequencegroup "
    "SET camera_sort_name = lower(NEW.name) WHERE camera_id = NEW.id; END",
    "groups_tally_insert": "AFTER INSERT ON groups_sequencegroup "
    f"BEGIN {_group_tally_rows('NEW', 1)} END",
    "groups_tally_delete": "AFTER DELETE ON groups_sequencegroup "
    f"BEGIN {_group_tally_rows('OLD', -1)} END",
    "groups_tally_update": f"AFTER UPDATE ON groups_sequencegroup WHEN {_GROUP_KEY_CHANGED} "
    f"BEGIN {_group_tally_rows('OLD', -1)} {_group_tally_rows('NEW', 1)} END",
    "groups_check_tally_insert": "AFTER INSERT ON sequences_sequenceannotation "
    f"WHEN {_unchecked_sql('NEW')} BEGIN {_check_tally_row('NEW', 1)} END",
    "groups_check_tally_delete": "AFTER DELETE ON sequences_sequenceannotation "
    f"WHEN {_unchecked_sql('OLD')} BEGIN {_check_tally_row('OLD', -1)} END",
    "groups_check_tally_update": "AFTER UPDATE ON sequences_sequenceannotation "
    f"WHEN {_unchecked_sql('OLD')} IS NOT {_unchecked_sql('NEW')} "
    f"OR ({_unchecked_sql('NEW')} AND {_bucket_sql('OLD')} IS NOT {_bucket_sql('NEW')}) "
    f"BEGIN {_check_tally_row('OLD', -1)} {_check_tally_row('NEW', 1)} END",
}


def sqlite_triggers_drop(*, using: str = "default", **kwargs) -> None:
    """Before a migrate (SQLite): take the triggers off, as a table the migration remakes would
    lose them and a trigger naming a table being remade would fail the migration."""
    database = connections[using]
    if database.vendor != "sqlite":
        return
    with database.cursor() as cursor:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def sqlite_counters_install(*, using: str = "default", **kwargs) -> None:
    """After a migrate (SQLite): put the triggers back and recount what they keep."""
    database = connections[using]
    if database.vendor != "sqlite":
        return
    tables = set(database.introspection.table_names())
    if not {GroupTally._meta.db_table, CheckTally._meta.db_table} <= tables:
        return  # migrated only part of the way
    with transaction.atomic(using=using), database.cursor() as cursor:
        for name, body in SQLITE_TRIGGERS.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"CREATE TRIGGER {name} {body}")
    if using == "default":
        counters_fix()
