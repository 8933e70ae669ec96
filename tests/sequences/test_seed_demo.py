"""`seed_demo` writes a realistic export and imports it; `create_demo_user` gives a login."""

import io
import json

import PIL.Image
import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from sequences.models import Camera, Detection, Organization, Sequence
from sequences.payloads import clean_predictions

pytestmark = pytest.mark.django_db


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
    call_command("create_demo_user", "--username", "demo", "--password", "demo-pass", stdout=stdout)
    assert stdout.getvalue().strip() == "Demo login created: username=demo password=demo-pass"
    call_command(
        "create_demo_user", "--username", "demo", "--password", "other-pass", stdout=stdout
    )
    assert "Demo login updated" in stdout.getvalue()
    user = authenticate(username="demo", password="other-pass")
    assert user is not None and user.is_staff and user.is_superuser
