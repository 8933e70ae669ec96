"""The group assignment run: ungrouped sequences -> group memberships (SPEC §4.4, §4.5, §5.2, §5.3).

One entry point, :func:`assignment_run`, used by ``manage.py assign_groups``, the API and the
importers. A run

1. takes the single-runner lock: a stale ``running`` row (no heartbeat for
   ``GROUPS_ASSIGN_STALE_AFTER_SECONDS``) is marked ``abandoned``, then the run inserts its own
   ``running`` row, which the partial unique constraint refuses while another run is alive;
2. snapshots the candidates (no group, not excluded) in ``(recorded_at, id)`` order and reads the
   first ``GROUPS_REPRESENTATIVE_DETECTIONS`` detections of all of them in ONE streamed query;
3. walks every (camera, azimuth) bucket in memory (numpy IoUs of the candidates against all of
   the bucket's boxes, in a sequential walk) and writes whole buckets in batches of about
   ``BATCH_MAX_SEQUENCES`` sequences or ``BATCH_MAX_SECONDS``, each batch in its own
   transaction: lock the candidates, bulk-create the groups, one statement for the
   memberships (which also stores the motion of candidates not measured yet), inheritance
   set-wise (the machine-label safeguards hold some joiners back), heartbeat.

The number of queries grows with the number of batches, never with the number of sequences
nor with the number of labeled groups receiving inheritors.

By job: :mod:`groups.assignment.reads` (the candidates, their first detections, the plan),
:mod:`groups.assignment.decisions` (a batch's buckets walked into founders, joiners and
inheritors; the dry run), :mod:`groups.assignment.writes` (the set-wise SQL of a batch),
:mod:`groups.assignment.results` (the counters, the result and the errors) and
:mod:`groups.assignment.run` (the lock, the batches, the run row); stopping on a signal is
:mod:`groups.assignment.interrupt`, the pure walk is :mod:`groups.matching`, and the replay
behind ``manage.py group_report`` is :mod:`groups.reports`. The tunables
(``BATCH_MAX_SEQUENCES``, ``READ_CHUNK_ROWS``, ...) stay in the module that reads them, and only
there, so that a patched value takes effect.
"""

from groups.assignment.interrupt import AssignmentInterrupted, interruptible
from groups.assignment.reads import FirstFrames, first_frames_read, representative_boxes
from groups.assignment.run import (
    COUNTER_NAMES,
    AssignmentAlreadyRunning,
    AssignmentArgumentInvalid,
    AssignmentLockLost,
    Counters,
    RunOutcome,
    assignment_run,
    iso_z,
    match_threshold,
)
from groups.matching import bucket_walk

__all__ = [
    "COUNTER_NAMES",
    "AssignmentAlreadyRunning",
    "AssignmentArgumentInvalid",
    "AssignmentInterrupted",
    "AssignmentLockLost",
    "Counters",
    "FirstFrames",
    "RunOutcome",
    "assignment_run",
    "bucket_walk",
    "first_frames_read",
    "interruptible",
    "iso_z",
    "match_threshold",
    "representative_boxes",
]
