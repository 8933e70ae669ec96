"""Counting the rows of a long list without counting them all: `EstimatedCountPaginator`, for
the admin's changelists and the sequence lists."""

import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

# Lists count their rows exactly up to this many; beyond, PostgreSQL's estimate.
EXACT_COUNT_UP_TO = 1000


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a whole large table: an exact count up to
    EXACT_COUNT_UP_TO rows (a count over a LIMIT), the planner's estimate of the filtered
    query beyond (PostgreSQL; SQLite sites are small and count exactly), so the last pages of
    a long list may be short or out of reach of the page links; the rows keep their order."""

    # Whether `count` is the planner's estimate (a page may say "about").
    estimated = False

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        database = connections[rows.db]
        if database.vendor != "postgresql":
            return super().count
        exact = rows.order_by()[: EXACT_COUNT_UP_TO + 1].count()
        if exact <= EXACT_COUNT_UP_TO:
            return exact
        self.estimated = True
        sql, params = rows.order_by().values("pk").query.sql_with_params()
        with database.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return max(exact, int(plan[0]["Plan"]["Plan Rows"]))
