"""Destructive writes are staff's, and every annotation delete is audited and undoable
(finding 6): deleting an annotation, `force` in bulk, and renaming or moving an existing camera
or organisation need staff or a permission an admin grants; annotators keep every other action.
"""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from groups.models import GroupOperation, OperationKind
from groups.services import FORCE_FORBIDDEN
from sequences.models import Camera, Organization, SequenceAnnotation
from sequences.services import annotation_snapshot, sequence_create
from tests.factories import UserFactory, add_members, human_label, labeled_group
from tests.support import annotation_of, token_client

pytestmark = pytest.mark.django_db

ANNOTATION = "/api/v1/annotations/sequences/{}"
BULK = "/api/v1/annotations/sequences/bulk"
SEQUENCES = "/api/v1/sequences/"
UNDO = "/api/v1/sequence_groups/operations/{}/undo"


def _granted(username: str, codename: str):
    user = UserFactory(username=username)
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def done(world):
    """Sequence 1 of the world, labeled smoke/wildfire by a person (a final annotation)."""
    row = human_label(world.seq1, world.det1, stage="seq_annotation_done", smoke_type="wildfire")
    return row.annotation


# --- Deleting an annotation ----------------------------------------------------------------------


def test_an_annotator_cannot_delete_an_annotation(done, annotator_api):
    response = annotator_api.delete(ANNOTATION.format(done.pk))

    assert response.status_code == 403
    assert "needs staff" in response.json()["detail"]
    assert SequenceAnnotation.objects.filter(pk=done.pk).exists()


def test_a_delete_by_staff_is_audited_and_staff_can_undo_it(done, world, api, staff_user):
    before = annotation_snapshot(done)

    assert api.delete(ANNOTATION.format(done.pk)).status_code == 204

    assert annotation_of(world.seq1) is None
    world.seq1.refresh_from_db()
    assert world.seq1.label_withdrawn_at is not None
    operation = GroupOperation.objects.get(kind=OperationKind.DELETE)
    assert (operation.actor, operation.sequence) == (staff_user, world.seq1)
    [member] = operation.members.all()
    assert (member.before, member.after) == (before, None)

    undo = api.post(UNDO.format(operation.pk))

    assert undo.status_code == 200 and undo.json()["restored"] == [world.seq1.pk]
    restored = annotation_snapshot(annotation_of(world.seq1))
    assert {k: v for k, v in restored.items() if k != "annotation_id"} == {
        k: v for k, v in before.items() if k != "annotation_id"
    }


def test_a_user_granted_the_delete_permission_may_delete(done):
    client = token_client(_granted("reviewer", "delete_sequenceannotation"))

    assert client.delete(ANNOTATION.format(done.pk)).status_code == 204
    assert GroupOperation.objects.filter(kind=OperationKind.DELETE).count() == 1


def test_a_delete_in_the_admin_goes_through_the_audited_service(client, done, world, staff_user):
    client.force_login(staff_user)
    url = reverse("admin:sequences_sequenceannotation_delete", args=[done.pk])

    assert client.post(url, {"post": "yes"}).status_code == 302

    world.seq1.refresh_from_db()
    assert world.seq1.label_withdrawn_at is not None
    operation = GroupOperation.objects.get(kind=OperationKind.DELETE)
    assert operation.actor == staff_user and operation.members.get().after is None


def test_the_admin_delete_action_audits_each_row(client, done, world, staff_user):
    other = human_label(world.seq2, world.det3, stage="seq_annotation_done", fp="antenna")
    client.force_login(staff_user)

    client.post(
        reverse("admin:sequences_sequenceannotation_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [done.pk, other.annotation.pk],
            "post": "yes",
        },
    )

    assert not SequenceAnnotation.objects.exists()
    deleted = GroupOperation.objects.filter(kind=OperationKind.DELETE)
    assert sorted(deleted.values_list("sequence_id", flat=True)) == [world.seq1.pk, world.seq2.pk]


# --- force in bulk -------------------------------------------------------------------------------


@pytest.fixture
def antenna_group(world):
    group = labeled_group(world.cam1, smoke_type=None, fp="antenna")
    members = add_members(group, 2, placeholders=True)
    return group, [member.pk for member in members]


def _force(client, group, ids):
    body = {"sequence_ids": ids, "group_id": group.pk, "smoke_type": "wildfire", "force": True}
    return client.post(BULK, body, format="json")


