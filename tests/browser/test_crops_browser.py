"""Zoomed crops in a real browser: beside the full frame, the crop around the sequence's box on
the group page's member cards (following the card size), the check queue's cards and the
annotation page's frames."""

import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.factories import CameraFactory, imported_group, stamp
from tests.support.frames import PLUME_BOX, landscape_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# `SCREENSHOT_DIR=docs make test` refreshes the README's picture of a group page with its crops.
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")


def loaded_crops(page: Page, selector: str) -> list[int]:
    """The natural widths of the crop images under `selector` once they have loaded."""
    crops = page.locator(f"{selector} img[data-crop]")
    expect(crops.first).to_be_visible()
    for index in range(crops.count()):
        crops.nth(index).scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=crops.nth(index).element_handle()
        )
    return crops.evaluate_all("images => images.map(image => image.naturalWidth)")


def test_crops_beside_the_frames_on_the_three_pages(live_server, log_in, annotator):
    camera = CameraFactory(name="brison-01", organization__name="SDIS 07")
    group, members = imported_group(3, camera=camera, box=PLUME_BOX, frame=landscape_jpeg)
    page = log_in(annotator)

    page.goto(live_server.url + reverse("groups:detail", args=[group.pk]))
    expect(page.locator(".member-card")).to_have_count(3)
    assert loaded_crops(page, ".member-card") == [320, 320, 320]
    crop = page.locator(".member-card .crop").first
    frame = page.locator(".member-card .thumb").first
    # Side by side, the same height.
    crop_box, frame_box = crop.bounding_box(), frame.bounding_box()
    assert crop_box["x"] > frame_box["x"] + frame_box["width"] - 1
    assert abs(crop_box["height"] - frame_box["height"]) < 3
    # The card size applies to the frame and the crop alike.
    medium = crop_box["width"]
    page.get_by_role("button", name="Large").click()
    expect(page.locator("[data-card-grid]")).to_have_attribute("data-size", "large")
    assert crop.bounding_box()["width"] > medium * 1.2
    page.get_by_role("button", name="Small").click()
    assert crop.bounding_box()["width"] < medium
    if SCREENSHOT_DIR:
        page.get_by_role("button", name="Medium").click()
        loaded_crops(page, ".member-card")
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / "group-crops.png"))

    stamp(group, [member.pk for member in members])
    page.goto(live_server.url + reverse("groups:check"))
    expect(page.locator("[data-check-card]")).to_have_count(3)
    assert loaded_crops(page, "[data-check-card]") == [320, 320, 320]

    page.goto(live_server.url + reverse("sequences:annotate", args=[members[0].pk]))
    assert loaded_crops(page, ".player .frame.is-current") == [320]
    expect(page.locator(".frame.is-current .crop img")).to_have_attribute(
        "alt", f"Zoom on the box of sequence #{members[0].pk}, frame 1"
    )
