"""The import pipeline and `import_sequences` (SPEC §8.1, §8.2, §8.4, §9.3 Import, §9.4 #18)."""

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import PIL.Image
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from groups import import_hook
from groups.models import AssignmentRun, RunStatus, RunTrigger
from sequences.boxes import box_motion
from sequences.importing import export_format, pipeline
from sequences.importing.pipeline import DetectionRecord, RecordError, SequenceRecord, record_import
from sequences.importing.report import ImportReport
from sequences.models import (
    Camera,
    Detection,
    Organization,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.services import AutogenParams, azimuth_normalise, sequence_create
from tests.factories import jpeg_bytes
from tests.support.assignment_hooks import RESULT
from tests.support.motion import detector_frames

pytestmark = pytest.mark.django_db

GENERATED_IMAGE = re.compile(r"images/\d+_\d+\.jpg")
IMAGE_NAME = re.compile(r"^detections/sequence_(\d+)/(\d{8}_\d{6})_det(\d+)_([0-9a-f]{8})\.jpg$")


def box(xyxyn, confidence=0.8):
    return {"xyxyn": xyxyn, "confidence": confidence, "class_name": "smoke"}


def record(alert_api_id: int, *, boxes=None, **overrides) -> dict:
    """One export line; images are `images/<alert>_<k>.jpg`, one detection per box list."""
    boxes = boxes or [[box([0.1, 0.1, 0.3, 0.3])], [box([0.12, 0.12, 0.32, 0.32])]]
    line = {
        "source_api": "pyronear_french",
        "alert_api_id": alert_api_id,
        "organisation": {"id": 3, "name": "SDIS 07"},
        "camera": {"id": 42, "name": "brison-01", "lat": 44.51, "lon": 4.23},
        "azimuth": 91.4,
        "is_wildfire_alertapi": "wildfire_smoke",
        "recorded_at": "2025-07-01T12:00:00Z",
        "last_seen_at": "2025-07-01T12:09:30Z",
        "detections": [
            {
                "alert_api_id": alert_api_id * 100 + index,
                "recorded_at": f"2025-07-01T12:0{index}:05Z",
                "image": f"images/{alert_api_id}_{index}.jpg",
                "algo_predictions": {"predictions": predictions},
                "others_bboxes": None,
            }
            for index, predictions in enumerate(boxes)
        ],
    }
    line.update(overrides)
    return line


def write_export(folder: Path, records: list[dict], *, raw_lines: dict[int, str] | None = None):
    """Write `sequences.jsonl` and a JPEG for every image `record()` names."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for item in records:
        for detection in item.get("detections", []):
            path = folder / detection["image"]
            if GENERATED_IMAGE.fullmatch(detection["image"]) and not path.exists():
                path.write_bytes(jpeg_bytes())
        lines.append(json.dumps(item))
    for number, text in (raw_lines or {}).items():
        lines.insert(number - 1, text)
    (folder / "sequences.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def run_import(folder: Path, *args: str) -> tuple[str, int]:
    """Run the command; returns (stdout, exit status)."""
    out = io.StringIO()
    try:
        call_command("import_sequences", str(folder), *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "detections"
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


# --- A good folder ----------------------------------------------------------------------------


def test_good_folder_imports_everything(tmp_path, settings):
    write_export(tmp_path, [record(1), record(2, azimuth=None)])
    output, status = run_import(tmp_path, "--no-assign")

    assert status == 0
    assert output.splitlines() == [
        "sequences: created=2 already_present=0 skipped_empty=0 failed=0",
        "detections: created=4",
        "placeholders: created=2",
    ]
    assert Organization.objects.get().name == "SDIS 07"
    camera = Camera.objects.get()
    assert (camera.platform_id, camera.name, camera.organization.platform_id) == (
        42,
        "brison-01",
        3,
    )
    first = Sequence.objects.get(alert_api_id=1)
    assert first.azimuth == 91 and first.is_wildfire_alertapi == "wildfire_smoke"
    assert first.recorded_at == datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert (first.lat, first.lon) == (44.51, 4.23)
    assert Sequence.objects.get(alert_api_id=2).azimuth is None

    detection = first.detections.order_by("recorded_at").first()
    match = IMAGE_NAME.match(detection.image.name)
    assert match and match.groups()[:3] == (str(first.pk), "20250701_120005", "100")
    assert len(stored_files(settings)) == 4
    placeholder = first.annotation
    assert placeholder.processing_stage == ProcessingStage.READY_TO_ANNOTATE
    assert placeholder.label_source is None and placeholder.has_missed_smoke is False
    # The two overlapping boxes make one auto-generated, untyped smoke cluster.
    clusters = placeholder.annotation["sequences_bbox"]
    assert len(clusters) == 1 and len(clusters[0]["bboxes"]) == 2
    assert clusters[0]["is_smoke"] is True and clusters[0]["smoke_type"] is None


def test_rerun_adds_nothing_and_opens_no_image(tmp_path, settings, monkeypatch):
    write_export(tmp_path, [record(1), record(2)])
    run_import(tmp_path, "--no-assign")

    def refuse(*args, **kwargs):
        raise AssertionError("an image was read for a sequence already present")

    monkeypatch.setattr(PIL.Image, "open", refuse)
    monkeypatch.setattr(export_format, "read_image", refuse)
    output, status = run_import(tmp_path, "--no-assign")

    assert status == 0
    assert (
        output.splitlines()[0] == "sequences: created=0 already_present=2 skipped_empty=0 failed=0"
    )
    assert "detections: created=0" in output and "placeholders: created=0" in output
    assert Sequence.objects.count() == 2 and Detection.objects.count() == 4
    assert len(stored_files(settings)) == 4


def test_present_sequence_is_not_validated_again(tmp_path):
    write_export(tmp_path, [record(1)])
    run_import(tmp_path, "--no-assign")
    # The same key with a record that would now fail validation still counts as present.
    write_export(tmp_path, [record(1, camera={"id": "broken"})])
    output, status = run_import(tmp_path, "--no-assign")
    assert status == 0 and "already_present=1" in output and "failed=0" in output


def test_names_and_owner_are_refreshed(tmp_path):
    write_export(tmp_path, [record(1)])
    run_import(tmp_path, "--no-assign")
    renamed = record(
        2,
        organisation={"id": 4, "name": "SDIS 26"},
        camera={"id": 42, "name": "brison-renamed", "lat": 44.5, "lon": 4.2},
    )
    write_export(tmp_path, [renamed])
    run_import(tmp_path, "--no-assign")
    camera = Camera.objects.get(platform_id=42)
    assert camera.name == "brison-renamed" and camera.organization.name == "SDIS 26"
    first, second = Sequence.objects.order_by("alert_api_id")
    # A sequence keeps the organisation it had when imported.
    assert first.organization.platform_id == 3 and second.organization.platform_id == 4


# --- Bad records ------------------------------------------------------------------------------


def _outside_image(tmp_path: Path) -> dict:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jpg"
    outside.write_bytes(jpeg_bytes())
    line = record(3)
    line["detections"][1]["image"] = f"../{outside.name}"
    return line


def _text_image(tmp_path: Path) -> dict:
    (tmp_path / "images").mkdir(parents=True, exist_ok=True)
    (tmp_path / "images" / "3_1.jpg").write_text("not an image at all")
    return record(3)


def _missing_image(tmp_path: Path) -> dict:
    line = record(3)
    line["detections"][1]["image"] = "images/nowhere.jpg"
    return line


BAD_RECORDS = {
    "malformed box": (
        lambda tmp: record(3, boxes=[[box([0.1, 0.1, 0.3, 0.3])], [box([0.1, 0.1, 1.2, 0.3])]]),
        "line 3 (alert_api_id 3): detections[1].algo_predictions.predictions[0].xyxyn: "
        "coordinates must be between 0 and 1",
    ),
    "inverted box": (
        lambda tmp: record(3, boxes=[[box([0.5, 0.1, 0.3, 0.3])]]),
        "line 3 (alert_api_id 3): detections[0].algo_predictions.predictions[0].xyxyn: "
        "box must have x1 < x2 and y1 < y2",
    ),
    "unknown platform class": (
        lambda tmp: record(3, is_wildfire_alertapi="maybe_smoke"),
        "line 3 (alert_api_id 3): is_wildfire_alertapi: must be one of wildfire_smoke, "
        "other_smoke, other, or null",
    ),
    "unknown source api": (
        lambda tmp: record(3, source_api="pyronear_mars"),
        "line 3 (alert_api_id 3): source_api: must be one of pyronear_french, "
        "alert_wildfire, api_cenia",
    ),
    "missing image": (
        _missing_image,
        "line 3 (alert_api_id 3): detections[1].image: file not found: images/nowhere.jpg",
    ),
    "image outside the folder": (
        _outside_image,
        "line 3 (alert_api_id 3): detections[1].image: must stay inside the export folder",
    ),
    "not an image": (
        _text_image,
        "line 3 (alert_api_id 3): detections[1].image: image cannot be opened as JPEG, PNG or WebP",
    ),
    "missing field": (
        lambda tmp: {k: v for k, v in record(3).items() if k != "recorded_at"},
        "line 3 (alert_api_id 3): recorded_at: field required",
    ),
    "bad date": (
        lambda tmp: record(3, last_seen_at="yesterday"),
        "line 3 (alert_api_id 3): last_seen_at: must be an ISO-8601 date and time",
    ),
    "temporal score out of range": (
        lambda tmp: record(3, temporal_model_score=1.2),
        "line 3 (alert_api_id 3): temporal_model_score: must be a number between 0 and 1, or null",
    ),
    "temporal score not a number": (
        lambda tmp: record(3, temporal_model_score="0.9"),
        "line 3 (alert_api_id 3): temporal_model_score: must be a number between 0 and 1, or null",
    ),
    "temporal model version too long": (
        lambda tmp: record(3, temporal_model_version="1." * 40),
        "line 3 (alert_api_id 3): temporal_model_version: must be a non-empty string of at "
        "most 64 characters, or null",
    ),
    "temporal api version not a string": (
        lambda tmp: record(3, temporal_api_version=3),
        "line 3 (alert_api_id 3): temporal_api_version: must be a non-empty string of at "
        "most 64 characters, or null",
    ),
}


@pytest.mark.parametrize("kind", BAD_RECORDS)
def test_bad_line_three_is_reported_and_the_rest_imported(tmp_path, settings, kind):
    make_bad, message = BAD_RECORDS[kind]
    bad = make_bad(tmp_path)
    write_export(tmp_path, [record(1), record(2), bad, record(4)])

    output, status = run_import(tmp_path, "--no-assign")

    assert status == 3
    assert "sequences: created=3 already_present=0 skipped_empty=0 failed=1" in output
    assert f"errors:\n  {message}\n" in output + "\n"
    assert sorted(Sequence.objects.values_list("alert_api_id", flat=True)) == [1, 2, 4]
    assert len(stored_files(settings)) == 6


def test_undecodable_lines_are_record_errors(tmp_path):
    write_export(tmp_path, [record(1), record(4)], raw_lines={2: "{not json", 3: "[1, 2]"})
    output, status = run_import(tmp_path, "--no-assign")
    assert status == 3
    assert "  line 2: not valid JSON: Expecting property name enclosed in double quotes" in output
    assert "  line 3: must be a JSON object" in output
    assert Sequence.objects.count() == 2


def test_every_problem_of_a_record_is_listed(tmp_path):
    bad = record(3, camera={"id": 42, "name": "", "lat": 95, "lon": 4.2}, azimuth="north")
    write_export(tmp_path, [bad])
    output, status = run_import(tmp_path, "--no-assign")
    assert status == 3
    assert "line 1 (alert_api_id 3): camera.name: must be a non-empty string" in output
    assert "line 1 (alert_api_id 3): camera.lat: must be between -90 and 90" in output
    assert "line 1 (alert_api_id 3): azimuth: must be a finite number or null" in output


def test_all_zero_boxes_are_dropped_silently(tmp_path):
    zero_then_real = [box([0, 0, 0, 0], 0.0), box([0.5, 0.1, 0.2, 0.3])]
    bad = record(1, boxes=[zero_then_real])
    write_export(tmp_path, [bad])
    output, status = run_import(tmp_path, "--no-assign")
    # The inverted box is still reported at its position in the file (index 1, not 0).
    assert status == 3
    assert "detections[0].algo_predictions.predictions[1].xyxyn" in output

    fine = record(2, boxes=[[box([0, 0, 0, 0], 0.0), box([0.1, 0.1, 0.2, 0.2])]])
    write_export(tmp_path, [fine])
    output, status = run_import(tmp_path, "--no-assign")
    assert status == 0
    detection = Detection.objects.get(sequence__alert_api_id=2)
    assert [p["xyxyn"] for p in detection.algo_predictions["predictions"]] == [[0.1, 0.1, 0.2, 0.2]]


def test_repeated_detection_kept_once_and_empty_sequence_skipped(tmp_path):
    repeated = record(1)
    repeated["detections"].append({**repeated["detections"][0], "image": "images/1_0.jpg"})
    empty = record(2, detections=[])
    write_export(tmp_path, [repeated, empty])
    output, status = run_import(tmp_path, "--no-assign")
    assert status == 0
    assert "created=1 already_present=0 skipped_empty=1 failed=0" in output
    assert Detection.objects.count() == 2
    assert not Sequence.objects.filter(alert_api_id=2).exists()


# --- Azimuth and placeholders -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(359.6, 0), (90.5, 90), (91.5, 92), (-1, 359), (212.5, 212), (0.0, 0), (None, None)],
)
def test_azimuth_normalise(value, expected):
    assert azimuth_normalise(value) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "90"])
def test_azimuth_normalise_refuses_non_numbers(value):
    with pytest.raises(ValueError, match="azimuth must be a finite number or null"):
        azimuth_normalise(value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temporal_model_score", 1.5),
        ("temporal_model_score", float("nan")),
        ("temporal_model_version", ""),
        ("temporal_api_version", "v" * 65),
    ],
)
def test_sequence_create_refuses_a_bad_temporal_field_naming_it(field, value):
    fields = {**_memory_record().sequence_fields(), field: value}

    with pytest.raises(ValueError, match=f"^{field} must be"):
        sequence_create(**fields)
    assert not Sequence.objects.exists() and not Camera.objects.exists()


def test_azimuths_are_rounded_on_import(tmp_path):
    values = {1: 359.6, 2: 90.5, 3: 91.5, 4: -1}
    write_export(tmp_path, [record(key, azimuth=value) for key, value in values.items()])
    run_import(tmp_path, "--no-assign")
    stored = dict(Sequence.objects.values_list("alert_api_id", "azimuth"))
    assert stored == {1: 0, 2: 90, 3: 92, 4: 359}


def test_placeholders_use_the_thresholds(tmp_path):
    disjoint = [[box([0.1, 0.1, 0.2, 0.2], 0.9)], [box([0.6, 0.6, 0.7, 0.7], 0.3)]]
    write_export(tmp_path, [record(1, boxes=disjoint)])
    run_import(tmp_path, "--no-assign", "--confidence-threshold", "0.5")
    clusters = SequenceAnnotation.objects.get().annotation["sequences_bbox"]
    assert len(clusters) == 1 and clusters[0]["bboxes"][0]["xyxyn"] == [0.1, 0.1, 0.2, 0.2]


def test_placeholder_created_even_without_clusters(tmp_path):
    write_export(tmp_path, [record(1, boxes=[[box([0.1, 0.1, 0.2, 0.2])], []])])
    run_import(tmp_path, "--no-assign", "--min-cluster-size", "2")
    placeholder = SequenceAnnotation.objects.get()
    assert placeholder.processing_stage == ProcessingStage.READY_TO_ANNOTATE
    assert placeholder.annotation == {"sequences_bbox": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--confidence-threshold", "1.5"], "--confidence-threshold must be between 0 and 1"),
        (["--iou-threshold", "-0.1"], "--iou-threshold must be between 0 and 1"),
        (["--min-cluster-size", "0"], "--min-cluster-size must be at least 1"),
    ],
)
def test_bad_thresholds_are_fatal(tmp_path, args, message):
    write_export(tmp_path, [record(1)])
    with pytest.raises(CommandError, match=message) as excinfo:
        call_command("import_sequences", str(tmp_path), "--no-assign", *args)
    assert excinfo.value.returncode == 1
    assert not Sequence.objects.exists()


def test_missing_folder_or_file_is_fatal(tmp_path):
    with pytest.raises(CommandError, match="is not a folder") as excinfo:
        call_command("import_sequences", str(tmp_path / "nowhere"), "--no-assign")
    assert excinfo.value.returncode == 1
    with pytest.raises(CommandError, match="cannot read .*sequences.jsonl"):
        call_command("import_sequences", str(tmp_path), "--no-assign")


def test_json_report(tmp_path):
    write_export(tmp_path, [record(1), record(2, source_api="nope")])
    output, status = run_import(tmp_path, "--no-assign", "--json")
    report = json.loads(output)
    assert status == 3 and report["exit_code"] == 3
    assert report["sequences"] == {
        "created": 1,
        "already_present": 0,
        "skipped_empty": 0,
        "failed": 1,
    }
    assert report["detections"] == {"created": 2} and report["placeholders"] == {"created": 1}
    assert report["errors"] == [
        "line 2 (alert_api_id 2): source_api: must be one of pyronear_french, alert_wildfire, "
        "api_cenia"
    ]


def test_report_renders_the_spec_format():
    report = ImportReport(created=12, already_present=3, skipped_empty=1, failed=1)
    report.detections_created, report.placeholders_created = 240, 12
    report.errors.append(
        "line 7 (alert_api_id 4411): detections[2].algo_predictions.predictions[0].xyxyn: "
        "coordinates must be between 0 and 1"
    )
    report.assignment = {
        "run_id": 9,
        "processed": 12,
        "new_groups": 4,
        "joined_existing": 8,
        "inherited_annotations": 2,
        "joined_not_inherited": 0,
        "skipped_no_bbox": 0,
    }
    assert report.render() == (
        "sequences: created=12 already_present=3 skipped_empty=1 failed=1\n"
        "detections: created=240\n"
        "placeholders: created=12\n"
        "errors:\n"
        "  line 7 (alert_api_id 4411): detections[2].algo_predictions.predictions[0].xyxyn: "
        "coordinates must be between 0 and 1\n"
        "assignment: run=9 processed=12 new_groups=4 joined_existing=8 "
        "inherited_annotations=2 joined_not_inherited=0 skipped_no_bbox=0"
    )
    assert report.exit_code == 3
    report.assignment, report.assignment_error = None, "boom"
    assert report.exit_code == 1  # a failed assignment wins over record errors


# --- The temporal model and the motion ---------------------------------------------------------


def growing(frames: int, *, growth: float) -> list[list[dict]]:
    """The prediction lists of a box whose area grows by `growth` a frame, rising from its base."""
    plume = detector_frames([0.40, 0.30, 0.46, 0.40], frames=frames, growth=growth)
    return [frame["predictions"] for frame in plume]


def frames_record(alert_api_id: int, boxes: list[list[dict]]) -> dict:
    """`record()` with one detection per box list, a minute apart."""
    line = record(alert_api_id, boxes=boxes)
    for index, detection in enumerate(line["detections"]):
        detection["recorded_at"] = f"2025-07-01T12:{index:02d}:05Z"
    return line


def test_the_temporal_model_fields_are_optional_and_stored(tmp_path):
    scored = record(
        1,
        temporal_model_score=0.93,
        temporal_model_version="0.1.0",
        temporal_api_version="v0.3.2",
    )
    explicit_nulls = record(
        2, temporal_model_score=None, temporal_model_version=None, temporal_api_version=None
    )
    write_export(tmp_path, [scored, explicit_nulls, record(3)])

    output, status = run_import(tmp_path, "--no-assign")

    assert status == 0, output
    stored = {
        alert_api_id: rest
        for alert_api_id, *rest in Sequence.objects.values_list(
            "alert_api_id", "temporal_model_score", "temporal_model_version", "temporal_api_version"
        )
    }
    # Null or absent: not scored (never "scored low").
    assert stored == {1: [0.93, "0.1.0", "v0.3.2"], 2: [None] * 3, 3: [None] * 3}


def test_every_bad_temporal_field_is_named(tmp_path):
    bad = record(3, temporal_model_score=-0.5, temporal_model_version="", temporal_api_version=[])
    write_export(tmp_path, [bad])

    output, status = run_import(tmp_path, "--no-assign")

    assert status == 3
    for name in ("temporal_model_score", "temporal_model_version", "temporal_api_version"):
        assert f"line 1 (alert_api_id 3): {name}: must be" in output
    assert not Sequence.objects.exists()


def test_the_motion_is_measured_when_the_detections_are_stored(tmp_path, settings):
    settings.GROUPS_REPRESENTATIVE_DETECTIONS = 10
    plume, still = growing(12, growth=0.05), growing(12, growth=0.0)
    write_export(
        tmp_path,
        [frames_record(1, plume), frames_record(2, still), frames_record(3, plume[:2])],
    )

    output, status = run_import(tmp_path, "--no-assign")

    assert status == 0, output
    motion = dict(Sequence.objects.values_list("alert_api_id", "motion"))
    first_frames = [{"predictions": predictions} for predictions in plume[:10]]
    assert motion[1] == box_motion(first_frames) and motion[1] > 0.05
    assert motion[2] == 0.0
    assert motion[3] is None  # fewer than MOTION_MIN_FRAMES framed boxes: not measured


def test_the_motion_reads_the_first_frames_in_time_order(tmp_path, settings):
    """Only the first GROUPS_REPRESENTATIVE_DETECTIONS frames count, in time order whatever
    the order of the file: a box that starts growing after them is a still box."""
    settings.GROUPS_REPRESENTATIVE_DETECTIONS = 6
    line = frames_record(1, growing(6, growth=0.0) + growing(6, growth=0.3))
    line["detections"].reverse()
    write_export(tmp_path, [line])

    run_import(tmp_path, "--no-assign")

    assert Sequence.objects.get().motion == 0.0


def test_the_motion_costs_one_update_of_the_sequence_whatever_the_frames(monkeypatch):
    def queries_of_an_import(alert_api_id: int) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            record_import(_memory_record(alert_api_id, frames=6), autogen=AutogenParams())
        return [query["sql"] for query in queries.captured_queries]

    queries_of_an_import(0)  # creates the organisation and the camera
    measured = queries_of_an_import(1)
    monkeypatch.setattr(pipeline, "sequence_motion_measure", lambda **kwargs: None)
    unmeasured = queries_of_an_import(2)

    assert len(measured) == len(unmeasured) + 1
    (update,) = [sql for sql in measured if sql.startswith('UPDATE "sequences_sequence"')]
    assert "motion" in update
    assert Sequence.objects.get(alert_api_id=1).motion == 0.0


# --- Half-imported sequences (SPEC §9.4 #18) --------------------------------------------------


def _memory_record(alert_api_id: int = 1, *, frames: int = 3) -> SequenceRecord:
    at = timezone.now()
    return SequenceRecord(
        source_api="pyronear_french",
        alert_api_id=alert_api_id,
        organization_id=3,
        organization_name="SDIS 07",
        camera_id=42,
        camera_name="brison-01",
        lat=44.5,
        lon=4.2,
        azimuth=90,
        is_wildfire_alertapi=None,
        recorded_at=at,
        last_seen_at=None,
        detections=[
            DetectionRecord(
                alert_api_id=index,
                recorded_at=at,
                image=jpeg_bytes(color=color),
                algo_predictions={"predictions": [box([0.1, 0.1, 0.3, 0.3])]},
            )
            for index, color in enumerate(
                ["red", "green", "blue", "white", "black", "gray"][:frames]
            )
        ],
    )


def test_failure_after_images_were_written_leaves_nothing(settings, monkeypatch):
    def explode(**kwargs):
        # Reached after every detection (and its file) was written.
        assert len(stored_files(settings)) == 3
        raise RuntimeError("injected failure")

    monkeypatch.setattr(pipeline, "annotation_write", explode)
    with pytest.raises(RuntimeError, match="injected failure"):
        record_import(_memory_record(), autogen=AutogenParams())

    assert not Sequence.objects.exists()
    assert not Detection.objects.exists()
    assert not SequenceAnnotation.objects.exists()
    assert stored_files(settings) == []


def test_failure_on_a_later_detection_leaves_nothing(settings, monkeypatch):
    real_create = pipeline.detection_create
    calls = []

    def create_then_fail(**kwargs):
        calls.append(kwargs["alert_api_id"])
        if len(calls) == 3:
            raise RuntimeError("storage went away")
        return real_create(**kwargs)

    monkeypatch.setattr(pipeline, "detection_create", create_then_fail)
    with pytest.raises(RuntimeError):
        record_import(_memory_record(), autogen=AutogenParams())
    assert not Sequence.objects.exists() and stored_files(settings) == []


def test_an_unreadable_image_fails_the_record_before_any_write(settings):
    item = _memory_record()

    def never_downloads():
        raise OSError(110, "Connection timed out")

    item.detections[2].image = never_downloads
    with pytest.raises(RecordError) as excinfo:
        record_import(item, autogen=AutogenParams())
    assert excinfo.value.errors == [
        (("detections", 2, "image"), "cannot be read: Connection timed out")
    ]
    assert not Sequence.objects.exists() and stored_files(settings) == []


def test_a_concurrent_winner_counts_as_present(monkeypatch):
    record_import(_memory_record(), autogen=AutogenParams())
    # The existence check ran before the other import committed: the unique key decides.
    monkeypatch.setattr(pipeline, "record_exists", lambda *args: False)
    counts = record_import(_memory_record(), autogen=AutogenParams())
    assert counts.status == "already_present"
    assert Sequence.objects.count() == 1


# --- Chaining the assignment (SPEC §8.4) ------------------------------------------------------


def test_import_chains_the_assignment(tmp_path):
    write_export(tmp_path, [record(1), record(2)])
    output, status = run_import(tmp_path)
    assert status == 0
    run = AssignmentRun.objects.get()
    assert run.trigger == RunTrigger.IMPORT and run.status == RunStatus.SUCCEEDED
    assert output.splitlines()[-1] == (
        f"assignment: run={run.pk} processed=2 new_groups=1 joined_existing=1 "
        "inherited_annotations=0 joined_not_inherited=0 held_back=0 skipped_no_bbox=0"
    )
    assert Sequence.objects.filter(group__isnull=False).count() == 2


def test_no_assign_and_the_setting_skip_the_assignment(tmp_path, settings):
    write_export(tmp_path, [record(1)])
    output, _ = run_import(tmp_path, "--no-assign")
    assert "assignment" not in output
    settings.IMPORT_CHAIN_ASSIGNMENT = False
    write_export(tmp_path, [record(2)])
    output, _ = run_import(tmp_path)
    assert "assignment" not in output
    assert not AssignmentRun.objects.exists()


def test_assignment_in_progress_is_skipped_not_failed(tmp_path):
    now = timezone.now()
    running = AssignmentRun.objects.create(
        status=RunStatus.RUNNING, trigger=RunTrigger.COMMAND, started_at=now, heartbeat_at=now
    )
    write_export(tmp_path, [record(1)])
    output, status = run_import(tmp_path)
    assert status == 0
    assert output.splitlines()[-1] == f"assignment skipped: run {running.pk} in progress"
    assert not Sequence.objects.filter(group__isnull=False).exists()


HOOKS = "tests.support.assignment_hooks"


@pytest.mark.parametrize(
    ("hook", "status", "last_line"),
    [
        (
            "finished",
            0,
            "assignment: run=41 processed=3 new_groups=1 joined_existing=2 "
            "inherited_annotations=1 joined_not_inherited=0 skipped_no_bbox=0",
        ),
        ("busy", 0, "assignment skipped: run 8 in progress"),
        ("failed", 1, "assignment failed: group assignment failed: disk full"),
        ("crashes", 1, "assignment failed: RuntimeError: the hook itself broke"),
    ],
)
def test_the_import_ends_with_the_hook_it_is_given(tmp_path, settings, hook, status, last_line):
    settings.IMPORT_ASSIGNMENT_HOOK = f"{HOOKS}.{hook}"
    write_export(tmp_path, [record(1)])
    output, exit_status = run_import(tmp_path)
    assert exit_status == status
    lines = output.splitlines()
    # The import's own report stands whatever the hook did.
    assert lines[0] == "sequences: created=1 already_present=0 skipped_empty=0 failed=0"
    assert lines[-1] == last_line
    assert Sequence.objects.count() == 1
    assert not AssignmentRun.objects.exists()


def test_the_json_report_holds_what_the_hook_returned(tmp_path, settings):
    settings.IMPORT_ASSIGNMENT_HOOK = f"{HOOKS}.finished"
    write_export(tmp_path, [record(1)])
    output, status = run_import(tmp_path, "--json")
    data = json.loads(output)
    assert status == 0
    assert data["assignment"] == RESULT
    assert data["assignment_skipped_run"] is None and data["assignment_error"] is None


def test_a_failed_run_fails_the_import_with_its_reason(tmp_path, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(import_hook, "assignment_run", broken)
    write_export(tmp_path, [record(1)])
    output, status = run_import(tmp_path)
    assert status == 1
    assert output.splitlines()[-1] == (
        "assignment failed: group assignment failed: database went away"
    )
    assert Sequence.objects.count() == 1


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_line_on_stderr(tmp_path):
    write_export(tmp_path, [record(1), record(2)])
    out, err = io.StringIO(), Terminal()
    call_command("import_sequences", str(tmp_path), "--no-assign", stdout=out, stderr=err)
    assert "\r1/2 records: created=1 already_present=0 failed=0" in err.getvalue()
    assert "\r" not in out.getvalue()


def test_no_progress_line_when_not_a_terminal(tmp_path):
    write_export(tmp_path, [record(1)])
    err = io.StringIO()
    call_command("import_sequences", str(tmp_path), "--no-assign", stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == ""
