"""The counters the database keeps for the group pages, and their upkeep.

- `SequenceGroup.member_count` and `.camera_sort_name`, on each group;
- `GroupTally`: listed groups by camera, label state, validation and size (the tab counts,
  the list's page count and the navigation badge);
- `CheckTally`: unchecked machine labels by risk (the Check badge and the check queue's pages);
- `GroupWriter`: the operations that wrote a group's current members (its history panel).

Triggers keep them (PostgreSQL: migrations 0005 and 0009, statement-level; SQLite: the
row-level triggers of `sqlite`, installed after every migrate). The tallies are delta rows: a
count is a sum over a few dozen rows whatever the history, and `tallies_fold` folds them when
they pile up (`reading`). `counters_drift` compares every stored figure with a fresh count and
`counters_fix` repairs them (`drift`; `manage.py recount_groups`).
"""

from groups.counters.drift import Drift, counters_drift, counters_fix
from groups.counters.reading import (
    CheckCounts,
    GroupCounts,
    RiskBucket,
    check_counts,
    group_counts,
    risk_bucket,
    tallies_fold,
    unchecked,
)
from groups.counters.sqlite import sqlite_counters_install, sqlite_triggers_drop

__all__ = [
    "CheckCounts",
    "Drift",
    "GroupCounts",
    "RiskBucket",
    "check_counts",
    "counters_drift",
    "counters_fix",
    "group_counts",
    "risk_bucket",
    "sqlite_counters_install",
    "sqlite_triggers_drop",
    "tallies_fold",
    "unchecked",
]
