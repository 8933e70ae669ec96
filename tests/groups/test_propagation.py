"""Propagation of a human label through a validated group (SPEC §5.7, §9.2 #4-#7, §9.4)."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

import sequences.services.stamps
from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services import CONFLICT_WARNING, FANOUT_FAILED_WARNING
from sequences.models import (
    LOCKED_STAGES,
    LabelSource,
    ProcessingStage,
    SequenceAnnotation,
)
from sequences.payloads import Label
from sequences.services import (
    AlreadyExists,
    annotation_create,
    annotation_update,
    annotation_write,
    annotation_write_many,
)
from tests.factories import UserFactory, add_members, human_label, placeholder, validated_group
from tests.support import annotation_of, snapshot_of

pytestmark = pytest.mark.django_db

DONE = ProcessingStage.SEQ_ANNOTATION_DONE


def test_unvalidated_group_does_nothing(world, seed_group, human_save, staff_user):
    group = seed_group(validated=False)
    row = human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=staff_user)

    assert row.effect.warning is None
    group.refresh_from_db()
    assert group.smoke_type is None and group.labeled_at is None
    assert annotation_of(world.seq2) is None
    assert not GroupOperation.objects.exists()


def test_validated_unlabeled_group_is_labeled_and_fans_out(
    world, seed_group, human_save, staff_user
):
    group = seed_group(validated=True, user=staff_user)
    row = human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=staff_user)

    assert row.effect.warning is None
    assert row.effect.members_updated == 1
    group.refresh_from_db()
    assert (group.smoke_type, group.false_positive_type) == ("wildfire", None)
    assert group.labeled_by == staff_user and group.labeled_at is not None
    other = annotation_of(world.seq2)
    assert other.processing_stage == DONE
    clusters = other.annotation["sequences_bbox"]
    assert len(clusters) == 2
    assert all(c["is_smoke"] and c["smoke_type"] == "wildfire" for c in clusters)
    assert other.smoke_types == ["wildfire"]
    assert other.label_source == LabelSource.PROPAGATED
    assert other.label_source_group == group
    assert other.checked_at is None and other.updated_by == staff_user

    [operation] = GroupOperation.objects.all()
    assert operation.kind == OperationKind.PROPAGATE
    assert operation.actor == staff_user and operation.group == group
    assert operation.details == {"source_sequence_id": world.seq1.pk, "label": "smoke/wildfire"}
    assert operation.group_before["smoke_type"] is None
    assert operation.group_after["smoke_type"] == "wildfire"
    assert other.label_source_operation == operation
    [member] = operation.members.all()
    assert member.sequence_id == world.seq2.pk and member.before is None
    assert member.after == snapshot_of(world.seq2)
    # The saver's own row is a checked human label, not part of the operation.
    saved = annotation_of(world.seq1)
    assert saved.label_source == LabelSource.HUMAN and saved.checked_by == staff_user


def test_conflict_warns_and_changes_nothing_else(world, seed_group, human_save, annotator):
    group = seed_group(validated=True, smoke_type="industrial", user=annotator)
    labeled_at = group.labeled_at
    placeholder(world.seq2)
    other_before = snapshot_of(world.seq2)

    row = human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=annotator)

    assert row.effect.warning == CONFLICT_WARNING.format(
        group_id=group.pk, group_label="smoke/industrial", label="smoke/wildfire"
    )
    assert f"Group {group.pk}" in row.effect.warning
    assert row.annotation.smoke_types == ["wildfire"]
    group.refresh_from_db()
    assert group.smoke_type == "industrial" and group.labeled_at == labeled_at
    assert snapshot_of(world.seq2) == other_before
    assert not GroupOperation.objects.exists()
    # The saver's row persists.
    assert annotation_of(world.seq1).smoke_types == ["wildfire"]


def test_a_second_member_saved_with_another_label_gets_the_conflict_warning(
    world, seed_group, human_save, annotator
):
    """SPEC §9.4 #13, one save after the other: the first labels the group, the second warns."""
    group = seed_group(validated=True)

    first = human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=annotator)
    second = human_save(world.seq2, detection=world.det3, smoke_type="industrial", actor=annotator)

    assert not first.effect.warning
    assert second.effect.warning == CONFLICT_WARNING.format(
        group_id=group.pk, group_label="smoke/wildfire", label="smoke/industrial"
    )
    group.refresh_from_db()
    assert group.smoke_type == "wildfire"
    assert annotation_of(world.seq1).smoke_types == ["wildfire"]
    # The second saver's own label stands, as a human one.
    second_row = annotation_of(world.seq2)
    assert second_row.smoke_types == ["industrial"] and second_row.label_source == "human"


