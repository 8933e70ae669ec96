"""The display tags draw what the templates they replaced drew: an id's URL as `{% url %}`
gives it (under a sub-path too), a UTC time, a label chip, a thumbnail with its boxes and crop, a
strip of previews."""

from datetime import UTC, datetime, timedelta, timezone

from django.template import Context, Template
from django.urls import reverse, set_script_prefix

from sequences.templatetags.display import (
    detection_crop,
    detection_thumb,
    id_url,
    label_chip,
    preview_strip,
    utc_time,
)


def test_an_id_url_is_the_resolver_s_url_for_any_id_and_under_a_sub_path():
    for sequence_id in (1, 42, 987654):
        assert id_url("sequences:annotate", sequence_id) == reverse(
            "sequences:annotate", args=[sequence_id]
        )
    set_script_prefix("/annotation/")
    try:
        assert id_url("groups:member_remove", 7, 12) == reverse(
            "groups:member_remove", args=[7, 12]
        )
        assert id_url("groups:member_remove", 7, 12).startswith("/annotation/groups/7/")
    finally:
        set_script_prefix("/")


def test_an_id_url_in_a_template_is_escaped_like_the_url_tag():
    rendered = Template(
        "{% load display %}{% id_url 'sequences:annotate' sid %}|{% url 'sequences:annotate' sid %}"
    ).render(Context({"sid": 5}))
    ours, django_s = rendered.split("|")
    assert ours == django_s


def test_times_are_shown_in_utc_whatever_their_zone():
    moment = datetime(2026, 7, 1, 14, 5, 9, tzinfo=timezone(timedelta(hours=2)))
    assert utc_time(moment) == ('<time datetime="2026-07-01T12:05:09Z">2026-07-01 12:05 UTC</time>')
    assert utc_time(moment.astimezone(UTC), "date") == (
        '<time datetime="2026-07-01T12:05:09Z" data-format="date">2026-07-01</time>'
    )
    assert utc_time(None) == ""


def test_label_chips_the_label_wins_over_unsure():
    label = {"kind": "fp", "text": "FP / antenna"}
    assert label_chip(label) == '<span class="chip chip-fp">FP / antenna</span>'
    assert 'chip-unsure"' in label_chip(label, True)
    assert "chip-unsure-state" in label_chip(None, True)
    assert label_chip(None) == '<span class="chip chip-none">unlabeled</span>'
    assert "&lt;b&gt;" in label_chip({"kind": "fp", "text": "<b>"})


class Thumb:
    def __init__(self, detection_id, boxes=(), reference=None):
        self.detection_id, self.boxes, self.reference = detection_id, boxes, reference


def test_a_thumbnail_draws_its_boxes_its_reference_and_the_crop_beside_it():
    image = reverse("sequences:detection_image", args=[9])
    crop = reverse("sequences:detection_crop", args=[9])
    drawn = detection_thumb(Thumb(9, ["left: 10%; top: 5%"], "left: 8%"), 3)
    assert drawn.startswith('<div class="thumb-pair has-crop"><div class="thumb">')
    assert f'<img src="{image}?variant=thumb" alt="First image of sequence #3"' in drawn
    assert '<span class="overlay overlay-prediction" style="left: 10%; top: 5%"></span>' in drawn
    assert '<span class="overlay overlay-reference" style="left: 8%"></span>' in drawn
    assert f'<div class="crop"><img src="{crop}" alt="Zoom on the box of sequence #3"' in drawn


def test_a_thumbnail_without_boxes_has_no_crop_and_no_image_says_so():
    drawn = detection_thumb(Thumb(9), 3)
    assert drawn.startswith('<div class="thumb-pair"><div class="thumb">')
    assert "crop" not in drawn and "overlay" not in drawn
    assert detection_thumb(Thumb(None), 3) == (
        '<div class="thumb thumb-empty"><span>No image</span></div>'
    )


def test_a_style_is_escaped_and_a_crop_names_its_frame():
    drawn = detection_thumb(Thumb(9, ['"><script>']), 3)
    assert "<script>" not in drawn and "&quot;&gt;&lt;script&gt;" in drawn
    assert 'alt="Zoom on the box of sequence #3, frame 4"' in detection_crop(9, 3, 4)


class Frame:
    def __init__(self, image_style, region_style=None):
        self.image_style, self.region_style = image_style, region_style


def test_a_preview_strip_shows_each_image_zoomed_with_its_region():
    drawn = preview_strip([4, 8], Frame("left:-10%;width:250%", "left:25%"))
    images = [reverse("sequences:detection_image", args=[pk]) for pk in (4, 8)]
    assert drawn.startswith('<div class="preview-strip"><span class="preview">')
    for image in images:
        assert f'<img src="{image}?variant=preview" alt="" loading="lazy" ' in drawn
    assert drawn.count('style="left:-10%;width:250%"') == 2
    assert drawn.count('<span class="overlay overlay-reference" style="left:25%"></span>') == 2


def test_a_preview_strip_without_a_region_or_images_says_what_it_has():
    assert "overlay" not in preview_strip([4], Frame("left:0"))
    assert preview_strip([], Frame("left:0")) == (
        '<div class="preview-strip"><span class="preview preview-empty">No image</span></div>'
    )
    assert "&quot;&gt;&lt;script&gt;" in preview_strip([4], Frame('"><script>'))
