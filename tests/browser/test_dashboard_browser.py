"""The dashboard in a real browser: the landing page after login, its charts drawn by the
server, a bar that opens the list it counts, and the staff's threshold report loaded apart."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from groups.models import OperationKind
from tests.factories import annotate, group_with_members, stamp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# `SCREENSHOT_DIR=docs make test` refreshes the README's picture of the dashboard.
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")


def test_the_dashboard_lands_after_login_and_its_bars_open_their_lists(
    live_server, log_in, staff_user
):
    yesterday = timezone.localdate() - timedelta(days=1)
    start = timezone.make_aware(timezone.datetime.combine(yesterday, timezone.datetime.min.time()))
    group = group_with_members(4, recorded_at=start + timedelta(hours=2))
    members = list(group.members.order_by("recorded_at", "id"))
    annotate(members[0], fp=["antenna"])
    stamp(group, [members[1].pk, members[2].pk], kind=OperationKind.INHERIT)

    page = log_in(staff_user)
    assert page.url == live_server.url + reverse("home")
    expect(page.get_by_role("heading", name="Progress at a glance")).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    expect(page.locator("#dashboard-saved .big-figure")).to_have_text("2 annotations")
    expect(page.locator("#dashboard-check")).to_contain_text("2 waiting in the check queue")

    # The staff's threshold report comes in after the page, as two charts.
    report = page.locator("#thresholds-report")
    expect(report.locator("svg.chart")).to_have_count(2)
    expect(report.locator("svg.chart").first).to_have_attribute(
        "aria-label", "Clicks saved per matching threshold"
    )
    if SCREENSHOT_DIR:
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / "dashboard.png"), full_page=True)

    text = yesterday.strftime("%d %b")
    bar = page.get_by_role("link", name=f"{text}: 3 sequences annotated")
    bar.click()
    page.wait_for_url(lambda url: "/sequences/done/" in url)
    expect(page.locator(".sequence-list tbody tr")).to_have_count(3)

    page.goto(live_server.url + reverse("home"))
    page.locator("#dashboard-sources svg").get_by_role(
        "link", name="2 sequences labeled by inheritance (67%)"
    ).click()
    page.wait_for_url(lambda url: "label_source=inherited" in url)
    expect(page.locator(".sequence-list tbody tr")).to_have_count(2)
