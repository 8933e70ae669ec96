"""What the group templates show, by page: what every page draws alike (`common`: pagers,
previews, label chips, thumbnails), the groups list (`listing`), a group's page (`group_page`:
member cards, history lines, the notices of its actions) and the check queue (`check`).

Pure functions of rows the selectors have already read (no queries here), so the templates stay
free of logic and the views stay thin.
"""

from groups.presenters.check import CheckCard, check_cards, check_confirm_notice
from groups.presenters.common import (
    PREVIEW_MIN_SIDE,
    Pager,
    PreviewFrame,
    Thumbnail,
    group_label,
    label_parts,
    pager,
    plural,
    preview_frame,
    reference_box,
    thumbnail,
)
from groups.presenters.group_page import (
    REMOVE_CONFIRM,
    HistoryEntry,
    MemberCard,
    history_entries,
    member_card,
    operation_summary,
    rejected_label,
    undo_notice,
    validation_notice,
)
from groups.presenters.listing import (
    EMPTY_ALL_LABELED,
    EMPTY_ALL_LABELED_OR_UNSURE,
    EMPTY_NO_GROUPS,
    EMPTY_NO_MATCH,
    EMPTY_NO_UNSURE,
    TAB_LABELS,
    ListRow,
    empty_message,
    list_rows,
    list_tabs,
    sort_columns,
)

__all__ = [
    "EMPTY_ALL_LABELED",
    "EMPTY_ALL_LABELED_OR_UNSURE",
    "EMPTY_NO_GROUPS",
    "EMPTY_NO_MATCH",
    "EMPTY_NO_UNSURE",
    "PREVIEW_MIN_SIDE",
    "REMOVE_CONFIRM",
    "TAB_LABELS",
    "CheckCard",
    "HistoryEntry",
    "ListRow",
    "MemberCard",
    "Pager",
    "PreviewFrame",
    "Thumbnail",
    "check_cards",
    "check_confirm_notice",
    "empty_message",
    "group_label",
    "history_entries",
    "label_parts",
    "list_rows",
    "list_tabs",
    "member_card",
    "operation_summary",
    "pager",
    "plural",
    "preview_frame",
    "reference_box",
    "rejected_label",
    "sort_columns",
    "thumbnail",
    "undo_notice",
    "validation_notice",
]
