"""`manage.py export_alerts`: the dataset on disk (manifest and images, byte for byte, a rerun
that copies nothing), the YOLO tree and its camera-whole split, and the options, against the
known history of the `export_history` fixture."""

import io
import json
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command, load_command_class

from sequences.exporting.split import Split, validation_cameras
from sequences.models import SequenceAnnotation
from sequences.services import annotation_delete
from tests.support import token_client

pytestmark = pytest.mark.django_db

EXPORT_URL = "/api/v1/export/alerts"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_export(out: Path, *args: str, stderr=None) -> tuple[str, int]:
    """Run the command into `out`; returns (stdout, exit status)."""
    stdout = io.StringIO()
    try:
        call_command(
            "export_alerts", "--out", str(out), *args, stdout=stdout, stderr=stderr or io.StringIO()
        )
    except CommandError as exc:
        return stdout.getvalue(), exc.returncode
    return stdout.getvalue(), 0


def summary_of(out: Path, *args: str) -> dict:
    stdout, status = run_export(out, *args, "--json")
    summary = json.loads(stdout)
    assert summary["exit_code"] == status
    return summary


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path, with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def manifest_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


# --- The dataset ---------------------------------------------------------------------------------


def test_a_one_alert_dataset_byte_for_byte(dataset_dir, export_history, staff_user):
    """The manifest line is the endpoint's item with `image_url` replaced by `image_path`."""
    first, second = export_history.alerts[7].detections.order_by("recorded_at", "id")
    (item,) = token_client(staff_user).get(EXPORT_URL, {"source_api": "api_cenia"}).json()["items"]
    for frame in item["objects"][0]["frames"]:
        url = frame.pop("image_url")
        frame["image_path"] = f"images/api_cenia/7/{frame['detection_id']}.jpg"
        frame["boxes"] = frame.pop("boxes")  # the endpoint's order of keys
        assert url.endswith(f"/detections/{frame['detection_id']}/image")

    stdout, status = run_export(dataset_dir, "--source-api", "api_cenia")

    assert status == 0, stdout
    assert files_of(dataset_dir) == {
        "manifest.jsonl": (json.dumps(item) + "\n").encode(),
        f"images/api_cenia/7/{first.pk}.jpg": default_storage.open(first.image.name).read(),
        f"images/api_cenia/7/{second.pk}.jpg": default_storage.open(second.image.name).read(),
    }
    assert [len(frame["boxes"]) for frame in item["objects"][0]["frames"]] == [1, 0]
    assert stdout.splitlines()[:2] == [
        "alerts: exported=1 withdrawn=0 objects=1 frames=2",
        "images: copied=2 present=0 failed=0",
    ]


def test_the_same_database_and_options_give_the_same_files(dataset_dir, export_history):
    one, two = dataset_dir / "one", dataset_dir / "two"

    first = summary_of(one, "--format", "yolo", "--split", "val=0.3", "--page-size", "2")
    rerun = summary_of(one, "--format", "yolo", "--split", "val=0.3", "--page-size", "2")
    summary_of(two, "--format", "yolo", "--split", "val=0.3", "--workers", "1")

    assert files_of(one) == files_of(two)
    assert (first["images_copied"], first["images_present"]) == (11, 0)
    assert (rerun["images_copied"], rerun["images_present"]) == (0, 11)
    assert (rerun["alerts"], rerun["objects"], rerun["frames"]) == (5, 5, 11)


def test_a_rerun_copies_only_the_missing_images(dataset_dir, export_history):
    run_export(dataset_dir)
    image = next((dataset_dir / "images" / "pyronear_french" / "1").iterdir())
    image.unlink()

    summary = summary_of(dataset_dir)

    assert (summary["images_copied"], summary["images_present"]) == (1, 10)
    assert image.is_file()


