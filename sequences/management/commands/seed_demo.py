"""`manage.py seed_demo`: write a demo export folder and import it with `import_sequences`.

A month of alerts from four cameras of two organisations, each camera looking in two or three
directions. Most alerts are recurring false positives fixed in the landscape — an antenna on a
ridge, low cloud lying on a ridge in the morning, sun glare at dusk, a factory chimney's plume
(industrial smoke) — and a few are real fires, some of them right next to a recurring object.
Every frame is a 1280x720 JPEG drawn with Pillow (sky, two ridge lines, the objects) and the
model's boxes sit on what is drawn, with the jitter a detector has, so that the group
assignment finds the recurring objects by itself.

Everything derives from `random.Random(seed)`: the same options give the same folder, and a
second run imports nothing new (every sequence is already present).
"""

from __future__ import annotations

import io
import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from sequences.importing.export_format import EXPORT_FILE
from sequences.management.base import ProjectCommand

WIDTH, HEIGHT = 1280, 720
MONTH_START = datetime(2025, 7, 1, tzinfo=UTC)
MONTH_DAYS = 30
DEFAULT_SEQUENCES = 160
DEFAULT_SEED = 7
FIRST_ALERT_ID = 70001
JPEG_QUALITY = 84

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
    "chimney": ("other_smoke", "other"),
    "fire": ("wildfire_smoke",),
}


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

PALETTES = {
    # sky top, sky at the horizon, far ridge, near ridge, foreground trees
    "day": ((62, 118, 190), (188, 212, 234), (112, 130, 146), (74, 94, 62), (48, 66, 42)),
    "morning": ((104, 144, 196), (228, 226, 216), (128, 140, 156), (86, 100, 76), (58, 72, 52)),
    "dusk": ((58, 58, 108), (246, 164, 96), (86, 72, 96), (46, 42, 52), (30, 28, 34)),
}


# --- The landscape of one view ------------------------------------------------------------


