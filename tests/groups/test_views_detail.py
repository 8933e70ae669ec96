"""The group page (SPEC §6.3): header, member cards, removed members, history, navigation."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import GroupOperation, OperationKind
from groups.services import group_member_remove, group_validate
from sequences.models import ProcessingStage, SequenceAnnotation
from sequences.services import annotation_write
from tests.factories import (
    CameraFactory,
    DetectionFactory,
    SequenceFactory,
    fanned_out_group,
    group_with_members,
    human_label,
    predictions,
    smoke,
    stamp,
    tied_detections,
    validated,
)
from tests.support import count_queries, detail, pin_hold_back_thresholds, text_of

pytestmark = pytest.mark.django_db

DONE = ProcessingStage.SEQ_ANNOTATION_DONE


def href(url: str) -> str:
    """`url` as it stands in an HTML attribute."""
    return url.replace("&", "&amp;")


def card_html(html: str, sequence_id: int) -> str:
    match = re.search(
        rf'<article class="member-card[^"]*" id="member-{sequence_id}".*?</article>', html, re.S
    )
    assert match, f"no card for sequence {sequence_id}"
    return match.group(0)


# --- header and legend ---------------------------------------------------------------------------


def test_header_of_an_unvalidated_group(client_in):
    camera = CameraFactory(name="brison-01", organization__name="SDIS 07")
    group = group_with_members(3, camera=camera, azimuth=91)
    html = client_in.get(detail(group)).content.decode()
    text = text_of(html)
    assert f"Group #{group.pk} · camera brison-01 (SDIS 07) · azimuth 91° · 3 members" in text
    assert "unlabeled" in text
    assert "Validate group" in text
    assert "model prediction on the sequence's first image" in text
    assert "group reference region" in text
    assert "Click a thumbnail to annotate the sequence." in text
    assert "× removes a sequence from this group." in text
    assert "Validate the group so that one annotation labels all members." in text
    assert "This group is validated" not in text


def test_header_of_a_validated_labeled_group(client_in, annotator):
    group = group_with_members(2, is_unsure=True, **smoke("industrial"), **validated(annotator))
    text = text_of(client_in.get(detail(group)).content.decode())
    assert "smoke / industrial" in text and "unsure" in text
    assert f"Validated by {annotator.username} on" in text
    assert "Unvalidate" in text and "Validate group" not in text
    assert (
        "This group is validated: saving any member as done labels the group and updates every "
        "member not yet annotated." in text
    )


def test_unknown_group_is_404(client_in):
    assert client_in.get(reverse("groups:detail", args=[999])).status_code == 404


def test_previous_and_next_follow_the_list_order_and_keep_its_query(client_in):
    big = group_with_members(4, detections=False)
    middle = group_with_members(3, detections=False)
    small = group_with_members(2, detections=False)
    html = client_in.get(detail(middle, "tab=all")).content.decode()
    assert f'href="{detail(big, "tab=all")}" rel="prev"' in html
    assert f'href="{detail(small, "tab=all")}" rel="next"' in html
    assert f'href="{reverse("groups:list")}?tab=all" class="back-link"' in html
    # Ascending by members: the neighbours swap.
    html = client_in.get(detail(middle, "tab=all&dir=asc")).content.decode()
    assert f'href="{href(detail(small, "tab=all&dir=asc"))}" rel="prev"' in html
    assert f'href="{href(detail(big, "tab=all&dir=asc"))}" rel="next"' in html


# --- member cards --------------------------------------------------------------------------------


def test_members_in_recorded_order_with_links_and_remove_confirmation(client_in):
    group = group_with_members(0)
    now = timezone.now()
    late = SequenceFactory(camera=group.camera, group=group, recorded_at=now)
    early = SequenceFactory(camera=group.camera, group=group, recorded_at=now - timedelta(hours=2))
    html = client_in.get(detail(group)).content.decode()
    assert html.index(f'id="member-{early.pk}"') < html.index(f'id="member-{late.pk}"')
    card = card_html(html, early.pk)
    annotate = reverse("sequences:annotate", args=[early.pk]) + f"?group={group.pk}"
    assert f'href="{annotate}"' in card
    assert f"Sequence #{early.pk}" in text_of(card)
    confirm = (
        f"Remove sequence #{early.pk} from group #{group.pk}? It becomes a manual outlier: the "
        "assignment job will never put it back into a group automatically. Its annotation is not "
        "changed. You can undo this with Re-include (below, or on the sequence's page)."
    )
    assert re.search(r'hx-confirm="([^"]*)"', card).group(1).replace("&#x27;", "'") == confirm


def test_a_placeholder_member_shows_as_not_annotated(client_in):
    """SPEC §9.4 #10: a ready_to_annotate member is not annotated; its stage is shown."""
    group = group_with_members(2)
    member = group.members.first()
    annotation_write(
        sequence=member, processing_stage=ProcessingStage.READY_TO_ANNOTATE, source=None
    )
    card = card_html(client_in.get(detail(group)).content.decode(), member.pk)
    assert "is-locked" not in card
    assert "status-todo" in card and "status-done" not in card
    assert "Ready to annotate" in text_of(card) and "to annotate" in text_of(card)


