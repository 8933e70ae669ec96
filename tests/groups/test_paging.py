"""Pages whose cost follows the page: the groups list at any depth, a group's members and its
removed members in pages, the API's group detail with a page of members."""

import re

import pytest
from django.urls import reverse

from groups import selectors
from groups.models import GroupOperation, OperationKind
from groups.services import group_member_remove
from sequences.models import Sequence
from tests.factories import add_members, group_with_members, tied_groups, validated_group
from tests.support import HX, count_queries, detail, removed_of, text_of, token_client

pytestmark = pytest.mark.django_db

LIST = reverse("groups:list")


def member_ids(response) -> list[int]:
    return [card.sequence.pk for card in response.context["cards"]]


def test_a_deep_page_of_the_list_costs_what_the_first_costs(client_in, settings):
    settings.GROUPS_LIST_PAGE_SIZE = 5
    tied_groups(40)
    first = count_queries(lambda: client_in.get(LIST, {"tab": "all"}))
    last = count_queries(lambda: client_in.get(LIST, {"tab": "all", "page": 8}))
    assert first == last
    response = client_in.get(LIST, {"tab": "all", "page": 8})
    assert len(response.context["rows"]) == 5
    assert "Page 8 of 8" in text_of(response.content.decode())


def test_list_rows_are_counted_without_counting_the_groups(settings):
    tied_groups(12)
    rows = selectors.group_list_rows(tab="all", order_by="camera", direction="asc")
    assert len(rows) == rows.count() == 12
    assert [group.pk for group in rows[5:8]] == list(
        selectors.group_list(tab="all", order_by="camera", direction="asc").values_list(
            "pk", flat=True
        )[5:8]
    )


def test_a_big_group_opens_one_page_of_members_at_a_time(client_in, settings):
    settings.GROUPS_MEMBERS_PAGE_SIZE = 10
    group = validated_group()
    members = add_members(group, 25)
    ordered = [m.pk for m in sorted(members, key=lambda m: (m.recorded_at, m.pk))]

    first = client_in.get(detail(group))
    html = text_of(first.content.decode())
    assert member_ids(first) == ordered[:10]
    assert "25 members" in html
    assert "Members 1–10 of 25 · page 1 of 3" in html

    last = client_in.get(detail(group, "members=3"))
    assert member_ids(last) == ordered[20:]
    assert count_queries(lambda: client_in.get(detail(group))) == count_queries(
        lambda: client_in.get(detail(group, "members=3"))
    )
    # A page past the end is the last one.
    assert member_ids(client_in.get(detail(group, "members=99"))) == ordered[20:]


def test_the_members_pager_redraws_the_members_alone_with_htmx(client_in, settings):
    settings.GROUPS_MEMBERS_PAGE_SIZE = 10
    group = validated_group()
    add_members(group, 15)
    html = client_in.get(detail(group)).content.decode()
    assert 'hx-get="?members=2" hx-target="#group-members"' in html
    fragment = client_in.get(detail(group, "members=2"), HTTP_HX_TARGET="group-members", **HX)
    body = fragment.content.decode()
    assert body.lstrip().startswith('<section class="members" id="group-members"')
    assert 'id="group-header"' not in body
    assert len(re.findall(r'class="member-card', body)) == 5


def test_actions_keep_the_page_of_members(client_in, settings):
    settings.GROUPS_MEMBERS_PAGE_SIZE = 10
    group = validated_group()
    members = add_members(group, 15)
    html = client_in.get(detail(group, "members=2")).content.decode()
    remove = reverse("groups:member_remove", args=[group.pk, members[-1].pk])
    assert f'action="{remove}?members=2"' in html
    response = client_in.post(f"{remove}?members=2")
    assert response.status_code == 302 and response.url.endswith("?members=2")


def test_removed_members_come_in_pages(client_in, monkeypatch):
    monkeypatch.setattr(selectors, "REMOVED_PAGE_SIZE", 3)
    group = group_with_members(8, detections=False)
    removed = list(group.members.order_by("pk"))[:7]
    for sequence in removed:
        group_member_remove(group_id=group.pk, sequence_id=sequence.pk, actor=None)
    assert selectors.group_removed_count(group_id=group.pk) == 7
    newest_first = [r.sequence.pk for r in removed_of(group.pk)]
    assert sorted(newest_first) == [s.pk for s in removed]
    page = client_in.get(detail(group, "removed=3"))
    assert [r.sequence.pk for r in page.context["removed"]] == newest_first[6:]
    html = text_of(page.content.decode())
    assert "Removed from this group 7" in html and "Removed 7–7 of 7 · page 3 of 3" in html
    # Any page of them costs what the first does; a page past the end is the last one.
    assert count_queries(lambda: client_in.get(detail(group, "removed=3"))) == count_queries(
        lambda: client_in.get(detail(group))
    )
    past_the_end = client_in.get(detail(group, "removed=9"))
    assert [r.sequence.pk for r in past_the_end.context["removed"]] == newest_first[6:]


def test_a_removal_undone_elsewhere_leaves_the_removed_section():
    group = group_with_members(3, detections=False)
    other = group_with_members(2, detections=False)
    sequence = group.members.first()
    group_member_remove(group_id=group.pk, sequence_id=sequence.pk, actor=None)
    Sequence.objects.filter(pk=sequence.pk).update(is_group_excluded=False, group=other)
    GroupOperation.objects.create(kind=OperationKind.REMOVE_MEMBER, group=other, sequence=sequence)
    Sequence.objects.filter(pk=sequence.pk).update(group=None, is_group_excluded=True)
    assert selectors.group_removed_count(group_id=group.pk) == 0
    assert [r.sequence.pk for r in removed_of(other.pk)] == [sequence.pk]


def test_the_history_panel_is_capped(client_in, monkeypatch):
    monkeypatch.setattr(selectors, "HISTORY_LIMIT", 5)
    group = group_with_members(2, detections=False)
    GroupOperation.objects.bulk_create(
        GroupOperation(kind=OperationKind.VALIDATE, group=group) for _ in range(9)
    )
    response = client_in.get(detail(group))
    assert len(response.context["history"]) == 5
    assert "The newest 5 operations" in text_of(response.content.decode())


def test_the_api_detail_pages_its_members(annotator):
    group = validated_group()
    members = add_members(group, 7)
    ordered = [m.pk for m in sorted(members, key=lambda m: (m.recorded_at, m.pk))]
    api = token_client(annotator)
    url = f"/api/v1/sequence_groups/{group.pk}"

    body = api.get(url, {"members_size": 3, "members_page": 2}).json()
    assert [m["sequence_id"] for m in body["members"]] == ordered[3:6]
    assert (body["member_count"], body["members_page"], body["members_pages"]) == (7, 2, 3)
    assert body["members_size"] == 3

    default = api.get(url).json()
    assert [m["sequence_id"] for m in default["members"]] == ordered
    assert default["members_pages"] == 1

    refused = api.get(url, {"members_size": 0})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "members_size"]
