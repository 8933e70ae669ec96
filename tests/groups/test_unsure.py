"""Unsure as a state of its own: a validated group whose member is saved Unsure without a label
leaves "To label" for the Unsure tab (its count from the tallies, a neutral chip); a label saved
later wins; the API's `label_state` filter and the stats say the same; recount_groups verifies
the tally's unsure state."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from groups import selectors
from groups.models import GroupOperation, GroupTally, OperationKind, SequenceGroup
from groups.services import group_operation_undo
from tests.factories import annotate, group_with_members, validated
from tests.support import token_client

pytestmark = pytest.mark.django_db


def unsure_group(**fields) -> SequenceGroup:
    """A validated group of 3 whose first member was saved Unsure without a label."""
    group = group_with_members(3, **validated(), **fields)
    annotate(group.members.order_by("recorded_at", "id").first(), is_unsure=True)
    group.refresh_from_db()
    return group


def tab_counts(response) -> dict[str, int]:
    return {tab["key"]: tab["count"] for tab in response.context["tabs"]}


def test_an_unsure_save_without_a_label_makes_the_group_unsure(annotator):
    group = unsure_group()
    assert group.is_unsure and group.labeled_at is None
    operation = GroupOperation.objects.get(group=group)
    assert operation.kind == OperationKind.PROPAGATE
    assert operation.group_before["is_unsure"] is False
    assert operation.group_after["is_unsure"] is True
    # Undoable like any operation.
    group_operation_undo(operation_id=operation.pk, actor=annotator)
    group.refresh_from_db()
    assert group.is_unsure is False


def test_the_unsure_tab_lists_and_counts_it_and_the_label_wins(client_in):
    group = unsure_group()
    group_with_members(2)  # to label
    response = client_in.get(reverse("groups:list"), {"tab": "unsure"})
    assert tab_counts(response) == {"unlabeled": 1, "unsure": 1, "labeled": 0, "all": 2}
    assert [row.group.pk for row in response.context["rows"]] == [group.pk]
    page = response.content.decode()
    assert '<span class="chip chip-unsure-state" title="Marked unsure, no label yet">unsure' in page
    to_label = client_in.get(reverse("groups:list"))
    assert group.pk not in [row.group.pk for row in to_label.context["rows"]]

    # A label saved later wins: the group goes to Labeled.
    annotate(group.members.order_by("recorded_at", "id").last(), fp=["antenna"])
    response = client_in.get(reverse("groups:list"), {"tab": "labeled"})
    assert tab_counts(response) == {"unlabeled": 1, "unsure": 0, "labeled": 1, "all": 2}
    assert [row.group.pk for row in response.context["rows"]] == [group.pk]


def test_a_labeled_unsure_group_counts_as_labeled():
    group = group_with_members(3, **validated())
    annotate(group.members.first(), fp=["antenna"], is_unsure=True)
    group.refresh_from_db()
    assert group.is_unsure and group.labeled_at is not None
    assert selectors.group_stats() == {
        "total": 1,
        "labeled": 1,
        "unsure": 0,
        "unlabeled": 0,
        "validated": 1,
        "unvalidated": 0,
    }


def test_the_api_filter_and_stats_say_the_same(annotator):
    annotator_api = token_client(annotator)
    unsure = unsure_group()
    to_label = group_with_members(2)
    labeled = group_with_members(2, **validated())
    annotate(labeled.members.first(), smoke=["wildfire"])

    def listed(**query) -> list[int]:
        response = annotator_api.get("/api/v1/sequence_groups/", query)
        assert response.status_code == 200, response.json()
        return sorted(item["id"] for item in response.json()["items"])

    assert listed(label_state="unsure") == [unsure.pk]
    assert listed(label_state="unlabeled") == [to_label.pk] == listed(labeled="false")
    assert listed(label_state="labeled") == [labeled.pk] == listed(labeled="true")
    stats = annotator_api.get("/api/v1/sequence_groups/stats").json()
    assert (stats["unsure"], stats["unlabeled"], stats["labeled"]) == (1, 1, 1)

    both = annotator_api.get("/api/v1/sequence_groups/", {"labeled": "true", "label_state": "x"})
    assert both.status_code == 422
    both = annotator_api.get(
        "/api/v1/sequence_groups/", {"labeled": "true", "label_state": "unsure"}
    )
    assert both.status_code == 422
    assert both.json()["detail"][0]["loc"] == ["query", "label_state"]


def test_recount_verifies_the_unsure_state():
    unsure_group()
    out = io.StringIO()
    call_command("recount_groups", stdout=out)
    assert "Every stored figure matches a fresh count." in out.getvalue()
    GroupTally.objects.filter(is_unsure=True).delete()
    with pytest.raises(Exception, match="drifted"):
        call_command("recount_groups", stdout=io.StringIO())
    call_command("recount_groups", "--fix", stdout=io.StringIO())
    assert selectors.group_stats()["unsure"] == 1


def test_the_admin_filters_groups_by_label_state_as_the_tabs_do(client, staff_user):
    unsure = unsure_group()
    to_label = group_with_members(2)
    labeled = group_with_members(2, **validated())
    annotate(labeled.members.first(), fp=["antenna"], is_unsure=True)  # the label wins
    client.force_login(staff_user)
    changelist = reverse("admin:groups_sequencegroup_changelist")

    def listed(state: str) -> set[int]:
        response = client.get(changelist, {"label_state": state})
        return {row.pk for row in response.context["cl"].result_list}

    assert listed("unsure") == {unsure.pk}
    assert listed("unlabeled") == {to_label.pk}
    assert listed("labeled") == {labeled.pk}
    page = client.get(changelist).content.decode()
    assert "By label state" in page
