"""Drawing the demo's frames with Pillow: each view's landscape (sky, two ridge lines, trees,
a mast, a factory), the objects that change from frame to frame (low cloud, glare, smoke
plumes), the model's boxes on what is drawn (with a detector's jitter: each edge within a
percent or two of the box's size, so a still object's motion stays well below the hold-back
threshold and a plume's does not), and the camera's caption; `render_frame` gives the JPEG.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from sequences.demo.scenario import (
    HEIGHT,
    MONTH_START,
    WIDTH,
    Event,
    ViewSpec,
    palette_at,
)

JPEG_QUALITY = 84
# The detector's jitter: each edge of a box moves by up to this share of the box's size.
OBJECT_JITTER = 0.01
FIRE_JITTER = 0.02
OTHERS_JITTER = 0.05

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
    rng: random.Random,
    x: float,
    y: float,
    height: float,
    wind: float,
    width: float,
    spread: float = 0.24,
) -> list[Blob]:
    """A billowing smoke column rising from (x, y), widening by `spread` of its height and
    leaning with the wind."""
    blobs = []
    steps = max(6, int(height / 8))
    for step in range(steps):
        t = step / (steps - 1)
        radius = (width / 2 + t * height * spread) * rng.uniform(0.85, 1.15)
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


def _jitter(rng: random.Random, box: Box, scale: float) -> Box:
    """The model's box: the object's box with each edge moved by up to `scale` of its size."""
    width, height = box[2] - box[0], box[3] - box[1]
    return (
        box[0] + rng.uniform(-scale, scale) * width,
        box[1] + rng.uniform(-scale, scale) * height,
        box[2] + rng.uniform(-scale, scale) * width,
        box[3] + rng.uniform(-scale, scale) * height,
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
        return palette_at(moment) == "dusk"
    if kind == "low_cloud":
        return palette_at(moment) == "morning"
    return True


def _fire_layer(rng: random.Random, scene: Scene, event: Event, progress: float) -> Layer:
    """The fire's plume at `progress` (0..1) of the sequence, rising from behind the far ridge
    (a thin straight column for the scenario's fires behind the mast)."""
    low, high = event.fire_height
    bx, by = event.fire_base
    height = low + (high - low) * progress
    if event.column:
        blobs = _plume(rng, bx, by, height, 0.0, 9, spread=0.05)
    else:
        blobs = _plume(rng, bx, by, height, 0.3, 22)
    return Layer(blobs, (150, 146, 140), 3, behind=scene.far)


def event_frames(rng: random.Random, scene: Scene, event: Event, first_id: int) -> list[Frame]:
    """The frames of one event, detection ids from `first_id`: what each shows (the event's
    object and the view's other visible recurring objects) and the model's boxes on them."""
    frames = []
    day = (event.start - MONTH_START).days
    at = event.start
    # A cloud bank, the sun or the mast stays as it is for the few minutes of a sequence; a
    # chimney's plume is redrawn every frame.
    still = None
    if event.kind not in ("fire", "chimney"):
        still = _recurring_layers(rng, scene, event.kind, day)
    for index in range(event.frames):
        frame = Frame(first_id + index, at)
        at += timedelta(seconds=rng.randint(30, 60))
        confidence = min(0.95, rng.uniform(0.18, 0.55) + 0.05 * index)
        if event.kind == "fire":
            layer = _fire_layer(rng, scene, event, index / max(1, event.frames - 1))
            frame.layers.append(layer)
            x1, y1, x2, y2 = _blobs_box(layer.blobs)
            visible = (x1, y1, x2, min(y2, float(scene.far[int(event.fire_base[0])])))
            frame.boxes.append((_jitter(rng, visible, FIRE_JITTER), confidence + 0.3))
        else:
            layers, box = still or _recurring_layers(rng, scene, event.kind, day)
            frame.layers.extend(layers)
            # Now and then the detector misses the object on a later frame.
            if index == 0 or rng.random() > 0.1:
                frame.boxes.append((_jitter(rng, box, OBJECT_JITTER), confidence))
        for other in event.view.recurring:
            if other != event.kind and _visible(other, frame.recorded_at):
                layers, box = _recurring_layers(rng, scene, other, day)
                frame.layers.extend(layers)
                frame.others.append((_jitter(rng, box, OTHERS_JITTER), rng.uniform(0.1, 0.3)))
        frames.append(frame)
    return frames


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
    image = scene.background(palette_at(frame.recorded_at)).copy()
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
