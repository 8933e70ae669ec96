"""The groups list page (SPEC §6.2): tabs, sorting, filters, paging, empty states, badge."""

import re
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from groups import selectors
from groups.models import SequenceGroup
from groups.presenters import (
    EMPTY_ALL_LABELED,
    EMPTY_ALL_LABELED_OR_UNSURE,
    EMPTY_NO_GROUPS,
    EMPTY_NO_MATCH,
    EMPTY_NO_UNSURE,
)
from sequences.models import Detection, Sequence
from sequences.payloads import Label
from tests.factories import (
    CameraFactory,
    OrganizationFactory,
    annotate,
    fanned_out_group,
    fp,
    group_with_members,
    smoke,
    tied_detections,
    tied_groups,
    validated,
)
from tests.support import count_queries, text_of

pytestmark = pytest.mark.django_db

LIST = reverse("groups:list")


def rows(response) -> list[int]:
    return [row.group.pk for row in response.context["rows"]]


def tab_counts(response) -> dict[str, int]:
    return {tab["key"]: tab["count"] for tab in response.context["tabs"]}


def badge(response) -> str:
    match = re.search(r'id="nav-groups-badge"[^>]*>(\d+)<', response.content.decode())
    return match.group(1)


# --- tabs, counts, badge ---------------------------------------------------------------------


def test_the_list_reads_the_tallies_once_for_its_tabs_pages_and_badge(client_in):
    unlabeled = group_with_members(2, detections=False)
    group_with_members(3, detections=False, **smoke())

    def tally_reads(params) -> tuple[int, object]:
        with CaptureQueriesContext(connection) as queries:
            response = client_in.get(LIST, params)
        reads = [q for q in queries.captured_queries if "groups_grouptally" in q["sql"]]
        return len(reads), response

    reads, response = tally_reads({})
    assert reads == 1
    assert (badge(response), tab_counts(response)["unlabeled"]) == ("1", 1)
    # Filtered by another camera: its tallies for the tabs, the whole site's for the badge.
    reads, response = tally_reads({"camera": CameraFactory().pk})
    assert reads == 2
    assert (badge(response), tab_counts(response)["unlabeled"]) == ("1", 0)
    assert unlabeled.pk not in rows(response)


def test_title_subtitle_and_default_tab(client_in):
    unlabeled = group_with_members(2, detections=False)
    group_with_members(2, detections=False, **smoke())
    response = client_in.get(LIST)
    assert response.status_code == 200
    text = text_of(response.content.decode())
    assert "Sequence groups" in text
    assert "2 groups." in text
    assert "Only groups with at least 2 members appear (single sequences are hidden" in text
    assert "Validating a group lets one annotation label all its members." in text
    assert response.context["params"].tab == "unlabeled"
    assert rows(response) == [unlabeled.pk]


@pytest.mark.parametrize(
    ("tab", "expected"),
    [("unlabeled", {"plain"}), ("labeled", {"smoke", "fp"}), ("all", {"plain", "smoke", "fp"})],
)
def test_every_tab_lists_its_groups_with_counts(client_in, tab, expected):
    groups = {
        "plain": group_with_members(2, detections=False),
        "smoke": group_with_members(3, detections=False, **smoke()),
        "fp": group_with_members(4, detections=False, **fp()),
    }
    response = client_in.get(LIST, {"tab": tab})
    assert set(rows(response)) == {groups[name].pk for name in expected}
    assert tab_counts(response) == {"unlabeled": 1, "unsure": 0, "labeled": 2, "all": 3}
    html = response.content.decode()
    assert re.search(
        r'aria-current="page">\s*'
        + {"unlabeled": "To label", "labeled": "Labeled", "all": "All"}[tab],
        html,
    )


def test_tab_links_reset_the_page_and_keep_the_sort(client_in):
    group_with_members(2, detections=False)
    response = client_in.get(LIST, {"tab": "all", "sort": "camera", "dir": "asc", "page": "1"})
    queries = {tab["key"]: tab["query"] for tab in response.context["tabs"]}
    assert queries["labeled"] == "tab=labeled&sort=camera&dir=asc"
    assert "page" not in queries["unlabeled"]


def test_singletons_are_hidden(client_in):
    listed = group_with_members(2, detections=False)
    group_with_members(1, detections=False)
    response = client_in.get(LIST, {"tab": "all"})
    assert rows(response) == [listed.pk]
    assert tab_counts(response)["all"] == 1


