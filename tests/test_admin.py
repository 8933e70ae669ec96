"""The Django admin (SPEC §6.5): every page answers, actions call the audited services."""

import json

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group as AuthGroup
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from annotation_site.accounts.tokens import api_token_create
from groups.models import AssignmentRun, GroupOperation, OperationKind, SequenceGroup
from groups.services import group_bulk_annotate
from sequences.models import LabelSource, SequenceAnnotation
from tests.factories import smoke_annotation
from tests.support import annotation_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def populated(world, seed_group, staff_user, annotator, human_save):
    """At least one row of every model the admin shows."""
    group = seed_group(validated=False)
    group_bulk_annotate(
        sequence_ids=[world.seq2.pk],
        group_id=group.pk,
        smoke_type=None,
        false_positive_type="antenna",
        actor=staff_user,
    )
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=annotator)
    now = timezone.now()
    AssignmentRun.objects.create(
        status="succeeded", trigger="command", started_at=now, heartbeat_at=now, finished_at=now
    )
    api_token_create(user=staff_user)
    lockout = {"username": "alice", "ip_address": "192.0.2.1", "user_agent": "tests"}
    AccessAttempt.objects.create(**lockout, failures_since_start=1)
    AccessFailureLog.objects.create(**lockout)
    AccessLog.objects.create(**lockout)
    AuthGroup.objects.create(name="annotators")
    world.group = group
    return world


def admin_url(model, view: str, *args) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_every_changelist_and_change_page_answers(client, populated, staff_user, model):
    client.force_login(staff_user)
    assert client.get(admin_url(model, "changelist")).status_code == 200
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, "the fixture should create a row of every registered model"
    assert client.get(admin_url(model, "change", obj.pk)).status_code == 200
    model_admin = admin.site._registry[model]
    add = client.get(admin_url(model, "add"))
    expected = 200 if model_admin.has_add_permission(_request(staff_user)) else 403
    assert add.status_code == expected


PROJECT_MODELS = [model for model in MODELS if model._meta.app_label in ("sequences", "groups")]


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda model: model._meta.label)
def test_every_changelist_offers_search_and_filters(client, populated, staff_user, model):
    """SPEC §6.5: every model of the site's own apps can be searched and filtered."""
    client.force_login(staff_user)
    html = client.get(admin_url(model, "changelist")).content.decode()
    assert 'id="changelist-search"' in html
    assert 'id="changelist-filter"' in html


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def test_changelist_search_and_filters_answer(client, populated, staff_user):
    client.force_login(staff_user)
    seq_list = admin_url(populated.seq1, "changelist")
    assert client.get(seq_list, {"q": "1"}).status_code == 200
    assert client.get(seq_list, {"q": "brison"}).status_code == 200
    stage = {"annotation__processing_stage__exact": "seq_annotation_done"}
    assert client.get(seq_list, stage).status_code == 200
    annotations = admin_url(SequenceAnnotation, "changelist")
    assert client.get(annotations, {"checked_at__isnull": "True"}).status_code == 200


def test_sequence_page_shows_its_detections_with_thumbnails(client, populated, staff_user):
    client.force_login(staff_user)
    page = client.get(admin_url(populated.seq1, "change", populated.seq1.pk)).content.decode()
    image = reverse("sequences:detection_image", args=[populated.det1.pk])
    assert f'src="{image}?variant=preview"' in page
    assert str(populated.det2.alert_api_id) in page


def test_anonymous_visitors_are_sent_to_the_admin_login(client, populated):
    for url in (reverse("admin:index"), admin_url(SequenceGroup, "changelist")):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url


def test_non_staff_cannot_use_the_admin(client, populated, annotator):
    client.force_login(annotator)
    response = client.get(admin_url(SequenceGroup, "changelist"))
    assert response.status_code == 302 and "/admin/login/" in response.url


def _action(client, model, action: str, ids: list[int]):
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in ids], "index": "0"},
        follow=True,
    )


def test_validate_and_unvalidate_actions_call_the_services(client, populated, staff_user):
    client.force_login(staff_user)
    group = populated.group

    response = _action(client, SequenceGroup, "validate", [group.pk])
    group.refresh_from_db()
    assert group.is_validated and group.validated_by == staff_user
    assert f"Validated group(s) {group.pk}" in response.content.decode()
    assert GroupOperation.objects.filter(kind=OperationKind.VALIDATE, group=group).count() == 1

    response = _action(client, SequenceGroup, "validate", [group.pk])
    assert f"Group(s) {group.pk} already validated" in response.content.decode()
    assert GroupOperation.objects.filter(kind=OperationKind.VALIDATE).count() == 1

    _action(client, SequenceGroup, "unvalidate", [group.pk])
    group.refresh_from_db()
    assert not group.is_validated and group.validated_at is None
    assert GroupOperation.objects.filter(kind=OperationKind.UNVALIDATE, group=group).exists()


