"""Camera-like test frames: a landscape with a smoke plume and an antenna, for the pages whose
pictures (the README's screenshots, the zoomed crops) should look like a real alert."""

import io

from PIL import Image, ImageDraw, ImageFilter

# Where the plume of `landscape_jpeg` stands, as a normalized xyxy box (its first frames).
PLUME_BOX = (0.29, 0.3, 0.43, 0.56)


def landscape_jpeg(frame: int, width: int = 1280, height: int = 720) -> bytes:
    """A camera-like frame: sky, two ridges, an antenna and a smoke plume growing with `frame`."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = int(height * 0.62)
    for y in range(horizon):
        t = y / horizon
        colour = tuple(
            int(a + (b - a) * t) for a, b in zip((104, 150, 205), (214, 228, 240), strict=True)
        )
        draw.line([(0, y), (width, y)], fill=colour)
    draw.polygon(
        [
            (0, horizon - 40),
            (300, horizon - 110),
            (620, horizon - 60),
            (960, horizon - 150),
            (width, horizon - 80),
            (width, height),
            (0, height),
        ],
        fill=(112, 132, 124),
    )
    draw.polygon(
        [
            (0, horizon + 30),
            (420, horizon - 20),
            (820, horizon + 40),
            (width, horizon - 10),
            (width, height),
            (0, height),
        ],
        fill=(62, 88, 64),
    )
    draw.line([(980, horizon - 150), (980, horizon - 260)], fill=(60, 60, 64), width=5)
    draw.line([(965, horizon - 230), (995, horizon - 230)], fill=(60, 60, 64), width=3)
    plume = Image.new("L", (width, height), 0)
    plume_draw = ImageDraw.Draw(plume)
    for k in range(3 + frame):
        cx, cy, r = 420 + 14 * k, horizon - 90 - 26 * k, 26 + 7 * k
        plume_draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=170)
    plume = plume.filter(ImageFilter.GaussianBlur(16))
    image.paste((236, 236, 232), mask=plume)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
