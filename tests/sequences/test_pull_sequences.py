"""`manage.py pull_sequences` against a fake Pyronear platform on loopback (SPEC §8.3, §8.4)."""

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from groups.models import AssignmentRun, SequenceGroup
from sequences.models import Detection, Sequence, SequenceAnnotation
from tests.factories import jpeg_bytes
from tests.support.fake_platform import ABSENT, BAD_GATEWAY_HTML

pytestmark = pytest.mark.django_db

DAY = "2026-05-10"
ONE_BOX = "[(0.412,0.388,0.457,0.431,0.62)]"
TEMPORAL = ("temporal_model_score", "temporal_model_version", "temporal_api_version")


@dataclass
class Pull:
    code: int
    out: str
    err: str
    message: str

    @property
    def everything(self) -> str:
        return self.out + self.err + self.message


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def pull(*args: str, day: str = DAY, source_api: str | None = "pyronear_french", stderr=None):
    """Run the command; returns its exit status, output and error message."""
    out, err = io.StringIO(), stderr or io.StringIO()
    options = ["--date-from", day, *(["--source-api", source_api] if source_api else []), *args]
    try:
        call_command("pull_sequences", *options, stdout=out, stderr=err)
    except CommandError as exc:
        return Pull(exc.returncode, out.getvalue(), err.getvalue(), str(exc))
    return Pull(0, out.getvalue(), err.getvalue(), "")


def stored_files(settings) -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    if not root.exists():
        return set()
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def predictions(*boxes):
    return {
        "predictions": [
            {"xyxyn": list(b[:4]), "confidence": b[4], "class_name": "smoke"} for b in boxes
        ]
    }


# --- a normal pull ---------------------------------------------------------------------------


def test_a_normal_pull_maps_every_field_and_stores_the_images(platform, settings):
    platform.add_sequence(
        48213,
        camera_id=12,
        started_at="2026-05-10T14:03:22.417512",
        last_seen_at="2026-05-10T14:21:05",
        camera_azimuth=212.5,
        is_wildfire="wildfire_smoke",
    )
    picture = jpeg_bytes(color="orange")
    platform.add_detection(
        48213,
        detection_id=910231,
        bucket_key="12-20260510140322-9f2c41ab.jpg",
        bbox=ONE_BOX,
        others_bboxes="[(0.405,0.38,0.45,0.425,0.41),(0.701,0.102,0.74,0.2,0.31)]",
        created_at="2026-05-10T14:03:22.417512",
        image=picture,
    )
    platform.add_detection(  # a sibling box of the same image: not a second detection
        48213,
        detection_id=910232,
        bucket_key="12-20260510140322-9f2c41ab.jpg",
        bbox="[(0.405,0.38,0.45,0.425,0.41)]",
        created_at="2026-05-10T14:03:22.431007",
    )
    platform.add_detection(  # a continuity row: a frame where the object was not seen
        48213,
        detection_id=910260,
        bucket_key="12-20260510140352-77d0e1f3.jpg",
        bbox="[]",
        created_at="2026-05-10T14:03:52",
    )
    platform.add_sequence(48214, camera_id=13, started_at="2026-05-10T09:00:00", images=2)

    result = pull("--no-assign")

    assert result.code == 0, result.everything
    assert "sequences: created=2 already_present=0 skipped_empty=0 failed=0" in result.out
    assert "detections: created=4" in result.out
    assert "placeholders: created=2" in result.out
    sequence = Sequence.objects.get(alert_api_id=48213)
    assert sequence.source_api == "pyronear_french"
    assert (sequence.camera.platform_id, sequence.camera.name) == (12, "cam-brison-01")
    assert (sequence.organization.platform_id, sequence.organization.name) == (2, "sdis-07")
    assert sequence.camera.organization == sequence.organization
    assert (sequence.lat, sequence.lon) == (44.765181, 4.51488)
    assert sequence.azimuth == 212  # 212.5 rounds half to even
    assert sequence.is_wildfire_alertapi == "wildfire_smoke"
    assert sequence.recorded_at == datetime(2026, 5, 10, 14, 3, 22, 417512, tzinfo=UTC)
    assert sequence.last_seen_at == datetime(2026, 5, 10, 14, 21, 5, tzinfo=UTC)
    first, continuity = sequence.detections.order_by("recorded_at")
    assert (first.alert_api_id, continuity.alert_api_id) == (910231, 910260)
    assert first.recorded_at == datetime(2026, 5, 10, 14, 3, 22, 417512, tzinfo=UTC)
    assert first.algo_predictions == predictions((0.412, 0.388, 0.457, 0.431, 0.62))
    assert first.others_bboxes == predictions(
        (0.405, 0.38, 0.45, 0.425, 0.41), (0.701, 0.102, 0.74, 0.2, 0.31)
    )
    assert (continuity.algo_predictions, continuity.others_bboxes) == ({"predictions": []}, None)
    with first.image.open("rb") as stored:
        assert stored.read() == picture
    assert first.image.name.startswith(f"detections/sequence_{sequence.pk}/20260510_140322_")
    placeholder = sequence.annotation
    assert placeholder.processing_stage == "ready_to_annotate"
    assert placeholder.label_source is None
    (cluster,) = placeholder.annotation["sequences_bbox"]
    assert cluster["bboxes"] == [{"detection_id": first.pk, "xyxyn": [0.412, 0.388, 0.457, 0.431]}]
    # Camera 13 is flagged untrustworthy: listed only with include_non_trustable=true.
    assert Sequence.objects.get(alert_api_id=48214).camera.name == "cam-ardeche-02"
    assert "annotator-pw" not in result.everything and "admin-pw" not in result.everything


