"""`seed_demo` writes a realistic export and imports it; `create_demo_user` gives a login."""

import io
import json
from datetime import timedelta

import PIL.Image
import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import call_command

from groups.models import GroupOperation, SequenceGroup
from sequences.boxes import box_motion
from sequences.demo.scenario import HISTORY_DAYS, MONTH_START
from sequences.models import Camera, Detection, Organization, Sequence, SequenceAnnotation
from sequences.payloads import clean_predictions

pytestmark = pytest.mark.django_db

HISTORY_END = MONTH_START + timedelta(days=HISTORY_DAYS)


@pytest.fixture
def demo(tmp_path):
    out = tmp_path / "demo"
    stdout = io.StringIO()
    call_command("seed_demo", "--out", str(out), "--sequences", "12", stdout=stdout)
    return out, stdout.getvalue()


def lines(out):
    return [json.loads(line) for line in (out / "sequences.jsonl").read_text().splitlines()]


def test_small_run_imports_every_sequence(demo):
    out, output = demo
    assert "sequences: created=12 already_present=0 skipped_empty=0 failed=0" in output
    assert Sequence.objects.count() == 12
    assert Organization.objects.count() <= 2 and Camera.objects.count() <= 4
    assert not Sequence.objects.exclude(annotation__processing_stage="ready_to_annotate").exists()
    per_sequence = [s.detections.count() for s in Sequence.objects.all()]
    assert min(per_sequence) >= 3 and max(per_sequence) <= 6
    assert Detection.objects.count() == sum(len(item["detections"]) for item in lines(out))


def test_images_are_1280_by_720_jpegs_with_valid_boxes(demo):
    out, _ = demo
    for item in lines(out)[:4]:
        for detection in item["detections"]:
            with PIL.Image.open(out / detection["image"]) as image:
                assert (image.format, image.size) == ("JPEG", (1280, 720))
            cleaned, errors = clean_predictions(detection["algo_predictions"])
            assert errors == []
        assert item["detections"][0]["algo_predictions"]["predictions"], "first frame has a box"


def test_a_recurring_object_keeps_its_place(demo):
    """Two alerts of one camera and azimuth point at nearly the same box: groups can form."""
    out, _ = demo
    first_boxes = {}
    for item in lines(out):
        key = (item["camera"]["id"], round(item["azimuth"]) % 360)
        boxes = item["detections"][0]["algo_predictions"]["predictions"]
        first_boxes.setdefault(key, []).append(boxes[0]["xyxyn"])
    repeated = [boxes for boxes in first_boxes.values() if len(boxes) > 1]
    assert repeated
    a, b = repeated[0][:2]
    assert abs(a[0] - b[0]) < 0.05 and abs(a[1] - b[1]) < 0.05


def test_rerun_is_idempotent(demo):
    out, _ = demo
    before = (out / "sequences.jsonl").read_text()
    stdout = io.StringIO()
    call_command("seed_demo", "--out", str(out), "--sequences", "12", stdout=stdout)
    assert "created=0 already_present=12" in stdout.getvalue()
    assert (out / "sequences.jsonl").read_text() == before
    assert Sequence.objects.count() == 12


def test_create_demo_user_is_idempotent():
    stdout = io.StringIO()
    demo = ("create_demo_user", "--username", "demo", "--force", "--password")
    call_command(*demo, "demo-pass", stdout=stdout)
    assert stdout.getvalue().strip() == "Demo login created: username=demo password=demo-pass"
    call_command(*demo, "other-pass", stdout=stdout)
    assert "Demo login updated" in stdout.getvalue()
    user = authenticate(username="demo", password="other-pass")
    assert user is not None and user.is_staff and user.is_superuser


# --- A fire starting right on a labeled antenna (the machine-label safeguards) ----------------


@pytest.fixture
def month(tmp_path):
    """A month long enough for the history: its first weeks grouped and reviewed by the seed,
    its last days waiting for the assignment."""
    out = tmp_path / "month"
    stdout = io.StringIO()
    call_command("seed_demo", "--out", str(out), "--sequences", "40", stdout=stdout)
    return out, stdout.getvalue()


def test_part_of_the_alerts_carry_a_temporal_score(month):
    out, _ = month
    scored = [item for item in lines(out) if item["temporal_model_score"] is not None]
    assert 0 < len(scored) < len(lines(out))
    assert all(
        (item["temporal_model_version"], item["temporal_api_version"]) == ("0.1.0", "v0.3.2")
        for item in scored
    )
    assert Sequence.objects.filter(temporal_model_score__isnull=False).count() == len(scored)
    # The motion is measured at import from the first frames, wherever enough carry a box.
    first = settings.GROUPS_REPRESENTATIVE_DETECTIONS
    for sequence in Sequence.objects.prefetch_related("detections"):
        frames = [detection.algo_predictions for detection in sequence.detections.all()][:first]
        assert sequence.motion == box_motion(frames), sequence
    assert Sequence.objects.filter(motion__isnull=False).exists()


def test_the_history_is_reviewed_and_the_last_days_wait_for_the_assignment(month):
    _, output = month
    assert "sequences: created=40 already_present=0 skipped_empty=0 failed=0" in output
    assert "Demo review: " in output and "Demo review: 0 groups" not in output
    antennas = Sequence.objects.filter(camera__name="brison-01", azimuth=45, group__isnull=False)
    group = SequenceGroup.objects.get(pk=antennas.first().group_id)
    assert group.is_validated and group.false_positive_type == "antenna"
    # The last days are imported but not grouped yet.
    assert Sequence.objects.filter(recorded_at__gte=HISTORY_END, group__isnull=False).count() == 0
    assert Sequence.objects.filter(recorded_at__gte=HISTORY_END).exists()


def test_assign_groups_holds_back_the_fires_starting_on_the_antenna(month):
    stdout = io.StringIO()
    call_command("assign_groups", "--json", stdout=stdout)

    counters = json.loads(stdout.getvalue())
    assert counters["held_back"] == 3 and counters["inherited_annotations"] > 0
    held = [
        item
        for operation in GroupOperation.objects.filter(details__has_key="held_back")
        for item in operation.details["held_back"]
    ]
    fires = Sequence.objects.filter(pk__in=[item["sequence_id"] for item in held])
    assert {item["reason"] for item in held} == {"platform_smoke", "temporal_score", "motion"}
    signals = {(fire.is_wildfire_alertapi, fire.temporal_model_score is not None) for fire in fires}
    # With a platform verdict; without one but scored; with neither, its plume growing.
    assert signals == {("wildfire_smoke", False), (None, True), (None, False)}
    for fire in fires:
        assert fire.group.false_positive_type == "antenna"
        assert fire.annotation.processing_stage == "ready_to_annotate"  # left for a person
    assert min(fire.motion for fire in fires) >= settings.GROUPS_HOLD_BACK_MOTION


def test_a_second_seed_labels_nothing_twice(month):
    out, _ = month
    labels = SequenceAnnotation.objects.exclude(processing_stage="ready_to_annotate").count()
    stdout = io.StringIO()

    call_command("seed_demo", "--out", str(out), "--sequences", "40", stdout=stdout)

    assert "created=0 already_present=40" in stdout.getvalue()
    assert "Demo review: 0 groups labeled" in stdout.getvalue()
    assert SequenceAnnotation.objects.exclude(processing_stage="ready_to_annotate").count() == (
        labels
    )