def test_conflict_without_placeholder_leaves_member_without_annotation(
    world, seed_group, human_save
):
    seed_group(validated=True, smoke_type="industrial")
    human_save(world.seq1, detection=world.det1, smoke_type="wildfire")
    assert annotation_of(world.seq2) is None
    assert GroupOperation.objects.count() == 0


def test_locked_save_does_not_propagate_and_locked_member_stays(world, seed_group, human_save):
    """§9.2 #7."""
    group = seed_group(validated=True)
    first = human_save(world.seq2, detection=world.det3, smoke_type="industrial", stage="annotated")
    assert first.effect.warning is None
    group.refresh_from_db()
    assert group.smoke_type is None

    second = human_save(world.seq1, detection=world.det1, smoke_type="wildfire")

    assert second.effect.warning is None
    group.refresh_from_db()
    assert group.smoke_type == "wildfire"
    other = annotation_of(world.seq2)
    assert other.processing_stage == ProcessingStage.ANNOTATED
    assert other.smoke_types == ["industrial"]
    assert other.label_source == LabelSource.HUMAN


@pytest.mark.parametrize("stage", sorted(LOCKED_STAGES))
def test_fan_out_leaves_locked_members_untouched(world, seed_group, human_save, stage):
    """§9.4 #9, fan-out: a member at any locked stage keeps its row exactly."""
    group = seed_group(validated=False)
    human_save(world.seq2, detection=world.det3, smoke_type="industrial", stage=stage)
    SequenceGroup.objects.filter(pk=group.pk).update(
        is_validated=True, validated_at=group.created_at
    )
    locked = snapshot_of(world.seq2)

    row = human_save(world.seq1, detection=world.det1, smoke_type="wildfire")

    assert row.effect.members_updated == 0
    assert snapshot_of(world.seq2) == locked
    group.refresh_from_db()
    assert group.smoke_type == "wildfire"
    [operation] = GroupOperation.objects.all()
    assert not operation.members.exists()


def test_machine_writes_do_not_recurse(annotator):
    """A propagated write is no human save: one operation, no second wave, no human labels."""
    group = validated_group()
    saver, *others = add_members(group, 4, placeholders=True)

    row = human_label(saver, saver.detections.get(), stage=DONE, smoke_type="other")

    assert row.effect.members_updated == 3
    assert GroupOperation.objects.filter(kind=OperationKind.PROPAGATE).count() == 1
    sources = set(
        SequenceAnnotation.objects.filter(sequence__in=others).values_list(
            "label_source", flat=True
        )
    )
    assert sources == {LabelSource.PROPAGATED}


def test_save_at_done_without_a_label_is_silent(world, seed_group):
    """Only untyped clusters imply no label (§4.6): nothing to propagate, no warning."""
    group = seed_group(validated=True)
    row = annotation_write(
        sequence=world.seq1,
        processing_stage=DONE,
        annotation={
            "sequences_bbox": [
                {
                    "is_smoke": True,
                    "bboxes": [{"detection_id": world.det1.pk, "xyxyn": [0.1, 0.1, 0.4, 0.4]}],
                }
            ]
        },
        has_missed_smoke=False,
        source=LabelSource.HUMAN,
    )
    assert row.effect.warning is None
    group.refresh_from_db()
    assert group.smoke_type is None
    assert not GroupOperation.objects.exists()


