"""The Merge page, the merge and split forms, and the group page's selection boxes (server
side; the browser tests drive them with a keyboard)."""

import pytest
from django.urls import reverse

from groups.models import GroupOperation, OperationKind, SequenceGroup
from sequences.models import Sequence
from tests.factories import SequenceGroupFactory, add_members, fp, smoke, validated
from tests.support import count_queries, text_of

pytestmark = pytest.mark.django_db


def _members(group) -> set[int]:
    return set(Sequence.objects.filter(group=group).values_list("pk", flat=True))


def _bucket(count: int, **target_fields) -> tuple[SequenceGroup, list[SequenceGroup]]:
    target = SequenceGroupFactory(**target_fields)
    others = [SequenceGroupFactory(camera=target.camera) for _ in range(count)]
    for group in (target, *others):
        add_members(group, 2)
    return target, others


def test_the_merge_page_lists_the_bucket_in_constant_queries(client_in):
    target, others = _bucket(2)
    url = reverse("groups:merge", args=[target.pk])

    page = client_in.get(url)

    assert page.status_code == 200
    text = text_of(page.content.decode())
    assert f"Merge #{others[0].pk} into this group" in text
    assert f"Merge this group into #{others[1].pk}" in text
    few = count_queries(lambda: client_in.get(url))
    _bucket(6, camera=target.camera)
    assert count_queries(lambda: client_in.get(url)) == few


def test_merge_form_then_the_targets_page(client_in):
    target, (source,) = _bucket(1, **validated(), **smoke("wildfire"))

    response = client_in.post(
        reverse("groups:merge_into", args=[target.pk]),
        {"source_group_id": source.pk, "from": target.pk},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("groups:detail", args=[target.pk])
    assert f"Group #{source.pk} merged into this group: 2 members moved." in text_of(
        response.content.decode()
    )
    assert len(_members(target)) == 4
    # The history names the merge, and the merged group's page points to its target.
    assert f"Merged group #{source.pk} into this group (2 members moved)" in text_of(
        response.content.decode()
    )
    merged = client_in.get(reverse("groups:detail", args=[source.pk])).content.decode()
    assert f"This group was merged into group #{target.pk}" in text_of(merged)


def test_a_refused_merge_goes_back_with_the_reason(client_in):
    target, (source,) = _bucket(1, **fp("antenna"))
    SequenceGroup.objects.filter(pk=source.pk).update(**smoke("wildfire"))

    response = client_in.post(
        reverse("groups:merge_into", args=[source.pk]),
        {"source_group_id": target.pk, "from": target.pk},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("groups:merge", args=[target.pk])
    assert "groups with different labels cannot be merged" in text_of(response.content.decode())
    assert not GroupOperation.objects.filter(kind=OperationKind.MERGE).exists()


def test_the_group_page_offers_merge_and_selection(client_in):
    target, _ = _bucket(0)

    page = client_in.get(reverse("groups:detail", args=[target.pk])).content.decode()

    assert reverse("groups:merge", args=[target.pk]) in page
    assert page.count('form="split-form"') == 2
    assert 'id="split-form"' in page


def test_split_form_then_the_new_groups_page(client_in):
    group = SequenceGroupFactory()
    members = add_members(group, 3)

    response = client_in.post(
        reverse("groups:split", args=[group.pk]),
        {"sequence_ids": [members[0].pk, members[2].pk]},
        follow=True,
    )

    new = SequenceGroup.objects.exclude(pk=group.pk).get()
    assert response.redirect_chain[-1][0] == reverse("groups:detail", args=[new.pk])
    assert f"2 members split off group #{group.pk} into this new group" in text_of(
        response.content.decode()
    )
    assert _members(new) == {members[0].pk, members[2].pk}


def test_a_refused_split_says_why(client_in):
    group = SequenceGroupFactory()
    members = add_members(group, 2)
    url = reverse("groups:split", args=[group.pk])

    nothing = client_in.post(url, {}, follow=True)
    everyone = client_in.post(url, {"sequence_ids": [s.pk for s in members]}, follow=True)

    assert "Select the members to split off first" in text_of(nothing.content.decode())
    assert "must leave at least one member in the group" in text_of(everyone.content.decode())
    assert SequenceGroup.objects.count() == 1
