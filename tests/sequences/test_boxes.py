"""Box rule, IoU, cluster generation and representative box (SPEC §3.1, §4.1, §4.2, §4.4).

Pure functions: no database, no Django settings.
"""

import math
import random

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sequences.boxes import (
    BOX_NOT_FINITE,
    BOX_NOT_LIST,
    BOX_NOT_ORDERED,
    BOX_OUT_OF_RANGE,
    box_error,
    generate_clusters,
    iou,
    iou_matrix,
    iou_one_to_many,
    is_valid_box,
    representative_box,
)

# Fixture boxes of SPEC §9.1: detections 1 and 2 of sequence 1, detection 3 of sequence 2.
DET1_BOX = [0.12, 0.13, 0.45, 0.48]
DET2_BOX = [0.2, 0.25, 0.5, 0.55]
DET3_LEFT = [0.05, 0.05, 0.3, 0.35]
DET3_RIGHT = [0.6, 0.65, 0.85, 0.9]


def prediction(box, confidence=0.9, class_name="smoke"):
    return {"xyxyn": box, "confidence": confidence, "class_name": class_name}


def algo(*predictions):
    return {"predictions": list(predictions)}


def cluster_detection_ids(result):
    """The detection ids of each generated cluster, in order."""
    return [[b["detection_id"] for b in c["bboxes"]] for c in result["sequences_bbox"]]


# --- box rule (§3.1) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([0.1, 0.2, 0.3], BOX_NOT_LIST),
        ([0.1, 0.2, 0.3, 0.4, 0.5], BOX_NOT_LIST),
        ("0.1,0.2,0.3,0.4", BOX_NOT_LIST),
        (None, BOX_NOT_LIST),
        ({"x1": 0.1}, BOX_NOT_LIST),
        ([True, 0.2, 0.3, 0.4], BOX_NOT_FINITE),
        (["0.1", 0.2, 0.3, 0.4], BOX_NOT_FINITE),
        ([None, 0.2, 0.3, 0.4], BOX_NOT_FINITE),
        ([math.nan, 0.2, 0.3, 0.4], BOX_NOT_FINITE),
        ([0.1, 0.2, math.inf, 0.4], BOX_NOT_FINITE),
        ([0.1, 0.2, 0.3, -math.inf], BOX_NOT_FINITE),
        ([0.1, 0.2, 1.5, 0.4], BOX_OUT_OF_RANGE),
        ([-0.1, 0.2, 0.3, 0.4], BOX_OUT_OF_RANGE),
        ([0, 0, 2, 1], BOX_OUT_OF_RANGE),
        ([0.5, 0.2, 0.3, 0.4], BOX_NOT_ORDERED),  # inverted x
        ([0.1, 0.5, 0.3, 0.4], BOX_NOT_ORDERED),  # inverted y
        ([0.1, 0.2, 0.1, 0.4], BOX_NOT_ORDERED),  # zero width
        ([0.1, 0.2, 0.3, 0.2], BOX_NOT_ORDERED),  # zero height
        ([0, 0, 0, 0], BOX_NOT_ORDERED),  # all-zero
    ],
)
def test_box_error_gives_the_first_failing_rule(value, message):
    assert box_error(value) == message
    assert not is_valid_box(value)


def test_box_rule_checks_run_in_spec_order():
    # Each value fails several rules; the earliest one is reported.
    assert box_error([math.nan, 2.0, 0.0]) == BOX_NOT_LIST
    assert box_error([2.0, math.nan, 0.0, 0.0]) == BOX_NOT_FINITE
    assert box_error([2.0, 0.5, 0.0, 0.0]) == BOX_OUT_OF_RANGE


@pytest.mark.parametrize(
    "value",
    [[0.1, 0.2, 0.3, 0.4], (0.1, 0.2, 0.3, 0.4), [0, 0, 1, 1], [0, 0.5, 1, 1], DET1_BOX],
)
def test_valid_boxes_pass(value):
    assert box_error(value) is None
    assert is_valid_box(value)


def test_numpy_numbers_are_numbers():
    assert is_valid_box([np.float64(0.1), np.float32(0.2), np.int64(1), 1])
    assert box_error([np.float64(np.nan), 0.2, 0.3, 0.4]) == BOX_NOT_FINITE


