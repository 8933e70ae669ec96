"""The dashboard (the landing page after login): sequences per day, who labeled them, the check
queue and what groups saved, each figure the count of the list it links to; the staff's
threshold report; charts drawn on the server; a constant number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from groups.dashboard import figures
from groups.dashboard.charts import Column, Segment, column_chart, nice_ceiling, share_bar
from groups.models import OperationKind
from groups.services import label_check_reject
from tests.factories import (
    DetectionFactory,
    SequenceFactory,
    annotate,
    group_with_members,
    placeholder,
    stamp,
)

pytestmark = pytest.mark.django_db


def days_ago(days: int, hours: int = 12):
    today = timezone.localdate()
    moment = timezone.make_aware(timezone.datetime.combine(today, timezone.datetime.min.time()))
    return moment - timedelta(days=days) + timedelta(hours=hours)


@pytest.fixture
def history(annotator):
    """Two days ago: 3 sequences, one labeled by a person; yesterday: a group of 4, one labeled
    by a person and 2 inherited (one of them later rejected), 1 left; 40 days ago: one labeled
    sequence outside the window."""
    old = SequenceFactory(recorded_at=days_ago(40))
    annotate(old, smoke=["wildfire"])
    two = [SequenceFactory(recorded_at=days_ago(2, hours=h)) for h in (1, 2, 3)]
    annotate(two[0], fp=["antenna"])
    placeholder(two[1])
    group = group_with_members(4, recorded_at=days_ago(1, hours=1))
    members = list(group.members.order_by("recorded_at", "id"))
    annotate(members[0], fp=["antenna"])
    stamp(group, [members[1].pk, members[2].pk], kind=OperationKind.INHERIT)
    label_check_reject(sequence_id=members[2].pk, actor=annotator)
    return {"two": two, "members": members}


def test_figures_count_the_window(history):
    data = figures.dashboard_figures(days=7)
    by_day = {day.day: day for day in data.daily}
    assert len(data.daily) == 7 and data.daily[-1].day == timezone.localdate()
    two_days = by_day[timezone.localdate() - timedelta(days=2)]
    yesterday = by_day[timezone.localdate() - timedelta(days=1)]
    assert (two_days.annotated, two_days.to_annotate) == (1, 2)
    assert (yesterday.annotated, yesterday.to_annotate) == (2, 2)  # the rejected one is back
    assert data.sources == {"human": 2, "propagated": 0, "inherited": 1, "bulk": 0, None: 0}
    assert data.saved_by_groups == 1
    assert (data.check_waiting, data.rejected) == (1, 1)


def test_each_figure_is_the_count_of_the_list_it_links_to(client_in, history):
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    done = client_in.get(reverse("sequences:done"), {"date_from": yesterday, "date_to": yesterday})
    assert len(done.context["page_obj"].object_list) == 2
    queue = client_in.get(reverse("sequences:list"), {"date_from": yesterday, "date_to": yesterday})
    assert len(queue.context["page_obj"].object_list) == 2
    by_group = client_in.get(reverse("sequences:done"), {"label_source": "by_group"})
    assert [s.pk for s in by_group.context["page_obj"]] == [history["members"][1].pk]
    human = client_in.get(reverse("sequences:done"), {"label_source": "human"})
    assert len(human.context["page_obj"].object_list) == 3  # the old one too: no date filter

    page = client_in.get(reverse("home")).content.decode()
    assert f'href="/sequences/done/?date_from={yesterday}&amp;date_to={yesterday}"' in page
    assert f'href="/sequences/?date_from={yesterday}&amp;date_to={yesterday}"' in page
    assert 'href="/sequences/done/?label_source=by_group"' in page
    assert 'aria-label="1 machine label waiting"' in page


def test_the_dashboard_is_the_landing_page_after_login(client, annotator):
    response = client.post(
        reverse("login"), {"username": annotator.username, "password": "secret-password"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("home")
    page = client.get(reverse("home"))
    assert page.status_code == 200
    content = page.content.decode()
    assert "<h1>Progress at a glance</h1>" in content
    assert "<svg" in content and '<script src="http' not in content
    # Annotators see no staff report and no link to the admin's audit log.
    assert "dashboard-thresholds" not in content and "/admin/" not in content


def test_a_window_without_sequences_says_when_the_newest_was_recorded(client_in):
    old = SequenceFactory(recorded_at=days_ago(40))
    day = timezone.localdate(old.recorded_at)
    page = client_in.get(reverse("home")).content.decode()
    assert (
        f"No sequence was recorded in these days; the newest was recorded on {day.day} {day:%b %Y}"
    ) in page
    assert f'href="/sequences/?date_from={day}&amp;date_to={day}"' in page
    SequenceFactory(recorded_at=days_ago(2))
    assert "No sequence was recorded" not in client_in.get(reverse("home")).content.decode()


def test_the_dashboard_query_count_does_not_grow(client_in, django_assert_num_queries, history):
    with django_assert_num_queries(queries := _count(client_in)):
        client_in.get(reverse("home"))
    group = group_with_members(6, recorded_at=days_ago(3))
    for member in group.members.all():
        annotate(member, smoke=["wildfire"])
    for _ in range(5):
        DetectionFactory(sequence=SequenceFactory(recorded_at=days_ago(5)))
    with django_assert_num_queries(queries):
        client_in.get(reverse("home"))


def _count(client) -> int:
    with CaptureQueriesContext(connection) as context:
        client.get(reverse("home"))
    return len(context.captured_queries)


def test_staff_see_the_threshold_report(client, staff_user, annotator, history):
    client.force_login(staff_user)
    page = client.get(reverse("home")).content.decode()
    assert 'id="dashboard-thresholds"' in page
    report = client.get(reverse("groups:dashboard_thresholds"))
    assert report.status_code == 200
    rows = report.context["rows"]
    assert [row["threshold"] for row in rows] == [0.2, 0.3, 0.4, 0.5]
    assert "Clicks saved per matching threshold" in report.content.decode()
    client.force_login(annotator)
    assert client.get(reverse("groups:dashboard_thresholds")).status_code == 403


def test_column_chart_geometry():
    chart = column_chart(
        [
            Column("a", [Segment(3, "x", "3 x"), Segment(1, "y", "1 y", "/list/")]),
            Column("b", [Segment(0, "x", "none"), Segment(5, "y", "5 y")], show_label=False),
        ],
        height=110,
    )
    assert [tick.text for tick in chart.ticks] == ["0", "2.5", "5"]
    plot = 110 - 10 - 22
    first, second, third = chart.rects
    assert first.height == round(3 * plot / 5, 2) and first.y + first.height == chart.baseline
    assert second.y + second.height == pytest.approx(first.y) and second.href == "/list/"
    assert third.height == plot  # the 0 segment draws nothing
    assert [label.text for label in chart.labels] == ["a"]
    # The last column's label, centred on its column, is not cut by the chart's right edge.
    last = column_chart([Column("05 Dec", [Segment(1, "x", "1 x")])])
    assert last.width - last.labels[0].x >= 20
    assert last.plot_right < last.width
    assert nice_ceiling(0) == 1 and nice_ceiling(7) == 10 and nice_ceiling(120) == 200


def test_share_bar_splits_the_width():
    bar = share_bar([Segment(1, "a", "a"), Segment(0, "b", "b"), Segment(3, "c", "c")], width=400)
    assert [(rect.x, rect.width) for rect in bar.rects] == [(0, 100), (100, 300)]
    assert share_bar([Segment(0, "a", "a")]).rects == []


def test_sequences_without_annotation_count_as_to_annotate():
    SequenceFactory(recorded_at=days_ago(0, hours=0))
    today = figures.dashboard_figures(days=1).daily[0]
    assert (today.annotated, today.to_annotate) == (0, 1)
