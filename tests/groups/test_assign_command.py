"""``manage.py assign_groups``: output, --json, --dry-run, --threshold, exit statuses."""

import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from groups import assignment
from groups.management.commands import assign_groups
from groups.models import AssignmentRun, RunStatus, SequenceGroup
from sequences.models import Sequence
from tests.factories import CameraFactory, labeled_group, plume, sequence_with_boxes
from tests.support import pin_hold_back_thresholds

pytestmark = pytest.mark.django_db

BOX = [0.1, 0.1, 0.4, 0.4]
LOOSE = [0.16, 0.19, 0.475, 0.515]  # IoU 0.355 with BOX
JULY_FIRST = datetime(2025, 7, 1, 10, 0, tzinfo=UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_command(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("assign_groups", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def live_run(started_at=None) -> AssignmentRun:
    now = timezone.now()
    return AssignmentRun.objects.create(
        status=RunStatus.RUNNING, trigger="command", started_at=started_at or now, heartbeat_at=now
    )


def test_prints_the_counters_in_one_line(world):
    sequence_with_boxes(BOX)
    out, err = run_command()
    run = AssignmentRun.objects.get()
    assert out == (
        f"run={run.pk} processed=3 new_groups=1 joined_existing=0 inherited_annotations=0 "
        "joined_not_inherited=0 held_back=0 skipped_no_bbox=2\n"
    )
    assert err == ""
    assert run.trigger == "command" and run.status == RunStatus.SUCCEEDED


def test_json_prints_one_object_with_run_id_counters_and_duration():
    camera = CameraFactory()
    for _ in range(2):
        sequence_with_boxes(BOX, camera=camera)
    out, _ = run_command("--json")
    payload = json.loads(out)
    assert payload.pop("duration_seconds") >= 0
    assert payload == {
        "run_id": AssignmentRun.objects.get().pk,
        "processed": 2,
        "new_groups": 1,
        "joined_existing": 1,
        "inherited_annotations": 0,
        "joined_not_inherited": 0,
        "held_back": 0,
        "skipped_no_bbox": 0,
    }


def test_held_back_joiners_show_in_the_line_and_the_json(settings):
    pin_hold_back_thresholds(settings)
    camera = CameraFactory()
    labeled_group(camera, smoke_type=None, fp="antenna")
    sequence_with_boxes(BOX, BOX, BOX, camera=camera)  # an antenna: inherits
    plume(camera=camera)  # a growing plume: held back
    sequence_with_boxes(BOX, camera=camera, is_wildfire_alertapi="wildfire_smoke")  # held back

    dry, _ = run_command("--dry-run")
    out, _ = run_command("--json")

    assert dry == (
        "dry-run (nothing written) processed=3 new_groups=0 joined_existing=3 "
        "inherited_annotations=1 joined_not_inherited=0 held_back=2 skipped_no_bbox=0\n"
    )
    payload = json.loads(out)
    assert (payload["inherited_annotations"], payload["held_back"]) == (1, 2)
    assert AssignmentRun.objects.get(pk=payload["run_id"]).held_back == 2


def test_importers_pass_their_trigger():
    sequence_with_boxes(BOX)
    buffer = io.StringIO()
    call_command("assign_groups", trigger="import", json=True, stdout=buffer)
    run = AssignmentRun.objects.get()
    assert run.trigger == "import" and json.loads(buffer.getvalue())["run_id"] == run.pk


def test_dry_run_reports_and_writes_nothing():
    camera = CameraFactory()
    sequences = [sequence_with_boxes(BOX, camera=camera) for _ in range(2)]
    out, _ = run_command("--dry-run")
    assert out == (
        "dry-run (nothing written) processed=2 new_groups=1 joined_existing=1 "
        "inherited_annotations=0 joined_not_inherited=0 held_back=0 skipped_no_bbox=0\n"
    )
    assert not AssignmentRun.objects.exists() and not SequenceGroup.objects.exists()
    assert json.loads(run_command("--dry-run", "--json")[0])["run_id"] is None
    assert all(Sequence.objects.get(pk=s.pk).group is None for s in sequences)


def test_threshold_option_overrides_the_setting():
    camera = CameraFactory()
    sequence_with_boxes(BOX, camera=camera)
    sequence_with_boxes(LOOSE, camera=camera)
    assert json.loads(run_command("--json", "--threshold", "0.4")[0])["new_groups"] == 2


def test_threshold_out_of_range_is_a_clear_error():
    with pytest.raises(CommandError, match="threshold must be a number >= 0 and < 1") as excinfo:
        run_command("--threshold", "1.5")
    assert excinfo.value.returncode == 1
    assert not AssignmentRun.objects.exists()


def test_lock_contention_exits_2_naming_the_holder():
    sequence_with_boxes(BOX)
    holder = live_run(started_at=JULY_FIRST)
    with pytest.raises(CommandError) as excinfo:
        run_command()
    assert excinfo.value.returncode == 2
    assert str(excinfo.value) == (
        f"A group assignment run is already in progress (run {holder.pk}, "
        "started 2025-07-01T10:00:00Z)."
    )
    assert not SequenceGroup.objects.exists() and AssignmentRun.objects.count() == 1


def test_lock_contention_in_json_mode_prints_the_holder():
    holder = live_run(started_at=JULY_FIRST)
    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("assign_groups", json=True, stdout=out)
    assert excinfo.value.returncode == 2
    assert json.loads(out.getvalue()) == {
        "status": "in_progress",
        "run_id": holder.pk,
        "started_at": "2025-07-01T10:00:00Z",
    }


def test_wait_runs_once_the_lock_frees(monkeypatch):
    sequence_with_boxes(BOX)
    holder = live_run()
    monkeypatch.setattr(
        assignment.run.time,
        "sleep",
        lambda seconds: AssignmentRun.objects.filter(pk=holder.pk).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now()
        ),
    )
    out, _ = run_command("--wait", "--json")
    assert json.loads(out)["new_groups"] == 1


def test_a_failure_exits_1_and_marks_the_run_failed(monkeypatch):
    sequence_with_boxes(BOX)

    def broken(pairs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(assignment.run, "_memberships_write", broken)
    with pytest.raises(CommandError, match="group assignment failed: disk full") as excinfo:
        run_command()
    assert excinfo.value.returncode == 1
    run = AssignmentRun.objects.get()
    assert run.status == RunStatus.FAILED and run.error == "RuntimeError: disk full"


def test_progress_goes_to_stderr_on_a_terminal_with_a_big_backlog(monkeypatch):
    monkeypatch.setattr(assign_groups, "PROGRESS_MIN_BACKLOG", 2)
    monkeypatch.setattr(assignment.run, "BATCH_MAX_SEQUENCES", 1)
    camera = CameraFactory()
    for azimuth in (1, 2):
        sequence_with_boxes(BOX, camera=camera, azimuth=azimuth)
    out, err = Terminal(), io.StringIO()
    call_command("assign_groups", stdout=out, stderr=err)
    assert err.getvalue() == (
        "\rassigning groups: 1 / 2 sequences\rassigning groups: 2 / 2 sequences\n"
    )
    assert out.getvalue().startswith("run=")


def test_no_progress_when_not_on_a_terminal(monkeypatch):
    monkeypatch.setattr(assign_groups, "PROGRESS_MIN_BACKLOG", 1)
    sequence_with_boxes(BOX)
    _, err = run_command()
    assert err == ""
