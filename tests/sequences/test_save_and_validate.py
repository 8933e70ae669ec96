"""The annotation page's "Save and validate the group": offered when the page was opened from
an unvalidated group's page; one transaction validates the group and saves, so the label fans
out at once (unchecked, in the check queue)."""

import pytest
from django.urls import reverse

from groups.models import GroupOperation, OperationKind
from sequences.models import LabelSource
from sequences.services import annotation_write
from tests.support import annotation_of, text_of

pytestmark = pytest.mark.django_db

BUTTON = "Save and validate the group"


def _url(sequence, group=None) -> str:
    url = reverse("sequences:annotate", args=[sequence.pk])
    return f"{url}?group={group.pk}" if group else url


def _wildfire(**extra) -> dict:
    return {"cluster_count": 1, "cluster-0-smoke_type": "wildfire", "missed_smoke": "no"} | extra


def test_offered_from_an_unvalidated_groups_page_only(client_in, world, seed_group):
    group = seed_group()
    assert BUTTON in client_in.get(_url(world.seq1, group)).content.decode()
    assert BUTTON not in client_in.get(_url(world.seq1)).content.decode()
    group.is_validated = True
    group.validated_at = group.created_at
    group.save()
    assert BUTTON not in client_in.get(_url(world.seq1, group)).content.decode()


def test_save_and_validate_fans_the_label_out_at_once(client_in, world, seed_group, annotator):
    group = seed_group()
    annotation_write(sequence=world.seq2, processing_stage="ready_to_annotate", source=None)

    response = client_in.post(_url(world.seq1, group), _wildfire(validate_group="1"), follow=True)

    group.refresh_from_db()
    assert group.is_validated and group.validated_by == annotator
    assert group.smoke_type == "wildfire"
    member = annotation_of(world.seq2)
    assert member.label_source == LabelSource.PROPAGATED and member.checked_at is None
    kinds = list(GroupOperation.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == [OperationKind.VALIDATE, OperationKind.PROPAGATE]
    text = text_of(response.content.decode())
    assert f"Group #{group.pk} validated" in text
    assert "1 other member updated" in text


def test_a_plain_save_from_the_group_page_does_not_validate(client_in, world, seed_group):
    group = seed_group()

    client_in.post(_url(world.seq1, group), _wildfire())

    group.refresh_from_db()
    assert not group.is_validated and group.smoke_type is None


def test_an_incomplete_form_validates_nothing(client_in, world, seed_group):
    group = seed_group()

    response = client_in.post(_url(world.seq1, group), {"cluster_count": 1, "validate_group": "1"})

    assert response.status_code == 200
    group.refresh_from_db()
    assert not group.is_validated
    assert not GroupOperation.objects.exists()


def test_unsure_without_a_label_validates_and_makes_the_group_unsure(client_in, world, seed_group):
    group = seed_group()

    client_in.post(
        _url(world.seq1, group), {"cluster_count": 1, "unsure": "on", "validate_group": "1"}
    )

    group.refresh_from_db()
    assert group.is_validated and group.is_unsure and group.labeled_at is None
    unsure_tab = client_in.get(reverse("groups:list"), {"tab": "unsure"})
    assert [row.group.pk for row in unsure_tab.context["rows"]] == [group.pk]
