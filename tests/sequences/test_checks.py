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
        (
            "API_LOGIN_RATE",
            "10 per minute",
            "API_LOGIN_RATE='10 per minute' must be a count per period, such as 10/minute "
            "(s, m, h or d).",
        ),
        ("API_TOKEN_TTL_HOURS", 0, "API_TOKEN_TTL_HOURS=0 must be between 1 and 8760 (a year)."),
        ("API_TOKENS_PER_USER", 0, "API_TOKENS_PER_USER=0 must be between 1 and 1000."),
        (
            "API_TOKEN_MAX_AGE_DAYS",
            400,
            "API_TOKEN_MAX_AGE_DAYS=400 must be between 1 and 365.",
        ),
        (
            "LOGIN_FAILURE_LIMIT",
            -1,
            "LOGIN_FAILURE_LIMIT=-1 must be between 0 (no lockout) and 1000.",
        ),
        (
            "LOGIN_LOCKOUT_MINUTES",
            0,
            "LOGIN_LOCKOUT_MINUTES=0 must be between 1 and 10080 (a week).",
        ),
        ("CONN_MAX_AGE", -5, "CONN_MAX_AGE=-5 must be >= 0."),
        (
            "GROUPS_MAX_REQUEST_IDS",
            0,
            "GROUPS_MAX_REQUEST_IDS=0 must be between 1 and 100000.",
        ),
        (
            "API_DEFAULT_PAGE_SIZE",
            500,
            "API_DEFAULT_PAGE_SIZE=500 must be <= API_MAX_PAGE_SIZE (100).",
        ),
        (
            "API_TOKEN_TTL_HOURS",
            800,
            "API_TOKEN_TTL_HOURS=800 must be <= 24 x API_TOKEN_MAX_AGE_DAYS (30).",
        ),
        ("GROUPS_CHECK_PAGE_SIZE", 0, "GROUPS_CHECK_PAGE_SIZE=0 must be between 1 and 100."),
        ("GROUPS_MEMBERS_PAGE_SIZE", 0, "GROUPS_MEMBERS_PAGE_SIZE=0 must be between 1 and 100."),
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
