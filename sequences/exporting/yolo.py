"""A YOLO tree built from the dataset's manifest and images (`--format yolo`):

    OUT/yolo/
    ├── data.yaml                   one class, 0 = smoke; without a split `val` reads train
    ├── images/{train,val}/{source_api}_{alert_api_id}_{detection_id}.jpg
    └── labels/{train,val}/{same name}.txt

Which frames, and their labels:
- a frame of an alert with smoke objects, holding at least one smoke box: one line
  `0 x_center y_center width height` (normalised) per smoke box. A frame of such an alert
  without a smoke box is left out: the smoke may be there, unboxed.
- every frame of a false-positive alert (all its objects false positives): an empty label
  file, a negative. Not when the sequence is marked "missed smoke": a person saw smoke the
  detector did not box, so its frames are no negatives; they are left out.
- frames whose image could not be copied, and withdrawn alerts, are left out.

Images are hard links to the dataset's images (no copy; a relative symbolic link where the
file system has no hard links). The tree is rebuilt from the manifest on every run, in
`yolo.tmp`, then put in place of the previous one, so it never mixes two runs, and the same
manifest gives the same files. The manifest is read as a stream, twice with a split (first to
count each camera's frames).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sequences.exporting.dataset import MANIFEST
from sequences.exporting.items import SMOKE
from sequences.exporting.split import SPLIT_SIDE, CameraKey, Split, validation_cameras

YOLO_DIR = "yolo"
TRAIN = "train"
SMOKE_CLASS = 0
DATA_YAML = """\
# YOLO dataset written by manage.py export_alerts: one class.
train: images/train
{val}names:
  0: smoke
"""


@dataclass(frozen=True)
class YoloFrame:
    """One image of the tree: its dataset path, its file stem and its label lines."""

    image_path: str
    stem: str
    lines: tuple[str, ...]


@dataclass
class YoloSummary:
    positives: int = 0
    negatives: int = 0
    left_out_missed_smoke: int = 0
    left_out_without_box: int = 0
    left_out_without_image: int = 0
    train_images: int = 0
    validation_images: int = 0
    validation_cameras: int = 0
    cameras: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def label_line(xyxyn: list[float]) -> str:
    """A box as a YOLO label line of the smoke class."""
    x1, y1, x2, y2 = xyxyn
    centre_x, centre_y, width, height = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    return f"{SMOKE_CLASS} {centre_x:.6f} {centre_y:.6f} {width:.6f} {height:.6f}"


def camera_key(item: dict[str, Any]) -> CameraKey:
    return item["source_api"], item["camera_id"]


def yolo_frames(item: dict[str, Any], summary: YoloSummary) -> list[YoloFrame]:
    """The frames of one manifest item that go into the tree; what is left out is counted."""
    if item["withdrawn"]:
        return []
    smoke = [obj for obj in item["objects"] if obj["record_kind"] == SMOKE]
    lines: dict[int, list[str]] = {}
    paths: dict[int, str | None] = {}
    for obj in smoke or item["objects"]:
        for frame in obj["frames"]:
            paths[frame["detection_id"]] = frame["image_path"]
            found = lines.setdefault(frame["detection_id"], [])
            found += [label_line(box["xyxyn"]) for box in frame["boxes"] if smoke]
    if not smoke and item["has_missed_smoke"]:
        summary.left_out_missed_smoke += len(paths)
        return []
    frames = []
    for detection_id, path in paths.items():
        if smoke and not lines[detection_id]:
            summary.left_out_without_box += 1
        elif path is None:
            summary.left_out_without_image += 1
        else:
            stem = f"{item['source_api']}_{item['platform_alert_id']}_{detection_id}"
            frames.append(YoloFrame(path, stem, tuple(lines[detection_id])))
    if smoke:
        summary.positives += len(frames)
    else:
        summary.negatives += len(frames)
    return frames


def _items(out: Path) -> Iterator[dict[str, Any]]:
    with (out / MANIFEST).open(encoding="utf-8") as manifest:
        for line in manifest:
            yield json.loads(line)


def _link(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        destination.symlink_to(os.path.relpath(source, destination.parent))


def _replace(built: Path, target: Path) -> None:
    """Put the tree `built` in place of `target` (renames: the old one is removed last)."""
    previous = target.with_name(f"{target.name}.old")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        target.rename(previous)
    built.rename(target)
    shutil.rmtree(previous, ignore_errors=True)


def yolo_write(*, out: Path, split: Split | None = None) -> YoloSummary:
    """Build `out/yolo` from `out/manifest.jsonl` and `out/images` (see the module)."""
    validation: set[CameraKey] = set()
    if split is not None:
        counts: Counter[CameraKey] = Counter()
        for item in _items(out):
            counts[camera_key(item)] += len(yolo_frames(item, YoloSummary()))
        validation = validation_cameras(counts, split)
    built = out / f"{YOLO_DIR}.tmp"
    shutil.rmtree(built, ignore_errors=True)
    sides = [TRAIN, SPLIT_SIDE] if split is not None else [TRAIN]
    for side in sides:
        (built / "images" / side).mkdir(parents=True)
        (built / "labels" / side).mkdir(parents=True)
    summary = YoloSummary()
    cameras: set[CameraKey] = set()
    for item in _items(out):
        frames = yolo_frames(item, summary)
        if not frames:
            continue
        cameras.add(camera_key(item))
        side = SPLIT_SIDE if camera_key(item) in validation else TRAIN
        for frame in frames:
            extension = Path(frame.image_path).suffix
            _link(out / frame.image_path, built / "images" / side / f"{frame.stem}{extension}")
            label = built / "labels" / side / f"{frame.stem}.txt"
            label.write_text("".join(f"{line}\n" for line in frame.lines), encoding="utf-8")
            if side == TRAIN:
                summary.train_images += 1
            else:
                summary.validation_images += 1
    # Without a split, validation reads the training images: YOLO trainers require a `val` entry.
    val_line = f"val: images/{SPLIT_SIDE if split is not None else TRAIN}\n"
    (built / "data.yaml").write_text(DATA_YAML.format(val=val_line), encoding="utf-8")
    summary.cameras = len(cameras)
    summary.validation_cameras = len(cameras & validation)
    _replace(built, out / YOLO_DIR)
    return summary
