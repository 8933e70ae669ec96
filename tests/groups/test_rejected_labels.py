"""The rejected machine labels page (`/groups/rejected/`), the list behind the dashboard's
"rejected" figure: the "Not this" of a window of days, newest first, with who, the sequence,
the group it left and the label it lost; bad days are reported, never a server error; 50 a
page in a constant number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from groups.dashboard import figures
from groups.dashboard.rejected import ENDS_BEFORE, OUT_OF_RANGE, rejected_operations
from groups.models import GroupOperation, OperationKind
from groups.presenters import operation_summary
from groups.services import group_operation_undo, label_check_reject
from sequences.payloads import Label
from tests.factories import group_with_members, stamp

pytestmark = pytest.mark.django_db

URL = reverse("groups:rejected")


def rejected_group(n: int, actor, *, label: Label | None = None):
    """A group of `n` members whose labels a group wrote by inheritance, all rejected one after
    the other: (group, members in the order they were rejected, their reject operations)."""
    group = group_with_members(n)
    members = list(group.members.order_by("recorded_at", "id"))
    stamp(group, [member.pk for member in members], kind=OperationKind.INHERIT, label=label)
    operations = []
    for member in members:
        outcome = label_check_reject(sequence_id=member.pk, actor=actor)
        operations.append(GroupOperation.objects.get(pk=outcome.operation_id))
    return group, members, operations


def moved_back(operation: GroupOperation, days: int) -> None:
    GroupOperation.objects.filter(pk=operation.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )


def rows_of(response) -> list[int]:
    return [row.operation.pk for row in response.context["rows"]]


def test_an_annotator_sees_each_rejection_with_who_the_sequence_the_group_and_the_label(
    client_in, annotator
):
    group, members, operations = rejected_group(2, annotator, label=Label.fp("antenna"))
    response = client_in.get(URL)
    assert response.status_code == 200
    assert rows_of(response) == [operations[1].pk, operations[0].pk]  # newest first
    page = response.content.decode()
    assert "2 machine labels rejected (“Not this”)" in page
    assert f'href="{reverse("sequences:annotate", args=[members[0].pk])}"' in page
    assert f'href="{reverse("groups:detail", args=[group.pk])}"' in page
    row = page[page.index(f'id="rejection-{operations[0].pk}"') :]
    row = row[: row.index("</tr>")]
    assert annotator.get_username() in row
    assert '<span class="chip chip-fp">FP / antenna</span>' in row
    assert "labeled by inheritance" in row


def test_the_dashboard_figure_opens_the_list_it_counts(client_in, annotator):
    _, _, operations = rejected_group(3, annotator)
    moved_back(operations[0], days=40)  # outside the dashboard's window
    group_operation_undo(operation_id=operations[1].pk, actor=annotator)  # undone: not counted
    dashboard = client_in.get(reverse("home"))
    data = dashboard.context["figures"]
    assert data.rejected == 1
    link = dashboard.context["rejected_url"]
    first, last = data.window.first.isoformat(), data.window.last.isoformat()
    assert link == f"{URL}?date_from={first}&date_to={last}"
    assert f'<a href="{link.replace("&", "&amp;")}"><strong>1</strong> rejected' in (
        dashboard.content.decode()
    )
    listed = client_in.get(link)
    assert rows_of(listed) == [operations[2].pk]
    # Without days, the list shows the dashboard's window.
    assert rows_of(client_in.get(URL)) == [operations[2].pk]
    assert client_in.get(URL).context["window"] == data.window


def test_the_days_asked_for_bound_the_list(client_in, annotator):
    _, _, operations = rejected_group(3, annotator)
    moved_back(operations[0], days=40)
    moved_back(operations[1], days=10)
    today = timezone.localdate()
    day = (today - timedelta(days=10)).isoformat()
    assert rows_of(client_in.get(URL, {"date_from": day, "date_to": day})) == [operations[1].pk]
    older = (today - timedelta(days=60)).isoformat()
    response = client_in.get(URL, {"date_from": older})
    assert rows_of(response) == [op.pk for op in reversed(operations)]
    until = (today - timedelta(days=20)).isoformat()
    response = client_in.get(URL, {"date_to": until})  # the DEFAULT_DAYS days ending then
    assert rows_of(response) == [operations[0].pk]
    assert response.context["window"].days == figures.DEFAULT_DAYS


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "2026-13-45"}, "Enter a valid date."),
        ({"date_to": "yesterday"}, "Enter a valid date."),
        ({"date_from": "0001-01-01"}, OUT_OF_RANGE),
        ({"date_to": "9999-12-31"}, OUT_OF_RANGE),
        ({"date_from": "2026-03-02", "date_to": "2026-03-01"}, ""),
    ],
)
def test_bad_days_are_reported_and_the_dashboard_window_shown(client_in, annotator, query, message):
    _, _, operations = rejected_group(1, annotator)
    response = client_in.get(URL, query)
    assert response.status_code == 200
    message = message or ENDS_BEFORE.format(days=figures.DEFAULT_DAYS)
    assert message in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert response.context["window"] == figures.Window.ending_today(figures.DEFAULT_DAYS)
    assert rows_of(response) == [operations[0].pk]


def test_nothing_rejected_says_so(client_in, annotator):
    _, _, operations = rejected_group(1, annotator)
    moved_back(operations[0], days=40)
    response = client_in.get(URL)
    assert response.context["rows"] == []
    page = response.content.decode()
    assert "No machine label was rejected (“Not this”) from" in page
    assert f'href="{reverse("groups:check")}"' in page
    assert "<table" not in page


def test_fifty_a_page_the_pager_keeping_the_days(client_in, annotator):
    rejected_group(1, annotator)
    GroupOperation.objects.bulk_create(
        GroupOperation(kind=OperationKind.REJECT, actor=annotator, details={}) for _ in range(50)
    )
    day = timezone.localdate().isoformat()
    first = client_in.get(URL, {"date_from": day, "date_to": day})
    assert len(first.context["rows"]) == 50
    page = first.content.decode()
    assert f'href="?date_from={day}&amp;date_to={day}&amp;page=2" rel="next"' in page
    assert "no label" in page  # operations without their member row
    second = client_in.get(URL, {"date_from": day, "date_to": day, "page": 2})
    assert len(second.context["rows"]) == 1  # the oldest, with the label it lost
    assert "smoke / wildfire" in second.content.decode()


def test_the_query_count_does_not_grow_with_the_rows(client_in, annotator):
    rejected_group(2, annotator)
    with CaptureQueriesContext(connection) as context:
        client_in.get(URL)
    queries = len(context.captured_queries)
    rejected_group(8, annotator)
    with CaptureQueriesContext(connection) as context:
        response = client_in.get(URL)
    assert len(response.context["rows"]) == 10
    assert len(context.captured_queries) == queries


def test_the_group_history_and_the_list_name_the_rejected_label_alike(client_in, annotator):
    group, members, operations = rejected_group(1, annotator)
    operation = operations[0]
    sequence = f'of sequence #{members[0].pk} ("Not this")'
    assert operation_summary(operation) == f"Rejected the machine label {sequence}"  # unknown
    (read,) = rejected_operations(figures.Window.ending_today(1)).filter(pk=operation.pk)
    assert operation_summary(read) == f"Rejected the machine label smoke/wildfire {sequence}"
    history = client_in.get(reverse("groups:detail", args=[group.pk])).context["history"]
    assert [entry.summary for entry in history if entry.operation.pk == operation.pk] == [
        operation_summary(read)
    ]
