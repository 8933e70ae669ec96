"""Boxes as a detector reports them frame after frame, for the motion study (the property tests
of `boxes.box_motion` and the hold-back benchmark): a still object whose box jitters, or a
plume that grows from its base."""

from __future__ import annotations

import random


def detector_frames(
    box: list[float],
    *,
    frames: int = 10,
    growth: float = 0.0,
    height_share: float = 0.5,
    jitter: float = 0.0,
    rng: random.Random | None = None,
    confidence: float = 0.6,
) -> list[dict]:
    """The `algo_predictions` of `frames` frames of one object whose first box is `box`.

    Its area grows by `growth` per frame: `height_share` of the growth (in log terms) goes up
    from its base line (the bottom edge stays), the rest sideways around its centre, as a plume
    rising from behind a ridge; `growth=0` is a still object. Each edge of each frame's box is
    moved by up to `jitter` of the box's width or height, uniformly at random (`rng`): the
    detector's jitter. Boxes are clipped to the image.
    """
    rng = rng or random.Random(0)
    x1, y1, x2, y2 = box
    centre, base = (x1 + x2) / 2, y2
    width_rate = (1 + growth) ** (1 - height_share)
    height_rate = (1 + growth) ** height_share
    result = []
    for frame in range(frames):
        width = (x2 - x1) * width_rate**frame
        height = (y2 - y1) * height_rate**frame
        edges = [centre - width / 2, base - height, centre + width / 2, base]
        sizes = (width, height, width, height)
        moved = [
            edge + rng.uniform(-jitter, jitter) * size
            for edge, size in zip(edges, sizes, strict=True)
        ]
        left, top, right, bottom = (min(max(value, 0.0), 1.0) for value in moved)
        result.append(
            {
                "predictions": [
                    {
                        "xyxyn": [round(left, 6), round(top, 6), round(right, 6), round(bottom, 6)],
                        "confidence": confidence,
                        "class_name": "smoke",
                    }
                ]
            }
        )
    return result
