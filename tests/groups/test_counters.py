"""The counters the database keeps for the group pages (`groups.counters`): exact after every
membership and label-state change, whatever path made it, and verified and repaired by
`manage.py recount_groups`."""

import contextlib
import io
import random
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from groups import counters, selectors
from groups.assignment import assignment_run
from groups.counters import counters_drift
from groups.models import (
    TALLY_SIZE_CAP,
    CheckTally,
    GroupOperation,
    GroupOperationMember,
    GroupTally,
    GroupWriter,
    OperationKind,
    SequenceGroup,
)
from groups.services import (
    GroupServiceError,
    group_bulk_annotate,
    group_member_reinclude,
    group_member_remove,
    group_merge,
    group_operation_undo,
    group_split,
    group_unvalidate,
    group_validate,
    label_check_confirm,
    label_check_reject,
)
from sequences.models import Camera, LabelSource, Sequence, SequenceAnnotation
from sequences.queue import queue_drift
from sequences.services import annotation_write
from tests.factories import (
    CameraFactory,
    SequenceFactory,
    UserFactory,
    group_with_members,
    placeholder,
    sequence_with_boxes,
    smoke_annotation,
    stamp,
)
from tests.support import token_client

pytestmark = pytest.mark.django_db

# Two recurring spots per camera, far apart: a sequence near one joins its group.
SPOTS = ([0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.8, 0.8])


def assert_exact():
    assert counters_drift() == []
    assert queue_drift() == []
    for group in SequenceGroup.objects.all():
        assert group.member_count == Sequence.objects.filter(group=group).count()


# --- the random walk ---------------------------------------------------------------------------


