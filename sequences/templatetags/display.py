"""Small pieces of markup drawn many times on a page (a time, a label chip, a URL of an id, a
thumbnail with its boxes and crop, a strip of previews), as template tags.

They used to be included templates; an include costs a template render each time, and a page of
36 member cards drew a hundred of them. A tag builds the same markup in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_UNSURE_BESIDE_LABEL = mark_safe(
    ' <span class="chip chip-unsure" title="Marked unsure">unsure</span>'
)
_UNSURE_WITHOUT_LABEL = mark_safe(
    '<span class="chip chip-unsure-state" title="Marked unsure, no label yet">unsure</span>'
)
_UNLABELED = mark_safe('<span class="chip chip-none">unlabeled</span>')


@register.simple_tag
def utc_time(moment: datetime | None, fmt: str = "") -> SafeString | str:
    """A UTC time in `<time datetime>` (site.js shows it in the browser's local time);
    `fmt="date"` shows the date alone. Nothing for no time."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "date":
        return format_html(
            '<time datetime="{}" data-format="date">{}</time>', stamp, moment.strftime("%Y-%m-%d")
        )
    return format_html(
        '<time datetime="{}">{} UTC</time>', stamp, moment.strftime("%Y-%m-%d %H:%M")
    )


@register.simple_tag
def label_chip(label: Mapping[str, str] | None, unsure: bool = False) -> SafeString:
    """The chip of a label (`kind`, `text`, as the presenters' `label_parts` give them), with
    an unsure chip beside it; without a label, "unsure" as a state of its own, or
    "unlabeled"."""
    if label:
        chip = format_html('<span class="chip chip-{}">{}</span>', label["kind"], label["text"])
        return chip + _UNSURE_BESIDE_LABEL if unsure else chip
    return _UNSURE_WITHOUT_LABEL if unsure else _UNLABELED


# An id no URL of the site holds: reverse() is asked once per URL name with it, and the answer
# becomes a format string for every other id.
_ID_MARKER = 987654321987
_id_url_formats: dict[tuple, str] = {}


@register.simple_tag
def id_url(name: str, *ids: int) -> str:
    """`{% url name id ... %}` for URLs whose arguments are all ids, without a `reverse()` per
    call: a page of cards reversed the same few URL names hundreds of times.

    The format string is kept per URL name, URLconf and script prefix, so a site served under a
    sub-path or a test with its own URLconf gets its own.
    """
    if not all(isinstance(value, int) for value in ids):
        return reverse(name, args=ids)
    key = (name, len(ids), get_urlconf(), settings.ROOT_URLCONF, get_script_prefix())
    pattern = _id_url_formats.get(key)
    if pattern is None:
        markers = [_ID_MARKER + index for index in range(len(ids))]
        pattern = reverse(name, args=markers).replace("{", "{{").replace("}", "}}")
        for index, marker in enumerate(markers):
            pattern = pattern.replace(str(marker), f"{{{index}}}")
        _id_url_formats[key] = pattern
    return pattern.format(*ids)


def _reference_overlay(style: str) -> SafeString:
    """A group's reference region drawn over an image (`style`: its place in percent)."""
    return format_html('<span class="overlay overlay-reference" style="{}"></span>', style)


_NO_IMAGE = mark_safe('<div class="thumb thumb-empty"><span>No image</span></div>')


@register.simple_tag
def detection_crop(detection_id: int, sequence_id: int, number: int | None = None) -> SafeString:
    """The zoomed crop of a detection image around its sequence's box (drawn on it); `number`,
    the frame's, goes into its text alternative."""
    frame = f", frame {number}" if number else ""
    return format_html(
        '<div class="crop"><img src="{}" alt="Zoom on the box of sequence #{}{}" width="320" '
        'height="320" loading="lazy" data-crop></div>',
        id_url("sequences:detection_crop", detection_id),
        sequence_id,
        frame,
    )


@register.simple_tag
def detection_thumb(thumb: Any, sequence_id: int) -> SafeString:
    """A sequence's first image with its boxes and its group's reference region drawn over it
    (`thumb`: `detection_id`, `boxes` and `reference`, as overlay styles in percent), beside the
    crop around its box when it has boxes; "No image" without one. A page of cards draws 24."""
    if not thumb.detection_id:
        return _NO_IMAGE
    prediction = '<span class="overlay overlay-prediction" style="{}"></span>'
    overlays = format_html_join("", prediction, ((style,) for style in thumb.boxes))
    if thumb.reference:
        overlays += _reference_overlay(thumb.reference)
    image = format_html(
        '<div class="thumb"><img src="{}?variant=thumb" alt="First image of sequence #{}" '
        'loading="lazy">{}</div>',
        id_url("sequences:detection_image", thumb.detection_id),
        sequence_id,
        overlays,
    )
    if not thumb.boxes:
        return format_html('<div class="thumb-pair">{}</div>', image)
    crop = detection_crop(thumb.detection_id, sequence_id)
    return format_html('<div class="thumb-pair has-crop">{}{}</div>', image, crop)


_NO_PREVIEW = mark_safe(
    '<div class="preview-strip"><span class="preview preview-empty">No image</span></div>'
)


@register.simple_tag
def preview_strip(detection_ids: list[int], frame: Any) -> SafeString:
    """Images side by side (`detection_ids`, the first, middle and last member's of a group),
    each zoomed on a region: `frame.image_style` places the image, `frame.region_style` (or
    None) draws the region. "No image" without any. A page of the groups list draws 50."""
    if not detection_ids:
        return _NO_PREVIEW
    region = _reference_overlay(frame.region_style) if frame.region_style else ""
    image = (
        '<span class="preview"><img src="{}?variant=preview" alt="" loading="lazy" style="{}">'
        "{}</span>"
    )
    previews = format_html_join(
        "",
        image,
        (
            (id_url("sequences:detection_image", detection_id), frame.image_style, region)
            for detection_id in detection_ids
        ),
    )
    return format_html('<div class="preview-strip">{}</div>', previews)
