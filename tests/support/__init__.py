"""Helpers the tests share that are neither fixtures (conftest.py) nor data builders
(factories.py): reading rows back, talking to the API as a script does, reading pages."""

from __future__ import annotations

import html
import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from annotation_site.accounts.tokens import api_token_create
from groups.selectors import group_removed_page
from sequences.models import SequenceAnnotation
from sequences.services import annotation_snapshot


def annotation_of(sequence) -> SequenceAnnotation | None:
    return SequenceAnnotation.objects.filter(sequence=sequence).first()


def snapshot_of(sequence) -> dict | None:
    """The annotation snapshot of a sequence as the audit log would take it now."""
    return annotation_snapshot(SequenceAnnotation.objects.filter(sequence=sequence).first())


def token_client(user, scheme: str = "Bearer") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {api_token_create(user=user)}")
    return client


def detail_locs(response) -> list[list]:
    """The `loc` of every field error of a 422."""
    assert response.status_code == 422, response.content
    return [error["loc"] for error in response.json()["detail"]]


def walk_pages(client, path: str, *, size: int = 50, **params) -> list[int]:
    """Every id of a list, page after page."""
    ids, page = [], 1
    while True:
        body = client.get(path, {**params, "page": page, "size": size}).json()
        ids += [item["id"] for item in body["items"]]
        if page >= body["pages"]:
            return ids
        page += 1


HX = {"HTTP_HX_REQUEST": "true"}


def detail(group, query: str = "") -> str:
    """The URL of a group's page, with a list query string."""
    return reverse("groups:detail", args=[group.pk]) + (f"?{query}" if query else "")


def removed_of(group_id: int) -> list:
    """Every member removed from a group by hand and still out, newest removal first (the
    group page's Removed section, all on one page)."""
    rows, _ = group_removed_page(group_id=group_id, number=1, size=10_000)
    return rows


def count_queries(func) -> int:
    """How many queries `func()` runs."""
    with CaptureQueriesContext(connection) as context:
        func()
    return len(context.captured_queries)


def oob_ids(markup: str) -> set[str]:
    """Ids of the elements an htmx answer swaps out of band."""
    return set(re.findall(r'<[a-z]+[^>]*\bid="([^"]+)"[^>]*\bhx-swap-oob="true"', markup))


def text_of(markup: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed (for verbatim checks)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup))).strip()


def pin_hold_back_thresholds(settings, *, temporal_score=0.5, motion=0.025, look_closely=0.5):
    """Fix the hold-back thresholds and the look-closely level a test's figures are written
    for (`settings` is pytest-django's fixture), whatever the site's defaults become."""
    settings.GROUPS_HOLD_BACK_TEMPORAL_SCORE = temporal_score
    settings.GROUPS_HOLD_BACK_MOTION = motion
    settings.GROUPS_LOOK_CLOSELY_RISK = look_closely
