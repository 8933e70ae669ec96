"""The platform client against a fake platform on loopback, and the pure readers of its values.

No database: these tests exercise HTTP, retries, tokens, paging and parsing only; the pull
into the database is tested in test_pull_sequences.py.
"""

from datetime import UTC, date, datetime, timedelta

import pytest

from sequences.importing.platform_client import (
    Account,
    PlatformAuthError,
    PlatformClient,
    PlatformError,
    PlatformHTTPError,
    RetryPolicy,
)
from sequences.importing.platform_records import (
    detections_call_limit,
    distinct_image_rows,
    parse_boxes,
    parse_datetime,
    source_api_for,
    temporal_fields,
)
from tests.factories import jpeg_bytes
from tests.support.fake_platform import BAD_GATEWAY_HTML, build_world

SOURCE_APIS = ["pyronear_french", "alert_wildfire", "api_cenia"]
# Tiny backoff, short timeouts: a retried call costs milliseconds.
FAST = RetryPolicy(backoff=0.01, connect_timeout=1.0, read_timeout=2.0, image_read_timeout=2.0)


@pytest.fixture
def platform():
    fake = build_world()
    with fake.running():
        yield fake


def client_for(
    platform, *, user=("annotator", "annotator-pw"), admin=("admin", "admin-pw"), policy=FAST
):
    return PlatformClient(
        base_url=platform.url, user=Account(*user), admin=Account(*admin), policy=policy
    )


def box(x1, y1, x2, y2, confidence):
    return {"xyxyn": [x1, y1, x2, y2], "confidence": confidence, "class_name": "smoke"}


# --- login, tokens, metadata -------------------------------------------------------------------


def test_cameras_use_a_form_login_and_include_untrustworthy_cameras(platform):
    cameras = client_for(platform).cameras()

    assert [camera["id"] for camera in cameras] == [12, 13]  # 13 is not trustable
    (login,) = platform.requests_to("/login/creds")
    assert login.method == "POST"
    assert login.headers["content-type"].startswith("application/x-www-form-urlencoded")
    (call,) = platform.requests_to("/cameras/")
    assert call.param("include_non_trustable") == "true"
    assert call.headers["authorization"].startswith("Bearer eyJ")


def test_organizations_are_read_with_the_admin_token(platform):
    organizations = client_for(platform).organizations()

    assert [(org["id"], org["name"]) for org in organizations] == [(1, "pyronear"), (2, "sdis-07")]
    (call,) = platform.requests_to("/organizations/")
    assert platform.tokens[call.headers["authorization"].removeprefix("Bearer ")] == "admin"


def test_organizations_with_a_non_admin_account_is_a_fatal_error_naming_it(platform):
    client = client_for(platform, admin=("annotator", "annotator-pw"))

    with pytest.raises(PlatformAuthError) as caught:
        client.organizations()
    assert str(caught.value) == (
        "platform login 'annotator' is not an admin account "
        "(GET /api/v1/organizations/: HTTP 403 Incompatible token scope.)"
    )
    assert platform.count("/organizations/") == 1  # a 4xx is never retried


def test_a_refused_login_is_fatal_names_the_login_and_hides_the_password(platform):
    client = client_for(platform, user=("annotator", "wrong-secret"))

    with pytest.raises(PlatformAuthError) as caught:
        client.cameras()
    message = str(caught.value)
    assert "'annotator'" in message and "Invalid credentials." in message
    assert "wrong-secret" not in message
    assert platform.count("/login/creds") == 1
    assert platform.count("/cameras/") == 0


def test_a_token_expiring_mid_run_gets_one_fresh_login(platform):
    client = client_for(platform)
    client.cameras()
    platform.revoke_tokens()

    assert len(client.cameras()) == 2
    assert platform.count("/login/creds") == 2
    first, rejected, retried = (
        r.headers["authorization"] for r in platform.requests_to("/cameras/")
    )
    assert first == rejected != retried


@pytest.mark.parametrize("status", [401, 406])
def test_a_token_rejected_again_after_the_fresh_login_is_fatal(platform, status):
    platform.refuse_tokens = True
    platform.rejected_token_status = status

    with pytest.raises(PlatformAuthError, match=f"login 'annotator' rejected again.*HTTP {status}"):
        client_for(platform).cameras()
    assert platform.count("/login/creds") == 2
    assert platform.count("/cameras/") == 2


