"""The pure pieces of the training export: the cursor, the camera-whole split, the YOLO label
lines and which frames a YOLO tree takes, the dataset's image paths."""

import pytest

from sequences.exporting import cursor_parse, cursor_text
from sequences.exporting.dataset import image_path
from sequences.exporting.split import SPLIT_INVALID, Split, split_parse, validation_cameras
from sequences.exporting.yolo import YoloSummary, label_line, yolo_frames

# --- The cursor ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", [("pyronear_french", 4521), ("api_cenia", 0), ("alert_wildfire", -3)]
)
def test_a_cursor_names_its_key(key):
    assert cursor_parse(cursor_text(key)) == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pyronear_french",
        "pyronear_french:",
        ":12",
        "mars:12",
        "api_cenia:1.5",
        "api_cenia: 1",
        "api_cenia:1234567890123456789",
        "api_cenia:12\n",
        "API_CENIA:12",
    ],
)
def test_anything_else_is_no_cursor(text):
    with pytest.raises(ValueError, match="must be '<source_api>:<alert_api_id>'"):
        cursor_parse(text)


# --- The split -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "share"), [("val=0.2", 0.2), ("val=.5", 0.5), (" val =0.05", 0.05)]
)
def test_a_split_reads_its_share(text, share):
    assert split_parse(text, seed=4) == Split(validation=share, seed=4)


@pytest.mark.parametrize(
    "text",
    [
        "0.2",
        "val",
        "val=",
        "val=0",
        "val=1",
        "val=-0.1",
        "train=0.2",
        "val=inf",
        "val=nan",
        "val=20%",
    ],
)
def test_a_bad_split_is_refused(text):
    with pytest.raises(ValueError) as error:
        split_parse(text)

    assert str(error.value) == SPLIT_INVALID


CAMERAS = {
    ("pyronear_french", number): frames
    for number, frames in enumerate([120, 80, 60, 40, 30, 30, 20, 10, 5, 5], start=1)
}


def test_the_same_seed_draws_the_same_cameras():
    drawn = {seed: validation_cameras(CAMERAS, Split(0.2, seed)) for seed in range(20)}

    assert all(validation_cameras(CAMERAS, Split(0.2, seed)) == drawn[seed] for seed in drawn)
    assert len({frozenset(cameras) for cameras in drawn.values()}) > 1


@pytest.mark.parametrize("seed", range(20))
def test_the_validation_share_is_close_to_the_asked_one(seed):
    chosen = validation_cameras(CAMERAS, Split(0.2, seed))
    frames = sum(CAMERAS[camera] for camera in chosen)

    # Within half of the largest camera of the 400 frames' asked 80.
    assert abs(frames - 80) <= 60
    assert chosen <= set(CAMERAS)


def test_validation_never_takes_a_camera_that_overshoots_by_more_than_half_of_it():
    assert validation_cameras({("a", 1): 100}, Split(0.2, 0)) == set()
    assert validation_cameras({("a", 1): 100, ("a", 2): 10}, Split(0.1, 0)) == {("a", 2)}


# --- YOLO ----------------------------------------------------------------------------------------


def test_a_label_line_is_the_box_centre_and_size():
    assert label_line([0.1, 0.2, 0.4, 0.6]) == "0 0.250000 0.400000 0.300000 0.400000"


def frame(detection_id, *boxes, path="images/x.jpg"):
    return {
        "detection_id": detection_id,
        "image_path": path,
        "boxes": [{"xyxyn": b} for b in boxes],
    }


def item(*objects, missed=False, withdrawn=False):
    return {
        "source_api": "pyronear_french",
        "platform_alert_id": 9,
        "has_missed_smoke": missed,
        "withdrawn": withdrawn,
        "objects": list(objects),
    }


def smoke(*frames):
    return {"record_kind": "smoke", "frames": list(frames)}


def false_positive(*frames):
    return {"record_kind": "false_positive", "frames": list(frames)}


BOX = [0.1, 0.1, 0.3, 0.3]


def test_smoke_frames_carry_every_smoke_box_of_the_frame():
    summary = YoloSummary()
    taken = yolo_frames(
        item(
            smoke(frame(1, BOX), frame(2)),
            smoke(frame(1, BOX), frame(2)),
            false_positive(frame(1, [0.5, 0.5, 0.6, 0.6]), frame(2)),
        ),
        summary,
    )

    assert [(f.stem, len(f.lines)) for f in taken] == [("pyronear_french_9_1", 2)]
    assert (summary.positives, summary.left_out_without_box) == (1, 1)


def test_false_positive_frames_are_negatives_unless_smoke_was_missed():
    summary = YoloSummary()
    negatives = yolo_frames(item(false_positive(frame(1, BOX), frame(2))), summary)
    missed = yolo_frames(item(false_positive(frame(1, BOX), frame(2)), missed=True), summary)

    assert [(f.stem, f.lines) for f in negatives] == [
        ("pyronear_french_9_1", ()),
        ("pyronear_french_9_2", ()),
    ]
    assert missed == []
    assert (summary.negatives, summary.left_out_missed_smoke) == (2, 2)


def test_frames_without_an_image_and_withdrawn_alerts_are_left_out():
    summary = YoloSummary()

    assert yolo_frames(item(smoke(frame(1, BOX, path=None))), summary) == []
    assert yolo_frames(item(withdrawn=True), summary) == []
    assert summary.left_out_without_image == 1


# --- The dataset's image paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("detections/sequence_1/20260701_det5_ab12cd34.jpg", "images/api_cenia/7/12.jpg"),
        ("detections/sequence_1/frame.JPEG", "images/api_cenia/7/12.jpg"),
        ("detections/sequence_1/frame.png", "images/api_cenia/7/12.png"),
        ("detections/sequence_1/frame.webp", "images/api_cenia/7/12.webp"),
    ],
)
def test_an_image_keeps_its_format_and_jpeg_is_jpg(name, expected):
    assert image_path("api_cenia", 7, 12, name) == expected
