"""`manage.py measure_motion`: the motion of sequences imported before it was measured, filled in
batches that each commit, so a rerun continues where a run stopped."""

import io
import json

import pytest
from django.core.management import CommandError, call_command, load_command_class

from sequences.boxes import box_motion
from sequences.management.commands import measure_motion
from sequences.models import Sequence
from tests.factories import predictions, sequence_with_boxes
from tests.support.motion import detector_frames

pytestmark = pytest.mark.django_db

STILL = [0.40, 0.30, 0.46, 0.40]


def growing_boxes(frames: int, growth: float) -> list[list[float]]:
    """A box whose area grows by `growth` per frame, rising from a fixed base line."""
    plume = detector_frames(STILL, frames=frames, growth=growth)
    return [frame["predictions"][0]["xyxyn"] for frame in plume]


def measure(*args: str) -> dict:
    out = io.StringIO()
    call_command("measure_motion", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def unmeasured():
    """Sequences imported before the motion was measured: a still box, a plume, one with too
    few frames to tell, and one already measured (left alone)."""
    still = sequence_with_boxes(*[STILL] * 6)
    plume = sequence_with_boxes(*growing_boxes(12, 0.05))
    short = sequence_with_boxes(STILL, STILL)
    measured = sequence_with_boxes(*growing_boxes(6, 0.05))
    Sequence.objects.filter(pk=measured.pk).update(motion=0.5)
    return still, plume, short, measured


def test_it_fills_every_missing_motion_in_batches(unmeasured, settings):
    settings.GROUPS_REPRESENTATIVE_DETECTIONS = 10
    still, plume, short, measured = unmeasured

    counters = measure("--batch-size", "2")

    assert counters == {"examined": 3, "measured": 2, "unmeasurable": 1, "batches": 2}
    motion = dict(Sequence.objects.values_list("pk", "motion"))
    first_frames = [predictions((box, 0.9)) for box in growing_boxes(12, 0.05)[:10]]
    assert motion[plume.pk] == box_motion(first_frames) and motion[plume.pk] > 0.05
    assert motion[still.pk] == 0.0
    assert motion[short.pk] is None  # fewer than three framed boxes: still unmeasured
    assert motion[measured.pk] == 0.5


def test_an_interrupted_run_is_continued_by_the_next(unmeasured, monkeypatch):
    still, plume, short, _ = unmeasured
    real_fill = measure_motion.sequence_motion_fill
    calls = []

    def interrupted(**kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(kwargs)
        return real_fill(**kwargs)

    monkeypatch.setattr(measure_motion, "sequence_motion_fill", interrupted)
    with pytest.raises(KeyboardInterrupt):
        measure("--batch-size", "1")
    monkeypatch.setattr(measure_motion, "sequence_motion_fill", real_fill)

    assert Sequence.objects.get(pk=still.pk).motion == 0.0  # the first batch was committed
    assert measure() == {"examined": 2, "measured": 1, "unmeasurable": 1, "batches": 1}
    assert Sequence.objects.get(pk=plume.pk).motion > 0.05
    # A rerun only reads what is still unmeasured.
    assert measure() == {"examined": 1, "measured": 0, "unmeasurable": 1, "batches": 1}


def test_the_counters_are_printed_as_text(unmeasured):
    out = io.StringIO()
    call_command("measure_motion", stdout=out)

    assert out.getvalue().strip() == "motion: examined=3 measured=2 unmeasurable=1 batches=1"


def test_nothing_to_measure_is_a_quiet_success():
    assert measure() == {"examined": 0, "measured": 0, "unmeasurable": 0, "batches": 0}


@pytest.mark.parametrize("size", ["0", "5001"])
def test_a_bad_batch_size_is_refused(size):
    with pytest.raises(CommandError, match="--batch-size must be between 1 and 5000"):
        call_command("measure_motion", "--batch-size", size)


def test_bad_arguments_exit_with_status_one(capsys):
    command = load_command_class("sequences", "measure_motion")
    with pytest.raises(SystemExit) as exit_info:
        command.run_from_argv(["manage.py", "measure_motion", "--batch-size", "many"])
    assert exit_info.value.code == 1