def test_images_are_downloaded_without_the_authorization_header(platform):
    platform.add_sequence(1, camera_id=12, images=3)

    assert pull("--no-assign").code == 0

    downloads = platform.requests_to("/images/")
    assert len(downloads) == 3
    assert all("authorization" not in request.headers for request in downloads)
    assert all(
        r.headers["authorization"].startswith("Bearer ")
        for r in platform.requests_to("/api/v1/(cameras|sequences)")
    )


def test_the_detections_limit_caps_distinct_images_and_asks_ten_extra_rows(platform):
    platform.add_sequence(1, camera_id=12, images=5)

    result = pull("--no-assign", "--detections-limit", "3")

    assert "detections: created=3" in result.out
    (call,) = platform.requests_to("/sequences/1/detections")
    assert (call.param("limit"), call.param("desc")) == ("13", "false")
    assert platform.count("/images/") == 3


# --- paging, idempotency, selection -------------------------------------------------------------


def test_a_day_of_2500_is_paged_at_1000_and_each_sequence_pulled_once(platform):
    platform.add_day(DAY, 2500, camera_id=12, first_id=10_000)
    platform.repeat_across_pages = True  # page 2 repeats page 1's last row (id 11500)
    wanted = [12_499, 11_500, 10_500, 10_000]  # newest first: pages 1, 1-and-2, 2, 3
    for sequence_id in wanted:
        platform.add_detection(sequence_id, created_at=platform.sequence(sequence_id)["started_at"])

    result = pull("--no-assign", "--sequence-list", ",".join(map(str, wanted)))

    assert "sequences: created=4 already_present=0" in result.out, result.everything
    listings = platform.requests_to("/sequences/all/fromdate")
    assert [(r.param("limit"), r.param("offset")) for r in listings] == [
        ("1000", "0"),
        ("1000", "1000"),
        ("1000", "2000"),
    ]
    assert all(r.param("risk_score") == "extreme" for r in listings)
    assert platform.count("/sequences/11500/detections") == 1


def test_a_rerun_creates_nothing_and_downloads_nothing(platform, settings):
    platform.add_sequence(1, camera_id=12, images=2)
    platform.add_sequence(2, camera_id=12, started_at="2026-05-10T08:00:00", images=3)
    assert pull("--no-assign").code == 0
    files = stored_files(settings)
    calls = (platform.count("/detections"), platform.count("/images/"))

    result = pull("--no-assign")

    assert result.code == 0
    assert "sequences: created=0 already_present=2 skipped_empty=0 failed=0" in result.out
    assert (platform.count("/detections"), platform.count("/images/")) == calls
    assert (Sequence.objects.count(), Detection.objects.count()) == (2, 5)
    assert SequenceAnnotation.objects.count() == 2
    assert stored_files(settings) == files


