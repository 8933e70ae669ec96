"""The demo export folder: `sequences.jsonl` in the export format the importer reads (with the
platform's class and temporal model score on part of the alerts), and the JPEG of every
detection, all derived from one seed.

Images are only redrawn when the folder does not already hold this exact export, so a second
run with the same options writes nothing and imports nothing new.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sequences.demo.drawing import Box, Scene, event_frames, render_frame
from sequences.demo.scenario import (
    HEIGHT,
    HISTORY_DAYS,
    MONTH_START,
    PLATFORM_CLASS,
    RECURRING_SCORES,
    SCENARIO_MIN_SEQUENCES,
    SCORED_SHARE,
    TEMPORAL_API_VERSION,
    TEMPORAL_MODEL_VERSION,
    TEMPORAL_SCORES,
    VIEWS,
    WIDTH,
    Event,
    plan_events,
)
from sequences.importing.export_format import EXPORT_FILE

DEFAULT_SEQUENCES = 160
DEFAULT_SEED = 7
FIRST_ALERT_ID = 70001


def _normalised(box: Box) -> list[float]:
    x1, y1, x2, y2 = box
    x1, x2 = sorted((min(max(x1 / WIDTH, 0.0), 1.0), min(max(x2 / WIDTH, 0.0), 1.0)))
    y1, y2 = sorted((min(max(y1 / HEIGHT, 0.0), 1.0), min(max(y2 / HEIGHT, 0.0), 1.0)))
    return [round(x1, 4), round(y1, 4), round(x2, 4), round(y2, 4)]


def _predictions(boxes: list[tuple[Box, float]]) -> dict:
    return {
        "predictions": [
            {
                "xyxyn": _normalised(box),
                "confidence": round(min(confidence, 0.99), 3),
                "class_name": "smoke",
            }
            for box, confidence in boxes
        ]
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _platform_fields(rng: random.Random, event: Event) -> dict:
    """The platform's class and temporal model fields of an alert: fixed by the plan, or drawn
    (a class on part of the alerts, a score on SCORED_SHARE of them)."""
    if event.signals is not None:
        platform_class, score = event.signals
    else:
        platform_class = rng.choice(PLATFORM_CLASS[event.kind])
        low, high = TEMPORAL_SCORES.get(event.kind, RECURRING_SCORES)
        score = round(rng.uniform(low, high), 3) if rng.random() < SCORED_SHARE else None
    scored = score is not None
    return {
        "is_wildfire_alertapi": platform_class,
        "temporal_model_score": score,
        "temporal_model_version": TEMPORAL_MODEL_VERSION if scored else None,
        "temporal_api_version": TEMPORAL_API_VERSION if scored else None,
    }


@dataclass
class DemoExport:
    """What `build_export` wrote: counts, what each alert really is (by `alert_api_id`), and
    which alerts belong to the history the seed reviews (none in a month too short for it)."""

    sequences: int
    images: int
    kinds: dict[int, str] = field(default_factory=dict)
    history: set[int] = field(default_factory=set)


def build_export(out: Path, *, count: int, seed: int) -> DemoExport:
    """Write `sequences.jsonl` and the images into `out`; returns what was written.

    Images are only redrawn when the folder does not already hold this exact export.
    """
    rng = random.Random(seed)
    scenes = {view.key: Scene.build(view, seed) for view in VIEWS}
    events = plan_events(rng, scenes, count)
    lines, images = [], []
    result = DemoExport(0, 0)
    history_until = MONTH_START + timedelta(days=HISTORY_DAYS)
    detection_id = FIRST_ALERT_ID * 10
    for number, event in enumerate(events):
        alert_api_id = FIRST_ALERT_ID + number
        result.kinds[alert_api_id] = event.kind
        if count >= SCENARIO_MIN_SEQUENCES and event.start < history_until:
            result.history.add(alert_api_id)
        scene = scenes[event.view.key]
        frames = event_frames(rng, scene, event, detection_id)
        detection_id += len(frames)
        detections = []
        for frame in frames:
            relative = f"images/{alert_api_id}/{frame.alert_api_id}.jpg"
            images.append((relative, scene, frame))
            detections.append(
                {
                    "alert_api_id": frame.alert_api_id,
                    "recorded_at": _iso(frame.recorded_at),
                    "image": relative,
                    "algo_predictions": _predictions(frame.boxes),
                    "others_bboxes": _predictions(frame.others) if frame.others else None,
                }
            )
        camera = event.view.camera
        # A pan-tilt head never returns to exactly the same bearing.
        azimuth = round((event.view.azimuth + rng.uniform(-0.4, 0.4)) % 360, 1)
        lines.append(
            {
                "source_api": "pyronear_french",
                "alert_api_id": alert_api_id,
                "organisation": {"id": camera.organisation_id, "name": camera.organisation_name},
                "camera": {
                    "id": camera.platform_id,
                    "name": camera.name,
                    "lat": camera.lat,
                    "lon": camera.lon,
                },
                "azimuth": azimuth,
                **_platform_fields(rng, event),
                "recorded_at": _iso(frames[0].recorded_at),
                "last_seen_at": _iso(frames[-1].recorded_at + timedelta(seconds=30)),
                "detections": detections,
            }
        )
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    export = out / EXPORT_FILE
    unchanged = (
        export.is_file()
        and export.read_text(encoding="utf-8") == text
        and all((out / relative).is_file() for relative, _, _ in images)
    )
    if not unchanged:
        for relative, scene, frame in images:
            path = out / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(render_frame(scene, frame))
        export.write_text(text, encoding="utf-8")
    result.sequences, result.images = len(lines), len(images)
    return result
