"""Merging and splitting groups, and their undo: members, labels, the audit log, the stored
counters, the assignment afterwards (SQLite and PostgreSQL; the concurrent run on PostgreSQL)."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from annotation_site.errors import http_status
from groups.assignment import assignment_run
from groups.candidates import merge_candidates
from groups.counters import counters_drift
from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services import (
    MERGE_SAME_GROUP,
    SPLIT_ALL_MEMBERS,
    FieldErrors,
    GroupNotFound,
    MergeLabelsDiffer,
    MergeRefused,
    NotMembers,
    group_member_remove,
    group_merge,
    group_operation_undo,
    group_split,
)
from sequences.models import LabelSource, ProcessingStage, Sequence
from tests.factories import (
    SequenceGroupFactory,
    add_members,
    fp,
    human_label,
    sequence_with_boxes,
    smoke,
    validated,
)
from tests.support import annotation_of, count_queries

pytestmark = pytest.mark.django_db

DONE = ProcessingStage.SEQ_ANNOTATION_DONE
FAR = [0.6, 0.6, 0.9, 0.9]


def _group(camera=None, box=(0.1, 0.1, 0.4, 0.4), **fields) -> SequenceGroup:
    extra = {"camera": camera} if camera else {}
    return SequenceGroupFactory(
        representative_bbox={"xyxyn": list(box), "confidence": 0.9}, **extra, **fields
    )


def _members(group) -> set[int]:
    return set(Sequence.objects.filter(group=group).values_list("pk", flat=True))


# --- merge -------------------------------------------------------------------------------------


def test_merge_moves_every_member_and_keeps_the_targets_box(annotator):
    target = _group()
    source = _group(camera=target.camera, box=(0.12, 0.1, 0.42, 0.4))
    kept, moved = add_members(target, 2), add_members(source, 3)

    outcome = group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)

    assert _members(target) == {s.pk for s in kept + moved}
    target.refresh_from_db()
    source.refresh_from_db()
    assert target.representative_bbox["xyxyn"] == [0.1, 0.1, 0.4, 0.4]
    assert (target.member_count, source.member_count) == (5, 0)
    assert source.merged_into_id == target.pk
    assert outcome.moved == 3 and outcome.label_taken is None
    operation = GroupOperation.objects.get(pk=outcome.operation_id)
    assert operation.kind == OperationKind.MERGE
    assert operation.group_id == target.pk and operation.actor == annotator
    assert operation.details["source_group_id"] == source.pk
    assert sorted(operation.details["moved"]) == sorted(s.pk for s in moved)
    assert counters_drift() == []


def test_unlabeled_validated_target_takes_the_label_and_fans_it_out(annotator):
    target = _group(**validated())
    source = _group(camera=target.camera, **fp("antenna"))
    own = add_members(target, 3, placeholders=True)
    # A member the platform's temporal model flags stays out of the machine label.
    Sequence.objects.filter(pk=own[2].pk).update(temporal_model_score=0.9)
    came = add_members(source, 2, placeholders=True)

    outcome = group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)

    target.refresh_from_db()
    assert (target.false_positive_type, target.labeled_by) == ("antenna", annotator)
    assert outcome.label_taken == "FP/antenna"
    assert (outcome.propagated_count, outcome.held_back_count) == (2, 1)
    for member in own[:2]:
        row = annotation_of(member)
        assert row.false_positive_types == ["antenna"]
        assert row.label_source == LabelSource.PROPAGATED
        assert row.checked_at is None  # unchecked: it waits in the check queue
    assert annotation_of(own[2]).processing_stage == ProcessingStage.READY_TO_ANNOTATE
    # The members that came from the labeled side are left as they were.
    assert all(annotation_of(s).processing_stage == "ready_to_annotate" for s in came)
    operation = GroupOperation.objects.get(pk=outcome.operation_id)
    assert operation.group_before["false_positive_type"] is None
    assert operation.group_after["false_positive_type"] == "antenna"
    assert [item["sequence_id"] for item in operation.details["held_back"]] == [own[2].pk]
    assert counters_drift() == []


def test_labeled_validated_target_fans_out_to_the_members_that_come_in(annotator):
    target = _group(**smoke("wildfire"), **validated())
    source = _group(camera=target.camera)
    add_members(target, 1, placeholders=True)
    came = add_members(source, 2, placeholders=True)

    outcome = group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)

    assert outcome.label_taken is None and outcome.propagated_count == 2
    for member in came:
        row = annotation_of(member)
        assert row.smoke_types == ["wildfire"]
        assert (row.label_source, row.label_source_group_id) == ("propagated", target.pk)


def test_unvalidated_target_takes_the_label_without_fanning_out(annotator):
    target = _group()
    source = _group(camera=target.camera, **smoke("industrial"))
    own = add_members(target, 2, placeholders=True)
    add_members(source, 1)

    outcome = group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)

    target.refresh_from_db()
    assert target.smoke_type == "industrial" and outcome.propagated_count == 0
    assert all(annotation_of(s).label_source is None for s in own)


def test_two_different_labels_are_refused_with_the_reason(annotator):
    target = _group(**smoke("wildfire"))
    source = _group(camera=target.camera, **fp("antenna"))
    moved = add_members(source, 2)

    with pytest.raises(MergeLabelsDiffer) as refused:
        group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)

    assert http_status(refused.value) == 409
    assert f"Group {source.pk} is labeled FP/antenna" in refused.value.message
    assert f"group {target.pk} smoke/wildfire" in refused.value.message
    assert _members(source) == {s.pk for s in moved}
    assert not GroupOperation.objects.filter(kind=OperationKind.MERGE).exists()


def test_merge_refusals(annotator):
    target = _group()
    other_azimuth = _group(camera=target.camera, azimuth=91)
    with pytest.raises(MergeRefused) as refused:
        group_merge(target_group_id=target.pk, source_group_id=other_azimuth.pk, actor=annotator)
    assert http_status(refused.value) == 400 and "azimuth 91°" in refused.value.message
    with pytest.raises(FieldErrors) as same:
        group_merge(target_group_id=target.pk, source_group_id=target.pk, actor=annotator)
    assert same.value.errors == [(("body", "source_group_id"), MERGE_SAME_GROUP)]
    with pytest.raises(GroupNotFound):
        group_merge(target_group_id=target.pk, source_group_id=10**9, actor=annotator)
    source = _group(camera=target.camera)
    add_members(source, 1)
    group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)
    with pytest.raises(MergeRefused, match="was merged into group"):
        group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)


def test_candidates_are_the_bucket_most_overlapping_first():
    group = _group()
    camera = group.camera
    far = _group(camera=camera, box=FAR)
    near = _group(camera=camera, box=(0.1, 0.1, 0.38, 0.4))
    nearer = _group(camera=camera, box=(0.1, 0.1, 0.4, 0.39))
    elsewhere = _group(camera=camera, azimuth=180)
    for candidate in (far, near, nearer, elsewhere):
        add_members(candidate, 1)
    _group(camera=camera)  # no members: nothing to merge

    ranked = merge_candidates(group)

    assert [c.group.pk for c in ranked] == [nearer.pk, near.pk, far.pk]
    assert ranked[0].iou > ranked[1].iou > 0 == ranked[2].iou


def test_the_assignment_never_joins_a_merged_group(annotator):
    target = _group(box=FAR)
    source = _group(camera=target.camera)
    add_members(target, 1)
    add_members(source, 1)
    group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)
    # A new sighting right on the merged group's box.
    newcomer = sequence_with_boxes(
        [0.1, 0.1, 0.4, 0.4], camera=target.camera, azimuth=target.azimuth
    )

    assignment_run()

    newcomer.refresh_from_db()
    assert newcomer.group_id not in (None, source.pk)
    assert SequenceGroup.objects.get(pk=source.pk).member_count == 0
    assert counters_drift() == []


def test_undo_of_a_merge_puts_everything_back(annotator, staff_user):
    target = _group(**validated())
    source = _group(camera=target.camera, **fp("antenna"))
    own = add_members(target, 2, placeholders=True)
    came = add_members(source, 2)
    merge = group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)
    # One of the moved members is removed from the merged group meanwhile.
    group_member_remove(group_id=target.pk, sequence_id=came[1].pk, actor=annotator)

    outcome = group_operation_undo(operation_id=merge.operation_id, actor=staff_user)

    target.refresh_from_db()
    source.refresh_from_db()
    assert _members(target) == {s.pk for s in own}
    assert _members(source) == {came[0].pk}
    assert source.merged_into_id is None
    assert target.false_positive_type is None and outcome.group_restored
    assert all(annotation_of(s).processing_stage == "ready_to_annotate" for s in own)
    assert outcome.left_alone == [
        {"sequence_id": came[1].pk, "reason": "moved to another group since"}
    ]
    assert counters_drift() == []


# --- split -------------------------------------------------------------------------------------


def test_split_moves_the_chosen_members_into_a_group_with_their_median_box(annotator):
    group = _group(**smoke("wildfire"), **validated())
    camera = group.camera
    stay = add_members(group, 2)
    boxes = ([0.6, 0.6, 0.8, 0.8], [0.62, 0.6, 0.82, 0.8], [0.7, 0.64, 0.9, 0.9])
    chimney = [
        sequence_with_boxes(box, camera=camera, azimuth=group.azimuth, group=group) for box in boxes
    ]

    outcome = group_split(group_id=group.pk, sequence_ids=[s.pk for s in chimney], actor=annotator)

    new = SequenceGroup.objects.get(pk=outcome.new_group.pk)
    assert (new.camera_id, new.azimuth) == (camera.pk, group.azimuth)
    assert new.representative_bbox["xyxyn"] == [0.62, 0.6, 0.82, 0.8]
    assert not new.is_validated and new.smoke_type is None
    assert _members(new) == {s.pk for s in chimney}
    assert _members(group) == {s.pk for s in stay}
    group.refresh_from_db()
    assert group.smoke_type == "wildfire" and group.is_validated
    assert (group.member_count, new.member_count) == (2, 3)
    operation = GroupOperation.objects.get(pk=outcome.operation_id)
    assert operation.kind == OperationKind.SPLIT and operation.group_id == group.pk
    assert operation.details["new_group_id"] == new.pk
    assert counters_drift() == []


def test_split_refusals(annotator):
    group = _group()
    members = add_members(group, 2)
    stranger = add_members(_group(camera=group.camera), 1)[0]
    with pytest.raises(NotMembers) as strangers:
        group_split(group_id=group.pk, sequence_ids=[members[0].pk, stranger.pk], actor=None)
    assert http_status(strangers.value) == 400 and str(stranger.pk) in strangers.value.message
    with pytest.raises(FieldErrors) as everyone:
        group_split(group_id=group.pk, sequence_ids=[s.pk for s in members], actor=None)
    assert everyone.value.errors == [(("body", "sequence_ids"), SPLIT_ALL_MEMBERS)]
    with pytest.raises(FieldErrors):
        group_split(group_id=group.pk, sequence_ids=[], actor=None)
    with pytest.raises(GroupNotFound):
        group_split(group_id=10**9, sequence_ids=[members[0].pk], actor=None)
    assert _members(group) == {s.pk for s in members}
    assert SequenceGroup.objects.count() == 2


def test_undo_of_a_split_merges_the_new_group_back(annotator, staff_user):
    group = _group()
    members = add_members(group, 3)
    split = group_split(group_id=group.pk, sequence_ids=[members[2].pk], actor=annotator)

    outcome = group_operation_undo(operation_id=split.operation_id, actor=staff_user)

    assert _members(group) == {s.pk for s in members}
    new = SequenceGroup.objects.get(pk=split.new_group.pk)
    assert new.merged_into_id == group.pk and new.member_count == 0
    assert outcome.restored == [members[2].pk]
    undo = GroupOperation.objects.get(pk=outcome.undo_operation_id)
    assert undo.details["retired_group_id"] == new.pk
    assert counters_drift() == []


def test_a_human_save_in_a_split_group_fans_out_there_only(annotator):
    group = _group(**validated())
    members = add_members(group, 4, placeholders=True)
    split = group_split(group_id=group.pk, sequence_ids=[members[3].pk], actor=annotator)
    new_group = split.new_group
    SequenceGroup.objects.filter(pk=new_group.pk).update(**validated())

    human_label(members[0], members[0].detections.get(), stage=DONE, fp="building")

    assert annotation_of(members[1]).false_positive_types == ["building"]
    assert annotation_of(members[3]).processing_stage == "ready_to_annotate"


def _merge_queries(size: int) -> int:
    target = _group(**validated())
    source = _group(camera=target.camera, **fp("antenna"))
    add_members(target, size, placeholders="alternate")
    add_members(source, size)
    return count_queries(
        lambda: group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=None)
    )


def test_merge_query_count_does_not_grow_with_members(postgres_only):
    """On PostgreSQL a merge of 5 and of 200 members, fan-out included, costs the same."""
    assert _merge_queries(5) == _merge_queries(200)


# --- a merge and an assignment run at the same time (PostgreSQL row locks) --------------------


@pytest.mark.django_db(transaction=True)
def test_a_merge_and_an_assignment_run_at_the_same_time(postgres_only, annotator):
    """Both lock groups in id order: whichever comes second waits, neither deadlocks, and the
    sightings the run adds to either group end up in the target."""
    target = _group(**fp("antenna"), **validated())
    source = _group(camera=target.camera, box=(0.1, 0.1, 0.4, 0.42))
    add_members(target, 3, placeholders=True)
    add_members(source, 3, placeholders=True)
    camera, azimuth = target.camera, target.azimuth
    newcomers = [
        sequence_with_boxes(box, camera=camera, azimuth=azimuth)
        for box in ([0.1, 0.1, 0.4, 0.4], [0.1, 0.1, 0.4, 0.42], [0.1, 0.1, 0.4, 0.41]) * 10
    ]
    start, errors = threading.Barrier(2), []

    def run(job):
        try:
            start.wait(timeout=10)
            job()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    jobs = [
        lambda: group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator),
        lambda: assignment_run(),
    ]
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    # A run that planned before the merge left the sightings meant for the source to the next run.
    assignment_run()
    assert _members(source) == set()
    assert {s.pk for s in newcomers} <= _members(target)
    assert SequenceGroup.objects.get(pk=source.pk).merged_into_id == target.pk
    assert counters_drift() == []


def _wait_until_blocked(timeout: float = 10) -> None:
    """Until another connection waits on a lock (PostgreSQL's pg_locks)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the merge never waited for a lock")


@pytest.mark.django_db(transaction=True)
def test_a_member_joining_while_the_merge_waits_moves_too(postgres_only, annotator):
    """An assignment batch holds the source group and adds a member to it; the merge, waiting
    for the group, takes its locks again once the batch commits and moves the newcomer too."""
    target = _group()
    source = _group(camera=target.camera)
    add_members(target, 1)
    add_members(source, 1)
    newcomer = sequence_with_boxes([0.1, 0.1, 0.4, 0.4], camera=target.camera, azimuth=90)
    batch_may_commit, errors = threading.Event(), []

    def batch():
        try:
            with transaction.atomic():
                # As a batch does: the candidate, then the groups it joins, then the membership.
                Sequence.objects.select_for_update().filter(pk=newcomer.pk).exists()
                SequenceGroup.objects.select_for_update().filter(pk=source.pk).exists()
                Sequence.objects.filter(pk=newcomer.pk).update(group=source)
                batch_may_commit.wait(timeout=10)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def merge():
        try:
            group_merge(target_group_id=target.pk, source_group_id=source.pk, actor=annotator)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    batch_thread = threading.Thread(target=batch)
    batch_thread.start()
    time.sleep(0.2)  # the batch holds the source group
    merge_thread = threading.Thread(target=merge)
    merge_thread.start()
    _wait_until_blocked()
    batch_may_commit.set()
    batch_thread.join(timeout=30)
    merge_thread.join(timeout=30)

    assert errors == []
    newcomer.refresh_from_db()
    assert newcomer.group_id == target.pk
    operation = GroupOperation.objects.get(kind=OperationKind.MERGE)
    assert newcomer.pk in operation.details["moved"]
    assert counters_drift() == []