def test_max_sequences_caps_the_pull(platform):
    for n in range(5):
        platform.add_sequence(n + 1, camera_id=12, started_at=f"2026-05-10T1{n}:00:00", images=1)

    result = pull("--no-assign", "--max-sequences", "2")

    assert "sequences: created=2 " in result.out
    assert platform.count("/detections") == 2
    # Newest first, as the platform lists them.
    assert set(Sequence.objects.values_list("alert_api_id", flat=True)) == {5, 4}


def test_the_sequence_list_filters_by_platform_id(platform):
    for n in range(5):
        platform.add_sequence(n + 1, camera_id=12, started_at=f"2026-05-10T1{n}:00:00", images=1)

    result = pull("--no-assign", "--sequence-list", "2,4,99")

    assert "sequences: created=2 " in result.out
    assert set(Sequence.objects.values_list("alert_api_id", flat=True)) == {2, 4}
    assert platform.count("/detections") == 2


def test_a_date_range_is_pulled_day_by_day(platform):
    platform.add_sequence(1, camera_id=12, started_at="2026-05-10T10:00:00", images=1)
    platform.add_sequence(2, camera_id=12, started_at="2026-05-11T10:00:00", images=1)
    platform.add_sequence(3, camera_id=12, started_at="2026-05-12T10:00:00", images=1)

    result = pull("--no-assign", "--date-to", "2026-05-11")

    assert "sequences: created=2 " in result.out
    days = [r.param("from_date") for r in platform.requests_to("/sequences/all/fromdate")]
    assert days == ["2026-05-10", "2026-05-11"]


# --- authentication --------------------------------------------------------------------------


def test_a_refused_login_is_fatal_and_names_the_login(platform, settings):
    settings.PLATFORM_PASSWORD = "not-the-password"
    platform.add_sequence(1, camera_id=12, images=1)

    result = pull()

    assert result.code == 1
    assert "platform login 'annotator' refused: HTTP 401 Invalid credentials." in result.message
    assert "not-the-password" not in result.everything
    assert Sequence.objects.count() == 0
    assert AssignmentRun.objects.count() == 0


@pytest.mark.parametrize("status", [401, 406])
def test_a_token_rejected_mid_run_logs_in_again_once_and_goes_on(platform, status):
    for n in range(3):
        platform.add_sequence(n + 1, camera_id=12, started_at=f"2026-05-10T1{n}:00:00", images=1)
    platform.rejected_token_status = status
    platform.revoke_tokens_after = 4  # cameras, organisations, listing, one sequence

    result = pull("--no-assign")

    assert result.code == 0, result.everything
    assert "sequences: created=3 " in result.out
    assert platform.count("/login/creds") == 3  # user, admin, then the user again


def test_tokens_refused_for_good_stop_the_pull_naming_the_login(platform):
    platform.add_sequence(1, camera_id=12, images=1)
    platform.refuse_tokens = True
    platform.rejected_token_status = 406

    result = pull("--json")

    assert result.code == 1
    assert "login 'annotator' rejected again after a fresh login" in result.message
    assert "HTTP 406 Invalid token." in result.message
    data = json.loads(result.out)
    assert data["exit_code"] == 1 and "annotator" in data["fatal_error"]


def test_an_admin_login_without_the_admin_scope_is_fatal(platform, settings):
    settings.PLATFORM_ADMIN_LOGIN = "annotator"
    settings.PLATFORM_ADMIN_PASSWORD = "annotator-pw"

    result = pull()

    assert result.code == 1
    assert "platform login 'annotator' is not an admin account" in result.message
    assert "HTTP 403 Incompatible token scope." in result.message


def test_missing_settings_are_fatal_and_named_without_printing_secrets(platform, settings):
    settings.PLATFORM_ADMIN_LOGIN = ""
    settings.PLATFORM_ADMIN_PASSWORD = ""

    result = pull()

    assert result.code == 1
    assert result.message == "set PLATFORM_ADMIN_LOGIN, PLATFORM_ADMIN_PASSWORD in the environment"
    assert "annotator-pw" not in result.everything
    assert platform.requests == []


