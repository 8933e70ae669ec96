"""A system check that refuses to start with an out-of-range GROUPS_* setting."""

from django.conf import settings
from django.core import checks

from sequences.checks import Rule, knob_errors

_RULES: list[Rule] = [
    ("GROUPS_MATCH_IOU_THRESHOLD", lambda v: 0 <= v < 1, "must be >= 0 and < 1"),
    ("GROUPS_MIN_LISTED_MEMBERS", lambda v: v >= 1, "must be >= 1"),
    ("GROUPS_REPRESENTATIVE_DETECTIONS", lambda v: v >= 1, "must be >= 1"),
    ("GROUPS_LIST_PAGE_SIZE", lambda v: 1 <= v <= 100, "must be between 1 and 100"),
    ("GROUPS_MEMBERS_PAGE_SIZE", lambda v: 1 <= v <= 100, "must be between 1 and 100"),
    ("GROUPS_CHECK_PAGE_SIZE", lambda v: 1 <= v <= 100, "must be between 1 and 100"),
    ("GROUPS_ASSIGN_STALE_AFTER_SECONDS", lambda v: v >= 60, "must be >= 60"),
    ("GROUPS_MAX_REQUEST_IDS", lambda v: 1 <= v <= 100_000, "must be between 1 and 100000"),
    ("GROUPS_HOLD_BACK_TEMPORAL_SCORE", lambda v: 0 < v <= 1, "must be > 0 and <= 1"),
    ("GROUPS_HOLD_BACK_MOTION", lambda v: v > 0, "must be > 0"),
    ("GROUPS_LOOK_CLOSELY_RISK", lambda v: 0 < v <= 1, "must be > 0 and <= 1"),
]


@checks.register(checks.Tags.compatibility)
def check_group_knobs(app_configs=None, **kwargs) -> list[checks.Error]:
    errors = knob_errors(_RULES)
    threshold = settings.GROUPS_MATCH_IOU_THRESHOLD
    gate = settings.GROUPS_INHERITANCE_MIN_IOU
    if not threshold <= gate < 1:
        errors.append(
            checks.Error(
                f"GROUPS_INHERITANCE_MIN_IOU={gate!r} must be >= GROUPS_MATCH_IOU_THRESHOLD "
                f"({threshold!r}) and < 1.",
                id="annotation_site.E002",
            )
        )
    return errors