def test_resaving_the_group_label_keeps_the_first_labeler(world, seed_group, human_save):
    first_labeler = UserFactory(username="first")
    group = seed_group(validated=True, smoke_type="wildfire", user=first_labeler)
    labeled_at = group.labeled_at
    second = UserFactory(username="second")

    row = human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=second)

    assert row.effect.members_updated == 1
    group.refresh_from_db()
    assert group.labeled_by == first_labeler and group.labeled_at == labeled_at
    [operation] = GroupOperation.objects.all()
    assert operation.group_before is None and operation.group_after is None

    # Saving again writes nothing (the other member is now locked): no operation is stored.
    again = human_save(world.seq1, detection=world.det1, smoke_type="wildfire", actor=second)
    assert again.effect.members_updated == 0 and again.effect.warning is None
    assert GroupOperation.objects.count() == 1


def test_unsure_save_marks_group_and_members_unsure(world, seed_group, annotator):
    group = seed_group(validated=True, smoke_type="wildfire")
    human_label(world.seq1, world.det1, stage=DONE, smoke_type="wildfire", unsure=True)
    group.refresh_from_db()
    assert group.is_unsure is True
    assert annotation_of(world.seq2).is_unsure is True


def test_failure_at_second_member_changes_nothing(world, seed_group, human_save, monkeypatch):
    """§9.4 #12: the 2nd member's write fails after rows were written; all of it is undone."""
    group = seed_group(validated=True)
    [third] = add_members(group, 1)
    placeholder(world.seq2)
    placeholder(third)
    members_before = {seq.pk: snapshot_of(seq) for seq in (world.seq2, third)}
    real_snapshot = sequences.services.stamps.annotation_snapshot

    def failing_snapshot(annotation):
        # Called for the "after" snapshot once the bulk writes have reached the database.
        written = annotation is not None and annotation.label_source == LabelSource.PROPAGATED
        if written and annotation.sequence_id == third.pk:
            raise RuntimeError("injected failure at the 2nd member")
        return real_snapshot(annotation)

    monkeypatch.setattr(sequences.services.stamps, "annotation_snapshot", failing_snapshot)
    row = human_save(world.seq1, detection=world.det1, smoke_type="wildfire")

    assert row.effect.warning == FANOUT_FAILED_WARNING.format(
        group_id=group.pk, label="smoke/wildfire"
    )
    assert row.effect.members_updated == 0
    group.refresh_from_db()
    assert group.smoke_type is None and group.labeled_at is None
    assert {seq.pk: snapshot_of(seq) for seq in (world.seq2, third)} == members_before
    assert not GroupOperation.objects.exists()
    saved = annotation_of(world.seq1)
    assert saved.smoke_types == ["wildfire"] and saved.label_source == LabelSource.HUMAN


def _fan_out_queries(size: int) -> int:
    group = validated_group()
    saver, *_ = add_members(group, size + 1, placeholders="alternate")
    detection = saver.detections.get()
    with CaptureQueriesContext(connection) as queries:
        row = human_label(saver, detection, stage=DONE, smoke_type="wildfire")
    assert row.effect.members_updated == size
    return len(queries)


def test_fan_out_query_count_does_not_grow_with_members(postgres_only):
    """SPEC §4.8: on PostgreSQL, 5 and 200 members cost the same number of queries."""
    assert _fan_out_queries(5) == _fan_out_queries(200)