def test_a_human_annotated_member_is_locked_and_done(client_in, annotator):
    group = group_with_members(2)
    member = group.members.first()
    detection = member.detections.get()
    annotation_write(
        sequence=member,
        annotation={
            "sequences_bbox": [
                {
                    "is_smoke": False,
                    "false_positive_types": ["antenna"],
                    "bboxes": [{"detection_id": detection.pk, "xyxyn": [0.1, 0.1, 0.4, 0.4]}],
                }
            ]
        },
        processing_stage=ProcessingStage.SEQ_ANNOTATION_DONE,
        has_missed_smoke=False,
        source="human",
        actor=annotator,
    )
    card = card_html(client_in.get(detail(group)).content.decode(), member.pk)
    assert 'class="member-card is-locked"' in card
    assert "status-done" in card
    text = text_of(card)
    assert "Sequence annotation done" in text and "FP / antenna" in text
    assert 'class="provenance provenance-human">human<' in card  # its source (SPEC §6.3)
    assert "unchecked" not in text


def test_machine_labels_show_provenance_and_check_state(client_in, annotator):
    group = group_with_members(3)
    first, second, third = group.members.order_by("recorded_at", "id")
    stamp(group, [first.pk, second.pk], kind=OperationKind.PROPAGATE, actor=annotator)
    SequenceAnnotation.objects.filter(sequence=second).update(
        checked_at=timezone.now(), checked_by=annotator
    )
    html = client_in.get(detail(group)).content.decode()
    first_text = text_of(card_html(html, first.pk))
    assert "propagated" in first_text and "unchecked" in first_text
    assert "smoke / wildfire" in first_text
    assert f"checked by {annotator.username}" in text_of(card_html(html, second.pk))
    assert "to annotate" in text_of(card_html(html, third.pk))


def test_thumbnail_overlays_in_percent(client_in):
    group = group_with_members(
        0, representative_bbox={"xyxyn": [0.1, 0.2, 0.3, 0.4], "confidence": 0.9}
    )
    member = SequenceFactory(camera=group.camera, group=group)
    detection = DetectionFactory(
        sequence=member,
        algo_predictions=predictions(
            ([0.5, 0.5, 0.75, 1.0], 0.8),
            ([0.9, 0.1, 0.2, 0.3], 0.7),  # inverted: not drawn
            ([0.2, 0.2, 1.5, 0.5], 0.6),  # out of range: not drawn
        ),
    )
    card = card_html(client_in.get(detail(group)).content.decode(), member.pk)
    assert f"/sequences/detections/{detection.pk}/image/?variant=thumb" in card
    assert 'loading="lazy"' in card
    predicted = re.findall(r'overlay-prediction" style="([^"]+)"', card)
    assert predicted == ["left:50.000%;top:50.000%;width:25.000%;height:50.000%"]
    reference = re.findall(r'overlay-reference" style="([^"]+)"', card)
    assert reference == ["left:10.000%;top:20.000%;width:20.000%;height:20.000%"]


def test_first_detection_with_equal_recorded_at_is_the_lower_id(client_in):
    """SPEC §9.4 #2: one card per member; its thumbnail is the lower detection id."""
    group = group_with_members(0)
    member = SequenceFactory(camera=group.camera, group=group)
    moment = timezone.now()
    lower, higher = tied_detections(member, moment)
    html = client_in.get(detail(group)).content.decode()
    assert html.count(f'id="member-{member.pk}"') == 1
    assert (
        f"/detections/{lower.pk}/image/" in html and f"/detections/{higher.pk}/image/" not in html
    )


def test_member_without_detections_says_no_image(client_in):
    group = group_with_members(1, detections=False)
    member = group.members.get()
    assert "No image" in text_of(
        card_html(client_in.get(detail(group)).content.decode(), member.pk)
    )


def test_empty_group(client_in):
    group = group_with_members(0)
    text = text_of(client_in.get(detail(group)).content.decode())
    assert "This group has no members." in text
    assert "0 members" in text


# --- removed members and history -----------------------------------------------------------------


def test_removed_section_lists_excluded_members_with_reinclude(client_in, annotator):
    group = group_with_members(3, detections=False)
    member = group.members.first()
    html = client_in.get(detail(group)).content.decode()
    assert re.search(r'id="removed-members"[^>]*hidden', html)
    group_member_remove(group_id=group.pk, sequence_id=member.pk, actor=annotator)
    html = client_in.get(detail(group)).content.decode()
    section = re.search(r'<section class="removed".*?</section>', html, re.S).group(0)
    text = text_of(section)
    assert "Removed from this group" in text and f"Sequence #{member.pk}" in text
    assert "Re-include" in text
    assert (
        "Re-included sequences wait for the next assignment run and may join this group or "
        "another." in text
    )
    assert reverse("groups:member_reinclude", args=[member.pk]) in section