def test_nav_badge_is_the_unfiltered_to_label_count(client_in):
    camera = CameraFactory()
    group_with_members(2, detections=False, camera=camera)
    group_with_members(2, detections=False)
    group_with_members(2, detections=False)
    group_with_members(2, detections=False, **smoke())
    group_with_members(1, detections=False)  # hidden: not counted
    unlabeled = selectors.group_stats()["unlabeled"]
    assert unlabeled == 3
    plain = client_in.get(LIST)
    filtered = client_in.get(LIST, {"camera": camera.pk, "tab": "labeled"})
    assert badge(plain) == badge(filtered) == str(unlabeled)
    assert tab_counts(plain)["unlabeled"] == unlabeled
    assert tab_counts(filtered)["unlabeled"] == 1  # tab counts follow the filter


def test_badge_is_shown_on_every_page(client_in):
    group_with_members(2, detections=False)
    response = client_in.get(reverse("sequences:list"))
    assert badge(response) == "1"


# --- columns -------------------------------------------------------------------------------------


def test_row_columns(client_in, annotator):
    camera = CameraFactory(name="brison-01", organization__name="SDIS 07")
    group = group_with_members(
        3, camera=camera, azimuth=91, is_unsure=True, **smoke(), **validated(annotator)
    )
    other = group_with_members(2, detections=False, **fp("high_cloud"))
    response = client_in.get(LIST, {"tab": "all"})
    html = response.content.decode()
    row = re.search(rf'<tr class="group-row" id="group-row-{group.pk}".*?</tr>', html, re.S)
    text = text_of(row.group(0))
    assert f"#{group.pk}" in text
    assert "brison-01" in text and "SDIS 07 · Pyronear French" in text
    assert "91°" in text
    assert "smoke / wildfire" in text and "unsure" in text
    assert f"validated by {annotator.username}," in text
    other_row = re.search(rf'id="group-row-{other.pk}".*?</tr>', html, re.S).group(0)
    assert "FP / high cloud" in text_of(other_row) and " no " in f" {text_of(other_row)} "
    # The whole row is one link to the group page, carrying the list's query string.
    assert f'href="{reverse("groups:detail", args=[group.pk])}?tab=all"' in row.group(0)


def test_preview_shows_first_middle_and_last_member_zoomed_on_the_reference(client_in):
    group = group_with_members(
        5, representative_bbox={"xyxyn": [0.4, 0.4, 0.5, 0.5], "confidence": 0.8}
    )
    members = list(group.members.order_by("recorded_at", "id"))
    firsts = [
        Detection.objects.filter(sequence=m).order_by("recorded_at", "id")[0] for m in members
    ]
    html = client_in.get(LIST).content.decode()
    shown = re.findall(r"/sequences/detections/(\d+)/image/\?variant=preview", html)
    assert [int(pk) for pk in shown] == [firsts[0].pk, firsts[2].pk, firsts[4].pk]
    # The region is 0.1 wide: the window is 0.25 wide (4x zoom) from 0.325, centred on it.
    assert "left:-130.000%;top:-130.000%;width:400.000%;height:400.000%" in html
    assert "left:30.000%;top:30.000%;width:40.000%;height:40.000%" in html


def test_preview_of_equal_recorded_at_detections_is_the_lower_id(client_in):
    group = group_with_members(2, detections=False)
    first_member = group.members.order_by("recorded_at", "id")[0]
    moment = timezone.now()
    lower, _ = tied_detections(first_member, moment)
    html = client_in.get(LIST).content.decode()
    assert f"/sequences/detections/{lower.pk}/image/?variant=preview" in html


# --- sorting and paging --------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("sort", selectors.ORDER_KEYS)
def test_sort_headers_order_rows_with_the_id_tie_break(client_in, sort, direction):
    cameras = [CameraFactory(name=n) for n in ("delta", "Alpha", "charlie")]
    for index in range(7):
        group_with_members(
            2 + index % 3, detections=False, camera=cameras[index % 3], azimuth=(index % 2) * 45
        )
    SequenceGroup.objects.filter(
        pk__in=list(SequenceGroup.objects.values_list("pk", flat=True))[:4]
    ).update(created_at=timezone.now() - timedelta(days=3))
    response = client_in.get(LIST, {"tab": "all", "sort": sort, "dir": direction})
    expected = list(
        selectors.group_list(tab="all", order_by=sort, direction=direction).values_list(
            "pk", flat=True
        )
    )
    assert rows(response) == expected
    column = response.context["sort_columns"][sort]
    assert column["aria"] == ("descending" if direction == "desc" else "ascending")
    # Clicking the current column toggles its direction, on page 1.
    toggled = "asc" if direction == "desc" else "desc"
    query = parse_qs(column["query"])
    assert query.get("dir", ["desc"]) == [toggled]
    assert query.get("sort", ["member_count"]) == [sort]
    assert "page" not in query


