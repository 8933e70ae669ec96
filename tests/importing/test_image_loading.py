"""How every importer loads a sequence's images (`sequences.importing.pipeline`): a bounded
pool of concurrent downloads, the record's order kept, and a sequence still whole or not at
all."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from sequences.importing.pipeline import (
    DetectionRecord,
    RecordError,
    SequenceRecord,
    record_import,
)
from sequences.models import Detection, Sequence
from sequences.services import AutogenParams
from tests.factories import jpeg_bytes, predictions

pytestmark = pytest.mark.django_db

AT = datetime(2026, 6, 1, 12, tzinfo=UTC)
COLORS = ["red", "green", "blue", "white", "black", "gray"]


def sequence_record(loaders) -> SequenceRecord:
    return SequenceRecord(
        source_api="pyronear_french",
        alert_api_id=9001,
        organization_id=3,
        organization_name="org-3",
        camera_id=5,
        camera_name="cam-5",
        lat=44.0,
        lon=4.0,
        azimuth=90,
        is_wildfire_alertapi=None,
        recorded_at=AT,
        last_seen_at=None,
        detections=[
            DetectionRecord(
                alert_api_id=index,
                recorded_at=AT + timedelta(seconds=index),
                image=loader,
                algo_predictions=predictions(([0.1, 0.1, 0.3, 0.3], 0.8)),
            )
            for index, loader in enumerate(loaders)
        ],
    )


def waiting_loaders(count: int, *, fail: int | None = None):
    """Loaders that each wait until `count` of them are running at once (a barrier), so the
    import succeeds only when they are fetched together; loader `fail` then fails."""
    barrier = threading.Barrier(count, timeout=10)

    def loader(index):
        def load() -> bytes:
            barrier.wait()
            if index == fail:
                raise OSError("connection reset")
            return jpeg_bytes(color=COLORS[index])

        return load

    return [loader(index) for index in range(count)]


def test_the_images_of_a_sequence_are_fetched_together_and_kept_in_order(settings):
    settings.IMPORT_DOWNLOAD_CONCURRENCY = 6

    counts = record_import(sequence_record(waiting_loaders(6)), autogen=AutogenParams())

    assert counts.status == "created" and counts.detections == 6
    stored = [d.image.read() for d in Detection.objects.order_by("alert_api_id")]
    assert stored == [jpeg_bytes(color=color) for color in COLORS]


def test_one_image_failing_among_concurrent_ones_leaves_nothing(settings):
    settings.IMPORT_DOWNLOAD_CONCURRENCY = 6

    with pytest.raises(RecordError) as raised:
        record_import(sequence_record(waiting_loaders(6, fail=4)), autogen=AutogenParams())

    assert raised.value.errors == [(("detections", 4, "image"), "cannot be read: connection reset")]
    assert not Sequence.objects.exists()
    assert not Detection.objects.exists()


def test_one_download_at_a_time_when_asked(settings):
    settings.IMPORT_DOWNLOAD_CONCURRENCY = 1
    running, most = [0], [0]
    lock = threading.Lock()

    def loader(color):
        def load() -> bytes:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                return jpeg_bytes(color=color)
            finally:
                with lock:
                    running[0] -= 1

        return load

    record_import(sequence_record([loader(c) for c in COLORS]), autogen=AutogenParams())

    assert most[0] == 1
    assert Detection.objects.count() == 6


def test_the_concurrency_is_a_checked_setting(settings):
    settings.IMPORT_DOWNLOAD_CONCURRENCY = 0
    with pytest.raises(SystemCheckError, match="IMPORT_DOWNLOAD_CONCURRENCY=0 must be between"):
        call_command("check")
