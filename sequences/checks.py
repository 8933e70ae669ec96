"""A system check that refuses to start with an out-of-range ANNOTATION_*/API_*/IMAGE_*/IMPORT_*
setting.

`knob_errors` is shared with the groups app, which checks its own GROUPS_* settings.
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import checks

Rule = tuple[str, Callable[[Any], bool], str]

_RULES: list[Rule] = [
    ("ANNOTATION_AUTOGEN_CONFIDENCE_THRESHOLD", lambda v: 0 <= v <= 1, "must be between 0 and 1"),
    ("ANNOTATION_AUTOGEN_IOU_THRESHOLD", lambda v: 0 <= v <= 1, "must be between 0 and 1"),
    ("ANNOTATION_AUTOGEN_MIN_CLUSTER_SIZE", lambda v: v >= 1, "must be >= 1"),
    ("API_MAX_PAGE_SIZE", lambda v: v >= 1, "must be >= 1"),
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


@checks.register(checks.Tags.compatibility)
def check_knobs(app_configs=None, **kwargs) -> list[checks.Error]:
    return knob_errors(_RULES)
