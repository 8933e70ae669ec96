"""The one-pass box and motion (`boxes.box_and_motion`, what the group assignment reads) against
`representative_box` and `box_motion` taken one at a time: the same values to the last bit, on
random frames mixing valid boxes with every kind of invalid box, confidence and document.

Pure functions: no database, no Django settings.
"""

import math
import random

from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sequences.boxes import box_and_motion, box_motion, representative_box
from tests.support.motion import detector_frames

unit = st.floats(min_value=0, max_value=1)


@st.composite
def valid_boxes(draw) -> list[float]:
    """A valid box of a size a detector reports (one of subnormal sides has an area of 0,
    whose log neither function takes)."""
    x1, y1 = (
        draw(st.floats(min_value=0, max_value=0.9)),
        draw(st.floats(min_value=0, max_value=0.9)),
    )
    width, height = draw(st.floats(1e-4, 0.1)), draw(st.floats(1e-4, 0.1))
    return [x1, y1, x1 + width, y1 + height]


# Whatever a stored row may hold in place of a coordinate.
odd_coordinates = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -0.5, 1.5, -0.0]),
    st.integers(min_value=-2, max_value=2),
    st.booleans(),
    st.just(10**400),  # beyond float range
    st.just("0.5"),
    st.none(),
)
boxes = st.one_of(
    valid_boxes(),
    valid_boxes().map(lambda box: [box[2], box[1], box[0], box[3]]),  # inverted
    valid_boxes().map(tuple),
    st.lists(st.one_of(st.sampled_from([0.0, 0.2, 0.5, 1.0]), odd_coordinates), max_size=5),
    st.none(),
    st.just("0.1 0.1 0.2 0.2"),
)
confidences = st.one_of(
    unit,
    st.floats(),  # NaN, ±Infinity, negative, above 1
    st.integers(min_value=-3, max_value=3),
    st.booleans(),
    st.just(10**400),
    st.just("0.9"),
    st.none(),
)
predictions = st.one_of(
    st.fixed_dictionaries(
        {"xyxyn": boxes, "confidence": confidences, "class_name": st.just("smoke")}
    ),
    st.fixed_dictionaries({"xyxyn": boxes}),  # no confidence
    st.fixed_dictionaries({}, optional={"confidence": confidences}),  # no box
    st.none(),
    st.just([0.1, 0.1, 0.2, 0.2]),
)
documents = st.one_of(
    st.fixed_dictionaries({"predictions": st.lists(predictions, max_size=3)}),
    st.fixed_dictionaries({"predictions": st.lists(predictions, min_size=1, max_size=2)}),
    st.fixed_dictionaries({"predictions": st.one_of(st.none(), st.just("[]"), st.just({}))}),
    st.just({}),
    st.none(),
    st.just([]),
    st.just("{}"),
)


# Mostly framed: the motion needs six frames with a valid box.
detected = st.fixed_dictionaries({"xyxyn": valid_boxes(), "confidence": confidences})
framed_documents = st.fixed_dictionaries(
    {"predictions": st.lists(st.one_of(detected, predictions), min_size=1, max_size=3)}
)
frame_lists = st.one_of(
    st.lists(documents, max_size=14),
    st.lists(st.one_of(framed_documents, documents), min_size=6, max_size=14),
    st.lists(framed_documents, min_size=6, max_size=14),
)


def both_apart(frames: list) -> tuple:
    return representative_box(frames), box_motion(frames)


@hypothesis_settings(max_examples=500, deadline=None)
@given(frames=frame_lists)
@example(frames=[{"predictions": [{"xyxyn": [0.1, 0.1, 0.2, 0.2], "confidence": -0.5}]}] * 6)
@example(frames=[{"predictions": [{"xyxyn": [0.1, 0.1, 0.2, 0.2], "confidence": -5.0}]}] * 6)
def test_one_pass_gives_what_the_two_functions_give(frames):
    # repr: the same floats to the last bit, -0.0 apart from 0.0 included
    assert repr(box_and_motion(frames)) == repr(both_apart(frames))
    assert repr(box_and_motion(frames, motion=False)) == repr((representative_box(frames), None))


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    growth=st.floats(min_value=0.0, max_value=0.1),
    jitter=st.floats(min_value=0.0, max_value=0.05),
    frames=st.integers(min_value=1, max_value=12),
    missed=st.sets(st.integers(min_value=0, max_value=11), max_size=4),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_one_pass_gives_the_same_motion_of_detector_frames(growth, jitter, frames, missed, seed):
    """Moving boxes as a detector sees them, some frames missed, some with a second box."""
    rng = random.Random(seed)
    detected = detector_frames(
        [0.4, 0.5, 0.5, 0.6], frames=frames, growth=growth, jitter=jitter, rng=rng
    )
    for index in sorted(missed):
        if index < len(detected):
            detected[index] = {"predictions": []}
    for document in detected[::3]:
        if document["predictions"]:
            extra = dict(document["predictions"][0], confidence=rng.random())
            document["predictions"].append(extra)

    box, motion = box_and_motion(detected)

    assert repr((box, motion)) == repr(both_apart(detected))
    assert motion is None or math.isfinite(motion)