def test_an_image_missing_from_storage_is_reported_and_healed_by_a_rerun(
    dataset_dir, export_history
):
    detection = export_history.alerts[1].detections.order_by("recorded_at", "id").first()
    stored = default_storage.open(detection.image.name).read()
    default_storage.delete(detection.image.name)

    stdout, status = run_export(dataset_dir)

    assert status == 3
    assert "images: copied=10 present=0 failed=1" in stdout
    assert f"detection {detection.pk} ({detection.image.name})" in stdout
    (item,) = [i for i in manifest_of(dataset_dir) if i["platform_alert_id"] == 1]
    assert item["objects"][0]["frames"][0]["image_path"] is None
    assert not list(dataset_dir.rglob("*.part"))

    default_storage.save(detection.image.name, io.BytesIO(stored))
    assert run_export(dataset_dir)[1] == 0
    (item,) = [i for i in manifest_of(dataset_dir) if i["platform_alert_id"] == 1]
    assert (
        item["objects"][0]["frames"][0]["image_path"]
        == f"images/pyronear_french/1/{detection.pk}.jpg"
    )


def test_an_incremental_pull_writes_only_what_changed(dataset_dir, export_history):
    annotation_delete(annotation=SequenceAnnotation.objects.get(sequence=export_history.alerts[5]))

    summary = summary_of(dataset_dir, "--since", export_history.watermark.isoformat())

    assert (summary["alerts"], summary["withdrawn"], summary["images_copied"]) == (0, 1, 0)
    (line,) = manifest_of(dataset_dir)
    assert (line["platform_alert_id"], line["withdrawn"], line["objects"]) == (5, True, [])


def test_the_filters_are_options(dataset_dir, export_history):
    summary_of(dataset_dir, "--include-unchecked", "--false-positive-types", "antenna,building")

    assert [item["platform_alert_id"] for item in manifest_of(dataset_dir)] == [2, 3, 5]


def test_a_progress_line_on_a_terminal(dataset_dir, export_history):
    terminal = Terminal()

    run_export(dataset_dir, stderr=terminal)

    assert "\ralerts: 5 withdrawn: 0 images: copied=11 present=0 failed=0" in terminal.getvalue()


# --- The YOLO tree -------------------------------------------------------------------------------


def test_the_yolo_tree(dataset_dir, export_history):
    alerts = export_history.alerts
    ids = {n: [d.pk for d in alerts[n].detections.order_by("recorded_at", "id")] for n in alerts}

    summary = summary_of(dataset_dir, "--format", "yolo")

    yolo = files_of(dataset_dir / "yolo")
    smoke_line = b"0 0.250000 0.250000 0.300000 0.300000\n"
    assert {name: data for name, data in yolo.items() if name.startswith("labels/")} == {
        # Smoke alerts: the frames with a smoke box; their frames without one are left out.
        f"labels/train/pyronear_french_1_{ids[1][0]}.txt": smoke_line,
        f"labels/train/api_cenia_7_{ids[7][0]}.txt": smoke_line,
        # False-positive alerts: every frame, an empty label file; 8 (missed smoke) left out.
        **{f"labels/train/pyronear_french_2_{pk}.txt": b"" for pk in ids[2]},
        **{f"labels/train/pyronear_french_5_{pk}.txt": b"" for pk in ids[5]},
    }
    for name in yolo:
        if name.startswith("labels/"):
            image = name.replace("labels/", "images/").replace(".txt", ".jpg")
            assert (
                yolo[image]
                == default_storage.open(
                    alerts[int(name.split("_")[-2])].detections.first().image.name
                ).read()
            )
    assert yolo["data.yaml"].decode() == (
        "# YOLO dataset written by manage.py export_alerts: one class.\n"
        "train: images/train\nval: images/train\nnames:\n  0: smoke\n"
    )
    assert summary["yolo"] == {
        "positives": 2,
        "negatives": 4,
        "left_out_missed_smoke": 2,
        "left_out_without_box": 3,
        "left_out_without_image": 0,
        "train_images": 6,
        "validation_images": 0,
        "validation_cameras": 0,
        "cameras": 3,
    }


