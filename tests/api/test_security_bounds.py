"""Requests are bounded (findings 7 and 8): id lists are capped, an operation's audit row keeps
what it changed rather than the request's list, the audit log is paged in the database, and an
integer beyond the database's range is refused (a page's query string: 400 naming it; a form:
its error; the API: 422), never a 500."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from groups.models import GroupOperation, OperationKind
from sequences.models import SequenceAnnotation
from tests.factories import add_members, labeled_group, stamp, validated_group
from tests.support import detail_locs

pytestmark = pytest.mark.django_db

BULK = "/api/v1/annotations/sequences/bulk"
CHECK = "/api/v1/sequence_groups/check"
BEYOND = 2**70  # beyond any 64-bit key
LONG = "9" * 5000  # beyond even Python's integer conversion


@pytest.fixture
def cap(settings):
    settings.GROUPS_MAX_REQUEST_IDS = 5
    return 5


@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [(BULK, "sequence_ids", {"smoke_type": "wildfire"}), (CHECK, "annotation_ids", {})],
    ids=["bulk", "check"],
)
def test_an_id_list_beyond_the_cap_is_a_422_naming_it(annotator_api, cap, path, field, extra):
    response = annotator_api.post(path, {field: list(range(1, cap + 2)), **extra}, format="json")

    assert detail_locs(response) == [["body", field]]
    assert response.json()["detail"][0]["msg"] == f"must list at most {cap} ids"
    assert not GroupOperation.objects.exists()


def test_the_default_cap_is_a_thousand_ids(annotator_api, world):
    at_cap = annotator_api.post(
        BULK, {"sequence_ids": list(range(1, 1001)), "smoke_type": "wildfire"}, format="json"
    )
    beyond = annotator_api.post(
        BULK, {"sequence_ids": list(range(1, 1002)), "smoke_type": "wildfire"}, format="json"
    )

    assert at_cap.status_code == 200
    assert detail_locs(beyond) == [["body", "sequence_ids"]]


def test_the_check_page_refuses_an_id_list_beyond_the_cap(client_in, world, cap):
    group = validated_group(camera=world.cam1)
    members = add_members(group, cap + 1, placeholders=True)
    stamp(group, [member.pk for member in members])
    ids = list(SequenceAnnotation.objects.values_list("pk", flat=True))

    client_in.post(reverse("groups:check_confirm"), {"annotation_ids": ids})

    assert not SequenceAnnotation.objects.filter(checked_at__isnull=False).exists()
    assert not GroupOperation.objects.filter(kind=OperationKind.CHECK).exists()


def test_a_bulk_audit_row_keeps_what_it_changed_not_the_request(annotator_api, world, cap):
    group = labeled_group(world.cam1, smoke_type=None, fp="antenna")
    members = [member.pk for member in add_members(group, 2, placeholders=True)]
    others = [world.seq1.pk, world.seq2.pk]  # no placeholder: written too, outside the group
    asked = members + others + [999_999_999]

    response = annotator_api.post(
        BULK, {"sequence_ids": asked, "false_positive_type": "antenna"}, format="json"
    )

    assert response.status_code == 200
    operation = GroupOperation.objects.get(kind=OperationKind.BULK)
    written = sorted(operation.members.values_list("sequence_id", flat=True))
    assert written == sorted(item["sequence_id"] for item in response.json()["applied"])
    assert "999999999" not in str(operation.details)
    assert operation.details["requested"] == len(asked)


def test_the_audit_log_api_reads_one_page_of_operations(api, world):
    group = validated_group(camera=world.cam1)
    GroupOperation.objects.bulk_create(
        GroupOperation(kind=OperationKind.VALIDATE, group=group) for _ in range(30)
    )
    url = f"/api/v1/sequence_groups/{group.pk}/operations"

    with CaptureQueriesContext(connection) as queries:
        body = api.get(url, {"size": 5, "page": 2}).json()

    assert (body["total"], len(body["items"])) == (30, 5)
    reads = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith('SELECT "groups_groupoperation"."id"')
    ]
    assert reads and all("LIMIT 5" in sql for sql in reads)


@pytest.mark.parametrize("value", [BEYOND, -BEYOND, LONG], ids=["2**70", "-2**70", "5000-digits"])
@pytest.mark.parametrize(
    ("page", "name"),
    [
        ("groups:list", "camera"),
        ("groups:list", "organization"),
        ("groups:list", "page"),
        ("groups:check", "page"),
        ("group", "members"),
        ("group", "removed"),
        ("group", "camera"),
        ("sequences:list", "camera"),
        ("sequences:done", "organization"),
        ("sequences:list", "page"),
        ("annotate", "group"),
    ],
)
def test_a_page_given_an_integer_beyond_the_database_answers_400_naming_it(
    client_in, world, seed_group, page, name, value
):
    url = {
        "group": lambda: reverse("groups:detail", args=[seed_group().pk]),
        "annotate": lambda: reverse("sequences:annotate", args=[world.seq1.pk]),
    }.get(page, lambda: reverse(page))()

    response = client_in.get(url, {name: value, "tab": "all"})

    assert response.status_code == 400
    text = response.content.decode()
    assert text.startswith(f"{name}: ") and "beyond the largest integer the database holds" in text
    assert len(text) < 300  # a 5,000-digit value is not echoed whole


def test_ordinary_bad_values_are_still_reported_on_the_page(client_in, world):
    response = client_in.get(reverse("groups:list"), {"camera": "abc", "page": "2"})

    assert response.status_code == 200
    assert response.context["ignored"] == ["camera"]


def test_anonymous_visitors_are_sent_to_the_login_first(client, world):
    response = client.get(reverse("groups:list"), {"camera": BEYOND})

    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("value", [BEYOND, LONG], ids=["2**70", "5000-digits"])
def test_a_check_confirm_or_reject_with_an_id_beyond_the_database_changes_nothing(
    client_in, world, value
):
    confirm = client_in.post(reverse("groups:check_confirm"), {"annotation_ids": [value]})
    reject = client_in.post(reverse("groups:check_reject"), {"sequence_id": value})

    assert confirm.status_code == reject.status_code == 200
    assert not GroupOperation.objects.exists()


def test_a_form_naming_a_group_beyond_the_database_changes_nothing(client_in, world):
    reinclude = client_in.post(
        reverse("sequence_reinclude", args=[world.seq1.pk]), {"group": BEYOND}
    )

    assert reinclude.status_code in (200, 302)
    assert not GroupOperation.objects.exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHECK, {"annotation_ids": [BEYOND]}),
        ("/api/v1/sequence_groups/check/reject", {"sequence_id": BEYOND}),
        (BULK, {"sequence_ids": [BEYOND], "smoke_type": "wildfire"}),
        (BULK, {"sequence_ids": [1], "group_id": BEYOND, "smoke_type": "wildfire"}),
    ],
    ids=["check", "reject", "bulk-ids", "bulk-group"],
)
def test_api_ids_beyond_the_database_are_a_422(annotator_api, world, path, body):
    assert annotator_api.post(path, body, format="json").status_code == 422
