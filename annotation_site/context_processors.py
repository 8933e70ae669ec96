"""Template context shared by every page: the navigation badges.

The counts are callables, so a template that never shows the navigation (the admin, an image)
never pays for their queries.
"""

from groups.selectors import group_stats, unchecked_count


def navigation(request) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        # The unfiltered To-label count, the same number as the list's tab (SPEC §9.4 #15).
        "nav_groups_to_label": lambda: group_stats()["unlabeled"],
        # Machine labels to check, and how many of them to look at closely.
        "nav_check": unchecked_count,
    }
