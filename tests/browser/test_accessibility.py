"""Every page from a phone to a wide screen: an axe-core scan finds no WCAG 2.0/2.1 A or AA
violation on any page, at 1440 and at 390 pixels; on a phone the navigation wraps (every link
on screen, nothing to scroll sideways) and the lists become cards."""

import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from groups.models import OperationKind
from groups.services import label_check_reject
from tests.factories import SequenceFactory, annotate, group_with_members, stamp, validated
from tests.support.accessibility import axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
# `SCREENSHOT_DIR=docs make test` refreshes the README's picture of the groups list on a phone.
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")


@pytest.fixture
def pages(live_server):
    """Every page of the site with something on it: (name, url)."""
    group = group_with_members(4)
    members = list(group.members.order_by("recorded_at", "id"))
    annotate(members[0], fp=["antenna"])
    stamp(group, [members[1].pk], kind=OperationKind.INHERIT)
    labeled = group_with_members(3)
    annotate(labeled.members.first(), smoke=["wildfire"])
    unsure = group_with_members(3, **validated())
    annotate(unsure.members.first(), is_unsure=True)
    SequenceFactory.create_batch(51)  # the To-annotate list has a second page, and a pager
    # A rejected machine label ("Not this"), on the list of rejected labels.
    taken = group_with_members(2).members.order_by("id").first()
    stamp(taken.group, [taken.pk], kind=OperationKind.INHERIT)
    label_check_reject(sequence_id=taken.pk, actor=None)
    url = live_server.url
    return [
        ("dashboard", url + reverse("home")),
        ("groups", url + reverse("groups:list")),
        ("groups, labeled tab", url + reverse("groups:list") + "?tab=labeled"),
        ("groups, unsure tab", url + reverse("groups:list") + "?tab=unsure"),
        ("group page", url + reverse("groups:detail", args=[group.pk])),
        ("check queue", url + reverse("groups:check")),
        ("to annotate", url + reverse("sequences:list")),
        ("done", url + reverse("sequences:done")),
        ("annotate", url + reverse("sequences:annotate", args=[members[2].pk])),
        ("annotate, done", url + reverse("sequences:annotate", args=[members[0].pk])),
        ("thresholds", url + reverse("groups:dashboard_thresholds")),
        ("rejected machine labels", url + reverse("groups:rejected")),
    ]


def scan(page: Page, pages: list[tuple[str, str]]) -> dict[str, list[str]]:
    found = {}
    for name, url in pages:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        violations = axe_violations(page)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            violations.append(f"scrolls sideways by {overflow} px")
        if violations:
            found[name] = violations
    return found


def test_no_wcag_violation_on_any_page_wide_or_phone(live_server, log_in, staff_user, pages, page):
    page.goto(live_server.url + reverse("login"))
    assert axe_violations(page) == []
    log_in(staff_user)
    assert scan(page, pages) == {}
    page.set_viewport_size(PHONE)
    assert scan(page, pages) == {}
    page.goto(live_server.url + reverse("sequences:list"))
    assert axe_violations(page) == []


def overflowing(page: Page, selector: str) -> list[str]:
    """The texts of the elements under `selector` whose content runs past their own box."""
    return page.locator(selector).evaluate_all(
        "cells => cells.filter(cell => cell.scrollWidth > cell.clientWidth)"
        ".map(cell => cell.innerText)"
    )


def test_on_a_phone_the_navigation_wraps_and_the_lists_are_cards(live_server, log_in, annotator):
    group_with_members(3)
    SequenceFactory.create_batch(2)
    annotate(SequenceFactory(), smoke=["wildfire"])  # on the Done list
    page = log_in(annotator)
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + reverse("groups:list") + "?tab=all")
    for name in ("Check", "To annotate", "Done"):
        link = page.locator("#topbar").get_by_role("link", name=name)
        expect(link).to_be_in_viewport()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], name
    row = page.locator(".group-row").first
    assert row.evaluate("row => getComputedStyle(row).display") == "grid"
    assert row.bounding_box()["width"] <= PHONE["width"]
    members = row.locator("td").nth(4)
    expect(members).to_have_text("3")
    assert members.evaluate("td => getComputedStyle(td, '::before').content") == '"Members "'
    # The column headers above the cards each fit their own text (none runs into the next).
    assert overflowing(page, ".group-table thead th") == []
    if SCREENSHOT_DIR:
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / "phone-groups.png"))

    page.get_by_role("link", name="To annotate").click()
    row = page.locator(".sequence-list tbody tr").first
    assert row.evaluate("row => getComputedStyle(row).display") == "grid"
    assert row.bounding_box()["width"] <= PHONE["width"]

    # On the Done list, the card's longest chip ("Sequence annotation done") stays in its cell.
    page.get_by_role("link", name="Done").click()
    expect(page.locator(".sequence-list tbody tr")).to_have_count(1)
    assert overflowing(page, ".sequence-list tbody td") == []