def test_a_406_for_a_garbage_token_also_triggers_the_fresh_login(platform):
    platform.rejected_token_status = 406
    client = client_for(platform)
    client.cameras()
    platform.revoke_tokens()

    assert len(client.cameras()) == 2
    assert platform.count("/login/creds") == 2


# --- retries --------------------------------------------------------------------------------


def test_a_500_with_a_text_body_is_retried_and_then_succeeds(platform):
    platform.fail("/cameras/", 500, times=1)

    assert len(client_for(platform).cameras()) == 2
    assert platform.count("/cameras/") == 2


def test_a_500_forever_gives_up_after_three_retries_with_doubling_backoff(platform):
    platform.fail("/cameras/", 500, times=None)
    waits = []
    client = client_for(platform)
    client.sleep = waits.append

    with pytest.raises(PlatformError, match=r"HTTP 500 Internal Server Error \(gave up after 4"):
        client.cameras()
    assert platform.count("/cameras/") == 4
    assert waits == [0.01, 0.02, 0.04]


def test_the_default_policy_is_five_sixty_thirty_and_one_two_four():
    policy = RetryPolicy()
    assert (policy.connect_timeout, policy.read_timeout, policy.image_read_timeout) == (5, 60, 30)
    assert [policy.backoff * 2**n for n in range(policy.retries)] == [1, 2, 4]


def test_a_502_html_body_is_reported_as_text_not_parsed_as_json(platform):
    platform.fail("/cameras/", 502, times=None, body=BAD_GATEWAY_HTML, content_type="text/html")

    with pytest.raises(PlatformError) as caught:
        client_for(platform).cameras()
    assert "HTTP 502 502 Bad Gateway 502 Bad Gateway nginx" in str(caught.value)
    assert "<" not in str(caught.value)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(platform, status):
    platform.fail("/cameras/", status, times=2, body=BAD_GATEWAY_HTML, content_type="text/html")

    assert len(client_for(platform).cameras()) == 2
    assert platform.count("/cameras/") == 3


def test_a_slow_answer_past_the_read_timeout_is_retried(platform):
    platform.slow("/cameras/", 0.6, times=1)
    policy = RetryPolicy(backoff=0.01, read_timeout=0.2)

    assert len(client_for(platform, policy=policy).cameras()) == 2
    assert platform.count("/cameras/") == 2


def test_a_connection_reset_is_retried(platform):
    platform.reset("/cameras/", times=2)

    assert len(client_for(platform).cameras()) == 2
    assert platform.count("/cameras/") == 3


def test_an_unreachable_platform_names_the_call():
    client = PlatformClient(
        base_url="http://127.0.0.1:9",
        user=Account("annotator", "pw"),
        admin=Account("admin", "pw"),
        policy=RetryPolicy(retries=1, backoff=0.01, connect_timeout=0.5),
    )
    with pytest.raises(PlatformError, match=r"POST /api/v1/login/creds: connection failed"):
        client.cameras()


def test_a_200_that_is_not_json_is_an_error_not_a_crash(platform):
    platform.fail("/cameras/", 200, body=b"<html>maintenance</html>", content_type="text/html")

    with pytest.raises(PlatformError, match="GET /api/v1/cameras/: the answer is not JSON"):
        client_for(platform).cameras()


def test_a_422_is_final_and_carries_the_validation_message(platform):
    platform.add_sequence(1, camera_id=12, images=1)

    with pytest.raises(PlatformHTTPError, match="less than or equal to 100") as caught:
        client_for(platform).detections(1, limit=150)
    assert caught.value.status == 422
    assert platform.count("/detections") == 1


# --- listing sequences -----------------------------------------------------------------------


def test_a_day_of_2500_is_read_in_pages_of_1000_each_sequence_once(platform):
    platform.add_day("2026-05-10", 2500, camera_id=12, first_id=10_000)
    platform.repeat_across_pages = True  # pages 2 and 3 start with the previous page's last row

    listed = client_for(platform).sequences_of_day(date(2026, 5, 10))

    ids = [sequence["id"] for sequence in listed]
    assert len(ids) == 2500 and set(ids) == set(range(10_000, 12_500))
    calls = platform.requests_to("/sequences/all/fromdate")
    assert [call.param("offset") for call in calls] == ["0", "1000", "2000"]
    assert {(c.param("limit"), c.param("from_date"), c.param("risk_score")) for c in calls} == {
        ("1000", "2026-05-10", "extreme")
    }


