"""Merging and splitting groups, and "Save and validate the group", in a real browser."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from groups.counters import counters_drift
from groups.models import SequenceGroup
from sequences.models import LabelSource, Sequence
from tests.factories import CameraFactory, imported_group
from tests.support import annotation_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# `SCREENSHOT_DIR=docs make test` refreshes the README's picture of the Merge page.
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")


def alerts_group(count: int, *, camera, **fields) -> tuple:
    """A group of `count` imported alerts an hour apart (`tests.factories.imported_group`)."""
    return imported_group(count, camera=camera, member_step=timedelta(hours=1), **fields)


def group_page(page: Page, live_server, group) -> None:
    page.goto(live_server.url + reverse("groups:detail", args=[group.pk]))


def test_merge_an_antenna_into_an_unlabeled_validated_group(live_server, log_in, annotator):
    camera = CameraFactory(name="brison-01")
    now = timezone.now()
    target, own = alerts_group(2, camera=camera, is_validated=True, validated_at=now)
    antenna, came = alerts_group(
        2,
        camera=camera,
        box=[0.42, 0.38, 0.52, 0.52],
        false_positive_type="antenna",
        labeled_at=now,
    )
    far, _ = alerts_group(1, camera=camera, box=[0.05, 0.05, 0.1, 0.1])

    page = log_in(annotator)
    group_page(page, live_server, target)
    page.keyboard.press("m")  # the Merge page
    page.wait_for_url(f"**{reverse('groups:merge', args=[target.pk])}")
    candidates = page.locator("[data-candidate]")
    expect(candidates).to_have_count(2)
    # Most overlapping first, each with its previews and label.
    expect(candidates.nth(0)).to_have_attribute("data-candidate", str(antenna.pk))
    expect(candidates.nth(1)).to_have_attribute("data-candidate", str(far.pk))
    expect(candidates.nth(0).locator(".preview img")).to_have_count(2)
    expect(candidates.nth(0)).to_contain_text("antenna")
    if SCREENSHOT_DIR:
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / "group-merge.png"), full_page=True)

    candidates.nth(0).get_by_role("button", name=f"Merge #{antenna.pk} into this group").click()

    page.wait_for_url(f"**{reverse('groups:detail', args=[target.pk])}")
    expect(page.locator(".messages")).to_contain_text(
        f"Group #{antenna.pk} merged into this group: 2 members moved. This group took its "
        "label, FP/antenna. 2 members updated with the label."
    )
    expect(page.locator("#group-member-count")).to_have_text("4 members")
    expect(page.locator("#group-header")).to_contain_text("antenna")
    for member in own:
        card = page.locator(f"#member-{member.pk}")
        expect(card).to_contain_text("propagated")
        expect(card).to_contain_text("unchecked")
    for member in came:
        expect(page.locator(f"#member-{member.pk}")).to_be_visible()
    expect(page.locator("#group-history")).to_contain_text(
        f"Merged group #{antenna.pk} into this group (2 members moved) and took its label"
    )
    # The merged group's page points to where its members went.
    group_page(page, live_server, antenna)
    expect(page.locator("#group-merged")).to_contain_text(f"merged into group #{target.pk}")
    assert counters_drift() == []


def test_merging_two_different_labels_is_refused_with_the_reason(live_server, log_in, annotator):
    camera = CameraFactory()
    now = timezone.now()
    wildfire, _ = alerts_group(2, camera=camera, smoke_type="wildfire", labeled_at=now)
    building, members = alerts_group(
        2, camera=camera, false_positive_type="building", labeled_at=now
    )

    page = log_in(annotator)
    page.goto(live_server.url + reverse("groups:merge", args=[wildfire.pk]))
    page.get_by_role("button", name=f"Merge this group into #{building.pk}").click()

    page.wait_for_url(f"**{reverse('groups:merge', args=[wildfire.pk])}")
    expect(page.locator(".messages")).to_contain_text(
        f"Group {wildfire.pk} is labeled smoke/wildfire and group {building.pk} FP/building: "
        "groups with different labels cannot be merged."
    )
    assert set(Sequence.objects.filter(group=building).values_list("pk", flat=True)) == {
        member.pk for member in members
    }


def test_split_members_chosen_with_the_keyboard(live_server, log_in, annotator):
    group, members = alerts_group(5, camera=CameraFactory())
    page = log_in(annotator)
    group_page(page, live_server, group)
    split = page.locator("[data-split-button]")
    expect(split).to_be_disabled()

    # Tick the second member, extend to the fourth with Shift+arrows, then drop the third.
    boxes = page.locator("[data-select-member]")
    boxes.nth(1).focus()
    page.keyboard.press("Space")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator("[data-selected-count]")).to_have_text("3 selected")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Space")
    expect(page.locator("[data-selected-count]")).to_have_text("2 selected")
    expect(page.locator(f"#member-{members[1].pk}")).to_have_class(re.compile(r"\bis-selected\b"))
    page.keyboard.press("s")

    page.wait_for_url(re.compile(rf"/groups/(?!{group.pk}/)\d+/$"))
    new = SequenceGroup.objects.exclude(pk=group.pk).get()
    assert page.url.endswith(reverse("groups:detail", args=[new.pk]))
    expect(page.locator(".messages")).to_contain_text(
        f"2 members split off group #{group.pk} into this new group"
    )
    expect(page.locator("#group-member-count")).to_have_text("2 members")
    moved = {members[1].pk, members[3].pk}
    assert set(Sequence.objects.filter(group=new).values_list("pk", flat=True)) == moved

    # Shift+click ticks a range; Esc clears the selection.
    group_page(page, live_server, group)
    boxes = page.locator("[data-select-member]")
    expect(boxes).to_have_count(3)
    boxes.nth(0).click()
    boxes.nth(2).click(modifiers=["Shift"])
    expect(page.locator("[data-selected-count]")).to_have_text("3 selected")
    page.keyboard.press("Escape")
    expect(page.locator("[data-selected-count]")).to_have_text("")
    assert counters_drift() == []


def test_save_and_validate_the_group_from_the_annotation_page(live_server, log_in, annotator):
    group, members = alerts_group(3, camera=CameraFactory())
    first, *others = members
    page = log_in(annotator)
    group_page(page, live_server, group)
    page.locator(f"#member-{first.pk} .member-link").click()
    page.wait_for_url(re.compile(rf"/sequences/{first.pk}/annotate/\?group={group.pk}$"))
    expect(
        page.get_by_role("button", name=re.compile("^Save and validate the group"))
    ).to_be_visible()

    page.keyboard.press("a")  # FP antenna on the active cluster
    page.keyboard.press("n")  # no missed smoke
    page.keyboard.press("v")  # save and validate the group

    # Every other member got the label, so the page goes back to the group.
    page.wait_for_url(re.compile(rf"/groups/{group.pk}/$"))
    expect(page.locator(".messages")).to_contain_text(f"Group #{group.pk} validated")
    expect(page.locator(".pill-validated")).to_contain_text(f"Validated by {annotator.username}")
    for member in others:
        card = page.locator(f"#member-{member.pk}")
        expect(card).to_contain_text("propagated")
        expect(card).to_contain_text("unchecked")
        assert annotation_of(member).label_source == LabelSource.PROPAGATED
    group.refresh_from_db()
    assert group.is_validated and group.validated_by == annotator
    assert group.false_positive_type == "antenna"
