"""`manage.py push_annotations` against a real second instance of this site on loopback: the
sequences are cloned from it first, annotated here, then pushed back.

Each test seeds sequences on a day of its own (April 2026) on the shared remote.
"""

from datetime import UTC, date, datetime

import pytest

from groups.services import label_check_confirm
from sequences.models import Detection, RemoteCopy, Sequence, SequenceAnnotation
from sequences.payloads import Label
from sequences.services import annotation_write
from tests.factories import smoke_annotation, stamp, validated_group
from tests.support.command_run import command_run
from tests.support.remote_site import smoke_payload

pytestmark = pytest.mark.django_db


def moment(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 4, day, hour, tzinfo=UTC)


def cloned(remote, day: int, *args: str) -> list[Sequence]:
    """Clone the remote's sequences of that April day; they are taken (under_annotation)."""
    ran = command_run(
        "clone_sequences",
        "--source-url",
        remote.url,
        "--date-from",
        date(2026, 4, day).isoformat(),
        "--date-to",
        date(2026, 4, day).isoformat(),
        "--mark-source-stage",
        "under_annotation",
        "--no-assign",
        *args,
    )
    assert ran.code == 0, ran.everything
    return list(Sequence.objects.filter(recorded_at__date=date(2026, 4, day)))


def label_here(sequence: Sequence, smoke_type: str = "wildfire", stage="seq_annotation_done"):
    """A person's save here, on the sequence's first detection."""
    first = Detection.objects.filter(sequence=sequence).first()
    annotation_write(
        sequence=sequence,
        annotation=smoke_annotation(first.pk, smoke_type),
        processing_stage=stage,
        has_missed_smoke=False,
        is_unsure=False,
        source="human",
    )


def push(remote, *args: str):
    return command_run("push_annotations", "--remote-url", remote.url, *args)


def test_push_after_annotating_here_updates_the_remote_once(remote):
    seeded = remote.sequence_add(alert_api_id=3101, recorded_at=moment(1))
    (sequence,) = cloned(remote, 1)
    label_here(sequence, "industrial")

    first = push(remote, "--json")
    before_second = remote.annotation(seeded)
    second = push(remote, "--json")

    assert first.code == 0, first.everything
    assert first.json()["annotations"] | {"considered": 0} == {
        "considered": 0,
        "created": 0,
        "updated": 1,
        "already_present": 0,
        "skipped": 0,
        "failed": 0,
        "conflicts": 0,
    }
    there = remote.annotation(seeded)
    assert there["processing_stage"] == "seq_annotation_done"
    assert there["smoke_types"] == ["industrial"]
    box = there["annotation"]["sequences_bbox"][0]["bboxes"][0]
    assert box == {"detection_id": seeded.detections[0]["id"], "xyxyn": [0.1, 0.1, 0.4, 0.4]}
    assert second.code == 0
    assert second.json()["annotations"]["already_present"] == 1
    assert second.json()["annotations"]["updated"] == 0
    assert remote.annotation(seeded)["updated_at"] == before_second["updated_at"]
    copy = RemoteCopy.objects.get(sequence=sequence)
    assert copy.pushes == 1 and copy.pushed_at is not None


def test_a_remote_without_annotation_gets_one_created(remote):
    seeded = remote.sequence_add(alert_api_id=3201, recorded_at=moment(2), placeholder=False)
    (sequence,) = cloned(remote, 2, "--stage", "no_annotation")
    # The mark created an under_annotation one there; drop it to see the push create one.
    RemoteCopy.objects.filter(sequence=sequence).update(remote_fingerprint="")
    remote.api("DELETE", f"/annotations/sequences/{remote.annotation(seeded)['id']}")
    label_here(sequence)

    ran = push(remote, "--json")

    assert ran.code == 0, ran.everything
    assert ran.json()["annotations"]["created"] == 1
    assert remote.annotation(seeded)["smoke_types"] == ["wildfire"]


