"""A run keeps its lock while it plans (finding 12) and lets it go when stopped (finding 14).

The stops are real: `assign_groups` runs in a process of its own (tests.support.interrupted_run)
on a database both processes see (a SQLite file, or the PostgreSQL test database), pauses after
its first committed batch, and gets SIGTERM or SIGINT.
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from groups import assignment
from groups.assignment import AssignmentAlreadyRunning, assignment_run
from groups.models import AssignmentRun, RunStatus
from tests.factories import CameraFactory, sequence_with_boxes

ROOT = Path(__file__).resolve().parent.parent.parent
# Run by path: importing the tests.support package would need Django set up first.
SCRIPT = str(ROOT / "tests" / "support" / "interrupted_run.py")
BOX = [0.1, 0.1, 0.4, 0.4]


@pytest.mark.django_db
def test_a_long_plan_is_not_taken_over_as_stale(monkeypatch):
    monkeypatch.setattr(assignment.run, "PLAN_HEARTBEAT_SECONDS", 0)
    monkeypatch.setattr(assignment.reads, "READ_CHUNK_ROWS", 1)
    camera = CameraFactory()
    for azimuth in (10, 20, 30):
        sequence_with_boxes(BOX, BOX, camera=camera, azimuth=azimuth)
    plan = assignment.run._plan

    def a_long_plan(**kwargs):
        # As if the plan had been reading for an hour, then the next cron run arrives.
        stale = timezone.now() - timedelta(hours=1)
        AssignmentRun.objects.filter(status=RunStatus.RUNNING).update(heartbeat_at=stale)
        made = plan(**kwargs)
        with pytest.raises(AssignmentAlreadyRunning):
            assignment.run._run_start(trigger="command", actor=None)
        return made

    monkeypatch.setattr(assignment.run, "_plan", a_long_plan)

    outcome = assignment_run()

    assert AssignmentRun.objects.get(pk=outcome.run_id).status == RunStatus.SUCCEEDED
    assert outcome.new_groups == 3


@pytest.fixture
def shared_database(transactional_db, tmp_path):
    """Environment for a process of its own on a database this test can read through it."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")}
    env["PYTHONPATH"] = str(ROOT)
    if connection.vendor == "postgresql":
        settings_dict = connection.settings_dict
        user, host, port = settings_dict["USER"], settings_dict["HOST"], settings_dict["PORT"]
        env["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        _python(env, "manage.py", "migrate", "--noinput", "-v", "0")
    _python(env, SCRIPT, "seed")
    return env


def _python(env, *arguments) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, *arguments], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode in (0, 2), result.stdout + result.stderr
    return result


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_run_is_marked_failed_and_the_next_starts_at_once(
    shared_database, tmp_path, signum
):
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, SCRIPT, "run", str(ready)],
        cwd=ROOT,
        env=shared_database,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), process.communicate(timeout=5)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=10)  # promptly: not after the batch's sleep
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 128 + signum, stderr
    assert f"stopped by {signal.Signals(signum).name}" in stderr
    stopped = json.loads(_python(shared_database, SCRIPT, "report").stdout)
    [run] = stopped["runs"]
    assert run["status"] == RunStatus.FAILED
    assert f"stopped by {signal.Signals(signum).name}" in run["error"]
    assert stopped["grouped_by_run"] == [run["pk"]]  # its committed batch stays

    following = _python(shared_database, "manage.py", "assign_groups", "--json")

    assert following.returncode == 0, following.stdout + following.stderr
    assert json.loads(following.stdout)["processed"] == 1
