"""Assignment hooks standing in for the groups app's at the end of an import
(`IMPORT_ASSIGNMENT_HOOK` pointed at one of these)."""

from sequences.importing.report import ChainedAssignment

RESULT = {
    "run_id": 41,
    "processed": 3,
    "new_groups": 1,
    "joined_existing": 2,
    "inherited_annotations": 1,
    "joined_not_inherited": 0,
    "skipped_no_bbox": 0,
}


def finished() -> ChainedAssignment:
    return ChainedAssignment(result=RESULT)


def busy() -> ChainedAssignment:
    return ChainedAssignment(running_run_id=8)


def failed() -> ChainedAssignment:
    return ChainedAssignment(error="group assignment failed: disk full")


def crashes() -> ChainedAssignment:
    raise RuntimeError("the hook itself broke")
