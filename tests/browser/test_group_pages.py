"""The group review pages in a real browser: list -> group -> validate -> annotate one member
-> the others labeled -> remove and re-include -> staff undo of the propagation."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from groups.models import GroupOperation, OperationKind
from sequences.models import LabelSource, ProcessingStage
from tests.factories import CameraFactory, imported_group
from tests.support import annotation_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BOX = [0.42, 0.38, 0.52, 0.5]


def grouped_alerts(count: int, *, camera) -> tuple:
    """A group of `count` imported alerts (`tests.factories.imported_group`), a day apart."""
    return imported_group(count, camera=camera, box=BOX)


def badge(page: Page):
    return page.locator("#nav-groups-badge")


def test_review_a_group_from_the_list_to_the_undo(live_server, log_in, annotator, staff_user):
    camera = CameraFactory(name="brison-01", organization__name="SDIS 07")
    group, members = grouped_alerts(3, camera=camera)
    grouped_alerts(2, camera=camera)  # another listed group
    first, second, third = members

    page = log_in(annotator)
    # Login lands on the dashboard; the navigation's Groups link opens the list, and its badge
    # counts both unlabeled groups.
    expect(page.get_by_role("heading", name="Progress at a glance")).to_be_visible()
    navigation = page.get_by_role("navigation", name="Main")
    navigation.get_by_role("link", name=re.compile(r"^Groups")).click()
    expect(page.get_by_role("heading", name="Sequence groups")).to_be_visible()
    expect(badge(page)).to_have_text("2")
    row = page.locator(f"#group-row-{group.pk}")
    expect(row).to_contain_text("brison-01")
    # Anywhere on the row opens the group (the link's box covers the row): click the members
    # cell, as a user would.
    cell = row.get_by_text("3", exact=True).bounding_box()
    page.mouse.click(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    page.wait_for_url(f"**{reverse('groups:detail', args=[group.pk])}")
    expect(page.locator("#group-title")).to_have_text(
        f"Group #{group.pk} · camera brison-01 (SDIS 07) · azimuth 214° · 3 members"
    )
    expect(page.locator(".member-card")).to_have_count(3)

    # Validate with the keyboard: htmx swaps the header in place.
    page.keyboard.press("v")
    expect(page.locator(".pill-validated")).to_contain_text(f"Validated by {annotator.username}")
    expect(page.locator("#group-notice")).to_contain_text("Group validated.")
    expect(page.locator("#group-history")).to_contain_text("Validated the group")

    # Annotate the first member on its own page; propagation labels the others.
    page.locator(f"#member-{first.pk} .member-link").click()
    page.wait_for_url(re.compile(rf"/sequences/{first.pk}/annotate/\?group={group.pk}$"))
    for card in page.locator("[data-cluster-card]").all():
        card.locator("label.smoke-choice", has_text="Wildfire").click()
    page.locator("#missed-smoke label", has_text="No").click()
    page.get_by_role("button", name=re.compile(r"^Save")).click()

    # No writable member is left in the group, so the page goes back to the group.
    page.wait_for_url(re.compile(rf"/groups/{group.pk}/"))
    expect(page.locator("#group-header")).to_contain_text("smoke / wildfire")
    for member in (second, third):
        card = page.locator(f"#member-{member.pk}")
        expect(card).to_contain_text("propagated")
        expect(card).to_contain_text("smoke / wildfire")
        expect(card).to_contain_text("unchecked")
        expect(card).to_have_class(re.compile(r"\bis-locked\b"))
    expect(page.locator(f"#member-{first.pk}")).to_contain_text("done")
    expect(badge(page)).to_have_text("1")

    # Remove a member: the confirm dialog explains, the card goes, the count and section update.
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name=f"Remove sequence #{third.pk} from this group").click()
    expect(page.locator(f"#member-{third.pk}")).to_have_count(0)
    assert dialogs and dialogs[0].startswith(
        f"Remove sequence #{third.pk} from group #{group.pk}? It becomes a manual outlier"
    )
    expect(page.locator("#group-member-count")).to_have_text("2 members")
    removed = page.locator("#removed-members")
    expect(removed).to_be_visible()
    expect(removed).to_contain_text(f"Sequence #{third.pk}")

    # Re-include it: the section empties; the sequence waits for the next assignment run.
    removed.get_by_role("button", name="Re-include").click()
    expect(removed).to_be_hidden()
    expect(page.locator("#group-notice")).to_contain_text("re-included")
    third.refresh_from_db()
    assert third.group_id is None and not third.is_group_excluded

    # Annotators see no Undo; staff do, and undo the propagation as a unit.
    expect(page.get_by_role("button", name=re.compile(r"^Undo operation"))).to_have_count(0)
    page.context.clear_cookies()
    page = log_in(staff_user)
    page.goto(live_server.url + reverse("groups:detail", args=[group.pk]))
    propagation = GroupOperation.objects.get(kind=OperationKind.PROPAGATE)
    page.get_by_role("button", name=f"Undo operation #{propagation.pk}").click()
    expect(page.locator(".messages")).to_contain_text(f"Operation #{propagation.pk} undone")
    expect(page.locator(f"#member-{second.pk}")).to_contain_text("to annotate")
    expect(page.locator(f"#operation-{propagation.pk}")).to_contain_text("undone by")
    assert annotation_of(second).processing_stage == ProcessingStage.READY_TO_ANNOTATE
    assert annotation_of(third).label_source is None
    assert annotation_of(first).label_source == LabelSource.HUMAN  # the human save stands


def test_keyboard_moves_between_groups_and_card_size_is_remembered(live_server, log_in, annotator):
    camera = CameraFactory()
    big, _ = grouped_alerts(3, camera=camera)
    small, _ = grouped_alerts(2, camera=camera)
    page = log_in(annotator)
    page.goto(live_server.url + reverse("groups:detail", args=[big.pk]) + "?tab=all")
    page.keyboard.press("j")
    page.wait_for_url(f"**{reverse('groups:detail', args=[small.pk])}?tab=all")
    page.keyboard.press("k")
    page.wait_for_url(f"**{reverse('groups:detail', args=[big.pk])}?tab=all")

    grid = page.locator("[data-card-grid]")
    expect(grid).to_have_attribute("data-size", "medium")
    page.get_by_role("button", name="Large").click()
    expect(grid).to_have_attribute("data-size", "large")
    page.reload()
    expect(page.locator("[data-card-grid]")).to_have_attribute("data-size", "large")
    expect(page.get_by_role("button", name="Large")).to_have_attribute("aria-pressed", "true")


def test_times_are_shown_in_local_time(live_server, log_in, annotator, browser):
    grouped_alerts(2, camera=CameraFactory())
    context = browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", annotator.username)
    page.fill("#id_password", "secret-password")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto(live_server.url + reverse("groups:list"))
    created = page.locator(".group-row time").first
    iso = created.get_attribute("datetime")
    assert iso.endswith("Z")
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Tokyo"))
    expect(created).to_have_text(f"{moment.day} {moment:%b %Y}")
    context.close()
