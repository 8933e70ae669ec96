"""The dashboard pages: the landing page after login (progress at a glance) and, for staff,
the threshold report's charts, loaded apart because its replay reads the whole history."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from groups.dashboard import figures, presenters

STAFF_ONLY = "Only staff can see the threshold report."


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Sequences per day, who labeled them, the check queue and what groups saved; when no
    sequence was recorded in the window, the day the newest one was."""
    data = figures.dashboard_figures()
    staff = request.user.is_staff
    empty = not any(day.annotated or day.to_annotate for day in data.daily)
    return render(
        request,
        "groups/dashboard.html",
        {
            "nav_section": "dashboard",
            "figures": data,
            "daily_chart": presenters.daily_chart(data),
            "sources": presenters.source_segments(data),
            "source_bar": presenters.source_bar(data),
            "check_chart": presenters.check_chart(data, staff=staff),
            "saved_url": presenters.saved_by_groups_url(),
            "staff": staff,
            "latest_recorded": figures.latest_recorded_day() if empty else None,
        },
    )


@require_GET
def dashboard_thresholds(request: HttpRequest) -> HttpResponse:
    """Staff: clicks saved and label disagreement per matching threshold (`group_report`)."""
    if not request.user.is_staff:
        raise PermissionDenied(STAFF_ONLY)
    rows = figures.threshold_rows()
    clicks, disagreement = presenters.threshold_charts(rows)
    template = (
        "groups/_dashboard_thresholds.html" if request.htmx else "groups/dashboard_thresholds.html"
    )
    return render(
        request,
        template,
        {
            "nav_section": "dashboard",
            "rows": rows,
            "clicks_chart": clicks,
            "disagreement_chart": disagreement,
        },
    )