def test_a_remote_changed_since_the_clone_is_a_conflict_until_forced(remote):
    seeded = remote.sequence_add(alert_api_id=3301, recorded_at=moment(3))
    (sequence,) = cloned(remote, 3)
    remote.annotate(
        seeded,
        annotation=smoke_payload(seeded, "other"),
        processing_stage="seq_annotation_done",
    )
    label_here(sequence, "wildfire")

    refused = push(remote, "--json")
    theirs = remote.annotation(seeded)
    forced = push(remote, "--force", "--json")

    assert refused.code == 3
    assert refused.json()["annotations"]["conflicts"] == 1
    assert "changed since the clone" in refused.json()["warnings"][0]
    assert theirs["smoke_types"] == ["other"]
    assert forced.code == 0, forced.everything
    assert forced.json()["annotations"]["updated"] == 1
    assert remote.annotation(seeded)["smoke_types"] == ["wildfire"]


def test_only_labels_a_person_stands_behind_are_pushed(remote, annotator):
    seeds = [
        remote.sequence_add(alert_api_id=3400 + n, recorded_at=moment(4, 10 + n)) for n in range(4)
    ]
    human, confirmed, unchecked, unfinished = cloned(remote, 4)
    label_here(human)
    group = validated_group(camera=confirmed.camera)
    stamp(group, [confirmed.pk, unchecked.pk], label=Label.fp("antenna"))
    label_check_confirm(
        annotation_ids=[SequenceAnnotation.objects.get(sequence=confirmed).pk], actor=annotator
    )
    label_here(unfinished, stage="under_annotation")

    without = push(remote, "--json")
    stages = [remote.annotation(seed)["processing_stage"] for seed in seeds]
    with_unchecked = push(remote, "--include-unchecked", "--json")

    assert without.code == 0, without.everything
    assert without.json()["annotations"]["updated"] == 2
    assert without.json()["annotations"]["skipped"] == 2
    assert stages == ["seq_annotation_done"] * 2 + ["under_annotation"] * 2
    assert remote.annotation(seeds[1])["false_positive_types"] == ["antenna"]
    assert with_unchecked.json()["annotations"]["updated"] == 1
    assert remote.annotation(seeds[2])["false_positive_types"] == ["antenna"]


def test_dry_run_sends_nothing_and_max_sequences_caps(remote):
    seeds = [
        remote.sequence_add(alert_api_id=3500 + n, recorded_at=moment(5, 10 + n)) for n in range(2)
    ]
    for sequence in cloned(remote, 5):
        label_here(sequence)

    dry = push(remote, "--dry-run", "--json")
    capped = push(remote, "--max-sequences", "1", "--json")

    assert dry.json()["annotations"]["updated"] == 2 and dry.json()["dry_run"] is True
    assert capped.json()["annotations"]["updated"] == 1
    stages = sorted(remote.annotation(seed)["processing_stage"] for seed in seeds)
    assert stages == ["seq_annotation_done", "under_annotation"]


def test_sequences_from_another_remote_are_not_pushed(remote, settings):
    remote.sequence_add(alert_api_id=3601, recorded_at=moment(6))
    (sequence,) = cloned(remote, 6)
    label_here(sequence)

    ran = push(remote, "--json")
    other = command_run("push_annotations", "--remote-url", "http://127.0.0.1:9", "--json")

    assert ran.json()["annotations"]["updated"] == 1
    assert other.code == 0 and other.json()["annotations"]["considered"] == 0


def test_remote_credentials_win_over_the_source_ones(remote, settings):
    settings.REMOTE_ANNOTATION_LOGIN = "nobody"
    settings.REMOTE_ANNOTATION_PASSWORD = "wrong-remote-password"
    remote.sequence_add(alert_api_id=3701, recorded_at=moment(7))
    (sequence,) = cloned(remote, 7)
    label_here(sequence)

    ran = push(remote)

    assert ran.code == 1 and "login 'nobody'" in ran.message
    assert "wrong-remote-password" not in ran.everything