@pytest.mark.django_db(transaction=True)
def test_concurrent_conflicting_saves_serialise(postgres_only):
    """§9.4 #13: two annotators save different labels in one group at the same moment."""
    group = validated_group()
    members = add_members(group, 4, placeholders=True)
    first, second = members[0], members[1]
    jobs = [(first, "wildfire"), (second, "industrial")]
    detections = {seq.pk: seq.detections.get() for seq, _ in jobs}
    barrier = threading.Barrier(len(jobs))
    results, errors = {}, []

    def save(sequence, smoke_type):
        try:
            barrier.wait(timeout=5)
            row = human_label(sequence, detections[sequence.pk], stage=DONE, smoke_type=smoke_type)
            results[smoke_type] = row.effect.warning
        except Exception as exc:  # reported below, with the thread's failure
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    warned = [label for label, warning in results.items() if warning]
    assert len(warned) == 1
    winner = "industrial" if warned == ["wildfire"] else "wildfire"
    group.refresh_from_db()
    assert group.smoke_type == winner
    assert GroupOperation.objects.filter(kind=OperationKind.PROPAGATE).count() == 1
    # Every member outside the two savers carries the winning label.
    for member in members[2:]:
        assert annotation_of(member).smoke_types == [winner]


def _wait_until_blocked(timeout: float = 10) -> None:
    """Until another connection waits on a lock (PostgreSQL's pg_locks)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second writer never waited for a lock")


def _while_a_fan_out_holds_the_group(group, member, write) -> dict[str, Exception]:
    """Run `write` while a fan-out holds `group`; once `write` waits on a lock, the fan-out
    stamps `member` wildfire and commits. Returns the exception each side raised, if any."""
    fan_out_may_write, errors = threading.Event(), {}

    def fan_out():
        try:
            with transaction.atomic():
                SequenceGroup.objects.select_for_update(no_key=True).filter(pk=group.pk).exists()
                fan_out_may_write.wait(timeout=10)
                annotation_write_many(
                    sequence_ids=[member.pk],
                    label=Label.smoke("wildfire"),
                    is_unsure=False,
                    source=LabelSource.PROPAGATED,
                )
        except Exception as exc:  # reported to the test
            errors["fan_out"] = exc
        finally:
            connections.close_all()

    def writer():
        try:
            write()
        except Exception as exc:  # reported to the test
            errors["write"] = exc
        finally:
            connections.close_all()

    fan_out_thread = threading.Thread(target=fan_out)
    fan_out_thread.start()
    time.sleep(0.2)  # the fan-out holds the group
    writer_thread = threading.Thread(target=writer)
    writer_thread.start()
    _wait_until_blocked()  # the writer holds the sequence and waits for the group
    fan_out_may_write.set()
    fan_out_thread.join(timeout=30)
    writer_thread.join(timeout=30)
    return errors


@pytest.mark.django_db(transaction=True)
def test_an_api_create_waiting_on_a_fan_out_gets_409_not_a_deadlock(postgres_only):
    """The create locks the member, the fan-out inserts the member's annotation meanwhile."""
    group = validated_group()
    member = add_members(group, 1, placeholders=False)[0]

    errors = _while_a_fan_out_holds_the_group(
        group,
        member,
        lambda: annotation_create(
            sequence_id=member.pk,
            annotation={"sequences_bbox": []},
            processing_stage=ProcessingStage.READY_TO_ANNOTATE,
            source=LabelSource.HUMAN,
        ),
    )

    assert "fan_out" not in errors
    assert isinstance(errors["write"], AlreadyExists)
    assert annotation_of(member).label_source == LabelSource.PROPAGATED


@pytest.mark.django_db(transaction=True)
def test_a_partial_update_waiting_on_a_fan_out_keeps_the_fan_outs_label(postgres_only):
    """PATCH of one flag on a placeholder: the other fields are read after the locks."""
    group = validated_group()
    member = add_members(group, 1, placeholders=True)[0]
    annotation_id = annotation_of(member).pk

    errors = _while_a_fan_out_holds_the_group(
        group,
        member,
        lambda: annotation_update(
            annotation_id=annotation_id,
            changes={"has_missed_smoke": True},
            source=LabelSource.HUMAN,
        ),
    )

    assert errors == {}
    row = annotation_of(member)
    assert row.has_missed_smoke is True
    assert row.processing_stage == ProcessingStage.SEQ_ANNOTATION_DONE
    assert row.smoke_types == ["wildfire"]
