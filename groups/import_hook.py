"""The assignment run that ends an import (SPEC §8.4), as the importer's hook.

The importer lives in the sequences app, which never imports this one: the setting
`IMPORT_ASSIGNMENT_HOOK` names `assignment_after_import`, and the importer records the
`ChainedAssignment` it returns in its report. A run already in progress is reported, not
waited for: cron catches up.
"""

from groups.assignment import AssignmentAlreadyRunning, assignment_run
from groups.models import RunTrigger
from sequences.importing.report import ChainedAssignment

ASSIGNMENT_FAILED = "group assignment failed: {reason}"


def assignment_after_import() -> ChainedAssignment:
    """Run the group assignment (trigger `import`) and say what it did.

    The result is `run_id`, the counters and `duration_seconds`, as `assign_groups --json`
    prints them; a run holding the lock gives its id; any other failure gives its text (the
    run is marked failed by `assignment_run` itself).
    """
    try:
        outcome = assignment_run(trigger=RunTrigger.IMPORT)
    except AssignmentAlreadyRunning as exc:
        return ChainedAssignment(running_run_id=exc.run.pk)
    except Exception as exc:
        return ChainedAssignment(error=ASSIGNMENT_FAILED.format(reason=exc))
    return ChainedAssignment(
        result={**outcome.as_dict(), "duration_seconds": outcome.duration_seconds}
    )