def test_a_sequence_inserted_between_pages_does_not_duplicate_the_shifted_one(platform):
    platform.add_day("2026-05-10", 1500, camera_id=12, first_id=10_000)
    newest = {**platform.sequence(10_000), "id": 99_999, "started_at": "2026-05-10T23:59:59"}
    platform.insert_after_first_page = [newest]

    ids = [s["id"] for s in client_for(platform).sequences_of_day(date(2026, 5, 10))]

    assert len(ids) == len(set(ids)) == 1500  # the shifted row came twice, kept once
    assert set(ids) == set(range(10_000, 11_500))


@pytest.mark.parametrize(("count", "calls"), [(2000, 3), (0, 1), (999, 1)])
def test_paging_stops_at_the_first_short_page(platform, count, calls):
    platform.add_day("2026-05-10", count, camera_id=12, first_id=10_000)

    listed = client_for(platform).sequences_of_day(date(2026, 5, 10))

    assert len(listed) == count
    assert platform.count("/sequences/all/fromdate") == calls


def test_a_server_ignoring_offset_does_not_loop_forever(platform):
    platform.add_day("2026-05-10", 1000, camera_id=12, first_id=10_000)
    platform.ignore_offset = True

    assert len(client_for(platform).sequences_of_day(date(2026, 5, 10))) == 1000
    assert platform.count("/sequences/all/fromdate") == 2


def test_sequences_of_other_days_are_not_listed(platform):
    platform.add_sequence(1, camera_id=12, started_at="2026-05-10T23:59:59.999999")
    platform.add_sequence(2, camera_id=12, started_at="2026-05-11T00:00:00")

    listed = client_for(platform).sequences_of_day(date(2026, 5, 11))

    assert [s["id"] for s in listed] == [2]


# --- detections and images -------------------------------------------------------------------


def test_detections_are_asked_oldest_first_with_the_given_limit(platform):
    platform.add_sequence(1, camera_id=12, images=3)

    rows = client_for(platform).detections(1, limit=40)

    assert [row["created_at"] for row in rows] == sorted(row["created_at"] for row in rows)
    (call,) = platform.requests_to("/detections")
    assert (call.param("limit"), call.param("desc")) == ("40", "false")


def test_images_are_downloaded_without_the_authorization_header(platform):
    platform.add_sequence(1, camera_id=12)
    picture = jpeg_bytes(color="orange")
    platform.add_detection(1, bucket_key="12-20260510140322-9f2c41ab.jpg", image=picture)
    client = client_for(platform)
    (row,) = client.detections(1, limit=40)

    assert client.image(row["url"], name=row["bucket_key"]) == picture
    (download,) = platform.requests_to("/images/")
    assert "authorization" not in download.headers
    assert download.param("X-Amz-Signature")  # the presigned query string is passed as is


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("expired", "HTTP 403 AccessDenied Request has expired"),
        ("missing", "HTTP 404 NoSuchKey The specified key does not exist."),
    ],
)
def test_a_refused_image_is_final_and_its_message_hides_the_signature(platform, fault, expected):
    platform.add_sequence(1, camera_id=12)
    row = platform.add_detection(1, bucket_key="12-a.jpg")
    platform.image_faults["12-a.jpg"] = fault
    client = client_for(platform)
    (listed,) = client.detections(1, limit=40)

    with pytest.raises(PlatformHTTPError) as caught:
        client.image(listed["url"], name=row["bucket_key"])
    assert str(caught.value) == f"image 12-a.jpg: {expected}"
    assert platform.count("/images/") == 1


def test_an_image_behind_a_503_is_retried(platform):
    platform.add_sequence(1, camera_id=12, images=1)
    client = client_for(platform)
    (row,) = client.detections(1, limit=40)
    platform.fail("/images/", 503, times=1)

    assert client.image(row["url"], name=row["bucket_key"]).startswith(b"\xff\xd8")
    assert platform.count("/images/") == 2


