"""A system check that refuses to start with an out-of-range ANNOTATION_*/API_*/IMAGE_*/IMPORT_*
setting, or with an out-of-range limit of the open site (LOGIN_*, CONN_MAX_AGE).

`knob_errors` is shared with the groups app, which checks its own GROUPS_* settings.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import checks

Rule = tuple[str, Callable[[Any], bool], str]
RATE = re.compile(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)")

_RULES: list[Rule] = [
    ("ANNOTATION_AUTOGEN_CONFIDENCE_THRESHOLD", lambda v: 0 <= v <= 1, "must be between 0 and 1"),
    ("ANNOTATION_AUTOGEN_IOU_THRESHOLD", lambda v: 0 <= v <= 1, "must be between 0 and 1"),
    ("ANNOTATION_AUTOGEN_MIN_CLUSTER_SIZE", lambda v: v >= 1, "must be >= 1"),
    ("API_MAX_PAGE_SIZE", lambda v: v >= 1, "must be >= 1"),
    ("API_DEFAULT_PAGE_SIZE", lambda v: v >= 1, "must be >= 1"),
    # DRF's rate syntax: a count per second, minute, hour or day.
    (
        "API_LOGIN_RATE",
        lambda v: isinstance(v, str) and RATE.fullmatch(v.strip()) is not None,
        "must be a count per period, such as 10/minute (s, m, h or d)",
    ),
    ("API_TOKEN_TTL_HOURS", lambda v: 1 <= v <= 8760, "must be between 1 and 8760 (a year)"),
    ("API_TOKEN_MAX_AGE_DAYS", lambda v: 1 <= v <= 365, "must be between 1 and 365"),
    ("API_TOKENS_PER_USER", lambda v: 1 <= v <= 1000, "must be between 1 and 1000"),
    ("LOGIN_FAILURE_LIMIT", lambda v: 0 <= v <= 1000, "must be between 0 (no lockout) and 1000"),
    ("LOGIN_LOCKOUT_MINUTES", lambda v: 1 <= v <= 10080, "must be between 1 and 10080 (a week)"),
    ("CONN_MAX_AGE", lambda v: v >= 0, "must be >= 0"),
    ("IMAGE_THUMBNAIL_WIDTH", lambda v: v >= 64, "must be >= 64"),
    ("IMPORT_DOWNLOAD_CONCURRENCY", lambda v: 1 <= v <= 64, "must be between 1 and 64"),
    # S3 signatures (SigV4) live at most 7 days.
    ("IMAGE_URL_EXPIRY_SECONDS", lambda v: 1 <= v <= 604800, "must be between 1 and 604800"),
    # Up to Pillow's own decompression bomb threshold (PIL.Image.MAX_IMAGE_PIXELS).
    (
        "IMAGE_MAX_PIXELS",
        lambda v: 1_000_000 <= v <= 89_478_485,
        "must be between 1000000 and 89478485 (Pillow's decompression bomb threshold)",
    ),
    (
        "IMAGE_MAX_BYTES",
        lambda v: 100_000 <= v <= 104_857_600,
        "must be between 100000 and 104857600",
    ),
]


def knob_errors(rules: Iterable[Rule]) -> list[checks.Error]:
    """One error per setting outside its range, naming the setting, its value and the rule."""
    errors = []
    for name, is_valid, rule in rules:
        value = getattr(settings, name)
        if not is_valid(value):
            errors.append(checks.Error(f"{name}={value!r} {rule}.", id="annotation_site.E001"))
    return errors


# Settings that bound one another: (name, is_valid(settings), rule).
_PAIRS = [
    (
        "API_DEFAULT_PAGE_SIZE",
        lambda s: s.API_DEFAULT_PAGE_SIZE <= s.API_MAX_PAGE_SIZE,
        "must be <= API_MAX_PAGE_SIZE ({s.API_MAX_PAGE_SIZE})",
    ),
    (
        "API_TOKEN_TTL_HOURS",
        lambda s: s.API_TOKEN_TTL_HOURS <= 24 * s.API_TOKEN_MAX_AGE_DAYS,
        "must be <= 24 x API_TOKEN_MAX_AGE_DAYS ({s.API_TOKEN_MAX_AGE_DAYS})",
    ),
]


@checks.register(checks.Tags.compatibility)
def check_knobs(app_configs=None, **kwargs) -> list[checks.Error]:
    errors = knob_errors(_RULES)
    if errors:
        return errors  # the pairs compare values already known to be in range
    return [
        checks.Error(
            f"{name}={getattr(settings, name)!r} {rule.format(s=settings)}.",
            id="annotation_site.E003",
        )
        for name, is_valid, rule in _PAIRS
        if not is_valid(settings)
    ]
