"""Reads of the groups app, by page: the group list and its counts (`listing`), a group with a
page of its members and which of them are held back from its label (`members`), the audit
history of a group (`history`), and the check queue (`check`).

Every function returns pre-joined rows, so a page costs the same number of queries whatever the
number of groups, members or operations it shows, and reads what the page shows: the list and
the member pages are index ranges with a LIMIT, and counts come from the counters the database
keeps (`groups.counters`). `camera_id` / `organization_id` arguments are local primary keys.
"""

from groups.counters import CheckCounts, GroupCounts, group_counts
from groups.selectors.check import (
    detections_by_id,
    is_look_closely,
    unchecked_count,
    unchecked_machine_labels,
)
from groups.selectors.history import (
    HISTORY_LIMIT,
    group_history,
    group_operations,
    operation_member_count,
)
from groups.selectors.listing import (
    DEFAULT_ORDER,
    DIRECTIONS,
    LABEL_STATES,
    ORDER_KEYS,
    SORT_KEYS,
    TAB_STATES,
    TABS,
    UNKNOWN_DIRECTION,
    UNKNOWN_ORDER,
    UNKNOWN_TAB,
    CountedRows,
    SortKey,
    group_list,
    group_list_rows,
    group_neighbors,
    group_previews,
    group_stats,
    held_back_counts,
    stats_of,
)
from groups.selectors.members import (
    REMOVED_PAGE_SIZE,
    GroupPage,
    Member,
    MembersPage,
    RemovedMember,
    first_detection_id,
    group_detail,
    group_held_back_count,
    group_members,
    group_removed_count,
    group_removed_page,
)

__all__ = [
    "CheckCounts",
    "CountedRows",
    "GroupCounts",
    "DEFAULT_ORDER",
    "DIRECTIONS",
    "HISTORY_LIMIT",
    "LABEL_STATES",
    "GroupPage",
    "Member",
    "MembersPage",
    "ORDER_KEYS",
    "REMOVED_PAGE_SIZE",
    "RemovedMember",
    "SORT_KEYS",
    "SortKey",
    "TABS",
    "TAB_STATES",
    "UNKNOWN_DIRECTION",
    "UNKNOWN_ORDER",
    "UNKNOWN_TAB",
    "detections_by_id",
    "first_detection_id",
    "group_detail",
    "group_held_back_count",
    "group_history",
    "group_list",
    "group_counts",
    "group_list_rows",
    "group_members",
    "group_neighbors",
    "group_operations",
    "group_previews",
    "group_removed_count",
    "group_removed_page",
    "group_stats",
    "stats_of",
    "held_back_counts",
    "is_look_closely",
    "operation_member_count",
    "unchecked_count",
    "unchecked_machine_labels",
]
