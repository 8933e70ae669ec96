"""Verifying every figure the database keeps for the group pages against a fresh count of
the rows it stands for, and repairing what drifted (`manage.py recount_groups`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Lower

from groups.counters.reading import TALLIES, risk_bucket, unchecked, value_column
from groups.models import (
    TALLY_SIZE_CAP,
    CheckTally,
    GroupOperationMember,
    GroupTally,
    GroupWriter,
    SequenceGroup,
)
from sequences.models import SequenceAnnotation


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
    value = value_column(model)
    return Counter(
        {
            tuple(row[name] for name in key): row["total"]
            for row in model.objects.values(*key).annotate(total=Sum(value)).order_by()
            if row["total"]
        }
    )


def _check_tally_actual() -> Counter:
    risks = SequenceAnnotation.objects.filter(unchecked()).values_list("check_risk", flat=True)
    return Counter((risk_bucket(risk),) for risk in risks.iterator(chunk_size=5000))


def _writers_actual() -> Counter:
    """(group, operation) -> the group's current members the operation wrote."""
    rows = (
        GroupOperationMember.objects.filter(sequence__group__isnull=False)
        .values_list("sequence__group_id", "operation_id")
        .annotate(n=Count("*"))
        .order_by()
    )
    return Counter({(group_id, operation_id): n for group_id, operation_id, n in rows})


def _writers_stored() -> Counter:
    rows = GroupWriter.objects.values_list("group_id", "operation_id", "members")
    return Counter({(group_id, operation_id): n for group_id, operation_id, n in rows})


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
        "group_tally", _stored(GroupTally, TALLIES[GroupTally]), _group_tally_actual()
    )
    drift += _tally_drift(
        "check_tally", _stored(CheckTally, TALLIES[CheckTally]), _check_tally_actual()
    )
    drift += _tally_drift("group_writers", _writers_stored(), _writers_actual())
    return drift


@transaction.atomic
def counters_fix() -> list[Drift]:
    """Repair every drifted figure; return what was wrong (empty: nothing to do).

    Member counts and sort names are rewritten from the rows; the tallies and the groups'
    writers are rebuilt whole while the writes that would change them wait (PostgreSQL: table
    locks until commit).
    """
    drift = counters_drift()
    if not drift:
        return drift
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The triggers keep the stored columns from application writes; this one is let in.
            cursor.execute("SET LOCAL groups.recount = 'on'")
            for model in (*TALLIES, GroupWriter):
                cursor.execute(f"LOCK TABLE {model._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
    for item in drift:
        if item.counter == "member_count":
            SequenceGroup.objects.filter(pk=item.key[0]).update(member_count=item.actual)
        elif item.counter == "camera_sort_name":
            SequenceGroup.objects.filter(pk=item.key[0]).update(camera_sort_name=item.actual)
    _tally_rebuild(GroupTally, _group_tally_actual())
    _tally_rebuild(CheckTally, _check_tally_actual())
    if any(item.counter == "group_writers" for item in drift):
        _writers_rebuild(_writers_actual())
    return drift


def _tally_rebuild(model, actual: Counter) -> None:
    key, value = TALLIES[model], value_column(model)
    _rows_replace(
        model,
        (model(**dict(zip(key, parts, strict=True)), **{value: n}) for parts, n in actual.items()),
    )


def _writers_rebuild(actual: Counter) -> None:
    _rows_replace(
        GroupWriter,
        (
            GroupWriter(group_id=group_id, operation_id=operation_id, members=n)
            for (group_id, operation_id), n in actual.items()
        ),
    )


def _rows_replace(model, rows) -> None:
    """Every row of `model`'s table replaced by `rows` (under the caller's table lock)."""
    model.objects.all().delete()
    model.objects.bulk_create(rows, batch_size=1000)
