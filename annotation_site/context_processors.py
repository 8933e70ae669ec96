"""Template context shared by every page: the navigation badges."""


def navigation(request) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"nav_groups_to_label": "", "nav_unchecked": ""}
