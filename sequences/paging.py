"""Counting the rows of a long list without counting them all: `estimated_count`, and
`EstimatedCountPaginator` for the admin's changelists and the page lists."""

import json

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Lists count their rows exactly up to this many; beyond, PostgreSQL's estimate.
EXACT_COUNT_UP_TO = 1000


def estimated_count(rows: QuerySet) -> tuple[int, bool]:
    """``(count, estimated)`` of a list: exact up to EXACT_COUNT_UP_TO rows (a count over a
    LIMIT), the planner's estimate of the filtered query beyond (PostgreSQL; SQLite sites are
    small and count exactly)."""
    database = connections[rows.db]
    if database.vendor != "postgresql":
        return rows.count(), False
    ids = rows.order_by().values("pk")  # the rows' other columns and annotations unread
    exact = ids[: EXACT_COUNT_UP_TO + 1].count()
    if exact <= EXACT_COUNT_UP_TO:
        return exact, False
    sql, params = ids.query.sql_with_params()
    with database.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return max(exact, int(plan[0]["Plan"]["Plan Rows"])), True


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a whole large table (`estimated_count`), so the last
    pages of a long list may be short or out of reach of the page links; the rows keep their
    order."""

    # Whether `count` is the planner's estimate (a page may say "about").
    estimated = False

    @cached_property
    def count(self) -> int:
        count, self.estimated = estimated_count(self.object_list)
        return count
