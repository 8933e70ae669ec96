"""A large run reads its waves ahead in a second process (groups.assignment.read_ahead).

The read-ahead only starts on PostgreSQL, outside a transaction and for a large backlog; these
tests lower the backlog and the wave size so that a history of a few dozen sequences is read
in several waves by a forked process, on its own connection.
"""

import json
import multiprocessing
import random

import pytest
from django.db import transaction

from groups.assignment import assignment_run, plan, read_ahead
from groups.models import AssignmentRun, GroupOperation, RunStatus, SequenceGroup
from sequences.models import Sequence
from tests.factories import CameraFactory, sequence_with_boxes
from tests.support.assignment import counters

pytestmark = pytest.mark.django_db(transaction=True)

SPOTS = ([0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.7, 0.7], [0.2, 0.6, 0.4, 0.9])


def history(seed: int = 7) -> None:
    """Recurring spots (with jitter) at three cameras and two azimuths each, plus sequences
    without a box, without an azimuth and with no detection at all."""
    rng = random.Random(seed)
    cameras = [CameraFactory() for _ in range(3)]
    for _ in range(60):
        spot = rng.choice(SPOTS)
        box = [min(max(value + rng.uniform(-0.02, 0.02), 0.0), 1.0) for value in spot]
        frames = [box] * rng.randint(1, 4)
        sequence_with_boxes(*frames, camera=rng.choice(cameras), azimuth=rng.choice((90, 270)))
    sequence_with_boxes(None, None, camera=cameras[0], azimuth=90)
    sequence_with_boxes(SPOTS[0], camera=cameras[0], azimuth=None)
    sequence_with_boxes(camera=cameras[1], azimuth=90)


def partition() -> set[frozenset[int]]:
    """The groups as sets of member ids."""
    members: dict[int, set[int]] = {}
    for sequence_id, group_id in Sequence.objects.filter(group__isnull=False).values_list(
        "pk", "group_id"
    ):
        members.setdefault(group_id, set()).add(sequence_id)
    return {frozenset(ids) for ids in members.values()}


def group_boxes() -> list[str]:
    boxes = SequenceGroup.objects.values_list("representative_bbox", flat=True)
    return sorted(json.dumps(box, sort_keys=True) for box in boxes)


def grouping_undone() -> None:
    Sequence.objects.update(group=None, motion=None)
    GroupOperation.objects.all().delete()
    SequenceGroup.objects.all().delete()
    AssignmentRun.objects.all().delete()


@pytest.fixture
def read_ahead_forced(monkeypatch):
    """Read ahead whatever the backlog, in waves of five candidates; record each start."""
    started = []

    class Recorded(read_ahead.ReadAhead):
        def __init__(self, jobs, read):
            started.append(len(jobs))
            super().__init__(jobs, read)

    monkeypatch.setattr(read_ahead, "READ_AHEAD_MIN_CANDIDATES", 0)
    # The test runner's own threads are not the run's: fork as a lone command would.
    monkeypatch.setattr(read_ahead.threading, "active_count", lambda: 1)
    monkeypatch.setattr(plan, "WAVE_SEQUENCES", 5)
    monkeypatch.setattr(plan, "ReadAhead", Recorded)
    return started


def test_a_run_read_ahead_groups_exactly_as_a_run_read_in_process(
    postgres_only, read_ahead_forced, monkeypatch
):
    history()
    ahead = assignment_run()
    assert len(read_ahead_forced) == 1 and read_ahead_forced[0] > 3  # several waves
    grouped_ahead = partition()
    motions_ahead = dict(Sequence.objects.values_list("pk", "motion"))
    boxes_ahead = group_boxes()

    grouping_undone()
    monkeypatch.setattr(read_ahead, "READ_AHEAD_MIN_CANDIDATES", 10**9)
    in_process = assignment_run()

    assert len(read_ahead_forced) == 1  # the second run read in-process
    assert counters(ahead) == counters(in_process)
    assert ahead.skipped_no_bbox == 3 and ahead.new_groups > 3
    assert grouped_ahead == partition()
    assert motions_ahead == dict(Sequence.objects.values_list("pk", "motion"))
    assert boxes_ahead == group_boxes()
    assert AssignmentRun.objects.get().status == RunStatus.SUCCEEDED


def test_a_dry_run_read_ahead_counts_what_the_run_does(postgres_only, read_ahead_forced):
    history()
    dry = assignment_run(dry_run=True)
    assert Sequence.objects.filter(group__isnull=False).count() == 0
    assert counters(dry) == counters(assignment_run())
    assert len(read_ahead_forced) == 2


def test_a_failing_read_ahead_fails_the_run_with_its_error(
    postgres_only, read_ahead_forced, monkeypatch
):
    history()

    def broken(ids, *, measure_motion, using):
        raise ValueError("the detections could not be read")

    monkeypatch.setattr(plan, "first_frames_of_ids", broken)  # inherited by the fork
    with pytest.raises(read_ahead.ReadAheadFailed, match="could not be read"):
        assignment_run()

    run = AssignmentRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert "ValueError: the detections could not be read" in run.error
    assert not Sequence.objects.filter(group__isnull=False).exists()
    assert multiprocessing.active_children() == []


def test_a_run_stopped_midway_stops_its_read_ahead_and_keeps_its_batches(
    postgres_only, read_ahead_forced
):
    history()

    def stop_after_the_first_batch(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        assignment_run(progress=stop_after_the_first_batch)

    assert multiprocessing.active_children() == []
    assert AssignmentRun.objects.get().status == RunStatus.FAILED
    # The child's exit left this process's session alone; the next run finishes the rest.
    grouped = Sequence.objects.filter(group__isnull=False).count()
    assert 0 < grouped < 60
    outcome = assignment_run()
    assert outcome.processed == 63 - grouped


def test_a_run_inside_a_transaction_reads_in_process(postgres_only, monkeypatch):
    monkeypatch.setattr(read_ahead, "READ_AHEAD_MIN_CANDIDATES", 0)
    monkeypatch.setattr(read_ahead.threading, "active_count", lambda: 1)
    assert read_ahead.read_ahead_possible(1)
    with transaction.atomic():
        assert not read_ahead.read_ahead_possible(1)