def test_default_sort_is_members_descending(client_in):
    small = group_with_members(2, detections=False)
    big = group_with_members(5, detections=False)
    middle = group_with_members(3, detections=False)
    assert rows(client_in.get(LIST)) == [big.pk, middle.pk, small.pk]


def test_paging_120_tied_groups_shows_each_exactly_once(client_in, settings, subtests):
    """SPEC §9.4 #3: 120 groups with equal member count, created_at, camera and azimuth,
    walked at 50 per page for every sort in both directions."""
    settings.GROUPS_LIST_PAGE_SIZE = 50
    tied_groups(120, members=2)
    all_ids = sorted(SequenceGroup.objects.values_list("pk", flat=True))
    for sort in selectors.ORDER_KEYS:
        for direction in ("asc", "desc"):
            with subtests.test(sort=sort, direction=direction):
                seen = []
                for page in (1, 2, 3):
                    response = client_in.get(
                        LIST, {"tab": "all", "sort": sort, "dir": direction, "page": page}
                    )
                    assert len(rows(response)) == (50 if page < 3 else 20)
                    seen += rows(response)
                assert sorted(seen) == all_ids
                assert seen == sorted(seen, reverse=direction == "desc")
                assert "Page 3 of 3" in text_of(response.content.decode())


def test_pager_only_when_there_is_more_than_one_page(client_in, settings):
    settings.GROUPS_LIST_PAGE_SIZE = 2
    for _ in range(3):
        group_with_members(2, detections=False)
    first = text_of(client_in.get(LIST).content.decode())
    assert "Previous · Page 1 of 2 · Next" in first
    settings.GROUPS_LIST_PAGE_SIZE = 50
    assert "Page 1 of" not in text_of(client_in.get(LIST).content.decode())


def test_next_page_link_keeps_tab_sort_and_filters(client_in, settings):
    settings.GROUPS_LIST_PAGE_SIZE = 1
    camera = CameraFactory()
    group_with_members(2, detections=False, camera=camera)
    group_with_members(2, detections=False, camera=camera)
    response = client_in.get(LIST, {"tab": "all", "sort": "azimuth", "camera": camera.pk})
    assert response.context["next_query"] == (f"tab=all&sort=azimuth&camera={camera.pk}&page=2")


# --- filters -------------------------------------------------------------------------------------


def test_camera_and_organisation_filters(client_in):
    organization = OrganizationFactory(name="SDIS 07")
    camera = CameraFactory(organization=organization)
    sibling = CameraFactory(organization=organization)
    on_camera = group_with_members(2, detections=False, camera=camera)
    on_sibling = group_with_members(2, detections=False, camera=sibling, **smoke())
    elsewhere = group_with_members(2, detections=False)
    by_camera = client_in.get(LIST, {"tab": "all", "camera": camera.pk})
    assert rows(by_camera) == [on_camera.pk]
    assert tab_counts(by_camera) == {"unlabeled": 1, "unsure": 0, "labeled": 0, "all": 1}
    by_org = client_in.get(LIST, {"tab": "all", "organization": organization.pk})
    assert set(rows(by_org)) == {on_camera.pk, on_sibling.pk}
    assert elsewhere.pk not in rows(by_org)
    assert tab_counts(by_org) == {"unlabeled": 1, "unsure": 0, "labeled": 1, "all": 2}
    html = by_org.content.decode()
    assert f'<option value="{organization.pk}" selected>SDIS 07</option>' in html
    assert '<label for="filter-camera">Camera</label>' in html


def test_bad_query_values_fall_back_and_are_named(client_in):
    group = group_with_members(2, detections=False)
    response = client_in.get(LIST, {"tab": "nope", "sort": "label", "page": "x", "camera": "abc"})
    assert response.status_code == 200
    assert rows(response) == [group.pk]
    assert "Ignored an invalid value for: camera, page, sort, tab." in text_of(
        response.content.decode()
    )