def test_history_lists_operations_with_who_and_when(client_in, annotator, staff_user):
    group = group_with_members(2, detections=False)
    member = group.members.first()
    group_validate(group_id=group.pk, actor=annotator)
    group_member_remove(group_id=group.pk, sequence_id=member.pk, actor=staff_user)
    html = client_in.get(detail(group)).content.decode()
    history = text_of(re.search(r'<section class="history".*?</section>', html, re.S).group(0))
    assert "Validated the group" in history and annotator.username in history
    assert f"Removed sequence #{member.pk} from the group" in history
    assert history.index("Removed") < history.index("Validated")  # newest first
    assert "Undo" not in history  # annotators cannot undo


def test_staff_see_undo_on_undoable_events_only(client_in, staff_user):
    group = group_with_members(2, detections=False)
    outcome = group_validate(group_id=group.pk, actor=staff_user)
    client_in.force_login(staff_user)
    client_in.post(reverse("groups:operation_undo", args=[outcome.operation_id]))
    html = client_in.get(detail(group)).content.decode()
    undo_buttons = re.findall(r'aria-label="Undo operation #(\d+)"', html)
    assert undo_buttons == []  # the validation is undone and an undo cannot be undone
    assert f"undone by #{outcome.operation_id + 1}" in text_of(html)
    assert f"Undid operation #{outcome.operation_id} (validate)" in text_of(html)


def test_history_shows_checks_of_members_recorded_without_a_group(client_in, annotator):
    group = group_with_members(2)
    other = group_with_members(2)
    stamp(group, [group.members.first().pk])
    stamp(other, [other.members.first().pk])
    from groups.services import label_check_confirm

    ids = list(SequenceAnnotation.objects.values_list("pk", flat=True))
    outcome = label_check_confirm(annotation_ids=ids, actor=annotator)
    assert GroupOperation.objects.get(pk=outcome.operation_id).group_id is None
    text = text_of(client_in.get(detail(group)).content.decode())
    assert "Confirmed 2 machine labels" in text


# --- query count ---------------------------------------------------------------------------------


def test_group_page_query_count_does_not_grow_with_members(client_in, annotator):
    def build(n):
        group = group_with_members(n)
        members = list(group.members.order_by("id"))
        stamp(group, [m.pk for m in members[: n // 2]], actor=annotator)
        group_member_remove(group_id=group.pk, sequence_id=members[-1].pk, actor=annotator)
        return group

    few, many = build(3), build(30)
    assert count_queries(lambda: client_in.get(detail(few))) == count_queries(
        lambda: client_in.get(detail(many))
    )


# --- members held back from the group's label (issue 13) -----------------------------------------


def test_held_back_members_are_counted_in_the_header_and_explained_on_their_cards(
    client_in, settings
):
    pin_hold_back_thresholds(settings)
    group, saver, (verdict, ordinary, moving) = fanned_out_group(
        {"is_wildfire_alertapi": "wildfire_smoke"}, {}, {"motion": 0.1}
    )

    html = client_in.get(detail(group)).content.decode()

    assert "· 4 members · 2 held back" in text_of(html)
    assert text_of(card_html(html, verdict.pk)).endswith(
        "held back not labeled FP/antenna: the platform classed the alert wildfire_smoke"
    )
    assert "its box grows or moves like a plume (motion 0.100, labels wait from 0.025)" in (
        text_of(card_html(html, moving.pk))
    )
    for labeled in (saver, ordinary):
        assert "held back" not in text_of(card_html(html, labeled.pk))


def test_a_held_back_member_a_person_labeled_is_no_longer_held_back(client_in):
    group, _, (verdict, moving) = fanned_out_group(
        {"is_wildfire_alertapi": "wildfire_smoke"}, {"motion": 0.1}
    )

    human_label(verdict, verdict.detections.get(), stage=DONE, smoke_type="wildfire")

    html = client_in.get(detail(group)).content.decode()
    assert "· 3 members · 1 held back" in text_of(html)
    assert "held back" not in text_of(card_html(html, verdict.pk))


def test_an_unlabeled_group_holds_nobody_back(client_in):
    group = group_with_members(2)
    type(group.members.first()).objects.filter(group=group).update(motion=0.5)

    html = client_in.get(detail(group)).content.decode()

    assert "held back" not in text_of(html)


def test_group_page_with_held_back_members_costs_the_same_queries(client_in):
    def build(n):
        signals = ({"motion": 0.1 if index % 2 else 0.0} for index in range(n))
        return fanned_out_group(*signals)[0]

    few, many = build(2), build(20)
    assert count_queries(lambda: client_in.get(detail(few))) == count_queries(
        lambda: client_in.get(detail(many))
    )


def test_the_history_says_how_many_members_were_held_back(client_in):
    group, saver, _ = fanned_out_group({"motion": 0.1}, {"temporal_model_score": 0.9}, {})

    text = text_of(client_in.get(detail(group)).content.decode())

    assert (
        f"Saved sequence #{saver.pk} as FP/antenna and labeled the group; 1 other member "
        "updated; 2 held back" in text
    )
