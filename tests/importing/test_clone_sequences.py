"""`manage.py clone_sequences` against a real second instance of this site on loopback.

The remote is shared by the session: each test seeds sequences on a day of its own (and alert
ids of their own) and clones that day only.
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from sequences.models import Detection, LabelSource, RemoteCopy, Sequence, SequenceAnnotation
from tests.support.command_run import Terminal, command_run
from tests.support.remote_site import PASSWORD, smoke_payload

pytestmark = pytest.mark.django_db


def moment(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def clone(remote, *args: str, day: int | None = None, stderr=None):
    dates = ["--date-from", date(2026, 3, day).isoformat()] if day else []
    dates += ["--date-to", date(2026, 3, day).isoformat()] if day else []
    return command_run("clone_sequences", "--source-url", remote.url, *dates, *args, stderr=stderr)


def stored_files(settings) -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_clone_by_stage_keeps_identity_detections_and_images(remote, settings):
    ready = remote.sequence_add(
        alert_api_id=1101,
        recorded_at=moment(1),
        frames=6,
        azimuth=271,
        temporal_model_score=0.81,
        temporal_model_version="0.2.0",
        temporal_api_version="v0.3.1",
    )
    taken = remote.sequence_add(alert_api_id=1102, recorded_at=moment(1, 13))
    remote.annotate(taken, processing_stage="under_annotation")

    ran = clone(remote, "--no-assign", "--json", day=1)

    assert ran.code == 0, ran.everything
    assert ran.json()["sequences"]["created"] == 1
    sequence = Sequence.objects.select_related("camera", "organization").get()
    assert (sequence.source_api, sequence.alert_api_id) == ("pyronear_french", 1101)
    assert (sequence.camera.platform_id, sequence.camera.name) == (41, "cam-41")
    assert (sequence.organization.platform_id, sequence.organization.name) == (3, "org-3")
    assert (sequence.azimuth, sequence.recorded_at) == (271, moment(1))
    assert (sequence.temporal_model_score, sequence.temporal_model_version) == (0.81, "0.2.0")
    assert sequence.temporal_api_version == "v0.3.1"
    assert sequence.motion is not None and sequence.motion > 0
    detections = list(Detection.objects.filter(sequence=sequence))
    assert [d.alert_api_id for d in detections] == [d["alert_api_id"] for d in ready.detections]
    assert [d.algo_predictions for d in detections] == [
        d["algo_predictions"] for d in ready.detections
    ]
    remote_bytes = (remote.media / ready.detections[0]["bucket_key"]).read_bytes()
    assert detections[0].image.read() == remote_bytes
    assert SequenceAnnotation.objects.get(sequence=sequence).processing_stage == (
        "ready_to_annotate"
    )
    copy = RemoteCopy.objects.get(sequence=sequence)
    assert (copy.remote_url, copy.remote_sequence_id) == (f"{remote.url}/api/v1", ready.id)


def test_clone_by_list_takes_those_alerts_whatever_their_stage(remote):
    first = remote.sequence_add(alert_api_id=1201, recorded_at=moment(2))
    remote.sequence_add(alert_api_id=1202, recorded_at=moment(2, 13))
    third = remote.sequence_add(alert_api_id=1203, recorded_at=moment(2, 14))
    remote.annotate(third, processing_stage="under_annotation")

    ran = clone(remote, "--sequence-list", "1201,1203,999999", "--no-assign")

    assert ran.code == 0, ran.everything
    assert sorted(Sequence.objects.values_list("alert_api_id", flat=True)) == [1201, 1203]
    assert "not found on the remote: 999999" in ran.out
    assert first.id in RemoteCopy.objects.values_list("remote_sequence_id", flat=True)


def test_clone_by_date_takes_only_those_days(remote):
    remote.sequence_add(alert_api_id=1301, recorded_at=moment(3, 23))
    remote.sequence_add(alert_api_id=1302, recorded_at=moment(4, 0))
    remote.sequence_add(alert_api_id=1303, recorded_at=moment(5, 1))

    ran = command_run(
        "clone_sequences",
        "--source-url",
        remote.url,
        "--date-from",
        "2026-03-04",
        "--date-to",
        "2026-03-05",
        "--no-assign",
    )

    assert ran.code == 0, ran.everything
    assert sorted(Sequence.objects.values_list("alert_api_id", flat=True)) == [1302, 1303]


def test_a_second_clone_creates_nothing(remote, settings):
    remote.sequence_add(alert_api_id=1401, recorded_at=moment(6))
    remote.sequence_add(alert_api_id=1402, recorded_at=moment(6, 13))
    assert clone(remote, "--no-assign", day=6).code == 0
    files = stored_files(settings)

    again = clone(remote, "--no-assign", "--json", day=6)

    assert again.code == 0, again.everything
    assert again.json()["sequences"] | {"conflicts": 0} == {
        "created": 0,
        "already_present": 2,
        "skipped_empty": 0,
        "failed": 0,
        "conflicts": 0,
    }
    assert Sequence.objects.count() == 2 and Detection.objects.count() == 6
    assert stored_files(settings) == files


def test_a_sequence_whose_image_fails_is_not_half_imported(remote, settings):
    broken = remote.sequence_add(alert_api_id=1501, recorded_at=moment(7))
    remote.sequence_add(alert_api_id=1502, recorded_at=moment(7, 13))
    remote.image_delete(broken.detections[1])

    ran = clone(remote, "--no-assign", day=7)

    assert ran.code == 3
    assert "remote sequence" in ran.out and "1501" in ran.out and "HTTP 404" in ran.out
    assert list(Sequence.objects.values_list("alert_api_id", flat=True)) == [1502]
    assert Detection.objects.count() == 3
    assert all("sequence_" in name for name in stored_files(settings))
    assert len(stored_files(settings)) == 3
    assert not RemoteCopy.objects.filter(remote_sequence_id=broken.id).exists()


def test_mark_source_stage_takes_the_sequences_on_the_remote(remote):
    first = remote.sequence_add(alert_api_id=1601, recorded_at=moment(8))
    second = remote.sequence_add(alert_api_id=1602, recorded_at=moment(8, 13))

    ran = clone(remote, "--mark-source-stage", "under_annotation", "--no-assign", day=8)

    assert ran.code == 0, ran.everything
    assert "marked: done=2 failed=0" in ran.out
    assert remote.annotation(first)["processing_stage"] == "under_annotation"
    assert remote.annotation(second)["processing_stage"] == "under_annotation"
    # Another team cloning what is ready to annotate no longer gets them.
    assert Sequence.objects.count() == 2
    Sequence.objects.all().delete()
    assert clone(remote, "--no-assign", "--json", day=8).json()["sequences"]["created"] == 0


def test_with_annotations_copies_the_remote_label_and_its_stage(remote):
    labelled = remote.sequence_add(alert_api_id=1701, recorded_at=moment(9))
    remote.annotate(
        labelled,
        annotation=smoke_payload(labelled, "industrial"),
        processing_stage="seq_annotation_done",
        is_unsure=True,
    )

    ran = clone(
        remote, "--stage", "seq_annotation_done", "--with-annotations", "--no-assign", day=9
    )

    assert ran.code == 0, ran.everything
    annotation = SequenceAnnotation.objects.get(sequence__alert_api_id=1701)
    first = Detection.objects.get(sequence=annotation.sequence, alert_api_id=170100)
    assert annotation.processing_stage == "seq_annotation_done"
    assert (annotation.smoke_types, annotation.is_unsure) == (["industrial"], True)
    assert annotation.label_source == LabelSource.HUMAN and annotation.checked_at is not None
    bbox = annotation.annotation["sequences_bbox"][0]["bboxes"][0]
    assert bbox == {"detection_id": first.pk, "xyxyn": [0.1, 0.2, 0.3, 0.4]}


def test_the_clone_ends_with_the_group_assignment(remote):
    remote.sequence_add(alert_api_id=1801, recorded_at=moment(10))

    ran = clone(remote, "--json", day=10)

    assert ran.code == 0, ran.everything
    assert ran.json()["assignment"]["processed"] == 1


def test_progress_on_a_terminal_and_no_credentials_in_any_output(remote):
    remote.sequence_add(alert_api_id=1901, recorded_at=moment(11))
    terminal = Terminal()

    ran = clone(remote, "--no-assign", day=11, stderr=terminal)

    assert ran.code == 0
    assert "\r1/1 sequences: created=1" in terminal.getvalue()
    assert PASSWORD not in ran.everything + terminal.getvalue()


def test_count_only_counts_and_clones_nothing(remote):
    remote.sequence_add(alert_api_id=2001, recorded_at=moment(12))
    remote.sequence_add(alert_api_id=2002, recorded_at=moment(12, 13))

    ran = clone(remote, "--count-only", "--json", day=12)

    assert (ran.code, ran.json()) == (0, {"count": 2})
    assert not Sequence.objects.exists()


def test_wrong_credentials_or_none_are_fatal(remote, settings):
    settings.SOURCE_ANNOTATION_PASSWORD = "not-the-password"
    refused = clone(remote, "--no-assign", day=13)
    settings.SOURCE_ANNOTATION_LOGIN = ""
    missing = clone(remote, "--no-assign", day=13)

    assert refused.code == 1 and "login 'remote-staff'" in refused.message
    assert "not-the-password" not in refused.everything
    assert missing.code == 1
    assert missing.message == (
        "set SOURCE_ANNOTATION_LOGIN and SOURCE_ANNOTATION_PASSWORD in the environment"
    )


def test_a_sequence_here_from_elsewhere_is_a_conflict_left_alone(remote):
    remote.sequence_add(alert_api_id=2101, recorded_at=moment(14))
    assert clone(remote, "--no-assign", day=14).code == 0
    RemoteCopy.objects.all().delete()  # as if pulled from the platform

    ran = clone(remote, "--no-assign", "--json", day=14)

    assert ran.json()["sequences"]["conflicts"] == 1
    assert ran.json()["sequences"]["created"] == 0
    assert "not cloned from this remote" in " ".join(ran.json()["warnings"])


def test_dates_and_days_are_checked(remote):
    reversed_ = clone(remote, "--date-from", "2026-03-05", "--date-to", "2026-03-04")
    bad_url = command_run("clone_sequences", "--source-url", "ftp://x")

    assert reversed_.code == 1 and "--date-to (2026-03-04) is before" in reversed_.message
    assert bad_url.code == 1 and bad_url.message.startswith("--source-url must be an http")


def test_times_are_kept_to_the_microsecond(remote):
    remote.sequence_add(alert_api_id=2201, recorded_at=moment(15) + timedelta(microseconds=5))

    assert clone(remote, "--no-assign", day=15).code == 0
    assert Sequence.objects.get().recorded_at == moment(15) + timedelta(microseconds=5)