def test_page_past_the_end_shows_the_last_page(client_in, settings):
    settings.GROUPS_LIST_PAGE_SIZE = 1
    group_with_members(2, detections=False)
    last = group_with_members(3, detections=False)
    assert rows(client_in.get(LIST, {"page": 99})) == [
        SequenceGroup.objects.exclude(pk=last.pk).get().pk
    ]


# --- empty states --------------------------------------------------------------------------------


def test_empty_state_without_any_listed_group(client_in):
    group_with_members(1, detections=False)
    html = client_in.get(LIST).content.decode()
    assert EMPTY_NO_GROUPS in html
    assert EMPTY_NO_GROUPS == (
        "No groups yet. Groups are built by the assignment job (manage.py assign_groups), which "
        "runs after each import and from cron. Groups with a single sequence are hidden."
    )


def test_empty_state_when_everything_is_labeled(client_in):
    group_with_members(2, detections=False, **smoke())
    html = client_in.get(LIST).content.decode()
    assert EMPTY_ALL_LABELED in html
    assert EMPTY_ALL_LABELED == "Every listed group has a label."


def test_empty_states_of_the_unsure_tab_and_of_to_label_with_only_unsure_left(client_in):
    group_with_members(2, detections=False, **smoke())
    assert EMPTY_NO_UNSURE in client_in.get(LIST, {"tab": "unsure"}).content.decode()
    assert EMPTY_NO_UNSURE == (
        "No group is unsure. A validated group without a label comes here when one of its "
        "members is saved Unsure without a label, until a label is saved."
    )
    unsure = group_with_members(2, **validated())
    annotate(unsure.members.first(), is_unsure=True)
    html = client_in.get(LIST).content.decode()
    assert EMPTY_ALL_LABELED_OR_UNSURE in html
    assert EMPTY_ALL_LABELED_OR_UNSURE == (
        "Every listed group has a label or is marked unsure (see the Unsure tab)."
    )


def test_empty_state_when_the_filter_matches_nothing(client_in):
    group_with_members(2, detections=False)
    html = client_in.get(LIST, {"camera": CameraFactory().pk}).content.decode()
    assert EMPTY_NO_MATCH in html
    assert EMPTY_NO_MATCH == "No groups match this filter."


# --- query count ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tab", ["all", "unsure"])
def test_list_query_count_does_not_grow_with_groups(client_in, tab):
    def build(n):
        for index in range(n):
            group_with_members(3, **(smoke() if index % 2 else {}))
        # and a group with members held back from its label, and an unsure one
        fanned_out_group({"motion": 0.1}, {"is_wildfire_alertapi": "other_smoke"}, {})
        unsure = group_with_members(2, **validated())
        annotate(unsure.members.first(), is_unsure=True)

    build(3)
    few = count_queries(lambda: client_in.get(LIST, {"tab": tab}))
    build(27)
    many = count_queries(lambda: client_in.get(LIST, {"tab": tab}))
    assert Sequence.objects.count() == 102
    assert few == many


# --- members held back (issue 13) ----------------------------------------------------------------


def held_back_cell(html: str, group_id: int) -> str:
    row = re.search(rf'<tr[^>]*id="group-row-{group_id}".*?</tr>', html, re.S).group(0)
    return text_of(re.search(r'<td class="num col-held-back">.*?</td>', row, re.S).group(0))


def test_the_list_counts_held_back_members_per_group(client_in):
    protected, _, _ = fanned_out_group(
        {"motion": 0.1}, {"temporal_model_score": 0.8}, {"is_wildfire_alertapi": "other"}
    )
    smoky, _, _ = fanned_out_group(
        {"is_wildfire_alertapi": "other"}, {"motion": 0.1}, label=Label.smoke("wildfire")
    )
    plain = group_with_members(2, **fp())

    response = client_in.get(LIST, {"tab": "labeled"})

    html = response.content.decode()
    assert "Held back" in text_of(html)
    counts = {row.group.pk: row.held_back_count for row in response.context["rows"]}
    assert counts == {protected.pk: 2, smoky.pk: 1, plain.pk: 0}
    assert [held_back_cell(html, pk) for pk in counts] == ["2", "1", "0"]