def test_yolo_images_are_links_not_copies(dataset_dir, export_history):
    run_export(dataset_dir, "--format", "yolo")

    for image in (dataset_dir / "yolo" / "images" / "train").iterdir():
        assert image.stat().st_nlink == 2 or image.is_symlink()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_split_puts_whole_cameras_on_one_side(dataset_dir, export_history, seed):
    summary = summary_of(dataset_dir, "--format", "yolo", "--split", "val=0.5", "--seed", str(seed))

    sides = {}
    for side in ("train", "val"):
        for label in (dataset_dir / "yolo" / "labels" / side).iterdir():
            source_api, alert_id, _ = label.stem.rsplit("_", 2)
            camera = {"1": "cam-a", "2": "cam-a", "5": "cam-b", "7": "cam-c"}[alert_id]
            sides.setdefault(camera, set()).add(side)
    assert all(len(found) == 1 for found in sides.values())
    # Frames: cam-a 3 (alert 1: 1, alert 2: 2), cam-b 2, cam-c 1.
    expected = validation_cameras(
        {("pyronear_french", 11): 3, ("pyronear_french", 12): 2, ("api_cenia", 13): 1},
        Split(validation=0.5, seed=seed),
    )
    names = {11: "cam-a", 12: "cam-b", 13: "cam-c"}
    assert {camera for camera, found in sides.items() if found == {"val"}} == {
        names[camera_id] for _, camera_id in expected
    }
    assert summary["yolo"]["validation_cameras"] == len(expected)
    assert "val: images/val" in (dataset_dir / "yolo" / "data.yaml").read_text()


def test_a_rebuilt_tree_keeps_nothing_of_the_previous_one(dataset_dir, export_history):
    run_export(dataset_dir, "--format", "yolo", "--split", "val=0.5", "--seed", "1")
    annotation_delete(annotation=SequenceAnnotation.objects.get(sequence=export_history.alerts[5]))

    run_export(dataset_dir, "--format", "yolo")

    names = files_of(dataset_dir / "yolo")
    assert not any("_5_" in name or "/val/" in name for name in names)
    assert not (dataset_dir / "yolo.tmp").exists() and not (dataset_dir / "yolo.old").exists()


# --- Options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--page-size", "0"], "--page-size: must be between 1 and 500"),
        (["--page-size", "501"], "--page-size"),
        (["--workers", "0"], "--workers: must be between 1 and 32"),
        (["--split", "val=0.2"], "--split: applies to --format yolo only"),
        (["--format", "yolo", "--split", "train=0.2"], "--split: must be val=<share"),
        (["--format", "yolo", "--split", "val=1.5"], "--split: must be val=<share"),
        (["--format", "yolo", "--split", "val=nan"], "--split: must be val=<share"),
        (["--format", "yolo", "--since", "2026-07-01T00:00:00Z"], "--format yolo: builds"),
        (["--since", "yesterday"], "--since: "),
        (["--camera-id", "cam-a"], "--camera-id: "),
        (["--source-api", "elsewhere"], "--source-api: "),
        (["--smoke-types", "wildfire,fire"], "--smoke-types: "),
        (["--label-source", "robot"], "--label-source: "),
    ],
)
def test_a_bad_option_is_named_and_exits_1(dataset_dir, export_history, args, named):
    with pytest.raises(CommandError) as error:
        call_command("export_alerts", "--out", str(dataset_dir), *args)

    assert error.value.returncode == 1
    assert named in str(error.value)
    assert not dataset_dir.exists()


def test_every_bad_option_is_named_at_once(dataset_dir, export_history):
    with pytest.raises(CommandError) as error:
        call_command(
            "export_alerts", "--out", str(dataset_dir), "--workers", "0", "--camera-id", "x"
        )

    assert "--workers" in str(error.value) and "--camera-id" in str(error.value)


def test_an_out_that_is_a_file_is_refused(tmp_path, export_history):
    taken = tmp_path / "taken"
    taken.write_text("")

    with pytest.raises(CommandError, match=f"--out: {taken} is not a folder"):
        call_command("export_alerts", "--out", str(taken))


def test_a_missing_out_exits_1_from_the_command_line(capsys):
    command = load_command_class("sequences", "export_alerts")

    with pytest.raises(SystemExit) as exit_info:
        command.run_from_argv(["manage.py", "export_alerts"])

    assert exit_info.value.code == 1
    assert "the following arguments are required: --out" in capsys.readouterr().err
