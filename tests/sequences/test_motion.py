"""The motion threshold's default against the study behind it (bench/README.md, "Holding back"):
over its first 10 frames, a still object's box with a detector's jitter (each edge within 2 % of
the box's size) never reaches GROUPS_HOLD_BACK_MOTION, and a plume growing 3 % of its area a
frame or more, rising from its base, always does — whatever the box's size and shape."""

import random

import pytest
from django.conf import settings
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sequences.boxes import box_motion
from tests.support.motion import detector_frames

FRAMES = 10  # GROUPS_REPRESENTATIVE_DETECTIONS: the frames the motion is measured on
JITTER = 0.02
# The two closest calls of 200,000 random draws each (bench/README.md): the jitter that makes a
# thin mast's box look most like it moves, and the jitter that hides most of the growth of a
# flat plume growing 3 % a frame, sideways as much as upwards.
MAST = [0.5 - 0.01, 0.75 - 0.08, 0.5 + 0.01, 0.75]
FLAT = [0.5 - 0.04, 0.75 - 0.02, 0.5 + 0.04, 0.75]


@st.composite
def boxes(draw) -> list[float]:
    """A box from a thin mast (1:4) to a flat cloud bank (4:1), 2 % to 20 % of the width."""
    width = draw(st.floats(min_value=0.02, max_value=0.2))
    aspect = draw(st.floats(min_value=0.25, max_value=4.0))
    height = min(width * aspect, 0.2)
    return [0.5 - width / 2, 0.75 - height, 0.5 + width / 2, 0.75]


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    box=boxes(),
    jitter=st.floats(min_value=0.0, max_value=JITTER),
    seed=st.integers(min_value=0, max_value=2**32),
)
@example(box=MAST, jitter=JITTER, seed=66127)  # motion 0.0152
def test_a_still_object_never_reaches_the_motion_threshold(box, jitter, seed):
    frames = detector_frames(box, frames=FRAMES, jitter=jitter, rng=random.Random(seed))

    assert box_motion(frames) < settings.GROUPS_HOLD_BACK_MOTION


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    box=boxes(),
    growth=st.floats(min_value=0.03, max_value=0.10),
    height_share=st.floats(min_value=0.5, max_value=0.8),
    jitter=st.floats(min_value=0.0, max_value=JITTER),
    seed=st.integers(min_value=0, max_value=2**32),
)
@example(box=FLAT, growth=0.03, height_share=0.5, jitter=JITTER, seed=18549)  # motion 0.0225
def test_a_plume_growing_three_percent_a_frame_always_reaches_it(
    box, growth, height_share, jitter, seed
):
    frames = detector_frames(
        box,
        frames=FRAMES,
        growth=growth,
        height_share=height_share,
        jitter=jitter,
        rng=random.Random(seed),
    )

    assert box_motion(frames) >= settings.GROUPS_HOLD_BACK_MOTION


def test_a_missed_frame_keeps_the_others_in_their_place():
    """A frame without a box is skipped, not closed up: the growth per frame stays the same."""
    frames = detector_frames([0.45, 0.6, 0.55, 0.7], frames=FRAMES, growth=0.04)
    gapped = [*frames[:4], {"predictions": []}, *frames[5:]]
    closed_up = [*frames[:4], *frames[5:]]

    assert box_motion(gapped) == pytest.approx(box_motion(frames), rel=0.01)
    assert box_motion(closed_up) > box_motion(frames) * 1.05


def test_a_box_too_small_to_have_an_area_counts_as_a_frame_without_a_box():
    # Valid (x2 > x1, y2 > y1), but its area underflows to 0.0: it has no logarithm.
    speck = {"predictions": [{"xyxyn": [0.0, 0.0, 1e-200, 1e-200], "confidence": 0.9}]}
    assert box_motion([speck] * FRAMES) is None
    still = detector_frames(MAST, frames=FRAMES)
    assert box_motion([speck, *still[1:]]) == box_motion([{"predictions": []}, *still[1:]])