def test_huge_integer_is_out_of_range_not_a_crash():
    assert box_error([0, 0, 10**400, 1]) == BOX_OUT_OF_RANGE


# --- IoU (§4.1) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (DET1_BOX, DET1_BOX, 1.0),
        ([0, 0, 0.2, 0.2], [0.5, 0.5, 0.9, 0.9], 0.0),
        ([0, 0, 0.5, 0.5], [0.5, 0, 1, 0.5], 0.0),  # touching edges
        ([0, 0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75], 0.0625 / 0.4375),
        (DET1_BOX, DET2_BOX, 0.0575 / 0.148),
        ([0.16, 0.19, 0.475, 0.515], [0.1, 0.1, 0.4, 0.4], 0.0504 / 0.141975),
    ],
)
def test_iou_worked_values(a, b, expected):
    assert iou(a, b) == pytest.approx(expected, abs=1e-12)
    assert iou(b, a) == pytest.approx(expected, abs=1e-12)
    assert iou_one_to_many(a, np.array([b]))[0] == pytest.approx(expected, abs=1e-12)
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected, abs=1e-12)


def test_iou_worked_values_to_six_digits():
    assert round(iou([0, 0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75]), 6) == 0.142857
    assert round(iou(DET1_BOX, DET2_BOX), 6) == 0.388514
    assert round(iou([0.16, 0.19, 0.475, 0.515], [0.1, 0.1, 0.4, 0.4]), 6) == 0.354992


def test_iou_exactly_point_three_in_every_form():
    # Matching uses a strict "> 0.3": this pair must not come out a hair above it.
    a, b = [0, 0, 0.3, 1], [0, 0, 1, 1]
    assert iou(a, b) == 0.3
    assert iou_one_to_many(a, np.array([b]))[0] == 0.3
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == 0.3


def test_iou_is_zero_when_union_is_zero():
    assert iou([0.2, 0.2, 0.2, 0.2], [0.2, 0.2, 0.2, 0.2]) == 0.0
    assert iou_one_to_many([0.2, 0.2, 0.2, 0.2], np.array([[0.2, 0.2, 0.2, 0.2]]))[0] == 0.0


def random_box(rng):
    x1, x2 = sorted(rng.sample(range(1001), 2))
    y1, y2 = sorted(rng.sample(range(1001), 2))
    return [x1 / 1000, y1 / 1000, x2 / 1000, y2 / 1000]


def test_iou_matrix_agrees_with_iou_on_random_boxes():
    rng = random.Random(20240607)
    a = [random_box(rng) for _ in range(40)]
    b = [random_box(rng) for _ in range(25)] + a[:5]  # some identical pairs too
    matrix = iou_matrix(np.array(a), np.array(b))
    assert matrix.shape == (40, 30)
    expected = np.array([[iou(x, y) for y in b] for x in a])
    # Same operations in the same order: identical, not merely close.
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(iou_one_to_many(a[3], np.array(b)), expected[3])
    assert (matrix > 0).any() and (matrix == 0).any()


def test_iou_one_to_many_of_empty_array_is_empty():
    assert iou_one_to_many(DET1_BOX, np.empty((0, 4))).shape == (0,)
    assert iou_matrix(np.empty((0, 4)), np.array([DET1_BOX])).shape == (0, 1)


coordinate = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def valid_boxes(draw):
    x1, x2 = sorted(draw(st.lists(coordinate, min_size=2, max_size=2, unique=True)))
    y1, y2 = sorted(draw(st.lists(coordinate, min_size=2, max_size=2, unique=True)))
    return [x1, y1, x2, y2]


@given(valid_boxes(), valid_boxes())
def test_iou_is_symmetric_and_within_unit_interval(a, b):
    value = iou(a, b)
    assert value == iou(b, a)
    assert 0.0 <= value <= 1.0
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == value


@given(valid_boxes())
def test_iou_of_a_valid_box_with_itself_is_one(box):
    # A box with sides near 5e-324 is valid but its area underflows to 0, and a zero union
    # gives 0 by definition; no real image gets near that.
    assume((box[2] - box[0]) * (box[3] - box[1]) > 0)
    assert is_valid_box(box)
    assert iou(box, box) == 1.0
    assert iou_one_to_many(box, np.array([box]))[0] == 1.0


