"""The counters of an assignment run, as the tests compare them."""


def counters(outcome) -> dict:
    """A run's counters (its `as_dict()` without the run id)."""
    return {key: value for key, value in outcome.as_dict().items() if key != "run_id"}


def expect(processed=0, new=0, joined=0, inherited=0, not_inherited=0, held=0, skipped=0) -> dict:
    """The counters a run should report, zero where not given."""
    return {
        "processed": processed,
        "new_groups": new,
        "joined_existing": joined,
        "inherited_annotations": inherited,
        "joined_not_inherited": not_inherited,
        "held_back": held,
        "skipped_no_bbox": skipped,
    }