def _ridge(rng: random.Random, base: float, amplitude: float) -> np.ndarray:
    """Ridge height (pixels from the top) at every x: a few sines and a little roughness."""
    x = np.arange(WIDTH, dtype=float)
    y = np.full(WIDTH, base * HEIGHT)
    for _ in range(4):
        period = rng.uniform(180, 900)
        y += (
            rng.uniform(0.3, 1.0)
            * amplitude
            * HEIGHT
            * np.sin(2 * math.pi * x / period + rng.random() * 6)
        )
    roughness = np.repeat(np.array([rng.uniform(-2.5, 2.5) for _ in range(WIDTH // 8 + 1)]), 8)
    return y + roughness[:WIDTH]


@dataclass
class Scene:
    """The fixed landscape and object positions of a view (same every day)."""

    view: ViewSpec
    far: np.ndarray
    near: np.ndarray
    anchors: dict[str, tuple[float, float]]
    trees: list[tuple[float, float, float]]
    _backgrounds: dict[str, Image.Image] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, view: ViewSpec, seed: int) -> Scene:
        rng = random.Random(f"{seed}:{view.key}")
        far = _ridge(rng, rng.uniform(0.44, 0.5), 0.035)
        near = np.maximum(_ridge(rng, rng.uniform(0.64, 0.7), 0.05), far + 40)
        anchors: dict[str, tuple[float, float]] = {}
        for kind in view.recurring:
            x = rng.uniform(0.22, 0.78) * WIDTH
            while any(abs(x - ax) < 260 for ax, _ in anchors.values()):
                x = rng.uniform(0.15, 0.85) * WIDTH
            ridge = near if kind in ("low_cloud", "chimney") else far
            y = float(ridge[int(x)])
            if kind == "chimney":
                y += 38  # on the slope below the near ridge line
            if kind == "glare":
                y -= rng.uniform(40, 70)  # the sun just above the far ridge
            anchors[kind] = (x, y)
        trees = [
            (
                x := rng.uniform(0, WIDTH),
                float(near[int(x)]) + rng.uniform(10, 150),
                rng.uniform(4, 9),
            )
            for _ in range(160)
        ]
        return cls(view, far, near, anchors, trees)

    def background(self, palette: str) -> Image.Image:
        """Sky, ridges, trees and the static objects (mast, chimney) for a palette (cached)."""
        if palette not in self._backgrounds:
            self._backgrounds[palette] = self._draw_background(palette)
        return self._backgrounds[palette]

    def _draw_background(self, palette: str) -> Image.Image:
        top, horizon, far_colour, near_colour, tree_colour = PALETTES[palette]
        rows = np.linspace(0, 1, HEIGHT)[:, None] ** 0.8
        sky = np.array(top)[None, :] * (1 - rows) + np.array(horizon)[None, :] * rows
        pixels = np.repeat(sky[:, None, :], WIDTH, axis=1).astype(np.uint8)
        image = Image.fromarray(pixels, "RGB")
        draw = ImageDraw.Draw(image)
        for ridge, colour in ((self.far, far_colour), (self.near, near_colour)):
            points = [(x, float(ridge[x])) for x in range(0, WIDTH, 4)] + [
                (WIDTH - 1, float(ridge[-1]))
            ]
            draw.polygon([(0, HEIGHT), *points, (WIDTH, HEIGHT)], fill=colour)
        for x, y, r in self.trees:
            draw.ellipse((x - r, y - 1.6 * r, x + r, y + r), fill=tree_colour)
        if "antenna" in self.anchors:
            _draw_mast(draw, *self.anchors["antenna"])
        if "chimney" in self.anchors:
            _draw_factory(draw, *self.anchors["chimney"])
        return image


MAST_HEIGHT = 92
STACK_HEIGHT = 64


def _draw_mast(draw: ImageDraw.ImageDraw, x: float, base: float) -> None:
    top = base - MAST_HEIGHT
    grey = (58, 58, 62)
    draw.line((x - 7, base, x, top), fill=grey, width=2)
    draw.line((x + 7, base, x, top), fill=grey, width=2)
    for k in range(1, 6):
        y = base - k * MAST_HEIGHT / 6
        half = 7 * (1 - k / 6)
        draw.line((x - half, y, x + half, y), fill=grey, width=1)
    draw.rectangle((x - 4, top + 14, x + 4, top + 22), fill=(200, 200, 205))  # a dish
    draw.ellipse((x - 2, top - 3, x + 2, top + 1), fill=(230, 40, 30))  # warning light


def _mast_box(x: float, base: float) -> tuple[float, float, float, float]:
    return (x - 11, base - MAST_HEIGHT - 6, x + 11, base - 6)


def _draw_factory(draw: ImageDraw.ImageDraw, x: float, y: float) -> None:
    draw.rectangle((x - 40, y - 22, x + 30, y + 8), fill=(150, 146, 140))
    draw.rectangle((x - 40, y - 26, x + 30, y - 22), fill=(110, 70, 60))
    draw.rectangle((x - 4, y - 22 - STACK_HEIGHT, x + 4, y - 22), fill=(170, 160, 150))
    draw.rectangle((x - 5, y - 22 - STACK_HEIGHT, x + 5, y - 16 - STACK_HEIGHT), fill=(180, 60, 50))


# --- What changes from frame to frame -------------------------------------------------------

Blob = tuple[float, float, float, float, int]  # centre x, centre y, radius x, radius y, alpha
Box = tuple[float, float, float, float]


def _blobs_box(blobs: list[Blob]) -> Box:
    return (
        min(cx - rx for cx, _, rx, _, _ in blobs),
        min(cy - ry for _, cy, _, ry, _ in blobs),
        max(cx + rx for cx, _, rx, _, _ in blobs),
        max(cy + ry for _, cy, _, ry, _ in blobs),
    )


@dataclass
class Layer:
    """Soft ellipses of one colour; with `behind`, hidden below that ridge line."""

    blobs: list[Blob]
    colour: tuple[int, int, int]
    blur: float
    behind: np.ndarray | None = None

    def paint(self, image: Image.Image) -> None:
        """Composite onto `image` (blurred on a small patch only, for speed)."""
        margin = int(3 * self.blur) + 2
        x0, y0, x1, y1 = (int(v) for v in _blobs_box(self.blobs))
        x0, y0 = x0 - margin, y0 - margin
        mask = Image.new("L", (x1 - x0 + margin + 1, y1 - y0 + margin + 1), 0)
        draw = ImageDraw.Draw(mask)
        for cx, cy, rx, ry, alpha in self.blobs:
            draw.ellipse((cx - rx - x0, cy - ry - y0, cx + rx - x0, cy + ry - y0), fill=alpha)
        mask = mask.filter(ImageFilter.GaussianBlur(self.blur))
        if self.behind is not None:
            alpha = np.asarray(mask).copy()
            columns = np.clip(np.arange(x0, x0 + mask.width), 0, WIDTH - 1)
            rows = np.arange(y0, y0 + mask.height)[:, None]
            alpha[rows >= self.behind[columns][None, :]] = 0
            mask = Image.fromarray(alpha, "L")
        image.paste(Image.new("RGB", mask.size, self.colour), (x0, y0), mask)


def _plume(
    rng: random.Random, x: float, y: float, height: float, wind: float, width: float
) -> list[Blob]:
    """A billowing smoke column rising from (x, y), widening and leaning with the wind."""
    blobs = []
    steps = max(6, int(height / 8))
    for step in range(steps):
        t = step / (steps - 1)
        radius = (width / 2 + t * height * 0.24) * rng.uniform(0.85, 1.15)
        cx = x + wind * t * height + rng.uniform(-0.25, 0.25) * radius
        blobs.append((cx, y - t * height, radius, radius * 0.85, int(235 - 90 * t)))
    return blobs


def _low_cloud(rng: random.Random, x: float, y: float) -> list[Blob]:
    return [
        (
            x + k * 26 + rng.uniform(-5, 5),
            y - rng.uniform(4, 16),
            rng.uniform(26, 40),
            rng.uniform(11, 18),
            220,
        )
        for k in range(-4, 5)
    ]


def _glare(x: float, y: float) -> list[Layer]:
    """Halo layers then the sun's disc, from outside in."""
    return [
        Layer([(x, y, 46, 40, 150)], (255, 214, 150), 16),
        Layer([(x, y, 26, 24, 220)], (255, 236, 190), 6),
        Layer([(x, y, 12, 12, 255)], (255, 252, 236), 2),
    ]


@dataclass
class Frame:
    """One detection: its time, the objects drawn and the model's boxes (pixels)."""

    alert_api_id: int
    recorded_at: datetime
    layers: list[Layer] = field(default_factory=list)
    boxes: list[tuple[Box, float]] = field(default_factory=list)
    others: list[tuple[Box, float]] = field(default_factory=list)


@dataclass
class Event:
    """One alert sequence: what happened, where and when."""

    view: ViewSpec
    kind: str
    start: datetime
    frames: int
    fire_base: tuple[float, float] | None = None
    fire_height: tuple[float, float] = (60, 120)  # plume height at the first and last frame


def _jitter(rng: random.Random, box: Box, scale: float) -> Box:
    """The model's box: the object's box with each edge moved a little."""
    width, height = box[2] - box[0], box[3] - box[1]
    return (
        box[0] + rng.gauss(0, scale * width),
        box[1] + rng.gauss(0, scale * height),
        box[2] + rng.gauss(0, scale * width),
        box[3] + rng.gauss(0, scale * height),
    )


def _recurring_layers(
    rng: random.Random, scene: Scene, kind: str, day: int
) -> tuple[list[Layer], Box]:
    """The layers drawn for a recurring object this frame, and the object's box."""
    x, y = scene.anchors[kind]
    if kind == "antenna":
        return [], _mast_box(x, y)  # the mast is part of the background
    if kind == "low_cloud":
        blobs = _low_cloud(rng, x, y)
        return [Layer(blobs, (242, 243, 246), 7)], _blobs_box(blobs)
    if kind == "glare":
        gx = x + day * 0.8  # the sun sets a little further along the ridge every day
        return _glare(gx, y), (gx - 40, y - 34, gx + 40, y + 34)
    stack_top = y - 22 - STACK_HEIGHT
    blobs = _plume(rng, x, stack_top - 4, rng.uniform(70, 90), rng.uniform(0.5, 0.75), 10)
    return [Layer(blobs, (236, 236, 238), 4)], _blobs_box(blobs)


def _visible(kind: str, moment: datetime) -> bool:
    """Whether a recurring object shows at that time (cloud in the morning, glare at dusk)."""
    if kind == "glare":
        return _palette(moment) == "dusk"
    if kind == "low_cloud":
        return _palette(moment) == "morning"
    return True


def _fire_layer(rng: random.Random, scene: Scene, event: Event, progress: float) -> Layer:
    """The fire's plume at `progress` (0..1) of the sequence, rising from behind the far ridge."""
    low, high = event.fire_height
    bx, by = event.fire_base
    blobs = _plume(rng, bx, by, low + (high - low) * progress, 0.3, 22)
    return Layer(blobs, (150, 146, 140), 3, behind=scene.far)


def _event_frames(rng: random.Random, scene: Scene, event: Event, first_id: int) -> list[Frame]:
    frames = []
    day = (event.start - MONTH_START).days
    at = event.start
    for index in range(event.frames):
        frame = Frame(first_id + index, at)
        at += timedelta(seconds=rng.randint(30, 60))
        confidence = min(0.95, rng.uniform(0.18, 0.55) + 0.05 * index)
        if event.kind == "fire":
            layer = _fire_layer(rng, scene, event, index / max(1, event.frames - 1))
            frame.layers.append(layer)
            x1, y1, x2, y2 = _blobs_box(layer.blobs)
            visible = (x1, y1, x2, min(y2, float(scene.far[int(event.fire_base[0])])))
            frame.boxes.append((_jitter(rng, visible, 0.04), confidence + 0.3))
        else:
            layers, box = _recurring_layers(rng, scene, event.kind, day)
            frame.layers.extend(layers)
            # Now and then the detector misses the object on a later frame.
            if index == 0 or rng.random() > 0.1:
                frame.boxes.append((_jitter(rng, box, 0.05), confidence))
        for other in event.view.recurring:
            if other != event.kind and _visible(other, frame.recorded_at):
                layers, box = _recurring_layers(rng, scene, other, day)
                frame.layers.extend(layers)
                frame.others.append((_jitter(rng, box, 0.05), rng.uniform(0.1, 0.3)))
        frames.append(frame)
    return frames


# --- Planning the month -------------------------------------------------------------------


def _moment(rng: random.Random, day: int, kind: str) -> datetime:
    low, high = HOURS[kind]
    return MONTH_START + timedelta(days=day, seconds=round(rng.uniform(low, high) * 3600))


def _palette(moment: datetime) -> str:
    hour = moment.hour + moment.minute / 60
    if hour >= 17.3:
        return "dusk"
    return "morning" if hour < 9 else "day"


def plan_events(rng: random.Random, scenes: dict[str, Scene], count: int) -> list[Event]:
    """About one fire per 30 alerts (each seen in 1-3 sequences), the rest recurring objects."""
    events: list[Event] = []
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
        for repeat in range(min(rng.randint(1, 3), count - len(events))):
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
        events.append(
            Event(view, kind, _moment(rng, rng.randrange(MONTH_DAYS), kind), rng.randint(3, 6))
        )
    events.sort(key=lambda event: event.start)
    return events


# --- Writing the folder -------------------------------------------------------------------


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


@cache
def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=18)
    except (OSError, TypeError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


@cache
def _glyph(character: str) -> Image.Image:
    """One character of the caption as a mask (text rendering is slow; captions repeat)."""
    font = _font()
    glyph = Image.new("L", (max(1, math.ceil(font.getlength(character))), 24), 0)
    ImageDraw.Draw(glyph).text((0, 0), character, fill=255, font=font)
    return glyph


def _caption(image: Image.Image, text: str, x: int, y: int) -> None:
    """White text with a dark shadow, as camera overlays are."""
    for offset, colour in ((1, (0, 0, 0)), (0, (255, 255, 255))):
        left = x + offset
        for character in text:
            glyph = _glyph(character)
            image.paste(colour, (left, y + offset, left + glyph.width, y + offset + 24), glyph)
            left += glyph.width


def render_frame(scene: Scene, frame: Frame) -> bytes:
    """The JPEG of one frame: background, objects, the camera's caption."""
    image = scene.background(_palette(frame.recorded_at)).copy()
    for layer in frame.layers:
        layer.paint(image)
    view = scene.view
    caption = (
        f"{view.camera.name}  az {round(view.azimuth) % 360:03d}  "
        f"{frame.recorded_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    _caption(image, caption, 16, 14)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def build_export(out: Path, *, count: int, seed: int) -> tuple[int, int]:
    """Write `sequences.jsonl` and the images into `out`; returns (sequences, images).

    Images are only redrawn when the folder does not already hold this exact export.
    """
    rng = random.Random(seed)
    scenes = {view.key: Scene.build(view, seed) for view in VIEWS}
    events = plan_events(rng, scenes, count)
    lines, images = [], []
    detection_id = FIRST_ALERT_ID * 10
    for number, event in enumerate(events):
        alert_api_id = FIRST_ALERT_ID + number
        scene = scenes[event.view.key]
        frames = _event_frames(rng, scene, event, detection_id)
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
                "is_wildfire_alertapi": rng.choice(PLATFORM_CLASS[event.kind]),
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
    return len(lines), len(images)


class Command(ProjectCommand):
    help = (
        "Write a demo export folder (a month of alerts from four cameras, drawn with Pillow) "
        "and import it with import_sequences --no-assign. Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="folder (default: demo_export/)")
        parser.add_argument("--sequences", type=int, default=DEFAULT_SEQUENCES)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)

    def handle(self, *args, **options) -> None:
        if options["sequences"] < 1:
            raise CommandError("--sequences must be at least 1")
        out: Path = options["out"] or Path(settings.BASE_DIR) / "demo_export"
        out.mkdir(parents=True, exist_ok=True)
        sequences, images = build_export(out, count=options["sequences"], seed=options["seed"])
        self.stdout.write(f"Demo export: {sequences} sequences, {images} images in {out}")
        call_command(
            "import_sequences", str(out), "--no-assign", stdout=self.stdout, stderr=self.stderr
        )