def test_label_fields_of_a_group_are_read_only(client, populated, staff_user):
    client.force_login(staff_user)
    page = client.get(admin_url(SequenceGroup, "change", populated.group.pk)).content.decode()
    for name in ("smoke_type", "false_positive_type", "is_unsure", "is_validated", "labeled_at"):
        assert f'name="{name}"' not in page
    assert (
        "Validate selected groups"
        in client.get(admin_url(SequenceGroup, "changelist")).content.decode()
    )


def test_undo_action_reverts_and_reports_a_second_undo(client, populated, staff_user):
    client.force_login(staff_user)
    bulk = GroupOperation.objects.get(kind=OperationKind.BULK)
    assert annotation_of(populated.seq2).false_positive_types == ["antenna"]

    response = _action(client, GroupOperation, "undo", [bulk.pk])
    assert f"Undid operation {bulk.pk}" in response.content.decode()
    assert annotation_of(populated.seq2) is None  # the bulk write created it
    populated.group.refresh_from_db()
    assert populated.group.false_positive_type is None
    assert GroupOperation.objects.filter(kind=OperationKind.UNDO, undo_of=bulk).exists()

    response = _action(client, GroupOperation, "undo", [bulk.pk])
    assert "has already been undone" in response.content.decode()
    assert GroupOperation.objects.filter(kind=OperationKind.UNDO).count() == 1


def _annotation_form(annotation: dict, stage: str = "seq_annotation_done") -> dict:
    return {
        "annotation": json.dumps(annotation),
        "processing_stage": stage,
        "has_missed_smoke": "",
        "is_unsure": "",
    }


def test_admin_edit_recomputes_flags_and_never_propagates(client, populated, staff_user):
    client.force_login(staff_user)
    group = populated.group
    # Validated and unlabeled: a human save here would label the group and fan out.
    SequenceGroup.objects.filter(pk=group.pk).update(
        is_validated=True,
        validated_at=group.created_at,
        false_positive_type=None,
        labeled_at=None,
        labeled_by=None,
    )
    row = annotation_of(populated.seq1)
    other_before = annotation_of(populated.seq2).annotation
    operations = GroupOperation.objects.count()

    edited = smoke_annotation(populated.det2.pk, "industrial")
    response = client.post(
        admin_url(SequenceAnnotation, "change", row.pk), _annotation_form(edited)
    )

    assert response.status_code == 302
    row.refresh_from_db()
    assert row.smoke_types == ["industrial"] and row.has_smoke is True
    assert row.updated_by == staff_user and row.label_source == LabelSource.HUMAN
    assert annotation_of(populated.seq2).annotation == other_before
    group.refresh_from_db()
    assert (group.smoke_type, group.false_positive_type) == (None, None)
    assert GroupOperation.objects.count() == operations


def test_admin_refuses_a_bad_annotation_naming_the_field(client, populated, staff_user):
    client.force_login(staff_user)
    row = annotation_of(populated.seq1)
    bad = smoke_annotation(populated.det1.pk, "wildfire")
    bad["sequences_bbox"][0]["bboxes"][0]["xyxyn"] = [0.1, 0.1, 1.5, 0.4]
    response = client.post(admin_url(SequenceAnnotation, "change", row.pk), _annotation_form(bad))
    assert response.status_code == 200
    assert (
        "sequences_bbox.0.bboxes.0.xyxyn: coordinates must be between 0 and 1"
        in response.content.decode()
    )

    foreign = smoke_annotation(populated.det3.pk, "wildfire")
    response = client.post(
        admin_url(SequenceAnnotation, "change", row.pk), _annotation_form(foreign)
    )
    message = f"detections [{populated.det3.pk}] do not belong to sequence {populated.seq1.pk}"
    assert message in response.content.decode()
    row.refresh_from_db()
    assert row.smoke_types == ["wildfire"]


def test_tokens_can_be_revoked(client, populated, staff_user):
    client.force_login(staff_user)
    token = AuthToken.objects.get(user=staff_user)
    response = client.post(admin_url(AuthToken, "delete", token.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not AuthToken.objects.filter(pk=token.pk).exists()