def test_an_unknown_host_needs_an_explicit_source_api(platform):
    result = pull(source_api=None)

    assert result.code == 1
    assert "cannot tell the source API of host '127.0.0.1': pass --source-api" in result.message
    assert platform.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date-to", "2026-05-09"], "--date-to (2026-05-09) is before --date-from"),
        (["--sequence-list", "12,abc"], "--sequence-list must be platform sequence ids"),
        (["--max-sequences", "0"], "--max-sequences must be at least 1"),
        (["--confidence-threshold", "1.5"], "--confidence-threshold must be between 0 and 1"),
    ],
)
def test_bad_options_are_fatal_and_named(platform, args, message):
    result = pull(*args)

    assert result.code == 1
    assert message in result.message
    assert platform.requests == []


def test_a_bad_date_is_refused_by_the_parser(platform):
    with pytest.raises(CommandError, match="--date-from: must be a date YYYY-MM-DD"):
        call_command("pull_sequences", "--date-from", "10/05/2026")


# --- failures and retries ------------------------------------------------------------------------


def test_a_500_that_succeeds_on_retry_costs_nothing(platform):
    platform.add_sequence(1, camera_id=12, images=2)
    platform.fail("/sequences/1/detections", 500, times=1)
    platform.fail("/images/", 503, times=1)

    result = pull("--no-assign")

    assert result.code == 0, result.everything
    assert "sequences: created=1 " in result.out and "detections: created=2" in result.out


def test_a_500_forever_fails_that_sequence_only(platform):
    platform.add_sequence(1, camera_id=12, started_at="2026-05-10T10:00:00", images=1)
    platform.add_sequence(2, camera_id=12, started_at="2026-05-10T11:00:00", images=1)
    platform.fail("/sequences/2/detections", 500, times=None)

    result = pull("--no-assign")

    assert result.code == 3
    assert "sequences: created=1 already_present=0 skipped_empty=0 failed=1" in result.out
    assert (
        "sequence 2: GET /api/v1/sequences/2/detections: HTTP 500 Internal Server Error "
        "(gave up after 4 attempts)"
    ) in result.out
    assert platform.count("/sequences/2/detections") == 4
    assert list(Sequence.objects.values_list("alert_api_id", flat=True)) == [1]


def test_a_day_behind_a_502_forever_is_reported_failed_and_the_next_day_pulled(platform):
    platform.add_sequence(1, camera_id=12, started_at="2026-05-10T10:00:00", images=1)
    platform.add_sequence(2, camera_id=12, started_at="2026-05-11T10:00:00", images=1)
    platform.fail(
        "from_date=2026-05-10", 502, times=None, body=BAD_GATEWAY_HTML, content_type="text/html"
    )

    result = pull("--no-assign", "--date-to", "2026-05-11")

    assert result.code == 3
    assert "listings: failed=1" in result.out
    assert "day 2026-05-10: GET /api/v1/sequences/all/fromdate: HTTP 502 502 Bad Gateway" in (
        result.out
    )
    assert "<" not in result.out
    assert list(Sequence.objects.values_list("alert_api_id", flat=True)) == [2]


def test_cameras_unreadable_is_fatal(platform):
    platform.add_sequence(1, camera_id=12, images=1)
    platform.fail("/cameras/", 500, times=None)

    result = pull()

    assert result.code == 1
    assert "GET /api/v1/cameras/: HTTP 500 Internal Server Error (gave up" in result.message
    assert Sequence.objects.count() == 0


