"""The train / validation split of a YOLO tree: whole cameras, drawn with a seed.

A camera's frames all go to one side, so the validation set shows views the model never saw
in training (frames of one camera look alike from one alert to the next). Cameras are shuffled
with the seed, then walked: a camera goes to validation while at least half of its frames fit
under the asked share of all frames. Pure: the same cameras, counts and seed give the same
split.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

CameraKey = tuple[str, int]

SPLIT_SIDE = "val"
SPLIT_INVALID = "must be val=<share of frames between 0 and 1>, e.g. val=0.2"


@dataclass(frozen=True)
class Split:
    """The share of frames asked for validation, and the seed that draws the cameras."""

    validation: float
    seed: int = 0


def split_parse(text: str, *, seed: int = 0) -> Split:
    """`val=0.2` as a Split; ValueError (SPLIT_INVALID) for anything else."""
    side, _, share = text.partition("=")
    try:
        validation = float(share)
    except ValueError:
        raise ValueError(SPLIT_INVALID) from None
    if side.strip() != SPLIT_SIDE or not (math.isfinite(validation) and 0 < validation < 1):
        raise ValueError(SPLIT_INVALID)
    return Split(validation=validation, seed=seed)


def validation_cameras(frames: Mapping[CameraKey, int], split: Split) -> set[CameraKey]:
    """The cameras whose frames go to validation, given each camera's number of frames."""
    cameras = sorted(frames)
    random.Random(split.seed).shuffle(cameras)
    target = split.validation * sum(frames.values())
    chosen: set[CameraKey] = set()
    taken = 0
    for camera in cameras:
        if taken + frames[camera] / 2 <= target:
            chosen.add(camera)
            taken += frames[camera]
    return chosen
