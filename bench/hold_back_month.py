"""The month that bench/hold_back.py replays, drawn from a seed (no database): about 800
alerts over 30 cameras, recurring antennas, buildings, low cloud, lens flare and industrial
chimneys, and real fires (half of them starting right on a known false positive) that grow as
plumes do, with the platform's verdict on part of them and a temporal score on another part;
and the motion study behind GROUPS_HOLD_BACK_MOTION (`box_motion` on still boxes with a
detector's jitter and on growing plumes).

Import it after django.setup(): both read the groups' settings.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings

from sequences.boxes import box_motion
from sequences.payloads import Label
from tests.support.motion import detector_frames

MONTH_START = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 30
CAMERAS = 30
# Recurring objects: how many of each kind, their label, box size (width, height ranges as
# fractions of the image) and the detector's jitter on them (each edge, fraction of the size).
KINDS = {
    "antenna": (14, Label.fp("antenna"), (0.012, 0.022), (0.07, 0.12), 0.02),
    "building": (11, Label.fp("building"), (0.04, 0.08), (0.03, 0.05), 0.02),
    "low_cloud": (9, Label.fp("low_cloud"), (0.12, 0.22), (0.03, 0.05), 0.03),
    "lens_flare": (7, Label.fp("lens_flare"), (0.03, 0.05), (0.05, 0.08), 0.02),
    "chimney": (4, Label.smoke("industrial"), (0.04, 0.06), (0.08, 0.12), 0.04),
}
FIRE = Label.smoke("wildfire")
RECURRING_SEQUENCES = 750
FIRE_EVENTS = 22  # each seen in 1 to 3 sequences; half of them start on a recurring object
FIRE_JITTER = 0.02
# The platform: a verdict on 40 % of the alerts, a temporal score on 60 % (the model errs on
# one fire in ten and one recurring alert in twenty).
VERDICT_SHARE, SCORED_SHARE = 0.4, 0.6
VERDICTS = {"fire": "wildfire_smoke", "chimney": "other_smoke"}


# --- The month (pure) -------------------------------------------------------------------------


@dataclass
class Alert:
    """One alert sequence: where, when, what it really is, what the platform says."""

    alert_api_id: int
    camera: int
    azimuth: int
    start: datetime
    truth: str  # a KINDS key or "fire"
    frames: list[dict]
    verdict: str | None = None
    score: float | None = None
    near_object: bool = False  # a fire starting on a recurring object

    @property
    def label(self) -> Label:
        return FIRE if self.truth == "fire" else KINDS[self.truth][1]

    @property
    def day(self) -> int:
        return (self.start - MONTH_START).days


@dataclass
class RecurringObject:
    kind: str
    camera: int
    azimuth: int
    box: list[float]
    weight: float
    days: list[int] = field(default_factory=list)


def _frames_count(rng: random.Random, *, fire: bool) -> int:
    """Frames of a sequence: fires go on; one recurring alert in six is short (3-5 frames)."""
    if fire:
        return rng.randint(6, 20)
    return rng.randint(3, 5) if rng.random() < 1 / 6 else rng.randint(6, 20)


def _signals(rng: random.Random, alert: Alert) -> None:
    if rng.random() < VERDICT_SHARE:
        alert.verdict = VERDICTS.get(alert.truth, "other")
    if rng.random() < SCORED_SHARE:
        if alert.truth == "fire":
            alert.score = rng.uniform(0.55, 0.99) if rng.random() < 0.9 else rng.uniform(0.15, 0.5)
        else:
            alert.score = rng.uniform(0.0, 0.35) if rng.random() < 0.95 else rng.uniform(0.5, 0.75)


def _place(rng: random.Random, taken: list[list[float]], width: float, height: float):
    """A box of that size on the view's ridge, clear of the boxes already placed."""
    while True:
        x1 = rng.uniform(0.05, 0.9 - width)
        base = rng.uniform(0.45, 0.6)
        box = [x1, base - height, x1 + width, base]
        if all(box[2] + 0.03 < other[0] or other[2] + 0.03 < box[0] for other in taken):
            return box


def _fire_start(box: list[float], frames: int, growth: float, share: float) -> list[float]:
    """The first box of a plume that, growing from the base of `box`, is `box` halfway through
    its first frames: its representative box lies on the object's."""
    halfway = (min(frames, settings.GROUPS_REPRESENTATIVE_DETECTIONS) - 1) / 2
    width = (box[2] - box[0]) / (1 + growth) ** ((1 - share) * halfway)
    height = (box[3] - box[1]) / (1 + growth) ** (share * halfway)
    centre = (box[0] + box[2]) / 2
    return [centre - width / 2, box[3] - height, centre + width / 2, box[3]]