def test_a_connection_reset_during_a_download_is_retried(platform):
    platform.add_sequence(1, camera_id=12, images=2)
    platform.reset("/images/", times=1)

    result = pull("--no-assign")

    assert result.code == 0, result.everything
    assert Detection.objects.count() == 2
    assert platform.count("/images/") == 3


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("expired", "HTTP 403 AccessDenied Request has expired"),
        ("missing", "HTTP 404 NoSuchKey The specified key does not exist."),
        ("not_image", "image cannot be opened as JPEG, PNG or WebP"),
    ],
)
def test_an_image_that_never_downloads_leaves_nothing_half_imported(
    platform, settings, fault, message
):
    platform.add_sequence(1, camera_id=12, started_at="2026-05-10T10:00:00", images=3)
    platform.add_sequence(2, camera_id=12, started_at="2026-05-10T11:00:00", images=1)
    broken = platform.detections[1][1]["bucket_key"]
    platform.image_faults[broken] = fault

    result = pull("--no-assign")

    assert result.code == 3
    assert "sequence 1: detections[1].image: " in result.out and message in result.out
    assert not Sequence.objects.filter(alert_api_id=1).exists()
    assert not Detection.objects.filter(sequence__alert_api_id=1).exists()
    assert not SequenceAnnotation.objects.filter(sequence__alert_api_id=1).exists()
    kept = Sequence.objects.get(alert_api_id=2)
    assert stored_files(settings) == {d.image.name for d in kept.detections.all()}


# --- mapping edge cases -----------------------------------------------------------------------


def test_box_strings_are_parsed_dropped_and_counted(platform):
    platform.add_sequence(1, camera_id=12)
    strings = [
        "[(0.1,0.2",  # garbled: a warning, no box
        "[(0.1,0.2,0.3)]",  # 3 numbers: dropped
        "[(0.1,0.2,0.3,0.4)]",  # 4 numbers: dropped
        "[(0.5,0.2,0.3,0.4,0.5)]",  # x1 > x2: dropped
        "[(0.1,0.2,1.7,0.4,0.5)]",  # 1.7: dropped
        "[(0,0,0,0,0)]",  # all zero: dropped
        "[( 0.1 , 0.2 , 0.3 , 0.4 , 0.5 )]",  # spaces
        "[(.1,.2,.3,.4,.5)]",  # .5-style numbers
        "(0.1,0.2,0.3,0.4,0.5)",  # a bare tuple
        "[(0.1,0.2,0.3,0.4,0.5),(0.6,0.6,0.7,0.7,0.9)]",  # several boxes
        "[]",  # a continuity row: empty, not malformed
    ]
    for index, text in enumerate(strings):
        platform.add_detection(
            1,
            detection_id=100 + index,
            bbox=text,
            others_bboxes="[(0.1,0.2" if index == 6 else None,
            created_at=f"2026-05-10T14:00:{index:02d}",
        )

    result = pull("--no-assign")

    assert result.code == 0, result.everything
    assert "detections: created=11" in result.out
    assert "boxes: dropped=5" in result.out
    assert "sequence 1: detection 100: bbox '[(0.1,0.2' is not a box string; ignored" in result.out
    assert "sequence 1: detection 106: others_bboxes '[(0.1,0.2' is not a box string" in result.out
    assert result.out.count("is not a box string") == 2
    stored = {d.alert_api_id: d for d in Detection.objects.all()}
    valid = predictions((0.1, 0.2, 0.3, 0.4, 0.5))
    assert [stored[100 + i].algo_predictions for i in range(6)] == [{"predictions": []}] * 6
    assert [stored[100 + i].algo_predictions for i in (6, 7, 8)] == [valid] * 3
    assert stored[109].algo_predictions == predictions(
        (0.1, 0.2, 0.3, 0.4, 0.5), (0.6, 0.6, 0.7, 0.7, 0.9)
    )
    assert stored[110].algo_predictions == {"predictions": []}
    assert stored[106].others_bboxes is None


def test_a_sequence_without_detections_is_skipped_not_failed(platform):
    platform.add_sequence(1, camera_id=12)  # detections_count 0, list []
    platform.add_sequence(2, camera_id=12, started_at="2026-05-10T08:00:00", images=1)

    result = pull("--no-assign")

    assert result.code == 0
    assert "sequences: created=1 already_present=0 skipped_empty=1 failed=0" in result.out
    assert list(Sequence.objects.values_list("alert_api_id", flat=True)) == [2]


