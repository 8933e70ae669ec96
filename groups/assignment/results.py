"""What a group assignment run answers (SPEC §5.2): its counters, its result and its errors.

The seven counters (:class:`Counters`), the result of a run (:class:`RunOutcome`), the errors
a caller can meet (lock held, argument out of range, lock lost) with their messages, and the
checks and formats they share with a replay and the API (:func:`match_threshold`,
:func:`iso_z`). Nothing here reads or writes the database.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from datetime import UTC

from django.conf import settings

from groups.models import AssignmentRun, RunTrigger

ALREADY_RUNNING = (
    "A group assignment run is already in progress (run {run_id}, started {started_at})."
)
THRESHOLD_OUT_OF_RANGE = "threshold must be a number >= 0 and < 1, not {value!r}"
TRIGGER_INVALID = f"trigger must be one of {', '.join(RunTrigger.values)}, not {{value!r}}"
LOCK_LOST = "Run {run_id} lost its lock: another run marked it abandoned."


def iso_z(moment) -> str:
    """A UTC time as the API writes it, to the second: ``2025-07-01T10:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AssignmentAlreadyRunning(Exception):
    """Another run holds the lock; ``run`` is that live AssignmentRun. Nothing was processed."""

    def __init__(self, run: AssignmentRun):
        self.run = run
        super().__init__(ALREADY_RUNNING.format(run_id=run.pk, started_at=iso_z(run.started_at)))


class AssignmentArgumentInvalid(ValueError):
    """An argument of :func:`assignment_run` is out of range; nothing was done."""


class AssignmentLockLost(Exception):
    """The run's own row was marked abandoned by another run (its batches took too long)."""


@dataclass
class Counters:
    """The seven counters of a run (SPEC §5.2); ``processed`` = new + joined + skipped.

    ``inherited_annotations``, ``joined_not_inherited`` and ``held_back`` count joiners of
    labeled groups (subsets of ``joined_existing``): those that got the group's label, those
    too loose to inherit, and those a safeguard held back from it.
    """

    processed: int = 0
    new_groups: int = 0
    joined_existing: int = 0
    inherited_annotations: int = 0
    joined_not_inherited: int = 0
    held_back: int = 0
    skipped_no_bbox: int = 0

    def add(self, other: Counters) -> None:
        for name in COUNTER_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def add_skipped(self, count: int) -> None:
        """Count ``count`` candidates looked at and skipped (no azimuth or no usable box)."""
        self.processed += count
        self.skipped_no_bbox += count


COUNTER_NAMES = tuple(f.name for f in fields(Counters))


@dataclass
class RunOutcome:
    """What a run did. ``run_id`` is None for a dry run (which inserts no run row)."""

    run_id: int | None
    processed: int
    new_groups: int
    joined_existing: int
    inherited_annotations: int
    joined_not_inherited: int
    held_back: int
    skipped_no_bbox: int
    duration_seconds: float

    def as_dict(self) -> dict[str, int | None]:
        """The SPEC §5.2 result: ``run_id`` and the seven counters."""
        return {"run_id": self.run_id, **{name: getattr(self, name) for name in COUNTER_NAMES}}


def match_threshold(value: float | None) -> float:
    """The IoU a sequence must strictly exceed to join a group, for a run or a replay.

    ``GROUPS_MATCH_IOU_THRESHOLD`` when ``value`` is None; otherwise ``value``, which must be a
    number with 0 <= x < 1 (else AssignmentArgumentInvalid).
    """
    if value is None:
        return settings.GROUPS_MATCH_IOU_THRESHOLD
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise AssignmentArgumentInvalid(THRESHOLD_OUT_OF_RANGE.format(value=value))
    return float(value)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _outcome(run_id: int | None, counters: Counters, started: float) -> RunOutcome:
    return RunOutcome(
        run_id=run_id, **asdict(counters), duration_seconds=round(time.monotonic() - started, 3)
    )
