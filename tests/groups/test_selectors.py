"""Reads of the groups app: list, counts, neighbours, previews, detail, history, check queue."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groups import selectors
from groups.counters import counters_drift
from groups.models import GroupOperation, GroupOperationMember, OperationKind, SequenceGroup
from groups.presenters import member_card
from sequences.models import ProcessingStage, Sequence, SequenceAnnotation
from tests.factories import (
    CameraFactory,
    DetectionFactory,
    OrganizationFactory,
    SequenceFactory,
    UserFactory,
    fanned_out_group,
    group_with_members,
    stamp,
    tied_detections,
)
from tests.support import annotation_of, pin_hold_back_thresholds, removed_of

pytestmark = pytest.mark.django_db


def smoke(value="wildfire"):
    return {"smoke_type": value, "labeled_at": timezone.now()}


def fp(value="antenna"):
    return {"false_positive_type": value, "labeled_at": timezone.now()}


def ids(queryset):
    return [group.pk for group in queryset]


# --- group_list and group_stats --------------------------------------------------------------


def test_singletons_are_hidden_from_list_and_stats():
    listed = group_with_members(2, detections=False)
    group_with_members(1, detections=False)
    group_with_members(0, detections=False)
    assert ids(selectors.group_list(tab="all")) == [listed.pk]
    assert selectors.group_stats()["total"] == 1


def test_min_listed_members_setting_is_honoured(settings):
    settings.GROUPS_MIN_LISTED_MEMBERS = 3
    group_with_members(2, detections=False)
    big = group_with_members(3, detections=False)
    assert ids(selectors.group_list(tab="all")) == [big.pk]


def test_tabs_split_labeled_from_unlabeled():
    unlabeled = group_with_members(2, detections=False)
    smoky = group_with_members(2, detections=False, **smoke())
    antenna = group_with_members(2, detections=False, **fp())
    assert set(ids(selectors.group_list(tab="unlabeled"))) == {unlabeled.pk}
    assert set(ids(selectors.group_list(tab="labeled"))) == {smoky.pk, antenna.pk}
    assert set(ids(selectors.group_list(tab="all"))) == {unlabeled.pk, smoky.pk, antenna.pk}


def test_list_rows_carry_member_count_and_camera():
    group = group_with_members(3, detections=False)
    (row,) = selectors.group_list(tab="all")
    assert row.member_count == 3
    assert row.camera.organization.name == group.camera.organization.name


def test_camera_and_organization_filters():
    org = OrganizationFactory()
    camera_a = CameraFactory(organization=org)
    camera_b = CameraFactory(organization=org)
    a = group_with_members(2, detections=False, camera=camera_a)
    b = group_with_members(2, detections=False, camera=camera_b)
    other = group_with_members(2, detections=False)
    assert ids(selectors.group_list(tab="all", camera_id=camera_a.pk)) == [a.pk]
    assert set(ids(selectors.group_list(tab="all", organization_id=org.pk))) == {a.pk, b.pk}
    assert other.pk not in ids(selectors.group_list(tab="all", organization_id=org.pk))
    assert selectors.group_stats(organization_id=org.pk)["total"] == 2


def test_validated_filter():
    validated = group_with_members(
        2, detections=False, is_validated=True, validated_at=timezone.now()
    )
    group_with_members(2, detections=False)
    assert ids(selectors.group_list(tab="all", is_validated=True)) == [validated.pk]


@pytest.mark.parametrize(
    ("order_by", "make_key"),
    [
        ("member_count", lambda g: g.members.count()),
        ("created_at", lambda g: g.created_at),
        ("camera", lambda g: g.camera.name.lower()),
        ("azimuth", lambda g: g.azimuth),
    ],
)
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_every_order_key_sorts_with_id_as_last_tie_break(order_by, make_key, direction):
    cameras = [CameraFactory(name=name) for name in ("Brison", "alpha", "brison-2")]
    groups = []
    for index in range(6):
        groups.append(
            group_with_members(
                2 + index % 2, detections=False, camera=cameras[index % 3], azimuth=index % 2 * 90
            )
        )
    # Two groups share one created_at, so that key needs the tie-break too.
    same_time = timezone.now() - timedelta(days=1)
    SequenceGroup.objects.filter(pk__in=[groups[0].pk, groups[1].pk]).update(created_at=same_time)
    for group in groups:
        group.refresh_from_db()
    reverse = direction == "desc"
    expected = sorted(groups, key=lambda g: (make_key(g), g.pk), reverse=reverse)
    got = ids(selectors.group_list(tab="all", order_by=order_by, direction=direction))
    assert got == [g.pk for g in expected]


def test_default_order_is_biggest_first():
    small = group_with_members(2, detections=False)
    big = group_with_members(4, detections=False)
    assert ids(selectors.group_list(tab="all")) == [big.pk, small.pk]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ({"tab": "done"}, selectors.UNKNOWN_TAB),
        ({"order_by": "label"}, selectors.UNKNOWN_ORDER),
        ({"direction": "up"}, selectors.UNKNOWN_DIRECTION),
    ],
)
def test_unknown_list_arguments_are_refused_by_name(argument, message):
    with pytest.raises(ValueError, match=message):
        selectors.group_list(**argument)


def test_stats_counts_the_listed_population(django_assert_num_queries):
    group_with_members(2, detections=False)
    group_with_members(3, detections=False, **smoke())
    group_with_members(2, detections=False, is_validated=True, validated_at=timezone.now())
    group_with_members(1, detections=False, **fp())  # a singleton: not counted
    with django_assert_num_queries(1):
        stats = selectors.group_stats()
    assert stats == {
        "total": 3,
        "labeled": 1,
        "unsure": 0,
        "unlabeled": 2,
        "validated": 1,
        "unvalidated": 2,
    }


def test_stats_of_an_empty_site():
    assert selectors.group_stats() == {
        "total": 0,
        "labeled": 0,
        "unsure": 0,
        "unlabeled": 0,
        "validated": 0,
        "unvalidated": 0,
    }


# --- neighbours --------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("order_by", selectors.ORDER_KEYS)
def test_neighbors_follow_the_list_order(order_by, direction):
    groups = [group_with_members(2 + i % 3, detections=False, azimuth=i * 10) for i in range(5)]
    SequenceGroup.objects.filter(pk__in=[g.pk for g in groups[:3]]).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    ordered = ids(selectors.group_list(tab="all", order_by=order_by, direction=direction))
    for index, group_id in enumerate(ordered):
        group = SequenceGroup.objects.select_related("camera").get(pk=group_id)
        previous_id, next_id = selectors.group_neighbors(
            group=group,
            member_count=group.members.count(),
            tab="all",
            order_by=order_by,
            direction=direction,
        )
        assert previous_id == (ordered[index - 1] if index > 0 else None)
        assert next_id == (ordered[index + 1] if index + 1 < len(ordered) else None)


def test_neighbors_of_a_group_that_left_the_tab():
    first = group_with_members(4, detections=False)
    labeled = group_with_members(3, detections=False, **smoke())
    last = group_with_members(2, detections=False)
    previous_id, next_id = selectors.group_neighbors(group=labeled, member_count=3, tab="unlabeled")
    assert (previous_id, next_id) == (first.pk, last.pk)


# --- previews ----------------------------------------------------------------------------------


def test_previews_pick_first_middle_and_last_member(django_assert_num_queries):
    group = group_with_members(5)
    two = group_with_members(2)
    empty = group_with_members(3, detections=False)
    members = list(group.members.order_by("recorded_at", "id"))
    firsts = [m.detections.order_by("recorded_at", "id").first().pk for m in members]
    with django_assert_num_queries(1):
        previews = selectors.group_previews(group_ids=[group.pk, two.pk, empty.pk])
    assert previews[group.pk] == [firsts[0], firsts[2], firsts[4]]
    assert len(previews[two.pk]) == 2
    assert previews[empty.pk] == []


def test_preview_uses_the_lower_id_when_detections_share_recorded_at():
    group = group_with_members(2, detections=False)
    first_member = group.members.order_by("recorded_at", "id").first()
    moment = first_member.recorded_at
    lower, _ = tied_detections(first_member, moment)
    assert selectors.group_previews(group_ids=[group.pk])[group.pk][0] == lower.pk


# --- one group ---------------------------------------------------------------------------------


def test_group_detail_orders_members_and_finds_first_detections():
    group = group_with_members(0)
    now = timezone.now()
    late = SequenceFactory(camera=group.camera, group=group, recorded_at=now)
    early = SequenceFactory(camera=group.camera, group=group, recorded_at=now - timedelta(hours=1))
    tie = SequenceFactory(camera=group.camera, group=group, recorded_at=now)
    lower = DetectionFactory(sequence=early, recorded_at=now - timedelta(minutes=5))
    DetectionFactory(sequence=early, recorded_at=now - timedelta(minutes=5))
    detail = selectors.group_detail(group_id=group.pk)
    assert [m.sequence.pk for m in detail.members] == [early.pk, late.pk, tie.pk]
    assert detail.members[0].first_detection.pk == lower.pk
    assert detail.members[1].first_detection is None
    assert all(m.annotation is None for m in detail.members)


def test_group_detail_exposes_a_placeholder_annotation():
    group = group_with_members(2)
    member = group.members.first()
    SequenceAnnotation.objects.create(
        sequence=member, processing_stage=ProcessingStage.READY_TO_ANNOTATE
    )
    detail = selectors.group_detail(group_id=group.pk)
    rows = {m.sequence.pk: m.annotation for m in detail.members}
    assert rows[member.pk].processing_stage == ProcessingStage.READY_TO_ANNOTATE
    assert not rows[member.pk].is_locked


def test_group_detail_unknown_id():
    with pytest.raises(SequenceGroup.DoesNotExist):
        selectors.group_detail(group_id=404)


@pytest.mark.parametrize("size", [3, 30])
def test_group_detail_query_count_does_not_grow(size, django_assert_num_queries):
    group = group_with_members(size)
    for member in group.members.all()[: size // 2]:
        SequenceAnnotation.objects.create(
            sequence=member, processing_stage=ProcessingStage.READY_TO_ANNOTATE
        )
    with django_assert_num_queries(3):
        detail = selectors.group_detail(group_id=group.pk)
        # The cards read only what the page's reads brought: no query per member.
        cards = [member_card(m, group_id=group.pk, reference=None) for m in detail.members]
        for member in detail.members:
            assert member.first_detection.sequence_id == member.sequence.pk
    assert [card.stage for card in cards].count("Ready to annotate") == size // 2


def test_removed_members_are_the_still_excluded_ones_last_removed_from_this_group():
    group = group_with_members(2, detections=False)
    other = group_with_members(2, detections=False)
    still_out = SequenceFactory(is_group_excluded=True)
    back_in = SequenceFactory()
    moved_on = SequenceFactory(is_group_excluded=True)
    for sequence in (still_out, back_in, moved_on):
        GroupOperation.objects.create(
            kind=OperationKind.REMOVE_MEMBER, group=group, sequence=sequence
        )
    GroupOperation.objects.create(kind=OperationKind.REMOVE_MEMBER, group=other, sequence=moved_on)
    removed = removed_of(group.pk)
    assert [r.sequence.pk for r in removed] == [still_out.pk]
    assert [r.sequence.pk for r in removed_of(other.pk)] == [moved_on.pk]


def test_history_lists_operations_of_the_group_and_of_its_members():
    group = group_with_members(2, detections=False)
    member = group.members.first()
    user = UserFactory()
    validate = GroupOperation.objects.create(kind=OperationKind.VALIDATE, group=group, actor=user)
    check = GroupOperation.objects.create(kind=OperationKind.CHECK, actor=user)
    GroupOperationMember.objects.create(operation=check, sequence=member)
    undo = GroupOperation.objects.create(kind=OperationKind.UNDO, undo_of=validate, actor=user)
    GroupOperation.objects.create(kind=OperationKind.VALIDATE, group=group_with_members(2))
    history = selectors.group_history(group_id=group.pk)
    assert [op.pk for op in history] == [undo.pk, check.pk, validate.pk]
    by_id = {op.pk: op for op in history}
    assert by_id[check.pk].member_count == 1
    assert by_id[validate.pk].undone_by.pk == undo.pk


def test_history_follows_a_member_to_its_new_group():
    """An operation that wrote a member is in the history of the group the member is in now,
    whichever way it moved, and leaves the history of a group it no longer wrote any member of."""
    group = group_with_members(2, detections=False)
    other = group_with_members(2, detections=False)
    member, stays = group.members.order_by("pk")
    check = GroupOperation.objects.create(kind=OperationKind.CHECK)
    GroupOperationMember.objects.create(operation=check, sequence=member)

    def histories():
        return [
            check.pk in [op.pk for op in selectors.group_history(group_id=g.pk, limit=limit)]
            for g in (group, other)
            for limit in (25, None)
        ]

    assert histories() == [True, True, False, False]
    Sequence.objects.filter(pk=member.pk).update(group=other)
    assert histories() == [False, False, True, True]
    GroupOperationMember.objects.create(operation=check, sequence=stays)
    assert histories() == [True, True, True, True]
    Sequence.objects.filter(pk=member.pk).delete()
    assert histories() == [True, True, False, False]
    assert counters_drift() == []


# --- the check queue ---------------------------------------------------------------------------


def test_unchecked_machine_labels_riskiest_first_then_sequence_id(settings):
    pin_hold_back_thresholds(settings)  # motion from 0.025, score from 0.5, look closely from 0.5
    # Propagated FP labels: risks 0.8 (motion), 0 (twice, tied), 0.9 (temporal score).
    _, saver, (moving, calm, quiet, scored) = fanned_out_group(
        {"motion": 0.02}, {}, {}, {"temporal_model_score": 0.45}
    )
    checked = annotation_of(quiet)
    SequenceAnnotation.objects.filter(pk=checked.pk).update(checked_at=timezone.now())
    bulk = group_with_members(2)
    loose = bulk.members.order_by("id")[0]
    stamp(bulk, [loose.pk], kind=OperationKind.BULK)

    queue = list(selectors.unchecked_machine_labels())

    assert [row.sequence_id for row in queue] == [scored.pk, moving.pk, calm.pk, loose.pk]
    assert [row.check_risk for row in queue] == [0.9, 0.8, 0.0, 0.0]
    assert selectors.unchecked_count() == selectors.CheckCounts(total=4, look_closely=2)
    assert queue[0].first_detection_id == scored.detections.get().pk
    assert saver.pk not in {row.sequence_id for row in queue}  # a human label
