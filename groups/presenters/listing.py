"""What the groups list draws (SPEC §6.2): its rows with their previews, the tabs with their
counts, the sortable column headers and the message of an empty tab."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from groups.forms import ListParams
from groups.models import SequenceGroup
from groups.presenters.common import (
    PreviewFrame,
    group_label,
    preview_frame,
    reference_box,
)
from groups.selectors import SORT_KEYS

EMPTY_NO_GROUPS = (
    "No groups yet. Groups are built by the assignment job (manage.py assign_groups), which "
    "runs after each import and from cron. Groups with a single sequence are hidden."
)
EMPTY_ALL_LABELED = "Every listed group has a label."
EMPTY_ALL_LABELED_OR_UNSURE = (
    "Every listed group has a label or is marked unsure (see the Unsure tab)."
)
EMPTY_NO_UNSURE = (
    "No group is unsure. A validated group without a label comes here when one of its members "
    "is saved Unsure without a label, until a label is saved."
)
EMPTY_NO_MATCH = "No groups match this filter."
TAB_LABELS = (
    ("unlabeled", "To label"),
    ("unsure", "Unsure"),
    ("labeled", "Labeled"),
    ("all", "All"),
)


@dataclass(frozen=True)
class ListRow:
    """A group as the list and the Merge page show it: its previews, label chip and how many
    of its members a safeguard holds back."""

    group: SequenceGroup
    preview_frame: PreviewFrame
    preview_ids: list[int]
    label: dict[str, str] | None
    held_back_count: int = 0


def list_rows(
    groups: Iterable[SequenceGroup],
    previews: dict[int, list[int]],
    held_back: dict[int, int] | None = None,
) -> list[ListRow]:
    """The rows of `groups`, with their preview images (`previews`, by group id) and held-back
    counts (`held_back`, by group id; absent: none)."""
    held_back = held_back or {}
    return [
        ListRow(
            group=group,
            preview_frame=preview_frame(reference_box(group)),
            preview_ids=previews.get(group.pk, []),
            label=group_label(group),
            held_back_count=held_back.get(group.pk, 0),
        )
        for group in groups
    ]


def list_tabs(params: ListParams, stats: dict) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "label": label,
            "count": stats[key if key != "all" else "total"],
            "query": params.query(tab=key, page=1),
            "current": key == params.tab,
        }
        for key, label in TAB_LABELS
    ]


def sort_columns(params: ListParams) -> dict[str, dict[str, Any]]:
    """The sortable column headers: label, the query of a click, and the current state."""
    return {
        key: {
            "label": sort_key.label,
            "query": params.sort_query(key),
            "current": key == params.sort,
            "aria": ("descending" if params.dir == "desc" else "ascending")
            if key == params.sort
            else None,
        }
        for key, sort_key in SORT_KEYS.items()
    }


def empty_message(params: ListParams, stats: dict, overall_total: int) -> str:
    if overall_total == 0:
        return EMPTY_NO_GROUPS
    if params.tab == "unlabeled" and stats["unlabeled"] == 0 and stats["total"] > 0:
        return EMPTY_ALL_LABELED_OR_UNSURE if stats["unsure"] else EMPTY_ALL_LABELED
    if params.tab == "unsure" and not params.filtered:
        return EMPTY_NO_UNSURE
    return EMPTY_NO_MATCH