def test_duplicate_images_are_kept_once_by_bucket_key(platform):
    platform.add_sequence(1, camera_id=12, started_at="2026-05-10T10:00:00")
    platform.add_sequence(2, camera_id=12, started_at="2026-05-10T11:00:00")
    shared = "12-20260510100000-aaaaaaaa.jpg"
    platform.add_detection(1, detection_id=11, bucket_key=shared, created_at="2026-05-10T10:00:00")
    platform.add_detection(
        1,
        detection_id=12,
        bucket_key=shared,
        bbox="[(0.7,0.1,0.74,0.2,0.31)]",
        created_at="2026-05-10T10:00:00.013",
    )
    platform.add_detection(1, detection_id=13, created_at="2026-05-10T10:00:30")
    platform.add_detection(2, detection_id=21, bucket_key=shared, created_at="2026-05-10T11:00:00")

    result = pull("--no-assign")

    assert "detections: created=3" in result.out
    first = Sequence.objects.get(alert_api_id=1)
    assert list(first.detections.values_list("alert_api_id", flat=True)) == [11, 13]
    assert first.detections.get(alert_api_id=11).algo_predictions == predictions(
        (0.412, 0.388, 0.457, 0.431, 0.62)
    )
    # The same image in another sequence is that sequence's detection too.
    assert list(
        Detection.objects.filter(sequence__alert_api_id=2).values_list("alert_api_id", flat=True)
    ) == [21]


def test_azimuth_is_rounded_half_to_even_wrapped_and_null_kept(platform):
    for sequence_id, azimuth in [(1, None), (2, 359.6), (3, 212.5), (4, 0.0), (5, 213.5)]:
        platform.add_sequence(
            sequence_id,
            camera_id=12,
            started_at=f"2026-05-10T1{sequence_id}:00:00",
            camera_azimuth=azimuth,
            images=1,
        )

    assert pull("--no-assign").code == 0

    azimuths = dict(Sequence.objects.values_list("alert_api_id", "azimuth"))
    assert azimuths == {1: None, 2: 0, 3: 212, 4: 0, 5: 214}


def test_a_camera_unknown_to_the_platform_is_a_record_error(platform):
    platform.add_camera(42, organization_id=2, listed=False)  # visible sequences, no camera row
    platform.add_sequence(7, camera_id=42, images=1)
    platform.add_sequence(8, camera_id=12, started_at="2026-05-10T08:00:00", images=1)

    result = pull("--no-assign")

    assert result.code == 3
    assert "sequence 7: camera 42 unknown to the platform" in result.out
    assert platform.count("/sequences/7/detections") == 0  # no call for a doomed record
    assert list(Sequence.objects.values_list("alert_api_id", flat=True)) == [8]


def test_an_unknown_platform_class_is_stored_as_null_with_a_warning(platform):
    platform.add_sequence(1, camera_id=12, is_wildfire=True, images=1)  # before August 2025

    result = pull("--no-assign")

    assert result.code == 0
    assert Sequence.objects.get().is_wildfire_alertapi is None
    assert "sequence 1: is_wildfire True is not null" in result.out


def test_the_temporal_model_fields_are_stored_and_null_when_absent(platform):
    platform.add_sequence(1, camera_id=12, images=1)  # scored, as the documentation shows
    platform.add_sequence(2, camera_id=12, images=1, temporal=dict.fromkeys(TEMPORAL, None))
    platform.add_sequence(3, camera_id=12, images=1, temporal=dict.fromkeys(TEMPORAL, ABSENT))

    result = pull("--no-assign")

    assert result.code == 0, result.everything
    stored = {
        alert_api_id: rest
        for alert_api_id, *rest in Sequence.objects.values_list("alert_api_id", *TEMPORAL)
    }
    # Null or absent (an older platform): not scored, never "scored low".
    assert stored == {1: [0.93, "0.1.0", "v0.3.2"], 2: [None] * 3, 3: [None] * 3}
    assert "warnings" not in result.out and "fields:" not in result.out


