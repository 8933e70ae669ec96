"""Group page actions: plain POST forms (redirect back) enhanced by htmx (fragments with the
header and navigation badges out of band, SPEC §9.4 #17)."""

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from groups.models import GroupOperation, OperationKind
from groups.services import group_member_remove
from sequences.models import ProcessingStage, Sequence, SequenceAnnotation
from tests.factories import SequenceFactory, fanned_out_group, group_with_members, smoke
from tests.support import HX, annotation_of, detail, oob_ids, text_of

pytestmark = pytest.mark.django_db


def nav_badge(html: str, badge: str = "groups") -> str:
    return re.search(rf'id="nav-{badge}-badge"[^>]*>(\d+)<', html).group(1)


def flash(response) -> str:
    """The message the request added (earlier unread ones stay queued before it)."""
    return [str(message) for message in get_messages(response.wsgi_request)][-1]


# --- validate / unvalidate ----------------------------------------------------------------------


def test_validate_without_htmx_redirects_back_with_the_list_query(client_in, annotator):
    group = group_with_members(2, detections=False)
    url = reverse("groups:validate", args=[group.pk]) + "?tab=all&sort=camera"
    response = client_in.post(url)
    assert response.status_code == 302
    assert response["Location"] == detail(group, "tab=all&sort=camera")
    group.refresh_from_db()
    assert group.is_validated and group.validated_by == annotator
    assert flash(response) == "Group validated. Save one member as done to label the whole group."


def test_validate_with_htmx_returns_the_header_and_badges_out_of_band(
    client_in, annotator, seed_group, human_save, world
):
    """Derive on validate labels the group: the To-label badge drops in the same answer."""
    group = seed_group()
    other = group_with_members(2, detections=False)
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=annotator)
    before = client_in.get(detail(group)).content.decode()
    assert nav_badge(before) == "2" and nav_badge(before, "check") == "0"

    response = client_in.post(reverse("groups:validate", args=[group.pk]), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    # The main fragment is the header (swapped into #group-header), not out of band.
    assert html.lstrip().startswith('<section class="group-header" id="group-header"')
    assert 'id="group-header" aria-labelledby="group-title" hx-swap-oob' not in html
    assert oob_ids(html) == {"topbar", "group-history", "group-members"}
    text = text_of(html)
    assert "Group validated · labeled smoke/wildfire · 1 member updated." in text
    assert "smoke / wildfire" in text and "Unvalidate" in text
    assert nav_badge(html) == "1"
    assert nav_badge(html, "check") == "1"  # the member labeled by the fan-out awaits a check
    assert other.pk  # still unlabeled, still counted


def test_validate_with_disagreeing_members_shows_the_warning(
    client_in, annotator, seed_group, human_save, world
):
    group = seed_group()
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=annotator)
    human_save(world.seq2, detection=world.det3, smoke_type="industrial", actor=annotator)
    html = client_in.post(reverse("groups:validate", args=[group.pk]), **HX).content.decode()
    text = text_of(html)
    assert f"Group {group.pk} was validated but not labeled" in text
    assert "notice-warning" in html
    assert oob_ids(html) == {"topbar", "group-history"}


def test_unvalidate_keeps_the_label(client_in, annotator):
    group = group_with_members(2, detections=False, **smoke(), is_validated=False)
    client_in.post(reverse("groups:validate", args=[group.pk]))
    response = client_in.post(reverse("groups:unvalidate", args=[group.pk]), **HX)
    group.refresh_from_db()
    assert not group.is_validated and group.smoke_type == "wildfire"
    assert "Group unvalidated. Its label stays." in text_of(response.content.decode())
    assert "Validate group" in text_of(response.content.decode())


def test_revalidating_changes_nothing_and_says_so(client_in):
    group = group_with_members(2, detections=False)
    client_in.post(reverse("groups:validate", args=[group.pk]))
    response = client_in.post(reverse("groups:validate", args=[group.pk]), **HX)
    assert "This group was already validated; nothing changed." in text_of(
        response.content.decode()
    )
    assert GroupOperation.objects.filter(kind=OperationKind.VALIDATE).count() == 1


def test_validate_unknown_group_is_404(client_in):
    assert client_in.post(reverse("groups:validate", args=[999])).status_code == 404
    assert client_in.post(reverse("groups:validate", args=[999]), **HX).status_code == 404


def test_actions_refuse_get(client_in):
    group = group_with_members(2, detections=False)
    assert client_in.get(reverse("groups:validate", args=[group.pk])).status_code == 405


# --- remove --------------------------------------------------------------------------------------


