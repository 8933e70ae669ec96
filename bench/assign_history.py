"""The synthetic history of bench/assign_groups.py (see bench/README.md): N sequences of 10
detections over hundreds of cameras, mostly recurring spots plus one-off sightings, drawn with
numpy from a seed and written with COPY on PostgreSQL (bulk_create elsewhere); a kept history
ungrouped again for the next run; a fifth of the groups labeled for inheritance; and the
database brought to the state a cron run meets (VACUUM ANALYZE, CHECKPOINT).

Import it after django.setup().
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from groups.models import (
    AssignmentRun,
    GroupOperation,
    GroupOperationMember,
    SequenceGroup,
)
from sequences.models import (
    Camera,
    Detection,
    Organization,
    Sequence,
    SequenceAnnotation,
)

DETECTIONS_PER_SEQUENCE = 10
SPOTS_PER_CAMERA = 12
AZIMUTHS_PER_CAMERA = 4
ONE_OFF_SHARE = 0.2  # sightings that happen once: fires, birds, passing trucks
CHUNK_SEQUENCES = 5000
DUMMY_IMAGE = "detections/bench/dummy.jpg"
HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY_SPAN = timedelta(days=365)


# --- Synthetic history --------------------------------------------------------------------------


def seed_label(seed: int) -> str:
    """Organisation names carry the seed, so that a kept history is reused only by its seed."""
    return f"bench-seed-{seed}-org-"


class World:
    """Cameras, their azimuths and their recurring spots (a box each), from one seed."""

    def __init__(self, seed: int, cameras: int, *, existing: bool = False):
        """Create the cameras, or with `existing` reuse those a previous build created."""
        self.rng = rng = random.Random(seed)
        if existing:
            self.cameras = list(Camera.objects.order_by("platform_id"))
        else:
            organizations = Organization.objects.bulk_create(
                Organization(
                    source_api="pyronear_french", platform_id=i, name=f"{seed_label(seed)}{i}"
                )
                for i in range(max(1, cameras // 10))
            )
            self.cameras = Camera.objects.bulk_create(
                Camera(
                    source_api="pyronear_french",
                    platform_id=i,
                    name=f"camera-{i}",
                    organization=organizations[i % len(organizations)],
                )
                for i in range(cameras)
            )
        self.azimuths = {
            camera.pk: rng.sample(range(360), AZIMUTHS_PER_CAMERA) for camera in self.cameras
        }
        self.spots = {
            camera.pk: [
                (rng.choice(self.azimuths[camera.pk]), self.random_box())
                for _ in range(SPOTS_PER_CAMERA)
            ]
            for camera in self.cameras
        }
        self.next_alert_id = (Sequence.objects.aggregate(top=Max("alert_api_id"))["top"] or 0) + 1
        # The sequences and detections are drawn with numpy, from the same seed and the history
        # already there (a reused history draws other new sequences than a fresh one).
        self.draw = np.random.default_rng([seed, self.next_alert_id])
        self.camera_azimuths = np.array([self.azimuths[c.pk] for c in self.cameras])
        self.spot_azimuths = np.array([[a for a, _ in self.spots[c.pk]] for c in self.cameras])
        self.spot_boxes = np.array([[b for _, b in self.spots[c.pk]] for c in self.cameras])

    def random_box(self) -> list[float]:
        width, height = self.rng.uniform(0.03, 0.25), self.rng.uniform(0.03, 0.2)
        x1, y1 = self.rng.uniform(0, 1 - width), self.rng.uniform(0, 1 - height)
        return [x1, y1, x1 + width, y1 + height]

    def _random_boxes(self, count: int) -> np.ndarray:
        """``count`` boxes anywhere, as :meth:`random_box` draws them."""
        draw = self.draw
        width, height = draw.uniform(0.03, 0.25, count), draw.uniform(0.03, 0.2, count)
        x1, y1 = draw.uniform(0, 1 - width), draw.uniform(0, 1 - height)
        return np.stack([x1, y1, x1 + width, y1 + height], axis=-1)

    def _jitter(self, boxes: np.ndarray, amount: float) -> np.ndarray:
        """``boxes`` (..., 4) moved by Gaussian noise of `amount` times their size, kept
        valid and rounded to 4 decimals."""
        scale = amount * np.maximum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1])
        moved = boxes + self.draw.normal(0.0, 1.0, boxes.shape) * scale[..., np.newaxis]
        x1, y1 = np.clip(moved[..., 0], 0.0, 0.98), np.clip(moved[..., 1], 0.0, 0.98)
        x2 = np.minimum(np.maximum(moved[..., 2], x1 + 0.01), 1.0)
        y2 = np.minimum(np.maximum(moved[..., 3], y1 + 0.01), 1.0)
        return np.round(np.stack([x1, y1, x2, y2], axis=-1), 4)

    def sequences(self, count: int, start: datetime, span: timedelta) -> None:
        """Insert `count` sequences with their detections, in chunks drawn with numpy.

        PostgreSQL: two COPYs per chunk (a million sequences and their ten million detections
        in minutes); elsewhere ``bulk_create``.
        """
        write = self._copy if connection.vendor == "postgresql" else self._bulk_create
        cameras = len(self.cameras)
        for offset in range(0, count, CHUNK_SEQUENCES):
            size = min(CHUNK_SEQUENCES, count - offset)
            camera = self.draw.integers(0, cameras, size)
            one_off = self.draw.random(size) < ONE_OFF_SHARE
            spot = self.draw.integers(0, SPOTS_PER_CAMERA, size)
            azimuth = np.where(
                one_off,
                self.camera_azimuths[camera, self.draw.integers(0, AZIMUTHS_PER_CAMERA, size)],
                self.spot_azimuths[camera, spot],
            )
            boxes = np.where(
                one_off[:, np.newaxis],
                self._random_boxes(size),
                self._jitter(self.spot_boxes[camera, spot], 0.08),
            )
            offsets = self.draw.random(size) * span.total_seconds()
            frames = self._jitter(
                np.repeat(boxes[:, np.newaxis, :], DETECTIONS_PER_SEQUENCE, axis=1), 0.05
            )
            confidences = np.round(self.draw.uniform(0.3, 0.95, frames.shape[:2]), 3)
            rows = []
            for index, seconds in zip(camera.tolist(), offsets.tolist(), strict=True):
                camera_row = self.cameras[index]
                rows.append(
                    Sequence(
                        source_api="pyronear_french",
                        alert_api_id=self.next_alert_id,
                        camera=camera_row,
                        organization_id=camera_row.organization_id,
                        lat=44.5,
                        lon=4.2,
                        recorded_at=start + timedelta(seconds=seconds),
                    )
                )
                self.next_alert_id += 1
            for row, value in zip(rows, azimuth.tolist(), strict=True):
                row.azimuth = value
            write(rows, frames.tolist(), confidences.tolist())

    @staticmethod
    def _predictions(box: list[float], confidence: float) -> str:
        x1, y1, x2, y2 = box
        return (
            f'{{"predictions": [{{"xyxyn": [{x1!r}, {y1!r}, {x2!r}, {y2!r}], '
            f'"confidence": {confidence!r}, "class_name": "smoke"}}]}}'
        )

    def _bulk_create(
        self, rows: list[Sequence], frames: list[list[list[float]]], confidences: list
    ) -> None:
        Sequence.objects.bulk_create(rows, batch_size=2000)
        Detection.objects.bulk_create(
            (
                Detection(
                    sequence=sequence,
                    alert_api_id=frame,
                    recorded_at=sequence.recorded_at + timedelta(seconds=30 * frame),
                    image=DUMMY_IMAGE,
                    algo_predictions=json.loads(self._predictions(box, confidence)),
                )
                for sequence, boxes, own in zip(rows, frames, confidences, strict=True)
                for frame, (box, confidence) in enumerate(zip(boxes, own, strict=True))
            ),
            batch_size=5000,
        )

    def _copy(self, rows: list[Sequence], frames: list[list[list[float]]], confidences: list):
        """COPY the sequences (ids taken from the table's identity), then their detections.

        Every value is a number, a timestamp or a fixed string: nothing to escape.
        """
        table = connection.ops.quote_name(Sequence._meta.db_table)
        now = timezone.now().isoformat()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Sequence._meta.db_table, len(rows)],
            )
            for sequence, (pk,) in zip(rows, cursor.fetchall(), strict=True):
                sequence.pk = pk
            lines = "".join(
                f"{s.pk}\t{s.source_api}\t{s.alert_api_id}\t{s.lat}\t{s.lon}\t{s.azimuth}\t"
                f"{s.recorded_at.isoformat()}\t{now}\t{s.camera_id}\t{s.organization_id}\tf\n"
                for s in rows
            )
            with cursor.copy(
                f"COPY {table} (id, source_api, alert_api_id, lat, lon, azimuth, recorded_at, "
                "created_at, camera_id, organization_id, is_group_excluded) FROM STDIN"
            ) as copy:
                copy.write(lines)
            steps = [timedelta(seconds=30 * frame) for frame in range(DETECTIONS_PER_SEQUENCE)]
            lines = "".join(
                f"{sequence.pk}\t{frame}\t{(sequence.recorded_at + steps[frame]).isoformat()}\t"
                f"{now}\t{DUMMY_IMAGE}\t{self._predictions(box, confidence)}\n"
                for sequence, boxes, own in zip(rows, frames, confidences, strict=True)
                for frame, (box, confidence) in enumerate(zip(boxes, own, strict=True))
            )
            with cursor.copy(
                f"COPY {connection.ops.quote_name(Detection._meta.db_table)} (sequence_id, "
                "alert_api_id, recorded_at, created_at, image, algo_predictions) FROM STDIN"
            ) as copy:
                copy.write(lines)


def label_some_groups() -> int:
    """Label the groups of 3+ members (FP/antenna), so that the next run inherits."""
    busy = SequenceGroup.objects.annotate(size=Count("members")).filter(size__gte=3).values("pk")
    return SequenceGroup.objects.filter(pk__in=busy).update(
        false_positive_type="antenna", labeled_at=timezone.now()
    )


def reset_history(count: int, *, keep_motion: bool = False) -> None:
    """Back to the state right after a build: the first `count` sequences, none grouped and,
    unless `keep_motion`, none with a measured motion (the first run measures and stores them
    all, as on a site whose sequences arrived before the importer stored it)."""
    Sequence.objects.filter(alert_api_id__gt=count).delete()
    if keep_motion:
        Sequence.objects.update(group=None)
    else:
        Sequence.objects.update(group=None, motion=None)
    with connection.cursor() as cursor:  # plain deletes: no rows loaded into memory
        for model in (
            GroupOperationMember,
            SequenceAnnotation,
            GroupOperation,
            SequenceGroup,
            AssignmentRun,
        ):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def analyze() -> None:
    """Vacuum and fresh planner statistics, as autovacuum keeps a production database.

    Without it a freshly built history is measured with unset hint bits and visibility maps
    (autovacuum may be off on a scratch server), which is not the state a cron run meets.
    """
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    if connection.vendor == "postgresql":
        _checkpoint()


def _checkpoint() -> None:
    """Write out the build's dirty pages before the clock starts (PostgreSQL).

    Building a history dirties about half a gigabyte that the server would otherwise flush
    during the timed run, long after the build that wrote it; a cron run on a real site does
    not pay for writes made minutes before. Needs superuser or pg_checkpoint; skipped without.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError as error:
        print(f"no CHECKPOINT before the run ({error})", file=sys.stderr)