def test_a_malformed_temporal_field_is_stored_as_null_with_a_counted_warning(platform):
    garbled = {
        "temporal_model_score": 1.7,
        "temporal_model_version": "x" * 65,
        "temporal_api_version": "v0.3.2",
    }
    platform.add_sequence(1, camera_id=12, images=1, temporal=garbled)
    platform.add_sequence(2, camera_id=12, images=1, temporal={"temporal_model_score": "high"})
    platform.add_sequence(3, camera_id=12, images=1, temporal={"temporal_model_score": True})

    result = pull("--no-assign", "--json")

    report = json.loads(result.out)
    assert result.code == 0 and report["sequences"]["created"] == 3  # never a failed record
    assert report["fields"] == {"ignored": 4}
    assert report["warnings"] == [
        "sequence 1: temporal_model_score 1.7: must be a number between 0 and 1, or null; "
        "stored as null",
        "sequence 1: temporal_model_version '" + "x" * 56 + "...: must be a non-empty string "
        "of at most 64 characters, or null; stored as null",
        "sequence 2: temporal_model_score 'high': must be a number between 0 and 1, or null; "
        "stored as null",
        "sequence 3: temporal_model_score True: must be a number between 0 and 1, or null; "
        "stored as null",
    ]
    first = Sequence.objects.get(alert_api_id=1)
    assert (first.temporal_model_score, first.temporal_model_version) == (None, None)
    assert first.temporal_api_version == "v0.3.2"  # the good field of the three is kept
    assert Sequence.objects.filter(temporal_model_score__isnull=False).count() == 0


def test_the_motion_of_a_pulled_sequence_is_stored(platform):
    platform.add_sequence(1, camera_id=12, images=6)  # the same box on every frame

    assert pull("--no-assign").code == 0

    assert Sequence.objects.get().motion == 0.0


def test_a_bad_field_is_a_record_error_naming_it(platform):
    platform.add_sequence(1, camera_id=12, images=1, camera_azimuth="north", last_seen_at="soon")

    result = pull("--no-assign")

    assert result.code == 3
    assert "sequence 1: camera_azimuth: must be a finite number or null" in result.out
    assert "sequence 1: last_seen_at: must be an ISO 8601 datetime" in result.out
    assert Sequence.objects.count() == 0


# --- chaining and output ----------------------------------------------------------------------


def add_repeating_alerts(platform):
    """Two alerts of one object: same camera, azimuth and box."""
    platform.add_sequence(1, camera_id=12, started_at="2026-05-10T10:00:00", images=2)
    platform.add_sequence(2, camera_id=12, started_at="2026-05-10T11:00:00", images=2)


def test_the_chained_assignment_groups_what_was_pulled(platform):
    add_repeating_alerts(platform)

    result = pull()

    assert result.code == 0, result.everything
    groups = {s.group_id for s in Sequence.objects.all()}
    assert len(groups) == 1 and None not in groups
    assert SequenceGroup.objects.get().azimuth == 212
    run = AssignmentRun.objects.get()
    assert run.trigger == "import"
    assert f"assignment: run={run.pk} processed=2 new_groups=1 joined_existing=1" in result.out


def test_no_assign_leaves_the_pulled_sequences_ungrouped(platform):
    add_repeating_alerts(platform)

    result = pull("--no-assign")

    assert result.code == 0
    assert Sequence.objects.filter(group__isnull=True).count() == 2
    assert AssignmentRun.objects.count() == 0
    assert "assignment" not in result.out


def test_the_chaining_setting_off_leaves_them_ungrouped_too(platform, settings):
    settings.IMPORT_CHAIN_ASSIGNMENT = False
    add_repeating_alerts(platform)

    assert pull().code == 0
    assert AssignmentRun.objects.count() == 0


def test_json_output_for_machines(platform):
    add_repeating_alerts(platform)
    platform.add_sequence(3, camera_id=12, started_at="2026-05-10T12:00:00")

    result = pull("--json")

    data = json.loads(result.out)
    assert data["sequences"] == {
        "created": 2,
        "already_present": 0,
        "skipped_empty": 1,
        "failed": 0,
    }
    assert data["detections"] == {"created": 4}
    assert data["placeholders"] == {"created": 2}
    assert data["assignment"]["processed"] == 2 and data["assignment"]["new_groups"] == 1
    assert (data["exit_code"], data["fatal_error"], data["errors"]) == (0, None, [])


def test_a_terminal_gets_a_progress_line_on_stderr(platform):
    add_repeating_alerts(platform)

    result = pull("--no-assign", stderr=Terminal())

    assert "\r1/2 sequences: created=1" in result.err
    assert "\r" not in result.out
