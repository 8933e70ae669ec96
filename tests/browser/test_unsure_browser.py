"""The Unsure tab in a real browser: a member of a validated group saved Unsure without a label
from the annotation page moves the group from "To label" to the Unsure tab (its count, a neutral
chip); a label saved later wins and the group goes to Labeled."""

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.factories import CameraFactory, imported_group
from tests.support.frames import PLUME_BOX, landscape_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# `SCREENSHOT_DIR=docs make test` refreshes the README's picture of the Unsure tab.
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")


def tab(page: Page, name: str):
    return page.locator("#group-tabs").get_by_role("link", name=re.compile(rf"^{name} \d+$"))


def open_tab(page: Page, name: str) -> None:
    tab(page, name).click()
    expect(tab(page, name)).to_have_attribute("aria-current", "page")


def annotate_from_the_group(page: Page, live_server, group, member) -> None:
    """Open `member`'s annotation page from its group page."""
    page.goto(live_server.url + reverse("groups:detail", args=[group.pk]))
    page.locator(f"#member-{member.pk} .member-link").click()
    page.wait_for_url(re.compile(rf"/sequences/{member.pk}/annotate/\?group={group.pk}$"))


def test_unsure_without_a_label_moves_the_group_to_the_unsure_tab_until_a_label_wins(
    live_server, log_in, annotator
):
    camera = CameraFactory(name="brison-01", organization__name="SDIS 07")
    group, members = imported_group(
        3,
        camera=camera,
        box=PLUME_BOX,
        frame=landscape_jpeg,
        is_validated=True,
        validated_at=timezone.now(),
        validated_by=annotator,
    )
    other, _ = imported_group(2, camera=camera, box=[0.74, 0.2, 0.8, 0.42], frame=landscape_jpeg)

    page = log_in(annotator)
    annotate_from_the_group(page, live_server, group, members[0])
    # Unsure, no smoke type and no answer to the question: the save goes through.
    page.locator("label.unsure-toggle").click()
    expect(page.locator("label.unsure-toggle input")).to_be_checked()
    page.get_by_role("button", name=re.compile(r"^Save")).first.click()
    expect(page.locator(".messages")).to_contain_text(f"Sequence #{members[0].pk} saved")

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile(r"^Groups")
    ).click()
    # The navigation's badge and the To-label tab count only the other group.
    expect(page.locator("#nav-groups-badge")).to_have_text("1")
    expect(tab(page, "To label")).to_have_text(re.compile(r"To label\s+1"))
    expect(tab(page, "Unsure")).to_have_text(re.compile(r"Unsure\s+1"))
    expect(page.locator(".group-row")).to_have_count(1)
    expect(page.locator(f"#group-row-{other.pk}")).to_be_visible()

    open_tab(page, "Unsure")
    expect(page.locator(".group-row")).to_have_count(1)
    row = page.locator(f"#group-row-{group.pk}")
    chip = row.locator(".chip", has_text="unsure")
    expect(chip).to_have_attribute("title", "Marked unsure, no label yet")
    expect(chip).to_have_class(re.compile(r"\bchip-unsure-state\b"))  # neutral, not a warning
    expect(row.locator(".chip-none")).to_have_count(0)  # no "unlabeled" chip beside it
    if SCREENSHOT_DIR:
        page.screenshot(
            path=str(Path(SCREENSHOT_DIR) / "groups-unsure.png"),
            clip={"x": 0, "y": 0, "width": 1440, "height": 320},
        )

    # The group's page says the same, and its history records the change.
    row.get_by_role("link", name=f"#{group.pk}").click()
    page.wait_for_url(re.compile(rf"{reverse('groups:detail', args=[group.pk])}\?tab=unsure"))
    expect(page.locator("#group-header .chip-unsure-state")).to_have_text("unsure")
    expect(page.locator("#group-history")).to_contain_text(
        f"Saved sequence #{members[0].pk} as unsure without a label: the group is unsure"
    )

    # A label saved later wins: the group leaves the Unsure tab for Labeled.
    annotate_from_the_group(page, live_server, group, members[1])
    expect(page.get_by_role("link", name=re.compile(r"^Member of group"))).to_have_text(
        f"Member of group #{group.pk} (validated · unsure)"
    )
    for card in page.locator("[data-cluster-card]").all():
        card.locator("label.smoke-choice", has_text="Wildfire").click()
    page.locator("#missed-smoke label", has_text="No").click()
    page.get_by_role("button", name=re.compile(r"^Save")).first.click()
    page.wait_for_url(lambda url: f"/sequences/{members[1].pk}/" not in url)

    page.goto(live_server.url + reverse("groups:list"))
    expect(tab(page, "Unsure")).to_have_text(re.compile(r"Unsure\s+0"))
    expect(tab(page, "Labeled")).to_have_text(re.compile(r"Labeled\s+1"))
    open_tab(page, "Labeled")
    row = page.locator(f"#group-row-{group.pk}")
    expect(row).to_contain_text("smoke / wildfire")
    expect(row.locator(".chip-unsure-state")).to_have_count(0)
