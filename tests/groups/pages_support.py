"""Helpers for the group page tests: htmx requests, page URLs, labeled groups, machine labels."""

from __future__ import annotations

import html
import itertools
import re
from datetime import timedelta

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services import group_stamp_members
from sequences.models import LabelSource, Sequence
from sequences.payloads import Label
from tests.factories import CameraFactory, SequenceFactory

HX = {"HTTP_HX_REQUEST": "true"}
BOX = {"xyxyn": [0.1, 0.1, 0.4, 0.4], "confidence": 0.9}
_alert_ids = itertools.count(700_000)


def detail(group, query: str = "") -> str:
    """The URL of a group's page, with a list query string."""
    return reverse("groups:detail", args=[group.pk]) + (f"?{query}" if query else "")


def smoke(value: str = "wildfire") -> dict:
    """SequenceGroupFactory fields of a group labeled smoke/<value>."""
    return {"smoke_type": value, "labeled_at": timezone.now()}


def fp(value: str = "antenna") -> dict:
    return {"false_positive_type": value, "labeled_at": timezone.now()}


def validated(user=None) -> dict:
    return {"is_validated": True, "validated_at": timezone.now(), "validated_by": user}


def stamp(
    group: SequenceGroup,
    sequence_ids: list[int],
    *,
    kind: str = OperationKind.INHERIT,
    label: Label | None = None,
    actor=None,
    details: dict | None = None,
) -> GroupOperation:
    """Write a machine label on `sequence_ids` the way the services do: one operation of
    `kind` and seed-and-stamp with the matching provenance (inherited / propagated / bulk)."""
    label = label or Label.smoke("wildfire")
    source = {
        OperationKind.INHERIT: LabelSource.INHERITED,
        OperationKind.PROPAGATE: LabelSource.PROPAGATED,
        OperationKind.BULK: LabelSource.BULK,
    }[kind]
    # The services run this in their own transaction (its row locks need one).
    with transaction.atomic():
        operation = GroupOperation.objects.create(
            kind=kind, group=group, actor=actor, details={"label": str(label), **(details or {})}
        )
        group_stamp_members(
            operation=operation,
            sequence_ids=sequence_ids,
            label=label,
            is_unsure=False,
            source=source,
            group_id=group.pk,
        )
    return operation


def tied_groups(count: int, *, members: int = 2) -> list[SequenceGroup]:
    """`count` groups that tie on every sort key: one camera, one azimuth, one created_at and
    `members` members each (no detections). Built with bulk inserts, so hundreds are quick."""
    camera = CameraFactory()
    created = timezone.now() - timedelta(days=1)
    groups = SequenceGroup.objects.bulk_create(
        SequenceGroup(camera=camera, azimuth=10, representative_bbox=BOX) for _ in range(count)
    )
    SequenceGroup.objects.filter(pk__in=[g.pk for g in groups]).update(created_at=created)
    Sequence.objects.bulk_create(
        SequenceFactory.build(
            alert_api_id=next(_alert_ids),
            camera=camera,
            azimuth=10,
            recorded_at=created,
            group=group,
        )
        for group in groups
        for _ in range(members)
    )
    return groups


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