# --- cluster generation (§4.2) ---------------------------------------------------------------


def test_generation_fixture_sequence_1_gives_one_cluster():
    result = generate_clusters(
        [(1, algo(prediction(DET1_BOX, 0.87))), (2, algo(prediction(DET2_BOX, 0.91)))]
    )
    assert result == {
        "sequences_bbox": [
            {
                "is_smoke": True,
                "smoke_type": None,
                "false_positive_types": [],
                "bboxes": [
                    {"detection_id": 1, "xyxyn": DET1_BOX},
                    {"detection_id": 2, "xyxyn": DET2_BOX},
                ],
            }
        ]
    }


def test_generation_fixture_sequence_2_gives_two_clusters():
    result = generate_clusters(
        [(3, algo(prediction(DET3_LEFT, 0.76), prediction(DET3_RIGHT, 0.8)))]
    )
    assert cluster_detection_ids(result) == [[3], [3]]
    assert [c["bboxes"][0]["xyxyn"] for c in result["sequences_bbox"]] == [DET3_LEFT, DET3_RIGHT]


def test_generation_returns_floats():
    result = generate_clusters([(1, algo(prediction([0, 0, 1, 1])))])
    xyxyn = result["sequences_bbox"][0]["bboxes"][0]["xyxyn"]
    assert xyxyn == [0.0, 0.0, 1.0, 1.0]
    assert all(type(v) is float for v in xyxyn)


def test_generation_confidence_filter_keeps_equal_confidence():
    detections = [
        (1, algo(prediction(DET1_BOX, 0.5))),
        (2, algo(prediction(DET2_BOX, 0.49))),
        (3, algo({"xyxyn": DET2_BOX, "class_name": "smoke"})),  # no confidence
        (4, algo(prediction(DET2_BOX, math.nan))),
    ]
    result = generate_clusters(detections, confidence_threshold=0.5)
    assert cluster_detection_ids(result) == [[1]]


def test_generation_at_confidence_zero_keeps_predictions_without_confidence():
    detections = [(1, algo({"xyxyn": DET1_BOX})), (2, algo(prediction(DET2_BOX, None)))]
    assert cluster_detection_ids(generate_clusters(detections)) == [[1, 2]]


def test_generation_at_iou_zero_only_real_overlap_merges():
    touching = [(1, algo(prediction([0, 0, 0.5, 0.5]))), (2, algo(prediction([0.5, 0, 1, 0.5])))]
    assert cluster_detection_ids(generate_clusters(touching)) == [[1], [2]]


def test_generation_iou_must_be_strictly_greater_than_threshold():
    pair = [(1, algo(prediction([0, 0, 0.3, 1]))), (2, algo(prediction([0, 0, 1, 1])))]
    assert cluster_detection_ids(generate_clusters(pair, iou_threshold=0.3)) == [[1], [2]]
    assert cluster_detection_ids(generate_clusters(pair, iou_threshold=0.29)) == [[1, 2]]


def test_generation_joins_on_overlap_with_any_cluster_box():
    # 3 overlaps only 2, which joined the seed 1 earlier in the same scan.
    detections = [
        (1, algo(prediction([0.0, 0.0, 0.4, 0.4]))),
        (2, algo(prediction([0.3, 0.3, 0.7, 0.7]))),
        (3, algo(prediction([0.6, 0.6, 1.0, 1.0]))),
    ]
    assert iou([0.0, 0.0, 0.4, 0.4], [0.6, 0.6, 1.0, 1.0]) == 0.0
    assert cluster_detection_ids(generate_clusters(detections)) == [[1, 2, 3]]


def test_generation_does_not_retest_a_box_skipped_earlier_in_the_scan():
    # 2 does not touch the seed 1; 3 joins afterwards and overlaps 2, but the scan has passed
    # 2, so 2 seeds its own cluster.
    detections = [
        (1, algo(prediction([0.0, 0.0, 0.4, 0.4]))),
        (2, algo(prediction([0.6, 0.6, 1.0, 1.0]))),
        (3, algo(prediction([0.3, 0.3, 0.7, 0.7]))),
    ]
    assert cluster_detection_ids(generate_clusters(detections)) == [[1, 3], [2]]


