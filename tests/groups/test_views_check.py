"""The check queue page (SPEC §5.9, issue 8): cards, provenance, confirm, "Not this", badge."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups import selectors
from groups.models import GroupOperation, OperationKind
from sequences.models import LabelSource, ProcessingStage, Sequence, SequenceAnnotation
from tests.factories import group_with_members, stamp
from tests.support import HX, count_queries, oob_ids, text_of

pytestmark = pytest.mark.django_db

CHECK = reverse("groups:check")


def check_badge(html: str) -> str:
    return re.search(r'id="nav-check-badge"[^>]*>(\d+)<', html).group(1)


def card_ids(response) -> list[int]:
    return [card.annotation.pk for card in response.context["cards"]]


def test_cards_by_group_then_recorded_at_with_provenance(client_in, annotator, staff_user):
    first = group_with_members(2)
    second = group_with_members(2)
    older, newer = first.members.order_by("recorded_at", "id")
    Sequence.objects.filter(pk=older.pk).update(recorded_at=timezone.now())
    Sequence.objects.filter(pk=newer.pk).update(recorded_at=timezone.now() - timedelta(days=2))
    source = second.members.order_by("id")[0]
    stamp(first, [older.pk, newer.pk], kind=OperationKind.INHERIT)
    stamp(
        second,
        [second.members.order_by("id")[1].pk],
        kind=OperationKind.PROPAGATE,
        actor=annotator,
        details={"source_sequence_id": source.pk},
    )
    loose = group_with_members(2)
    stamp(loose, [loose.members.order_by("id")[0].pk], kind=OperationKind.BULK, actor=staff_user)

    response = client_in.get(CHECK)
    assert response.status_code == 200
    expected = [
        SequenceAnnotation.objects.get(sequence=sequence).pk
        for sequence in (newer, older, second.members.order_by("id")[1])
    ] + [SequenceAnnotation.objects.get(sequence__group=loose).pk]
    assert card_ids(response) == expected
    html = response.content.decode()
    text = text_of(html)
    assert "inherited on" in text
    assert f"propagated from sequence #{source.pk} by {annotator.username}" in text
    assert f"bulk by {staff_user.username}" in text
    assert "smoke / wildfire" in text
    assert "Confirm these 4" in text
    assert check_badge(html) == "4"
    # Each card shows the sequence's first image with its boxes and the group's region.
    card = re.search(rf'id="check-{expected[0]}".*?</article>', html, re.S).group(0)
    first_detection = newer.detections.order_by("recorded_at", "id")[0]
    assert f"/detections/{first_detection.pk}/image/?variant=thumb" in card
    assert "overlay-prediction" in card and "overlay-reference" in card


def test_badge_counts_unchecked_machine_labels_everywhere(client_in):
    group = group_with_members(3)
    stamp(group, [m.pk for m in group.members.all()])
    SequenceAnnotation.objects.filter(pk=SequenceAnnotation.objects.first().pk).update(
        checked_at=timezone.now()
    )
    assert selectors.unchecked_count() == 2
    assert check_badge(client_in.get(reverse("groups:list")).content.decode()) == "2"


def test_confirm_checks_exactly_the_listed_cards(client_in, annotator):
    group = group_with_members(3)
    stamp(group, [m.pk for m in group.members.all()])
    ids = list(SequenceAnnotation.objects.order_by("pk").values_list("pk", flat=True))
    response = client_in.post(reverse("groups:check_confirm"), {"annotation_ids": ids[:2]}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="check-queue" id="check-queue"')
    assert oob_ids(html) == {"topbar"}
    assert check_badge(html) == "1"
    assert "Confirmed 2 labels." in text_of(html)
    checked = SequenceAnnotation.objects.filter(checked_at__isnull=False)
    assert sorted(checked.values_list("pk", flat=True)) == ids[:2]
    assert set(checked.values_list("checked_by", flat=True)) == {annotator.pk}
    assert GroupOperation.objects.filter(kind=OperationKind.CHECK).count() == 1
    assert "Confirm these 1" in text_of(html)


def test_confirm_without_htmx_redirects_to_the_same_page(client_in):
    group = group_with_members(2)
    stamp(group, [m.pk for m in group.members.all()])
    ids = list(SequenceAnnotation.objects.values_list("pk", flat=True))
    response = client_in.post(reverse("groups:check_confirm") + "?page=2", {"annotation_ids": ids})
    assert response.status_code == 302 and response["Location"] == f"{CHECK}?page=2"
    assert selectors.unchecked_count() == 0
    assert client_in.get(CHECK).content.decode().count("Nothing to check") == 1


def test_confirm_with_a_bad_body_changes_nothing(client_in):
    group = group_with_members(2)
    stamp(group, [m.pk for m in group.members.all()])
    response = client_in.post(reverse("groups:check_confirm"), {"annotation_ids": ["x"]}, **HX)
    assert response.status_code == 200
    assert "Nothing to confirm: the page sent no valid annotation ids." in text_of(
        response.content.decode()
    )
    unknown = client_in.post(reverse("groups:check_confirm"), {"annotation_ids": [999]}, **HX)
    assert "Sequence annotations [999] not found" in text_of(unknown.content.decode())
    assert selectors.unchecked_count() == 2


def test_not_this_ejects_the_sequence_and_reverts_its_label(client_in):
    group = group_with_members(3)
    member = group.members.order_by("id")[0]
    stamp(group, [m.pk for m in group.members.all()])
    response = client_in.post(reverse("groups:check_reject"), {"sequence_id": member.pk}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and check_badge(html) == "2"
    assert f"Sequence #{member.pk} left its group" in text_of(html)
    assert f'data-sequence-id="{member.pk}"' not in html
    member.refresh_from_db()
    assert member.group_id is None and member.is_group_excluded
    row = SequenceAnnotation.objects.get(sequence=member)
    assert row.processing_stage == ProcessingStage.READY_TO_ANNOTATE
    assert row.label_source is None
    # The group page offers it back in its Removed section.
    detail = client_in.get(reverse("groups:detail", args=[group.pk])).content.decode()
    assert f'id="removed-{member.pk}"' in detail


def test_not_this_twice_explains_instead_of_failing(client_in):
    group = group_with_members(2)
    member = group.members.order_by("id")[0]
    stamp(group, [member.pk])
    client_in.post(reverse("groups:check_reject"), {"sequence_id": member.pk})
    response = client_in.post(reverse("groups:check_reject"), {"sequence_id": member.pk})
    # Without htmx an invalid form answers the page again, 200, with the reason on it.
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="check-notice"' in html and "notice-error" in html
    assert f"sequence {member.pk} does not carry an unchecked machine label" in text_of(html)


def test_confirm_without_ids_answers_the_queue_with_the_reason(client_in):
    response = client_in.post(reverse("groups:check_confirm"), {})
    assert response.status_code == 200
    assert "Nothing to confirm: the page sent no valid annotation ids." in text_of(
        response.content.decode()
    )


def test_pages_of_the_queue(client_in, settings):
    settings.GROUPS_CHECK_PAGE_SIZE = 5
    group = group_with_members(8)
    stamp(group, [m.pk for m in group.members.all()])
    first = client_in.get(CHECK)
    assert len(card_ids(first)) == 5
    text = text_of(first.content.decode())
    assert "Confirm these 5" in text
    assert "Previous · Page 1 of 2 · Next" in text
    client_in.post(reverse("groups:check_confirm"), {"annotation_ids": card_ids(first)})
    rest = client_in.get(CHECK)
    assert len(card_ids(rest)) == 3
    assert "Page 1 of" not in text_of(rest.content.decode())


def test_empty_queue(client_in):
    text = text_of(client_in.get(CHECK).content.decode())
    assert "Nothing to check: every machine-applied label has been confirmed." in text


def test_human_labels_are_not_in_the_queue(client_in, annotator, seed_group, human_save, world):
    seed_group(validated=True)
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=annotator)
    response = client_in.get(CHECK)
    rows = SequenceAnnotation.objects.filter(label_source=LabelSource.PROPAGATED)
    assert card_ids(response) == list(rows.values_list("pk", flat=True))


def test_check_page_query_count_does_not_grow(client_in, annotator):
    def build(n):
        group = group_with_members(n)
        ids = [m.pk for m in group.members.all()]
        stamp(group, ids[: n // 2], kind=OperationKind.PROPAGATE, actor=annotator)
        # Operation rows deleted since (SET NULL): these cards name the annotations' writer.
        stamp(group, ids[n // 2 :], kind=OperationKind.BULK, actor=annotator).delete()

    build(3)
    few = count_queries(lambda: client_in.get(CHECK))
    build(30)
    many = count_queries(lambda: client_in.get(CHECK))
    assert SequenceAnnotation.objects.count() == 33
    assert few == many
