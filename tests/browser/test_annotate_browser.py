"""The annotation page in a real browser: a keyboard-only save, and the conflict banner."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from sequences.models import LabelSource, ProcessingStage
from sequences.services import annotation_write
from tests.factories import (
    CameraFactory,
    DetectionFactory,
    SequenceFactory,
    SequenceGroupFactory,
    predictions,
)
from tests.support import annotation_of
from tests.support.frames import landscape_jpeg

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# `SCREENSHOT_DIR=docs make test` refreshes the README picture; a plain run writes nothing there.
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")
FRAMES = 6


def alert_sequence(*, recorded_at, camera, with_placeholder=True):
    """A sequence of FRAMES frames with two objects: a growing plume (cluster 1, on the left)
    and an antenna (cluster 2, on the right); other cameras' boxes on every other frame."""
    sequence = SequenceFactory(camera=camera, recorded_at=recorded_at, azimuth=214)
    for frame in range(FRAMES):
        top = 0.46 - 0.035 * frame
        DetectionFactory(
            sequence=sequence,
            recorded_at=recorded_at + timedelta(seconds=30 * frame),
            image=ContentFile(landscape_jpeg(frame), name="frame.jpg"),
            algo_predictions=predictions(
                ([0.29, top, 0.41 + 0.01 * frame, 0.56], 0.62 + 0.04 * frame),
                ([0.745, 0.22, 0.79, 0.42], 0.41),
            ),
            others_bboxes=predictions(([0.05, 0.52, 0.12, 0.58], 0.3)) if frame % 2 else None,
        )
    if with_placeholder:
        annotation_write(
            sequence=sequence, processing_stage=ProcessingStage.READY_TO_ANNOTATE, source=None
        )
    return sequence


def test_keyboard_alone_annotates_and_moves_on(live_server, log_in, annotator):
    camera = CameraFactory(name="brison-01", organization__name="SDIS 07")
    now = timezone.now()
    sequence = alert_sequence(recorded_at=now - timedelta(hours=3), camera=camera)
    group = SequenceGroupFactory(camera=camera, azimuth=214)
    type(sequence).objects.filter(pk=sequence.pk).update(group=group)
    following = SequenceFactory(camera=camera, recorded_at=now - timedelta(hours=1))
    page = log_in(annotator)
    page.goto(live_server.url + reverse("sequences:annotate", args=[sequence.pk]))

    cards = page.locator("[data-cluster-card]")
    expect(cards).to_have_count(2)
    expect(page.locator(".frame.is-current .frame-canvas img")).to_have_js_property(
        "complete", True
    )
    page.keyboard.press("ArrowRight")
    expect(page.locator("[data-counter]")).to_have_text(f"Frame 2 / {FRAMES}")
    # Ctrl+Z returns to the loaded (blank) state.
    page.keyboard.press("1")
    expect(cards.nth(0).locator('input[value="wildfire"]')).to_be_checked()
    page.keyboard.press("Control+z")
    expect(cards.nth(0).locator('input[value="wildfire"]')).not_to_be_checked()

    page.keyboard.press("1")
    page.keyboard.press("ArrowDown")
    expect(cards.nth(1)).to_have_class(re.compile(r"\bis-active\b"))
    page.keyboard.press("a")
    page.keyboard.press("n")
    expect(cards.nth(1).locator('input[value="antenna"]')).to_be_checked()
    expect(page.locator('input[name="missed_smoke"][value="no"]')).to_be_checked()
    if SCREENSHOT_DIR:
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / "annotate.png"), full_page=True)

    page.keyboard.press("Enter")
    page.wait_for_url(f"**{reverse('sequences:annotate', args=[following.pk])}")
    expect(page.locator(".messages")).to_contain_text(f"Sequence #{sequence.pk} saved")
    row = annotation_of(sequence)
    assert row.processing_stage == ProcessingStage.SEQ_ANNOTATION_DONE
    assert row.label_source == LabelSource.HUMAN
    clusters = row.annotation["sequences_bbox"]
    assert [(c["smoke_type"], c["false_positive_types"]) for c in clusters] == [
        ("wildfire", []),
        (None, ["antenna"]),
    ]
    assert row.has_missed_smoke is False


def test_conflict_shows_the_banner_and_stays(live_server, log_in, annotator, seed_group, world):
    group = seed_group(validated=True, smoke_type="industrial")
    page = log_in(annotator)
    url = live_server.url + reverse("sequences:annotate", args=[world.seq1.pk])
    page.goto(url)
    page.keyboard.press("1")
    page.keyboard.press("n")
    page.keyboard.press("Enter")

    banner = page.locator("#propagation-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Group propagation skipped")
    expect(banner).to_contain_text(f"Group {group.pk} is labeled smoke/industrial")
    expect(banner.get_by_role("link", name="Open group")).to_have_attribute(
        "href", reverse("groups:detail", args=[group.pk])
    )
    expect(banner.get_by_role("link", name="Next sequence")).to_be_visible()
    assert page.url == url  # no auto-advance
    assert annotation_of(world.seq1).smoke_types == ["wildfire"]

    banner.get_by_role("link", name="Dismiss").click()
    expect(banner).to_have_count(0)