def test_generation_min_cluster_size_drops_small_clusters():
    detections = [
        (1, algo(prediction(DET1_BOX), prediction(DET3_RIGHT))),
        (2, algo(prediction(DET2_BOX))),
    ]
    assert cluster_detection_ids(generate_clusters(detections)) == [[1, 2], [1]]
    assert cluster_detection_ids(generate_clusters(detections, min_cluster_size=2)) == [[1, 2]]
    assert generate_clusters(detections, min_cluster_size=3) is None


def test_generation_drops_invalid_boxes_before_clustering():
    # The out-of-range box overlaps both valid ones; kept, it would chain them into one cluster.
    detections = [
        (1, algo(prediction([0.0, 0.0, 0.4, 0.4]))),
        (2, algo(prediction([0.0, 0.0, 1.5, 1.5]))),
        (3, algo(prediction([0.6, 0.6, 1.0, 1.0]))),
    ]
    assert cluster_detection_ids(generate_clusters(detections)) == [[1], [3]]


@pytest.mark.parametrize(
    "algo_predictions",
    [
        {"predictions": []},
        {},
        None,
        "garbage",
        {"predictions": "garbage"},
        {"predictions": [None, 3, "x"]},
        {"predictions": [{"confidence": 0.9}]},
        algo(prediction([0, 0, 0, 0]), prediction([0.5, 0.2, 0.3, 0.4]), prediction([0.1, 0.2])),
    ],
)
def test_generation_without_usable_predictions_gives_nothing(algo_predictions):
    assert generate_clusters([(1, algo_predictions)]) is None


def test_generation_of_no_detections_gives_nothing():
    assert generate_clusters([]) is None


def test_generation_skips_malformed_predictions_but_keeps_good_ones():
    result = generate_clusters([(1, {"predictions": [None, {"xyxyn": "x"}, prediction(DET1_BOX)]})])
    assert cluster_detection_ids(result) == [[1]]


@pytest.mark.parametrize(
    "params",
    [
        {"confidence_threshold": -0.1},
        {"confidence_threshold": 1.1},
        {"confidence_threshold": math.nan},
        {"iou_threshold": -0.01},
        {"iou_threshold": 1.5},
        {"iou_threshold": "0.3"},
        {"min_cluster_size": 0},
        {"min_cluster_size": 1.5},
        {"min_cluster_size": True},
    ],
)
def test_generation_rejects_out_of_range_parameters(params):
    with pytest.raises(ValueError, match="must be"):
        generate_clusters([(1, algo(prediction(DET1_BOX)))], **params)


def test_generation_accepts_the_range_bounds():
    detections = [(1, algo(prediction(DET1_BOX, 1.0)))]
    assert generate_clusters(detections, confidence_threshold=1, iou_threshold=1) is not None


# --- representative box (§4.4) ---------------------------------------------------------------


def test_representative_worked_example_sequence_1():
    pools = [algo(prediction(DET1_BOX, 0.87)), algo(prediction(DET2_BOX, 0.91))]
    assert representative_box(pools) == {"xyxyn": [0.16, 0.19, 0.475, 0.515], "confidence": 0.89}


def test_representative_worked_example_sequence_2():
    pools = [algo(prediction(DET3_LEFT, 0.76), prediction(DET3_RIGHT, 0.80))]
    assert representative_box(pools) == {"xyxyn": [0.325, 0.35, 0.575, 0.625], "confidence": 0.78}


def test_representative_takes_each_coordinate_median_independently():
    pools = [
        algo(prediction([0.1, 0.5, 0.2, 0.9], 0.1)),
        algo(prediction([0.3, 0.1, 0.9, 0.2], 0.9)),
        algo(prediction([0.2, 0.3, 0.4, 0.6], 0.5)),
    ]
    assert representative_box(pools) == {"xyxyn": [0.2, 0.3, 0.4, 0.6], "confidence": 0.5}


def test_representative_of_equal_boxes_is_that_box():
    pools = [algo(prediction(DET1_BOX, 0.8))] * 4
    assert representative_box(pools) == {"xyxyn": DET1_BOX, "confidence": 0.8}


def test_representative_rounds_to_six_decimals():
    pools = [algo(prediction([0.1234567, 0.1, 0.5, 0.5], 0.3333333))]
    assert representative_box(pools) == {"xyxyn": [0.123457, 0.1, 0.5, 0.5], "confidence": 0.333333}


