"""The admin's "Merge selected groups" action: the lowest id keeps every member."""

import pytest
from django.urls import reverse

from groups.counters import counters_drift
from groups.models import GroupOperation, OperationKind, SequenceGroup
from sequences.models import Sequence
from tests.factories import SequenceGroupFactory, add_members, fp, smoke
from tests.support import text_of

pytestmark = pytest.mark.django_db


def _merge(client, ids):
    return client.post(
        reverse("admin:groups_sequencegroup_changelist"),
        {"action": "merge", "_selected_action": [str(pk) for pk in ids], "index": "0"},
        follow=True,
    )


def test_merge_action_into_the_lowest_id_and_refusals_reported(client, staff_user):
    client.force_login(staff_user)
    target = SequenceGroupFactory(**smoke("wildfire"))
    same = SequenceGroupFactory(camera=target.camera)
    differs = SequenceGroupFactory(camera=target.camera, **fp("antenna"))
    for group in (target, same, differs):
        add_members(group, 2)

    response = _merge(client, [differs.pk, same.pk, target.pk])

    text = text_of(response.content.decode())
    assert f"Merged group(s) {same.pk} into group {target.pk}." in text
    assert f"Group {differs.pk}: Group {differs.pk} is labeled FP/antenna" in text
    assert Sequence.objects.filter(group=target).count() == 4
    assert SequenceGroup.objects.get(pk=same.pk).merged_into_id == target.pk
    assert GroupOperation.objects.filter(kind=OperationKind.MERGE, actor=staff_user).count() == 1
    assert counters_drift() == []


def test_merge_action_needs_two_groups(client, staff_user):
    client.force_login(staff_user)
    group = SequenceGroupFactory()

    response = _merge(client, [group.pk])

    assert "Select at least two groups to merge" in text_of(response.content.decode())
