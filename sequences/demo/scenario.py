"""The demo's world and its month: four cameras of two organisations, the directions they look
in and the recurring objects each sees, when each kind of alert happens, and the plan of the
month's alert sequences (mostly recurring false positives, about one fire per 30 alerts).

A month of at least SCENARIO_MIN_SEQUENCES alerts also holds the scenario the machine-label
safeguards are for: an antenna seen twice in the first weeks (so its group is labeled), then
three fires starting right on it after HISTORY_DAYS — one the platform classed
`wildfire_smoke`, one only its temporal model scores high, one with neither but a growing plume.

Every choice draws from the `random.Random` it is given, in a fixed order, so a seed gives the
same month.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sequences.demo.drawing import Scene

WIDTH, HEIGHT = 1280, 720
MONTH_START = datetime(2025, 7, 1, tzinfo=UTC)
MONTH_DAYS = 30


# Time windows (UTC hours) in which each kind of alert happens.
HOURS = {
    "antenna": (7.0, 17.0),
    "low_cloud": (4.5, 9.0),
    "glare": (17.6, 18.6),
    "chimney": (6.0, 17.0),
    "fire": (10.0, 16.0),
}
# The platform's own class of the alert (None: not classified), per kind.
PLATFORM_CLASS = {
    "antenna": ("other", None),
    "low_cloud": ("other", None),
    "glare": ("other", None),
    "chimney": ("other_smoke", None),
    "fire": ("wildfire_smoke", None),
}
# The platform's temporal model scores this share of the alerts, in these ranges per kind.
SCORED_SHARE = 0.6
TEMPORAL_SCORES = {"fire": (0.7, 0.98)}
RECURRING_SCORES = (0.01, 0.3)
TEMPORAL_MODEL_VERSION, TEMPORAL_API_VERSION = "0.1.0", "v0.3.2"

# The first weeks of the month are the site's history (imported, grouped and reviewed by
# `seed_demo`); the rest arrives for `assign_groups`.
HISTORY_DAYS = 20
SCENARIO_MIN_SEQUENCES = 20


@dataclass(frozen=True)
class CameraSpec:
    platform_id: int
    name: str
    lat: float
    lon: float
    organisation_id: int
    organisation_name: str


@dataclass(frozen=True)
class ViewSpec:
    """One camera looking in one direction, with the recurring objects it sees."""

    camera: CameraSpec
    azimuth: float
    recurring: tuple[str, ...]
    weight: float = 1.0

    @property
    def key(self) -> str:
        return f"{self.camera.name}@{self.azimuth:g}"


SDIS07 = (7, "SDIS 07")
SDIS26 = (26, "SDIS 26")
BRISON = CameraSpec(101, "brison-01", 44.512, 4.231, *SDIS07)
SERRE = CameraSpec(102, "serre-de-barre", 44.731, 4.402, *SDIS07)
CREST = CameraSpec(201, "crest-02", 44.728, 5.022, *SDIS26)
LANCE = CameraSpec(202, "la-lance", 44.556, 4.972, *SDIS26)
VIEWS = (
    ViewSpec(BRISON, 45, ("antenna",), 1.4),
    ViewSpec(BRISON, 135, ("low_cloud",), 1.0),
    ViewSpec(BRISON, 250, ("glare",), 0.9),
    ViewSpec(SERRE, 0, ("chimney",), 1.3),
    ViewSpec(SERRE, 190, ("antenna",), 0.8),
    ViewSpec(CREST, 90, ("low_cloud",), 0.9),
    ViewSpec(CREST, 300, ("glare",), 0.8),
    ViewSpec(LANCE, 60, ("chimney",), 0.9),
    ViewSpec(LANCE, 160, ("antenna", "low_cloud"), 1.2),
    ViewSpec(LANCE, 280, (), 0.0),
)


@dataclass
class Event:
    """One alert sequence: what happened, where and when."""

    view: ViewSpec
    kind: str
    start: datetime
    frames: int
    fire_base: tuple[float, float] | None = None
    fire_height: tuple[float, float] = (60, 120)  # plume height at the first and last frame
    # A thin column rising straight up in still air (the scenario's fires behind the mast).
    column: bool = False
    # The platform's class and temporal score when the plan fixes them (None: drawn at export).
    signals: tuple[str | None, float | None] | None = None


def _moment(rng: random.Random, day: int, kind: str) -> datetime:
    low, high = HOURS[kind]
    return MONTH_START + timedelta(days=day, seconds=round(rng.uniform(low, high) * 3600))


def palette_at(moment: datetime) -> str:
    """The light of a moment: morning before 9, dusk from 17:18 (UTC), day in between."""
    hour = moment.hour + moment.minute / 60
    if hour >= 17.3:
        return "dusk"
    return "morning" if hour < 9 else "day"


def _day_at(day: int, hour: float) -> datetime:
    return MONTH_START + timedelta(days=day, seconds=round(hour * 3600))


def scenario_events(scenes: dict[str, Scene]) -> list[Event]:
    """The antenna on brison-01 at 45°: two alerts in the first weeks, then three fires rising
    right behind the mast, each with its own signal (platform verdict, temporal score, plume)."""
    view = VIEWS[0]
    x, _ = scenes[view.key].anchors["antenna"]
    base = (x, float(scenes[view.key].far[int(x)]) + 4)
    events = [Event(view, "antenna", _day_at(day, 11.5), 5) for day in (1, 4)]
    for day, signals in ((22, ("wildfire_smoke", None)), (25, (None, 0.87)), (28, (None, None))):
        fire = Event(view, "fire", _day_at(day, 13.0), 6, base, (72, 124), True, signals)
        events.append(fire)
    return events


def plan_events(rng: random.Random, scenes: dict[str, Scene], count: int) -> list[Event]:
    """About one fire per 30 alerts (each seen in 1-3 sequences), the rest recurring objects,
    and the safeguards' scenario in a month of at least SCENARIO_MIN_SEQUENCES alerts."""
    events: list[Event] = scenario_events(scenes) if count >= SCENARIO_MIN_SEQUENCES else []
    fires = max(1, count // 30)
    for fire in range(fires):
        view = rng.choice(VIEWS)
        scene = scenes[view.key]
        # Fires are spread over the month: one per slice of days.
        day = fire * MONTH_DAYS // fires + rng.randrange(max(1, MONTH_DAYS // fires))
        start = _moment(rng, day, "fire")
        if view.recurring and fire % 2 == 0:
            # Next to a recurring object, far enough that its boxes stay apart.
            ax, _ = scene.anchors[view.recurring[0]]
            x = ax + rng.choice((-1, 1)) * rng.uniform(110, 170)
        else:
            x = rng.uniform(0.12, 0.88) * WIDTH
        x = min(max(x, 60), WIDTH - 140)
        base = (x, float(scene.far[int(x)]) + rng.uniform(2, 8))
        for repeat in range(min(rng.randint(1, 3), max(0, count - len(events)))):
            grown = 40 * repeat
            events.append(
                Event(
                    view,
                    "fire",
                    start + timedelta(minutes=40 * repeat),
                    rng.randint(4, 6),
                    base,
                    (60 + grown, 120 + grown),
                )
            )
    recurring_views = [view for view in VIEWS if view.recurring]
    weights = [view.weight for view in recurring_views]
    while len(events) < count:
        view = rng.choices(recurring_views, weights)[0]
        kind = rng.choice(view.recurring)
        # At least four frames: over fewer, a detector's jitter alone can read as motion.
        moment = _moment(rng, rng.randrange(MONTH_DAYS), kind)
        events.append(Event(view, kind, moment, rng.randint(4, 6)))
    events.sort(key=lambda event: event.start)
    return events