@pytest.mark.parametrize(
    "bad_box",
    [
        [0.1, 0.2, 0.3],  # wrong length
        ["0.1", 0.2, 0.3, 0.4],  # non-numeric
        [math.nan, 0.2, 0.3, 0.4],
        [0.1, 0.2, 1.3, 0.4],  # out of range
        [0.5, 0.2, 0.3, 0.4],  # inverted
        [0.1, 0.2, 0.1, 0.4],  # zero area
        [0, 0, 0, 0],  # all-zero
        [-math.inf, 0.2, math.inf, 0.4],
        [False, 0.2, True, 0.4],  # booleans are not coordinates
        None,
    ],
)
def test_representative_skips_each_invalid_box_kind(bad_box):
    pools = [algo(prediction(bad_box, 0.1), prediction(DET1_BOX, 0.87))]
    assert representative_box(pools) == {"xyxyn": DET1_BOX, "confidence": 0.87}
    assert representative_box([algo(prediction(bad_box))]) is None


coordinates = st.one_of(
    st.floats(min_value=-0.5, max_value=1.5),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1.0, 0, 1, True, False, "0.5", None]),
)


@given(st.lists(coordinates, min_size=3, max_size=5))
def test_representative_uses_a_box_exactly_when_it_passes_the_rules(box):
    """The representative's fast path for float boxes agrees with the full §3.1 checks."""
    result = representative_box([algo(prediction(box, 0.5))])
    if box_error(box) is None:
        assert result == {"xyxyn": [round(float(v), 6) for v in box], "confidence": 0.5}
    else:
        assert result is None


def test_representative_of_no_usable_box_is_none():
    assert representative_box([]) is None
    assert representative_box([algo(), None, {"predictions": "x"}, {}]) is None


@pytest.mark.parametrize("confidence", [None, math.nan, math.inf, "0.9", True])
def test_representative_counts_missing_or_non_finite_confidence_as_zero(confidence):
    pools = [algo(prediction(DET1_BOX, confidence), prediction(DET1_BOX, 0.5))]
    assert representative_box(pools)["confidence"] == 0.25
    assert representative_box([algo({"xyxyn": DET1_BOX})])["confidence"] == 0.0


@pytest.mark.parametrize(("confidences", "expected"), [([1.4, 1.8], 1.0), ([-0.5, -0.1], 0.0)])
def test_representative_clamps_the_median_confidence(confidences, expected):
    pools = [algo(*(prediction(DET1_BOX, c) for c in confidences))]
    assert representative_box(pools)["confidence"] == expected


def test_representative_matches_numpy_median_on_random_pools():
    rng = random.Random(7)
    for _ in range(50):
        boxes = [random_box(rng) for _ in range(rng.randint(1, 12))]
        confidences = [rng.random() for _ in boxes]
        pools = [algo(prediction(b, c)) for b, c in zip(boxes, confidences, strict=True)]
        medians = np.median(
            np.array([[*b, c] for b, c in zip(boxes, confidences, strict=True)]), axis=0
        )
        expected = [round(float(v), 6) for v in medians]
        result = representative_box(pools)
        assert result == {"xyxyn": expected[:4], "confidence": expected[4]}


def literal_clusters(boxes, threshold):
    """§4.2 step 3 written out literally with the scalar iou, as a reference."""
    clusters, pool = [], list(range(len(boxes)))
    while pool:
        members, remaining = [pool[0]], []
        for index in pool[1:]:
            if any(iou(boxes[index], boxes[m]) > threshold for m in members):
                members.append(index)
            else:
                remaining.append(index)
        clusters.append(members)
        pool = remaining
    return clusters


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.3, 0.6])
def test_generation_matches_the_literal_algorithm_on_random_boxes(threshold):
    rng = random.Random(int(threshold * 100))
    for _ in range(30):
        boxes = [random_box(rng) for _ in range(rng.randint(1, 25))]
        detections = [(index, algo(prediction(box))) for index, box in enumerate(boxes)]
        result = generate_clusters(detections, iou_threshold=threshold)
        assert cluster_detection_ids(result) == literal_clusters(boxes, threshold)
