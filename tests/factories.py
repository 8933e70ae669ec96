"""factory_boy factories for the models; images are tiny generated JPEGs."""

import io
import itertools
import random
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from groups.models import SequenceGroup
from sequences.models import Camera, Detection, Organization, Sequence, SourceApi


def jpeg_bytes(width: int = 64, height: int = 36, color: str = "skyblue") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def predictions(*boxes: tuple[list[float], float]) -> dict:
    """`predictions(([x1, y1, x2, y2], conf), ...)` as an algo_predictions payload."""
    return {
        "predictions": [
            {"xyxyn": list(box), "confidence": confidence, "class_name": "smoke"}
            for box, confidence in boxes
        ]
    }


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"annotator{n}")
    password = factory.django.Password("secret-password")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    source_api = SourceApi.PYRONEAR_FRENCH
    platform_id = factory.Sequence(lambda n: 1000 + n)
    name = factory.Sequence(lambda n: f"organisation-{n}")


class CameraFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Camera

    source_api = SourceApi.PYRONEAR_FRENCH
    platform_id = factory.Sequence(lambda n: 1000 + n)
    name = factory.Sequence(lambda n: f"camera-{n}")
    organization = factory.SubFactory(OrganizationFactory)


class SequenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sequence

    source_api = SourceApi.PYRONEAR_FRENCH
    alert_api_id = factory.Sequence(lambda n: 100000 + n)
    camera = factory.SubFactory(CameraFactory)
    organization = factory.SelfAttribute("camera.organization")
    lat = 44.5
    lon = 4.2
    azimuth = 90
    recorded_at = factory.LazyFunction(timezone.now)


class DetectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Detection

    sequence = factory.SubFactory(SequenceFactory)
    alert_api_id = factory.Sequence(lambda n: 500000 + n)
    recorded_at = factory.LazyAttribute(lambda o: o.sequence.recorded_at + timedelta(seconds=30))
    image = factory.LazyFunction(lambda: ContentFile(jpeg_bytes(), name="frame.jpg"))
    algo_predictions = factory.LazyFunction(lambda: predictions(([0.1, 0.1, 0.4, 0.4], 0.9)))


class SequenceGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SequenceGroup

    camera = factory.SubFactory(CameraFactory)
    azimuth = 90
    representative_bbox = factory.LazyFunction(
        lambda: {"xyxyn": [0.1, 0.1, 0.4, 0.4], "confidence": 0.9}
    )


def group_with_members(
    n: int,
    *,
    detections: bool = True,
    recorded_at=None,
    member_step: timedelta = timedelta(hours=1),
    **group_fields,
) -> SequenceGroup:
    """A SequenceGroup (any SequenceGroupFactory field may be given) holding `n` sequences on its
    camera, recorded `member_step` apart from `recorded_at` (default: now - n steps); each
    sequence gets one detection with the factory's box unless `detections=False`."""
    group = SequenceGroupFactory(**group_fields)
    start = recorded_at or timezone.now() - n * member_step
    for index in range(n):
        sequence = SequenceFactory(
            camera=group.camera,
            azimuth=group.azimuth,
            recorded_at=start + index * member_step,
            group=group,
        )
        if detections:
            DetectionFactory(sequence=sequence)
    return group


def sequence_with_boxes(*boxes, confidence: float = 0.9, **sequence_fields):
    """A sequence with one detection per box, 30 s apart, in creation order (no image files).

    `sequence_with_boxes([0.1, 0.1, 0.4, 0.4], camera=cam, azimuth=90)`; a box may also be a
    list of boxes for a detection with several predictions, or None for an empty detection.
    """
    sequence = SequenceFactory(**sequence_fields)
    for index, box in enumerate(boxes):
        frame = [] if box is None else box if isinstance(box[0], list) else [box]
        DetectionFactory(
            sequence=sequence,
            recorded_at=sequence.recorded_at + timedelta(seconds=30 * index),
            image="detections/dummy.jpg",
            algo_predictions=predictions(*((b, confidence) for b in frame)),
        )
    return sequence


# Explicit primary keys far above the ones the database hands out in a test.
_EXPLICIT_IDS = itertools.count(10**12, 1000)


def scrambled_ids(count: int) -> list[int]:
    """`count` fresh primary keys in a scrambled order.

    Rows created in this order sit in the table in a different order from their ids, so a
    query that forgets its id tie-break returns them out of id order on PostgreSQL instead of
    passing by the luck of insertion order.
    """
    start = next(_EXPLICIT_IDS)
    for _ in range(count // 1000):
        next(_EXPLICIT_IDS)
    ids = list(range(start, start + count))
    random.Random(count).shuffle(ids)
    return ids


def tied_detections(sequence, moment, *, lower=None, higher=None) -> tuple[Detection, Detection]:
    """Two detections of `sequence` at the same `moment`, the higher id created first.

    `lower` and `higher` are extra factory fields of each. Only an id tie-break, never
    insertion order, puts the lower one first.
    """
    higher_id, lower_id = sorted(scrambled_ids(2), reverse=True)
    made_higher = DetectionFactory(
        id=higher_id, sequence=sequence, recorded_at=moment, **(higher or {})
    )
    made_lower = DetectionFactory(
        id=lower_id, sequence=sequence, recorded_at=moment, **(lower or {})
    )
    return made_lower, made_higher
