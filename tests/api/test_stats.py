"""The dashboard's figures in the API: /api/v1/stats/daily, label_sources, check_queue and the
staff's thresholds; the window parameter is checked (422 naming it)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import OperationKind
from groups.services import label_check_reject
from tests.factories import SequenceFactory, annotate, group_with_members, stamp
from tests.support.openapi import schema_errors

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled(annotator):
    yesterday = timezone.now() - timedelta(days=1)
    group = group_with_members(3, recorded_at=yesterday.replace(hour=1))
    members = list(group.members.order_by("recorded_at", "id"))
    annotate(members[0], smoke=["wildfire"])
    stamp(group, [members[1].pk, members[2].pk], kind=OperationKind.PROPAGATE)
    label_check_reject(sequence_id=members[2].pk, actor=annotator)
    SequenceFactory(recorded_at=timezone.now() - timedelta(days=60))
    return members


def test_daily(annotator_api, labeled):
    response = annotator_api.get("/api/v1/stats/daily", {"days": 3})
    assert response.status_code == 200
    body = response.json()
    today = timezone.localdate()
    assert body["first"] == (today - timedelta(days=2)).isoformat()
    assert body["last"] == today.isoformat()
    by_day = {row["day"]: row for row in body["days"]}
    assert len(by_day) == 3
    assert by_day[(today - timedelta(days=1)).isoformat()] == {
        "day": (today - timedelta(days=1)).isoformat(),
        "annotated": 2,
        "to_annotate": 1,
        "total": 3,
    }


def test_label_sources(annotator_api, labeled):
    body = annotator_api.get("/api/v1/stats/label_sources").json()
    assert body["annotated"] == 2
    assert body["sources"] == {
        "human": 1,
        "propagated": 1,
        "inherited": 0,
        "bulk": 0,
        "unknown": 0,
    }
    assert body["saved_by_groups"] == 1


def test_check_queue(annotator_api, labeled):
    body = annotator_api.get("/api/v1/stats/check_queue", {"days": 7}).json()
    assert (body["waiting"], body["look_closely"], body["rejected"]) == (1, 0, 1)


@pytest.mark.parametrize("days", ["0", "367", "many"])
def test_a_bad_window_is_a_422_naming_it(annotator_api, days):
    response = annotator_api.get("/api/v1/stats/daily", {"days": days})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "days"]


def test_an_unknown_parameter_is_refused(annotator_api):
    response = annotator_api.get("/api/v1/stats/check_queue", {"weeks": 2})
    assert response.status_code == 422


def test_thresholds_are_for_staff(api, annotator_api, anonymous_api, labeled):
    assert anonymous_api.get("/api/v1/stats/daily").status_code == 401
    assert annotator_api.get("/api/v1/stats/thresholds").status_code == 403
    rows = api.get("/api/v1/stats/thresholds").json()["thresholds"]
    assert [row["threshold"] for row in rows] == [0.2, 0.3, 0.4, 0.5]
    assert all(row["clicks_saved"] >= 0 for row in rows)


def test_the_stats_are_in_the_schema_and_answer_by_it(api, anonymous_api, labeled):
    schema = anonymous_api.get("/api/v1/schema/", {"format": "json"}).json()
    for name, component in (
        ("daily", "StatsDaily"),
        ("label_sources", "StatsLabelSources"),
        ("check_queue", "StatsCheckQueue"),
        ("thresholds", "StatsThresholds"),
    ):
        assert f"/api/v1/stats/{name}" in schema["paths"]
        assert schema_errors(schema, component, api.get(f"/api/v1/stats/{name}").json()) == []
