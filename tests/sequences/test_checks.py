"""The system check that refuses to start with an out-of-range knob."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from groups.checks import check_group_knobs
from sequences.checks import check_knobs


def test_default_settings_pass():
    assert check_knobs() == [] and check_group_knobs() == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IMAGE_THUMBNAIL_WIDTH", 10, "IMAGE_THUMBNAIL_WIDTH=10 must be >= 64."),
        (
            "IMAGE_MAX_PIXELS",
            100_000_000,
            "IMAGE_MAX_PIXELS=100000000 must be between 1000000 and 89478485 (Pillow's "
            "decompression bomb threshold).",
        ),
        ("IMAGE_MAX_BYTES", 0, "IMAGE_MAX_BYTES=0 must be between 100000 and 104857600."),
        ("GROUPS_CHECK_PAGE_SIZE", 0, "GROUPS_CHECK_PAGE_SIZE=0 must be between 1 and 100."),
        ("GROUPS_LIST_PAGE_SIZE", 101, "GROUPS_LIST_PAGE_SIZE=101 must be between 1 and 100."),
        (
            "GROUPS_MATCH_IOU_THRESHOLD",
            -0.1,
            "GROUPS_MATCH_IOU_THRESHOLD=-0.1 must be >= 0 and < 1.",
        ),
        (
            "GROUPS_INHERITANCE_MIN_IOU",
            0.2,
            "GROUPS_INHERITANCE_MIN_IOU=0.2 must be >= GROUPS_MATCH_IOU_THRESHOLD (0.3) and < 1.",
        ),
    ],
)
def test_an_out_of_range_knob_is_named_and_stops_the_site(settings, name, value, message):
    setattr(settings, name, value)
    assert [error.msg for error in check_knobs() + check_group_knobs()] == [message]
    with pytest.raises(SystemCheckError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("check")
