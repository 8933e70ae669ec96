"""The check queue page (SPEC §5.9, issues 8 and 13): cards riskiest first, provenance, the
look-closely cards and their own confirm, confirm the others, "Not this", the badge."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from groups import selectors
from groups.models import GroupOperation, OperationKind
from sequences.models import LabelSource, ProcessingStage, Sequence, SequenceAnnotation
from tests.factories import fanned_out_group, group_with_members, stamp
from tests.support import (
    HX,
    annotation_of,
    count_queries,
    oob_ids,
    pin_hold_back_thresholds,
    text_of,
)

pytestmark = pytest.mark.django_db

CHECK = reverse("groups:check")


def check_badge(html: str) -> str:
    return re.search(r'id="nav-check-badge"[^>]*>(\d+)<', html).group(1)


def card_ids(response) -> list[int]:
    return [card.annotation.pk for card in response.context["cards"]]


def test_the_queue_reads_the_check_tallies_once_for_its_pages_and_badge(client_in):
    group = group_with_members(3)
    stamp(group, list(group.members.values_list("pk", flat=True)))
    with CaptureQueriesContext(connection) as queries:
        response = client_in.get(CHECK)
    reads = [q for q in queries.captured_queries if "groups_checktally" in q["sql"]]
    assert len(reads) == 1
    assert check_badge(response.content.decode()) == "3"
    assert len(response.context["cards"]) == 3


def test_cards_of_equal_risk_by_sequence_id_with_provenance(client_in, annotator, staff_user):
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
    # Smoke labels without a region to compare with: every risk is 0, the sequence id decides.
    rows = SequenceAnnotation.objects.order_by("sequence_id")
    assert set(rows.values_list("check_risk", flat=True)) == {0.0}
    expected = list(rows.values_list("pk", flat=True))
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
    first_detection = rows[0].sequence.detections.order_by("recorded_at", "id")[0]
    assert f"/detections/{first_detection.pk}/image/?variant=thumb" in card
    assert "overlay-prediction" in card and "overlay-reference" in card


def test_badge_counts_unchecked_machine_labels_everywhere(client_in):
    group = group_with_members(3)
    stamp(group, [m.pk for m in group.members.all()])
    SequenceAnnotation.objects.filter(pk=SequenceAnnotation.objects.first().pk).update(
        checked_at=timezone.now()
    )
    assert selectors.unchecked_count().total == 2
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
    assert selectors.unchecked_count().total == 0
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
    assert selectors.unchecked_count().total == 2


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


# --- riskiest first, and the look-closely cards (issue 13) ----------------------------------


def risky_members(settings, **levels):
    """Propagated FP/antenna labels of four risks: motion 0.005 (0.2), temporal score 0.45
    (0.9), no signal (0), motion 0.02 (0.8), with the thresholds pinned (motion 0.025, score 0.5,
    look closely from 0.5 unless `levels` say otherwise)."""
    pin_hold_back_thresholds(settings, **levels)
    _, _, members = fanned_out_group(
        {"motion": 0.005}, {"temporal_model_score": 0.45}, {}, {"motion": 0.02}
    )
    return [annotation_of(member) for member in members]


def confirm_form_ids(html: str) -> list[int]:
    form = re.search(r'<form[^>]*id="check-confirm-form".*?</form>', html, re.S).group(0)
    return [int(value) for value in re.findall(r'name="annotation_ids" value="(\d+)"', form)]


def card_markup(html: str, annotation_id: int) -> str:
    return re.search(rf'<article[^>]*id="check-{annotation_id}".*?</article>', html, re.S).group(0)


def look_closely_badge(html: str) -> str | None:
    found = re.search(r'id="nav-look-closely-badge"[^>]*>([^<]+)<', html)
    return found.group(1) if found else None


def test_cards_riskiest_first(client_in, settings):
    slight, scored, calm, moving = risky_members(settings)

    response = client_in.get(CHECK)

    assert card_ids(response) == [scored.pk, moving.pk, slight.pk, calm.pk]
    assert [card.look_closely for card in response.context["cards"]] == [True, True, False, False]


def test_a_look_closely_card_is_marked_with_its_reasons_in_words(client_in, settings):
    slight, scored, calm, moving = risky_members(settings)

    html = client_in.get(CHECK).content.decode()

    moving_card = text_of(card_markup(html, moving.pk))
    assert "Look closely" in moving_card
    assert (
        "Why: its box moves (motion 0.020; labels wait from 0.025); "
        "the platform gave no verdict." in moving_card
    )
    scored_card = text_of(card_markup(html, scored.pk))
    assert "Look closely" in scored_card
    assert "the temporal model scores it 0.45 (labels wait from 0.50)" in scored_card
    for calm_card in (card_markup(html, slight.pk), card_markup(html, calm.pk)):
        assert "Look closely" not in text_of(calm_card) and "Why:" not in text_of(calm_card)
        assert 'data-shortcut="c"' not in calm_card
    assert "2 to look at closely on this page" in text_of(html)


def test_confirm_these_n_leaves_the_look_closely_cards(client_in, settings):
    slight, scored, calm, moving = risky_members(settings)
    html = client_in.get(CHECK).content.decode()

    assert "Confirm these 2" in text_of(html)
    assert confirm_form_ids(html) == [slight.pk, calm.pk]

    response = client_in.post(
        reverse("groups:check_confirm"), {"annotation_ids": confirm_form_ids(html)}, **HX
    )

    after = response.content.decode()
    assert "Confirmed 2 labels." in text_of(after)
    assert card_ids(response) == [scored.pk, moving.pk]
    assert check_badge(after) == "2" and look_closely_badge(after) == "2 look closely"
    # Only look-closely cards are left: no page-wide confirm, each card has its own.
    assert 'id="check-confirm-form"' not in after
    assert "Every card on this page needs a close look: confirm them one by one." in text_of(after)
    assert after.count('data-shortcut="c"') == 2


def test_a_look_closely_card_is_confirmed_on_its_own(client_in, annotator, settings):
    _, scored, _, moving = risky_members(settings)
    html = client_in.get(CHECK).content.decode()
    card = card_markup(html, moving.pk)
    form = re.search(r'<form class="confirm-one-form".*?</form>', card, re.S).group(0)
    assert re.findall(r'name="annotation_ids" value="(\d+)"', form) == [str(moving.pk)]

    response = client_in.post(
        reverse("groups:check_confirm"), {"annotation_ids": [moving.pk]}, **HX
    )

    assert "Confirmed 1 label." in text_of(response.content.decode())
    moving.refresh_from_db()
    assert moving.checked_by == annotator
    assert moving.pk not in card_ids(response) and scored.pk in card_ids(response)
    assert look_closely_badge(response.content.decode()) == "1 look closely"


def test_the_badge_counts_look_closely_labels_separately(client_in, settings):
    html = client_in.get(reverse("groups:list")).content.decode()
    assert look_closely_badge(html) is None

    risky_members(settings)

    assert selectors.unchecked_count() == selectors.CheckCounts(total=4, look_closely=2)
    html = client_in.get(reverse("groups:list")).content.decode()
    assert check_badge(html) == "4" and look_closely_badge(html) == "2 look closely"
    assert re.search(r"Check\s*4\s*·\s*2 look closely", text_of(html))


def test_the_look_closely_level_is_the_setting(client_in, settings):
    slight, scored, calm, moving = risky_members(settings, look_closely=0.85)

    html = client_in.get(CHECK).content.decode()

    assert confirm_form_ids(html) == [moving.pk, slight.pk, calm.pk]
    assert look_closely_badge(html) == "1 look closely"
    # Reasons stay in words on a risky card below the level, without the marker.
    moving_card = text_of(card_markup(html, moving.pk))
    assert "Look closely" not in moving_card and "Why: its box moves" in moving_card


def test_check_page_with_look_closely_cards_costs_the_same_queries(client_in, annotator, settings):
    pin_hold_back_thresholds(settings)

    def build(n):
        fanned_out_group(
            *({"motion": 0.02 if index % 2 else 0.0} for index in range(n)), actor=annotator
        )

    build(2)
    few = count_queries(lambda: client_in.get(CHECK))
    build(20)
    many = count_queries(lambda: client_in.get(CHECK))
    assert selectors.unchecked_count() == selectors.CheckCounts(total=22, look_closely=11)
    assert few == many


def _plan(connection, sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_queue_and_the_badge_read_the_check_queue_index(postgres_only, settings):
    risky_members(settings)
    page = selectors.unchecked_machine_labels()[:24]

    plan = _plan(connection, *page.query.sql_with_params())

    # Walked in the index's own order: no sort of the annotations.
    assert "ann_check_queue_idx" in plan
    assert "Sort Key: sequences_sequenceannotation" not in plan
    # The badge: the tallies the database keeps, then the look-closely threshold's own
    # hundredth of risk, counted along the check queue's index.
    with CaptureQueriesContext(connection) as badge:
        selectors.unchecked_count()
    assert len(badge) == 2
    assert "groups_checktally" in badge.captured_queries[0]["sql"]
    edge_plan = _plan(connection, badge.captured_queries[1]["sql"], ())
    assert "ann_check_queue_idx" in edge_plan