def test_remove_with_htmx_drops_the_card_and_updates_header_removed_and_badge(client_in):
    group = group_with_members(2, detections=False)
    group_with_members(2, detections=False)
    member = group.members.first()
    response = client_in.post(
        reverse("groups:member_remove", args=[group.pk, member.pk]) + "?tab=all", **HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    # Nothing before the first out-of-band element: the swapped card is replaced by nothing.
    assert html.lstrip().startswith("<section") and 'hx-swap-oob="true"' in html.split(">")[0]
    assert oob_ids(html) == {"group-header", "removed-members", "group-history", "topbar"}
    text = text_of(html)
    assert "1 member" in text and f"Sequence #{member.pk} removed from this group." in text
    assert "Removed from this group" in text
    # The group fell below the listing minimum: the badge counts only the other group.
    assert nav_badge(html) == "1"
    member.refresh_from_db()
    assert member.group_id is None and member.is_group_excluded
    # Links inside the fragments keep the list's query string.
    assert f'href="{reverse("groups:list")}?tab=all"' in html


def test_removing_the_last_member_redraws_the_empty_grid(client_in):
    group = group_with_members(1, detections=False)
    member = group.members.get()
    html = client_in.post(
        reverse("groups:member_remove", args=[group.pk, member.pk]), **HX
    ).content.decode()
    assert "group-members" in oob_ids(html)
    assert "This group has no members." in text_of(html)


def test_remove_without_htmx_redirects(client_in):
    group = group_with_members(2, detections=False)
    member = group.members.first()
    response = client_in.post(reverse("groups:member_remove", args=[group.pk, member.pk]))
    assert response.status_code == 302 and response["Location"] == detail(group)
    assert flash(response) == f"Sequence #{member.pk} removed from this group."


def test_removing_a_non_member_explains_and_redraws_the_page(client_in):
    group = group_with_members(2, detections=False)
    stranger = SequenceFactory()
    url = reverse("groups:member_remove", args=[group.pk, stranger.pk])
    response = client_in.post(url, **HX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#group-header"
    html = response.content.decode()
    assert f"Sequence {stranger.pk} is not a member of group {group.pk}" in text_of(html)
    assert {"group-members", "removed-members", "group-history"} <= oob_ids(html)
    plain = client_in.post(url)  # without htmx: the whole page again, 200, with the reason
    assert plain.status_code == 200
    page = plain.content.decode()
    assert 'id="group-notice"' in page and "notice-error" in page
    assert f"Sequence {stranger.pk} is not a member of group {group.pk}" in text_of(page)


# --- re-include ----------------------------------------------------------------------------------


def test_reinclude_from_the_group_page_with_htmx(client_in, annotator):
    group = group_with_members(3, detections=False)
    member = group.members.first()
    group_member_remove(group_id=group.pk, sequence_id=member.pk, actor=annotator)
    response = client_in.post(
        reverse("groups:member_reinclude", args=[member.pk]), {"group": group.pk}, **HX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="removed" id="removed-members"')
    assert oob_ids(html) == {"group-header", "group-history", "topbar"}
    assert f"Sequence #{member.pk} re-included: it waits for the next assignment run." in (
        text_of(html)
    )
    member.refresh_from_db()
    assert member.group_id is None and not member.is_group_excluded


def test_reinclude_from_the_sequence_page_redirects_back(client_in, annotator):
    group = group_with_members(2, detections=False)
    member = group.members.first()
    group_member_remove(group_id=group.pk, sequence_id=member.pk, actor=annotator)
    annotate = reverse("sequences:annotate", args=[member.pk])
    url = reverse("sequence_reinclude", args=[member.pk])
    assert url == f"/sequences/{member.pk}/reinclude/"
    response = client_in.post(url, {"next": annotate})
    assert response.status_code == 302 and response["Location"] == annotate
    assert not Sequence.objects.get(pk=member.pk).is_group_excluded
    again = client_in.post(url, {"next": "https://elsewhere.example/"})
    assert again["Location"] == annotate  # unsafe next: back to the sequence
    assert flash(again) == f"Sequence #{member.pk} was not excluded; nothing changed."
    refreshed = client_in.post(url, **HX)
    assert refreshed["HX-Refresh"] == "true"


def test_reinclude_unknown_sequence_is_404(client_in):
    assert client_in.post(reverse("sequence_reinclude", args=[999])).status_code == 404


# --- staff undo ----------------------------------------------------------------------------------


def test_staff_undo_of_a_propagation_restores_the_members(
    client_in, staff_user, annotator, seed_group, human_save, world
):
    group = seed_group(validated=True, user=annotator)
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=annotator)
    propagation = GroupOperation.objects.get(kind=OperationKind.PROPAGATE)
    assert world.seq2.annotation.processing_stage == ProcessingStage.SEQ_ANNOTATION_DONE

    url = reverse("groups:operation_undo", args=[propagation.pk])
    assert client_in.post(url, {"next": detail(group)}).status_code == 403
    client_in.force_login(staff_user)
    response = client_in.post(url, {"next": detail(group)})
    assert response.status_code == 302 and response["Location"] == detail(group)
    assert flash(response) == f"Operation #{propagation.pk} undone: 1 change reverted."
    assert not SequenceAnnotation.objects.filter(sequence=world.seq2).exists()
    group.refresh_from_db()
    assert group.smoke_type is None

    second = client_in.post(url, {"next": detail(group)})
    assert second.status_code == 302
    assert "has already been undone" in flash(second)


def test_undo_of_an_unknown_operation_is_404(client_in, staff_user):
    client_in.force_login(staff_user)
    assert client_in.post(reverse("groups:operation_undo", args=[999])).status_code == 404


def test_validate_says_how_many_members_were_held_back(client_in):
    # Not validated yet: the saver's FP label waits for the validation to fan out.
    group, _, (verdict, ordinary, moving) = fanned_out_group(
        {"is_wildfire_alertapi": "wildfire_smoke"},
        {},
        {"motion": 0.1},
        validated=False,
    )

    response = client_in.post(reverse("groups:validate", args=[group.pk]), **HX)

    html = response.content.decode()
    text = text_of(html)
    assert "Group validated · labeled FP/antenna · 1 member updated · 2 held back." in text
    assert "group-members" in oob_ids(html)
    assert "4 members · 2 held back" in text
    assert annotation_of(ordinary).label_source == "propagated"
    assert (
        annotation_of(verdict).label_source is None and annotation_of(moving).label_source is None
    )
