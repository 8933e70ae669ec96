"""The check queue walked with the keyboard: J/K move, X is "Not this", C confirms a look-closely
card on its own, Enter confirms the others."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from groups.models import GroupOperation, OperationKind
from sequences.models import ProcessingStage, SequenceAnnotation
from tests.factories import fanned_out_group, group_with_members, stamp
from tests.support import annotation_of, pin_hold_back_thresholds

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_walk_a_page_of_the_queue_with_the_keyboard(live_server, log_in, annotator):
    group = group_with_members(4)
    members = list(group.members.order_by("recorded_at", "id"))
    stamp(group, [member.pk for member in members])
    rows = {row.sequence_id: row.pk for row in SequenceAnnotation.objects.all()}

    page = log_in(annotator)
    page.goto(live_server.url + reverse("groups:check"))
    cards = page.locator("[data-check-card]")
    expect(cards).to_have_count(4)
    expect(page.locator("#nav-check-badge")).to_have_text("4")
    expect(page.get_by_role("button", name="Confirm these 4")).to_be_visible()
    expect(cards.first).to_contain_text("inherited on")

    page.keyboard.press("j")
    expect(cards.nth(0)).to_be_focused()
    page.keyboard.press("j")
    expect(cards.nth(1)).to_be_focused()
    page.keyboard.press("k")
    expect(cards.nth(0)).to_be_focused()

    # X: the focused card is "not this"; the queue redraws and focus stays in place.
    page.keyboard.press("x")
    expect(cards).to_have_count(3)
    expect(page.locator(f"#check-{rows[members[0].pk]}")).to_have_count(0)
    expect(page.locator("#nav-check-badge")).to_have_text("3")
    expect(page.locator("#check-notice")).to_contain_text(f"Sequence #{members[0].pk} left")
    expect(cards.nth(0)).to_be_focused()

    # Enter confirms the rest of the page.
    page.keyboard.press("Enter")
    expect(page.locator(".empty-state")).to_have_text(
        "Nothing to check: every machine-applied label has been confirmed."
    )
    expect(page.locator("#nav-check-badge")).to_have_text("0")

    rejected = members[0]
    rejected.refresh_from_db()
    assert rejected.group_id is None and rejected.is_group_excluded
    row = SequenceAnnotation.objects.get(sequence=rejected)
    assert row.processing_stage == ProcessingStage.READY_TO_ANNOTATE
    checked = SequenceAnnotation.objects.filter(checked_by=annotator)
    assert sorted(checked.values_list("sequence_id", flat=True)) == [m.pk for m in members[1:]]
    kinds = list(GroupOperation.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == [OperationKind.INHERIT, OperationKind.REJECT, OperationKind.CHECK]


def test_look_closely_cards_come_first_and_are_confirmed_one_by_one(
    live_server, log_in, annotator, settings
):
    pin_hold_back_thresholds(settings)  # motion from 0.025, score from 0.5, look closely from 0.5
    # Propagated FP labels: motion 0.02 (risk 0.8), none (0), temporal score 0.45 (0.9), none.
    _, _, members = fanned_out_group({"motion": 0.02}, {}, {"temporal_model_score": 0.45}, {})
    moving, calm, scored, quiet = (annotation_of(member) for member in members)

    page = log_in(annotator)
    page.goto(live_server.url + reverse("groups:check"))
    cards = page.locator("[data-check-card]")
    expect(cards).to_have_count(4)
    expect(cards.nth(0)).to_have_attribute("id", f"check-{scored.pk}")
    expect(cards.nth(1)).to_have_attribute("id", f"check-{moving.pk}")
    expect(cards.nth(0)).to_contain_text("Look closely")
    expect(cards.nth(1)).to_contain_text("Why: its box moves (motion 0.020")
    expect(cards.nth(2)).not_to_contain_text("Look closely")
    expect(page.locator("#nav-check-badge")).to_have_text("4")
    expect(page.locator("#nav-look-closely-badge")).to_have_text("2 look closely")
    expect(page.get_by_role("button", name="Confirm these 2")).to_be_visible()

    # C confirms the focused look-closely card, alone.
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(cards.nth(1)).to_be_focused()
    page.keyboard.press("c")
    expect(page.locator(f"#check-{moving.pk}")).to_have_count(0)
    expect(cards).to_have_count(3)
    expect(page.locator("#check-notice")).to_have_text("Confirmed 1 label.")
    expect(page.locator("#nav-look-closely-badge")).to_have_text("1 look closely")
    # Focus stays at the same place: an ordinary card, which C does not confirm.
    expect(cards.nth(1)).to_be_focused()
    page.keyboard.press("c")

    # Enter confirms the others and leaves the look-closely card.
    page.keyboard.press("Enter")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("id", f"check-{scored.pk}")
    expect(page.locator("#nav-check-badge")).to_have_text("1")
    expect(page.locator("#check-confirm-none")).to_have_text(
        "Every card on this page needs a close look: confirm them one by one."
    )

    checked = SequenceAnnotation.objects.filter(checked_by=annotator)
    assert set(checked.values_list("pk", flat=True)) == {moving.pk, calm.pk, quiet.pk}
    checks = GroupOperation.objects.filter(kind=OperationKind.CHECK).order_by("pk")
    assert [operation.members.count() for operation in checks] == [1, 2]


def test_cards_of_the_queue_take_the_card_size_the_browser_remembers(
    live_server, log_in, annotator
):
    group = group_with_members(3)
    stamp(group, list(group.members.values_list("pk", flat=True)))

    page = log_in(annotator)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(live_server.url + reverse("groups:check"))
    cards = page.locator("[data-check-card]")
    expect(cards).to_have_count(3)
    medium = cards.first.bounding_box()["width"]

    page.get_by_role("button", name="Large").click()
    expect(page.get_by_role("button", name="Large")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".check-grid")).to_have_attribute("data-size", "large")
    assert cards.first.bounding_box()["width"] > medium

    # Remembered: the group page opens with large cards too, and the queue after a reload.
    page.reload()
    expect(page.locator(".check-grid")).to_have_attribute("data-size", "large")
    page.goto(live_server.url + reverse("groups:detail", args=[group.pk]))
    expect(page.locator(".member-grid")).to_have_attribute("data-size", "large")
    expect(page.get_by_role("button", name="Large")).to_have_attribute("aria-pressed", "true")