def plan_month(seed: int) -> list[Alert]:
    """The month's alerts in time order; everything derives from `seed`."""
    rng = random.Random(seed)
    views = [(camera, rng.choice((0, 90, 180, 270))) for camera in range(1, CAMERAS + 1)]
    views += [(camera, (azimuth + 135) % 360) for camera, azimuth in rng.sample(views, 10)]
    placed: dict[tuple[int, int], list[list[float]]] = {view: [] for view in views}
    kinds = [kind for kind, (count, *_) in KINDS.items() for _ in range(count)]
    rng.shuffle(kinds)
    objects = []
    # Every view sees at least one recurring object; the others go anywhere.
    for index, kind in enumerate(kinds):
        _, _, widths, heights, _ = KINDS[kind]
        view = views[index] if index < len(views) else rng.choice(views)
        box = _place(rng, placed[view], rng.uniform(*widths), rng.uniform(*heights))
        placed[view].append(box)
        objects.append(RecurringObject(kind, *view, box, rng.uniform(0.5, 1.5)))
    alerts: list[Alert] = []
    weights = [item.weight for item in objects]
    for _ in range(RECURRING_SEQUENCES):
        item = rng.choices(objects, weights)[0]
        day = rng.randrange(DAYS)
        item.days.append(day)
        frames = detector_frames(
            item.box,
            frames=_frames_count(rng, fire=False),
            jitter=KINDS[item.kind][4],
            rng=rng,
            confidence=round(rng.uniform(0.2, 0.6), 3),
        )
        start = MONTH_START + timedelta(days=day, hours=rng.uniform(6, 18))
        alerts.append(Alert(0, item.camera, item.azimuth, start, item.kind, frames))
    on_objects = [item for item in objects if item.kind != "chimney" and len(item.days) >= 4]
    for event in range(FIRE_EVENTS):
        near = event % 2 == 0
        if near:
            item = rng.choice(on_objects)
            # After the object's first alerts, so that its group exists and carries a label.
            day = rng.randint(sorted(item.days)[2] + 1, DAYS - 1)
            view, anchor = (item.camera, item.azimuth), item.box
        else:
            view = rng.choice(views)
            day = rng.randrange(DAYS)
            anchor = _place(rng, placed[view], rng.uniform(0.02, 0.05), rng.uniform(0.04, 0.08))
        growth, share = rng.uniform(0.03, 0.10), rng.uniform(0.5, 0.8)
        start = MONTH_START + timedelta(days=day, hours=rng.uniform(10, 16))
        box = anchor
        for repeat in range(rng.randint(1, 3)):
            count = _frames_count(rng, fire=True)
            first = _fire_start(box, count, growth, share) if repeat == 0 and near else box
            frames = detector_frames(
                first, frames=count, growth=growth, height_share=share, jitter=FIRE_JITTER, rng=rng
            )
            moment = start + timedelta(minutes=40 * repeat)
            alerts.append(Alert(0, *view, moment, "fire", frames, near_object=near))
            box = frames[-1]["predictions"][0]["xyxyn"]
    alerts.sort(key=lambda alert: alert.start)
    for number, alert in enumerate(alerts, start=1):
        alert.alert_api_id = number
        _signals(rng, alert)
    return alerts


# --- The motion study (pure) ------------------------------------------------------------------

# Shapes of a still object's or a plume's first box: a mast (1:4), a square, a flat bank (4:1).
SHAPES = {
    "mast": [0.49, 0.67, 0.51, 0.75],
    "square": [0.47, 0.71, 0.53, 0.77],
    "flat": [0.46, 0.73, 0.54, 0.75],
}


def _measures(draws: int, seed: int, **frames_options) -> list[float]:
    rng = random.Random(seed)
    values = []
    for _ in range(draws):
        value = box_motion(detector_frames(rng=rng, **frames_options))
        values.append(math.inf if value is None else value)
    return sorted(values)


def _quantile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


def motion_study(draws: int, seed: int) -> list[dict]:
    """`box_motion` of still boxes and growing plumes under a detector's jitter, over `draws`
    random draws per case: the evidence behind GROUPS_HOLD_BACK_MOTION."""
    threshold = settings.GROUPS_HOLD_BACK_MOTION
    lines = []
    cases = [
        ("still", shape, frames, jitter, 0.0, 0.5)
        for frames in (10,)
        for jitter in (0.01, 0.02, 0.03)
        for shape in SHAPES
    ]
    cases += [
        ("plume", shape, 10, jitter, 0.03, share)
        for jitter in (0.02, 0.03)
        for share in (0.5, 0.8)
        for shape in SHAPES
    ]
    cases += [
        (kind, "square", frames, 0.02, growth, 0.5)
        for frames in (3, 4, 5, 6, 8)
        for kind, growth in (("still", 0.0), ("plume", 0.03))
    ]
    for kind, shape, frames, jitter, growth, share in cases:
        values = _measures(
            draws,
            seed,
            box=SHAPES[shape],
            frames=frames,
            growth=growth,
            height_share=share,
            jitter=jitter,
        )
        lines.append(
            {
                "study": "motion",
                "object": kind,
                "shape": shape,
                "frames": frames,
                "jitter": jitter,
                "growth": growth,
                "height_share": share,
                "draws": draws,
                "min": round(values[0], 4),
                "p0.1": round(_quantile(values, 0.001), 4),
                "median": round(_quantile(values, 0.5), 4),
                "p99.9": round(_quantile(values, 0.999), 4),
                "max": round(values[-1], 4),
                "threshold": threshold,
                "reaching_threshold": round(sum(v >= threshold for v in values) / draws, 4),
            }
        )
    return lines
