"""The check queue walked with the keyboard: J/K move, X is "Not this", Enter confirms."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from groups.models import GroupOperation, OperationKind
from sequences.models import ProcessingStage, SequenceAnnotation
from tests.factories import group_with_members, stamp

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