def test_an_annotator_cannot_force_a_groups_label_away(antenna_group, annotator_api):
    group, ids = antenna_group

    response = _force(annotator_api, group, ids)

    assert response.status_code == 403
    assert response.json() == {"detail": FORCE_FORBIDDEN.format(group_id=group.pk)}
    group.refresh_from_db()
    assert group.false_positive_type == "antenna"
    assert not GroupOperation.objects.exists()


def test_staff_and_holders_of_the_permission_may_force(antenna_group, api):
    group, ids = antenna_group
    reviewer = token_client(_granted("reviewer", "change_sequencegroup"))

    assert _force(reviewer, group, ids[:1]).status_code == 200
    group.refresh_from_db()
    assert group.smoke_type == "wildfire"
    group.smoke_type, group.false_positive_type = None, "antenna"
    group.save()
    assert _force(api, group, ids[1:]).status_code == 200


def test_annotators_keep_bulk_without_a_conflict_even_with_force_set(world, annotator_api):
    group = labeled_group(world.cam1, smoke_type=None, fp="antenna")
    ids = [member.pk for member in add_members(group, 2, placeholders=True)]

    response = annotator_api.post(
        BULK,
        {
            "sequence_ids": ids,
            "group_id": group.pk,
            "false_positive_type": "antenna",
            "force": True,
        },
        format="json",
    )

    assert response.status_code == 200
    assert len(response.json()["applied"]) == 2


# --- Renaming cameras and organisations through POST /sequences/ ----------------------------------


def _create(client, alert_api_id: int, **overrides):
    body = {
        "source_api": "pyronear_french",
        "alert_api_id": alert_api_id,
        "camera_id": 1,
        "camera_name": "habile",
        "organisation_id": 1,
        "organisation_name": "org-1",
        "lat": 44.5,
        "lon": 4.2,
        "recorded_at": "2025-07-01T12:00:00Z",
        **overrides,
    }
    return client.post(SEQUENCES, body, format="json")


@pytest.mark.parametrize(
    ("change", "needs"),
    [
        ({"camera_name": "renamed"}, "sequences.change_camera"),
        ({"organisation_name": "renamed"}, "sequences.change_organization"),
        ({"organisation_id": 2, "organisation_name": "org-2"}, "sequences.change_camera"),
    ],
    ids=["camera-name", "organisation-name", "camera-organisation"],
)
def test_an_annotator_cannot_rename_or_move_an_existing_camera_or_organisation(
    world, annotator_api, change, needs
):
    response = _create(annotator_api, 900, **change)

    assert response.status_code == 403
    assert needs in response.json()["detail"]
    assert Camera.objects.get(pk=world.cam1.pk).name == "habile"
    assert Camera.objects.get(pk=world.cam1.pk).organization == world.org1
    assert Organization.objects.get(pk=world.org1.pk).name == "org-1"
    assert not world.cam1.sequences.filter(alert_api_id=900).exists()


def test_annotators_still_create_sequences_cameras_and_organisations(world, annotator_api):
    assert _create(annotator_api, 901).status_code == 201
    created = _create(
        annotator_api,
        902,
        camera_id=77,
        camera_name="new",
        organisation_id=78,
        organisation_name="new-org",
    )
    assert created.status_code == 201
    assert Camera.objects.filter(platform_id=77, name="new").exists()


def test_staff_rename_through_the_api_and_imports_follow_the_platform(world, api):
    assert _create(api, 903, camera_name="by-staff").status_code == 201
    assert Camera.objects.get(pk=world.cam1.pk).name == "by-staff"

    sequence_create(
        source_api="pyronear_french",
        alert_api_id=904,
        organization_id=1,
        organization_name="renamed-by-the-platform",
        camera_id=1,
        camera_name="habile",
        lat=44.5,
        lon=4.2,
        azimuth=None,
        is_wildfire_alertapi=None,
        recorded_at=world.seq1.recorded_at,
        last_seen_at=None,
    )
    assert Organization.objects.get(pk=world.org1.pk).name == "renamed-by-the-platform"


def test_an_inactive_staff_user_may_do_nothing_reserved(done):
    user = UserFactory(username="former", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    user.is_active = False

    assert client.delete(ANNOTATION.format(done.pk)).status_code == 403