# --- reading values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-10T14:03:22.417512", datetime(2026, 5, 10, 14, 3, 22, 417512, tzinfo=UTC)),
        ("2026-05-10T14:03:22", datetime(2026, 5, 10, 14, 3, 22, tzinfo=UTC)),
        ("2026-05-10T14:03:22Z", datetime(2026, 5, 10, 14, 3, 22, tzinfo=UTC)),
        ("2026-05-10T16:03:22.5+02:00", datetime(2026, 5, 10, 14, 3, 22, 500000, tzinfo=UTC)),
    ],
)
def test_platform_datetimes_are_utc(value, expected):
    parsed = parse_datetime(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [None, "", "yesterday", 1715350000, "2026-13-01T00:00:00"])
def test_unreadable_datetimes_are_refused(value):
    with pytest.raises(ValueError, match="must be an ISO 8601 datetime"):
        parse_datetime(value)


def test_an_offset_is_converted_not_dropped():
    value = parse_datetime("2026-05-10T00:30:00-03:00")
    assert value == datetime(2026, 5, 10, 3, 30, tzinfo=UTC)
    assert value.tzinfo is UTC


@pytest.mark.parametrize(
    ("url", "override", "expected"),
    [
        ("https://alertapi.pyronear.org", None, "pyronear_french"),
        ("https://apicenia.pyronear.org/", None, "api_cenia"),
        ("https://ALERTAPI.pyronear.org:443", None, "pyronear_french"),
        ("http://127.0.0.1:8080", "alert_wildfire", "alert_wildfire"),
    ],
)
def test_the_source_api_comes_from_the_host(url, override, expected):
    assert source_api_for(url, override, choices=SOURCE_APIS) == expected


def test_another_host_requires_an_explicit_source_api():
    with pytest.raises(ValueError, match="'platform.example.org': pass --source-api"):
        source_api_for("https://platform.example.org", None, choices=SOURCE_APIS)
    with pytest.raises(ValueError, match="--source-api must be one of"):
        source_api_for("https://alertapi.pyronear.org", "pyronear", choices=SOURCE_APIS)


@pytest.mark.parametrize(
    ("wanted", "limit"), [(30, 40), (90, 100), (100, 100), (0, 100), (-1, 100)]
)
def test_the_detections_call_asks_ten_extra_rows_at_most_100(wanted, limit):
    assert detections_call_limit(wanted) == limit


def test_distinct_images_keep_the_first_row_of_each_bucket_key_oldest_first():
    rows = [
        {"id": 3, "bucket_key": "b.jpg", "created_at": "2026-05-10T14:00:30"},
        {"id": 1, "bucket_key": "a.jpg", "created_at": "2026-05-10T14:00:00.000001"},
        {"id": 2, "bucket_key": "a.jpg", "created_at": "2026-05-10T14:00:00.5"},
        {"id": 4, "bucket_key": None, "created_at": "2026-05-10T14:00:10"},
        {"id": 5, "bucket_key": "c.jpg", "created_at": "2026-05-10T14:01:00"},
    ]
    assert [row["id"] for row in distinct_image_rows(rows, wanted=30)] == [1, 3, 5]
    assert [row["id"] for row in distinct_image_rows(rows, wanted=2)] == [1, 3]


# --- box strings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "predictions"),
    [
        ("[(0.412,0.388,0.457,0.431,0.62)]", [box(0.412, 0.388, 0.457, 0.431, 0.62)]),
        ("[( 0.1, 0.2 ,0.3,0.4, 0.5 )]", [box(0.1, 0.2, 0.3, 0.4, 0.5)]),
        ("[(.1,.2,.3,.4,.5)]", [box(0.1, 0.2, 0.3, 0.4, 0.5)]),
        ("[[0.1,0.2,0.3,0.4,0.5]]", [box(0.1, 0.2, 0.3, 0.4, 0.5)]),
        ("(0.1,0.2,0.3,0.4,0.5)", [box(0.1, 0.2, 0.3, 0.4, 0.5)]),
        ("[(0,0,1,1,1)]", [box(0.0, 0.0, 1.0, 1.0, 1.0)]),
        ("[(0.1,0.2,0.3,0.4,0.5,7,8)]", [box(0.1, 0.2, 0.3, 0.4, 0.5)]),
        (
            "[(0.1,0.2,0.3,0.4,0.5),(0.6,0.6,0.7,0.7,0.9)]",
            [box(0.1, 0.2, 0.3, 0.4, 0.5), box(0.6, 0.6, 0.7, 0.7, 0.9)],
        ),
        ("[]", []),
        (None, []),
    ],
)
def test_box_strings_are_read_as_literals(text, predictions):
    parsed = parse_boxes(text)
    assert parsed.predictions == predictions
    assert (parsed.dropped, parsed.malformed) == (0, False)