class Walk:
    """Random membership and label-state changes through every path the site has."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.user = UserFactory(is_staff=True)
        self.cameras = [CameraFactory(name=f"Cam-{seed}-{i}") for i in range(2)]
        self.api = token_client(self.user)

    def pick(self, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        return self.rng.choice(ids) if ids else None

    # each step returns silently when it has nothing to act on

    def arrive(self):
        """New sequences, as an import makes them (a placeholder each), then a run."""
        for _ in range(self.rng.randint(1, 4)):
            camera = self.rng.choice(self.cameras)
            spot = self.rng.choice(SPOTS)
            box = [value + self.rng.uniform(-0.01, 0.01) for value in spot]
            sequence = sequence_with_boxes(box, camera=camera, azimuth=90)
            placeholder(sequence)
        assignment_run()

    def direct_member(self):
        """A sequence inserted straight into a group (a loader's or the admin's write)."""
        group_id = self.pick(SequenceGroup.objects.all())
        if group_id:
            group = SequenceGroup.objects.get(pk=group_id)
            SequenceFactory(camera=group.camera, azimuth=group.azimuth, group=group)

    def remove(self):
        sequence_id = self.pick(Sequence.objects.filter(group__isnull=False))
        if sequence_id:
            group_id = Sequence.objects.get(pk=sequence_id).group_id
            group_member_remove(group_id=group_id, sequence_id=sequence_id, actor=self.user)

    def remove_through_the_api(self):
        sequence_id = self.pick(Sequence.objects.filter(group__isnull=False))
        if sequence_id:
            group_id = Sequence.objects.get(pk=sequence_id).group_id
            response = self.api.delete(f"/api/v1/sequence_groups/{group_id}/members/{sequence_id}")
            assert response.status_code == 204

    def reinclude(self):
        sequence_id = self.pick(Sequence.objects.filter(is_group_excluded=True))
        if sequence_id:
            group_member_reinclude(sequence_id=sequence_id, actor=self.user)

    def bulk(self):
        group_id = self.pick(SequenceGroup.objects.all())
        if group_id:
            members = list(Sequence.objects.filter(group_id=group_id).values_list("pk", flat=True))
            group_bulk_annotate(
                sequence_ids=members[: self.rng.randint(1, 3)] or members,
                group_id=group_id,
                smoke_type=None,
                false_positive_type=self.rng.choice(["antenna", "building"]),
                actor=self.user,
            )

    def inherit(self):
        group_id = self.pick(SequenceGroup.objects.all())
        if group_id:
            members = Sequence.objects.filter(group_id=group_id).values_list("pk", flat=True)
            stamp(SequenceGroup.objects.get(pk=group_id), list(members)[:2])

    def reject(self):
        annotation = self.pick(
            SequenceAnnotation.objects.filter(
                label_source__in=["inherited", "bulk", "propagated"], checked_at__isnull=True
            )
        )
        if annotation:
            sequence_id = SequenceAnnotation.objects.get(pk=annotation).sequence_id
            label_check_reject(sequence_id=sequence_id, actor=self.user)

    def confirm(self):
        annotation = self.pick(
            SequenceAnnotation.objects.filter(
                label_source__in=["inherited", "bulk", "propagated"], checked_at__isnull=True
            )
        )
        if annotation:
            label_check_confirm(annotation_ids=[annotation], actor=self.user)

    def validate(self):
        group_id = self.pick(SequenceGroup.objects.all())
        if group_id:
            toggle = self.rng.choice([group_validate, group_unvalidate])
            toggle(group_id=group_id, actor=self.user)

    def human_save(self):
        sequence_id = self.pick(Sequence.objects.filter(group__isnull=False))
        if sequence_id:
            sequence = Sequence.objects.get(pk=sequence_id)
            detection = sequence.detections.first()
            if detection is None:
                return
            with transaction.atomic():
                annotation_write(
                    sequence=sequence,
                    annotation=smoke_annotation(detection.pk, "industrial"),
                    processing_stage="seq_annotation_done",
                    has_missed_smoke=False,
                    is_unsure=False,
                    source=LabelSource.HUMAN,
                    actor=self.user,
                )

    def undo(self):
        operation_id = self.pick(
            GroupOperation.objects.exclude(kind=OperationKind.UNDO).filter(undone_by__isnull=True)
        )
        if operation_id:
            group_operation_undo(operation_id=operation_id, actor=self.user)

    def merge(self):
        """Two groups of one camera direction made one (the regroup page's merge)."""
        group_id = self.pick(SequenceGroup.objects.filter(merged_into__isnull=True))
        if group_id:
            group = SequenceGroup.objects.get(pk=group_id)
            other = self.pick(
                SequenceGroup.objects.filter(
                    camera=group.camera, azimuth=group.azimuth, merged_into__isnull=True
                ).exclude(pk=group_id)
            )
            if other:
                group_merge(target_group_id=group_id, source_group_id=other, actor=self.user)

    def split(self):
        group_id = self.pick(SequenceGroup.objects.filter(member_count__gte=2))
        if group_id:
            members = list(Sequence.objects.filter(group_id=group_id).values_list("pk", flat=True))
            taken = self.rng.sample(members, self.rng.randint(1, len(members) - 1))
            group_split(group_id=group_id, sequence_ids=taken, actor=self.user)

    def delete_operation(self):
        """The admin's delete of an audit entry: its member rows go with it."""
        operation_id = self.pick(GroupOperation.objects.filter(members__isnull=False))
        if operation_id and self.rng.random() < 0.3:
            GroupOperation.objects.filter(pk=operation_id).delete()

    def delete_sequence(self):
        """The admin's delete: the sequence and what cascades from it."""
        sequence_id = self.pick(Sequence.objects.all())
        if sequence_id:
            Sequence.objects.filter(pk=sequence_id).delete()

    def delete_group(self):
        """The admin's delete of a group: its members become ungrouped (SET NULL)."""
        group_id = self.pick(SequenceGroup.objects.all())
        if group_id and self.rng.random() < 0.3:
            SequenceGroup.objects.filter(pk=group_id).delete()

    def rename_camera(self):
        camera = self.rng.choice(self.cameras)
        Camera.objects.filter(pk=camera.pk).update(name=f"{camera.name}-{self.rng.randint(0, 9)}")

    def stale_save(self):
        """A group saved whole from a copy read before its members changed."""
        group_id = self.pick(SequenceGroup.objects.all())
        if group_id:
            group = SequenceGroup.objects.get(pk=group_id)
            group.member_count = self.rng.choice([0, group.member_count + 5])
            group.camera_sort_name = "stale"
            group.save()

    def steps(self):
        return [
            self.arrive,
            self.arrive,
            self.direct_member,
            self.remove,
            self.remove_through_the_api,
            self.reinclude,
            self.bulk,
            self.inherit,
            self.reject,
            self.confirm,
            self.validate,
            self.human_save,
            self.undo,
            self.merge,
            self.split,
            self.delete_operation,
            self.delete_sequence,
            self.delete_group,
            self.rename_camera,
            self.stale_save,
        ]


@pytest.mark.parametrize("seed", range(8))
def test_random_walks_keep_every_stored_figure_exact(seed, settings):
    """A property test: random sequences of every operation that changes a membership or a
    group's label state, each followed by a comparison of every stored figure with a fresh
    count (`counters_drift`)."""
    settings.GROUPS_INHERITANCE_MIN_IOU = 0.3
    walk = Walk(seed)
    walk.arrive()
    done = []
    for _ in range(40):
        step = walk.rng.choice(walk.steps())
        # A refused action changes nothing, which is checked all the same.
        with contextlib.suppress(GroupServiceError):
            step()
        done.append(step.__name__)
        assert counters_drift() == [], done
        assert queue_drift() == [], done
    assert_exact()
    # The walks are worth something only if they went through the paths.
    assert {"arrive", "remove", "reinclude", "undo"} & set(done)


# --- the triggers, path by path ------------------------------------------------------------------


def test_members_joining_leaving_and_cascades_are_counted():
    group = group_with_members(3, detections=False)
    assert SequenceGroup.objects.get(pk=group.pk).member_count == 3
    member = group.members.first()
    group_member_remove(group_id=group.pk, sequence_id=member.pk, actor=None)
    assert SequenceGroup.objects.get(pk=group.pk).member_count == 2
    group.members.first().delete()
    assert SequenceGroup.objects.get(pk=group.pk).member_count == 1
    assert_exact()


def test_a_stale_save_keeps_the_stored_figures():
    group = group_with_members(2, detections=False, camera=CameraFactory(name="Brison"))
    stale = SequenceGroup.objects.get(pk=group.pk)
    SequenceFactory(camera=group.camera, group=group)
    stale.save()  # read with 2 members, saved whole after a third joined
    stored = SequenceGroup.objects.get(pk=group.pk)
    assert (stored.member_count, stored.camera_sort_name) == (3, "brison")
    assert_exact()


def test_a_camera_rename_moves_its_groups_in_the_camera_sort():
    camera = CameraFactory(name="Zulu")
    group = group_with_members(2, detections=False, camera=camera)
    Camera.objects.filter(pk=camera.pk).update(name="Alpha")
    assert SequenceGroup.objects.get(pk=group.pk).camera_sort_name == "alpha"


def test_deleting_a_group_takes_it_out_of_the_tallies():
    group = group_with_members(3, detections=False)
    assert selectors.group_stats()["total"] == 1
    group.delete()
    assert selectors.group_stats()["total"] == 0
    assert Sequence.objects.filter(group__isnull=True).count() == 3
    assert_exact()


def test_the_member_count_cannot_go_negative(postgres_only):
    from django.db import IntegrityError

    group = group_with_members(1, detections=False)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL groups.recount = 'on'")
        with pytest.raises(IntegrityError):
            SequenceGroup.objects.filter(pk=group.pk).update(member_count=-1)


@pytest.mark.parametrize("minimum", [1, 2, 3, TALLY_SIZE_CAP + 2])
def test_tab_counts_follow_the_listing_minimum(settings, minimum):
    settings.GROUPS_MIN_LISTED_MEMBERS = minimum
    sizes = [0, 1, 2, 3, TALLY_SIZE_CAP + 3]
    for size in sizes:
        group_with_members(size, detections=False)
    group_with_members(4, detections=False, smoke_type="wildfire", labeled_at=timezone.now())
    listed = [size for size in [*sizes, 4] if size >= minimum]
    stats = selectors.group_stats()
    assert stats["total"] == len(listed)
    assert stats["labeled"] == (1 if minimum <= 4 else 0)
    assert stats["total"] == selectors.group_list(tab="all").count()


def test_folding_the_tallies_keeps_every_count():
    for size in (2, 3, 3, 5):
        group_with_members(size, detections=False)
    before = selectors.group_stats()
    rows = GroupTally.objects.count()
    counters.tallies_fold()
    assert GroupTally.objects.count() < rows
    assert selectors.group_stats() == before
    assert_exact()


def test_reads_fold_the_tallies_when_the_rows_pile_up(settings, monkeypatch):
    monkeypatch.setattr(counters.reading, "FOLD_AFTER_ROWS", 5)
    for _ in range(4):
        group_with_members(2, detections=False)
    assert selectors.group_stats()["total"] == 4
    assert GroupTally.objects.filter(camera__isnull=True).count() <= 4
    assert selectors.group_stats()["total"] == 4


@pytest.mark.parametrize("threshold", [0.5, 0.505, 0.29, 0.3])
def test_look_closely_counts_the_threshold_exactly(settings, threshold):
    settings.GROUPS_LOOK_CLOSELY_RISK = threshold
    group = group_with_members(9)
    members = list(group.members.order_by("pk"))
    stamp(group, [m.pk for m in members], kind=OperationKind.BULK)
    risks = [0.29, 0.2999, 0.3, 0.499, 0.5, 0.504, 0.505, 0.51, None]
    for member, risk in zip(members, risks, strict=True):
        SequenceAnnotation.objects.filter(sequence=member).update(check_risk=risk)
    expected = sum(1 for risk in risks if risk is not None and risk >= threshold)
    assert counters.check_counts() == counters.CheckCounts(9, expected)
    assert CheckTally.objects.exists()
    assert_exact()


# --- recount_groups ------------------------------------------------------------------------------


def _run(*args) -> str:
    out = io.StringIO()
    call_command("recount_groups", *args, stdout=out)
    return out.getvalue()


def test_recount_reports_nothing_on_a_healthy_site():
    group_with_members(3, detections=False)
    assert "Every stored figure matches a fresh count." in _run()


def test_recount_finds_and_fixes_drift_in_the_tallies():
    group_with_members(3, detections=False)
    GroupTally.objects.create(camera=None, is_labeled=False, is_validated=False, size=3, groups=2)
    CheckTally.objects.create(risk_bucket=40, labels=-1)
    with pytest.raises(CommandError, match="drifted"):
        _run()
    assert selectors.group_stats()["total"] == 3  # what the drift made the badge say
    out = _run("--fix")
    assert "group_tally [None, False, False, False, 3]: stored 3, counted 1" in out
    assert "check_tally [40]: stored -1, counted 0" in out
    assert "Fixed (check_tally: 1, group_tally: 1)." in out
    assert selectors.group_stats()["total"] == 1
    assert "Every stored figure matches" in _run()


def test_recount_finds_and_fixes_drift_in_the_groups_writers():
    group = group_with_members(3, detections=False)
    operation = GroupOperation.objects.create(kind=OperationKind.CHECK)  # names no group
    GroupOperationMember.objects.bulk_create(
        GroupOperationMember(operation=operation, sequence=member) for member in group.members.all()
    )
    assert GroupWriter.objects.get(group=group, operation=operation).members == 3
    GroupWriter.objects.filter(group=group).delete()  # behind the triggers' back
    assert operation.pk not in [op.pk for op in selectors.group_history(group_id=group.pk)]
    out = _run("--fix")
    assert f"group_writers [{group.pk}, {operation.pk}]: stored 0, counted 3" in out
    assert GroupWriter.objects.get(group=group, operation=operation).members == 3
    assert operation.pk in [op.pk for op in selectors.group_history(group_id=group.pk)]
    assert "Every stored figure matches" in _run()


def test_recount_fixes_member_counts_written_behind_the_triggers(postgres_only):
    group = group_with_members(3, detections=False)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL groups.recount = 'on'")
        SequenceGroup.objects.filter(pk=group.pk).update(member_count=7, camera_sort_name="x")
    out = _run("--fix", "--json")
    assert '"member_count": 1' in out and '"camera_sort_name": 1' in out
    group.refresh_from_db()
    assert group.member_count == 3
    assert group.camera_sort_name == group.camera.name.lower()
    assert_exact()


# --- costs ---------------------------------------------------------------------------------------


def test_the_badges_cost_the_same_whatever_the_history(client_in, django_assert_num_queries):
    from tests.support import count_queries

    def badges():
        selectors.group_stats()
        selectors.unchecked_count()

    group_with_members(2, detections=False)
    few = count_queries(badges)
    for _ in range(20):
        group = group_with_members(3)
        stamp(group, list(group.members.values_list("pk", flat=True)))
    assert count_queries(badges) == few == 3


def test_old_history_is_dated_before_new():
    # A guard for the history panel's union: rows far in the past still sort last.
    group = group_with_members(2, detections=False)
    old = GroupOperation.objects.create(kind=OperationKind.VALIDATE, group=group)
    GroupOperation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=9))
    new = GroupOperation.objects.create(kind=OperationKind.UNVALIDATE, group=group)
    assert [op.pk for op in selectors.group_history(group_id=group.pk)] == [new.pk, old.pk]
