"""The dashboard pages: the landing page after login (progress at a glance), the rejected
machine labels behind its "rejected" figure and, for staff, the threshold report's charts,
loaded apart because its replay reads the whole history."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from groups.dashboard import figures, presenters, rejected
from sequences.paging import EstimatedCountPaginator

STAFF_ONLY = "Only staff can see the threshold report."
REJECTED_PAGE_SIZE = 50


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
            "check_chart": presenters.check_chart(data),
            "rejected_url": presenters.rejected_url(data.window),
            "saved_url": presenters.saved_by_groups_url(),
            "staff": staff,
            "latest_recorded": figures.latest_recorded_day() if empty else None,
        },
    )


@require_GET
def rejected_labels(request: HttpRequest) -> HttpResponse:
    """The machine labels rejected ("Not this") in a window of days, newest first, 50 a page."""
    form = rejected.RejectedWindowForm(request.GET)
    window = form.window()
    page_obj = EstimatedCountPaginator(
        rejected.rejected_operations(window), REJECTED_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "groups/rejected_labels.html",
        {
            "nav_section": "dashboard",
            "form": form,
            "window": window,
            "page_obj": page_obj,
            "rows": rejected.rejected_rows(list(page_obj.object_list)),
            "filter_query": form.querystring(),
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