@pytest.mark.parametrize(
    "text",
    [
        "[(0.1,0.2,0.3)]",  # 3 numbers
        "[(0.1,0.2,0.3,0.4)]",  # 4 numbers: no confidence
        "[(0.5,0.2,0.3,0.4,0.5)]",  # x1 > x2
        "[(0.1,0.4,0.3,0.4,0.5)]",  # y1 == y2
        "[(0.1,0.2,1.7,0.4,0.5)]",  # a coordinate of 1.7
        "[(-0.1,0.2,0.3,0.4,0.5)]",
        "[(0,0,0,0,0)]",  # the all-zero placeholder
        "[(0.1,0.2,0.3,0.4,1.5)]",  # confidence above 1
        "[(0.1,0.2,0.3,0.4,-0.5)]",
        "[5]",
        "[(0.1,0.2,0.3,0.4,[0.5])]",
    ],
)
def test_an_invalid_box_is_dropped_and_counted(text):
    assert parse_boxes(text).predictions == []
    assert parse_boxes(text).dropped == 1
    assert parse_boxes(text).malformed is False


def test_only_the_invalid_boxes_of_a_string_are_dropped():
    parsed = parse_boxes(
        "[(0.1,0.2,0.3,0.4,0.5),(0,0,0,0,0),(0.2,0.2,1.7,0.3,0.4),(.6,.6,.7,.7,.9)]"
    )
    assert parsed.predictions == [box(0.1, 0.2, 0.3, 0.4, 0.5), box(0.6, 0.6, 0.7, 0.7, 0.9)]
    assert parsed.dropped == 2


@pytest.mark.parametrize(
    "text",
    [
        "[(0.1,0.2",
        "None",
        "",
        "   ",
        "garbage",
        "0.5",
        "__import__('os').system('true')",
        "[(0.1,0.2,0.3,0.4,0.5)] + [(0.1,0.2,0.3,0.4,0.5)]",
        "[" * 3000 + "]" * 3000,
        "[(1e999999,0,1,1,1)",
        7,
        {"bbox": [0.1]},
    ],
)
def test_a_string_that_does_not_parse_is_malformed_with_no_box(text):
    parsed = parse_boxes(text)
    assert (parsed.predictions, parsed.dropped, parsed.malformed) == ([], 0, True)


def test_a_non_finite_number_is_an_invalid_box_not_a_crash():
    parsed = parse_boxes("[(1e999,0.1,0.2,0.3,0.4)]")
    assert (parsed.predictions, parsed.dropped) == ([], 1)


# --- The temporal model's fields (PLATFORM_API.md §3.3) -----------------------------------------

SCORED = {
    "temporal_model_score": 0.93,
    "temporal_model_version": "0.1.0",
    "temporal_api_version": "v0.3.2",
}


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        (SCORED, SCORED),
        ({}, dict.fromkeys(SCORED)),  # an older platform: not scored
        (dict.fromkeys(SCORED), dict.fromkeys(SCORED)),
        ({**SCORED, "temporal_model_score": 0}, {**SCORED, "temporal_model_score": 0}),
        ({**SCORED, "temporal_model_score": 1}, {**SCORED, "temporal_model_score": 1}),
    ],
)
def test_the_temporal_fields_are_read_and_absent_ones_are_null(listed, expected):
    assert temporal_fields({"id": 1, **listed}) == (expected, [])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temporal_model_score", 1.0001),
        ("temporal_model_score", -0.1),
        ("temporal_model_score", float("nan")),
        ("temporal_model_score", float("inf")),
        ("temporal_model_score", "0.9"),
        ("temporal_model_score", True),
        ("temporal_model_score", [0.9]),
        ("temporal_model_version", ""),
        ("temporal_model_version", "   "),
        ("temporal_model_version", 1.0),
        ("temporal_api_version", "v" * 65),
        ("temporal_api_version", {"v": 1}),
    ],
)
def test_a_malformed_temporal_field_is_null_with_a_warning_naming_it(name, value):
    values, warnings = temporal_fields({**SCORED, name: value})

    assert values == {**SCORED, name: None}
    (warning,) = warnings
    assert warning.startswith(f"{name} ") and warning.endswith("; stored as null")
