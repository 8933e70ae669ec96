"""Test data: factory_boy factories for the models (images are tiny generated JPEGs), and
builders of annotated data written through the real services (groups of many members built
set-wise, human saves, machine labels, labeled group fields)."""

import io
import itertools
import random
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from groups.models import GroupOperation, OperationKind, SequenceGroup
from groups.services import group_stamp_members
from sequences.models import (
    Camera,
    Detection,
    LabelSource,
    Organization,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
    SourceApi,
)
from sequences.payloads import Label, derived_flags
from sequences.services import annotation_generate, annotation_write


def jpeg_bytes(width: int = 64, height: int = 36, color: str = "skyblue") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def png_bytes(width: int = 64, height: int = 36, *, mode: str = "RGB", color="orange") -> bytes:
    """A PNG of one colour; `png_bytes(12_000, 12_000, mode="1")` is a decompression bomb of a
    few KB (144 megapixels of one bit that compress to almost nothing)."""
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 0 if mode == "1" else color).save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_jpeg_bytes() -> bytes:
    """A JPEG cut short in its scan: the header opens (and Pillow's `verify` passes), decoding
    fails."""
    buffer = io.BytesIO()
    noise = Image.effect_noise((400, 300), 64).convert("RGB")
    noise.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()[: buffer.tell() // 2]


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


def imported_group(
    count: int,
    *,
    camera,
    box=(0.42, 0.38, 0.52, 0.5),
    member_step: timedelta = timedelta(days=1),
    frame=None,
    **group_fields,
) -> tuple[SequenceGroup, list[Sequence]]:
    """A group (at azimuth 214, region `box`) of `count` imported alerts, `member_step` apart:
    each one real JPEG frame with one predicted box, and the `ready_to_annotate` placeholder an
    import writes (the browser tests' groups). `frame(index)` gives the JPEG of member `index`
    (default: a plain 320x180 one)."""
    box = list(box)
    group = SequenceGroupFactory(
        camera=camera,
        azimuth=214,
        representative_bbox={"xyxyn": box, "confidence": 0.8},
        **group_fields,
    )
    start = timezone.now() - count * member_step
    members = []
    for index in range(count):
        sequence = SequenceFactory(
            camera=camera, azimuth=214, recorded_at=start + index * member_step, group=group
        )
        DetectionFactory(
            sequence=sequence,
            recorded_at=sequence.recorded_at,
            image=ContentFile(frame(index) if frame else jpeg_bytes(320, 180), name="frame.jpg"),
            algo_predictions=predictions((box, 0.7)),
        )
        annotation_write(
            sequence=sequence, processing_stage=ProcessingStage.READY_TO_ANNOTATE, source=None
        )
        members.append(sequence)
    return group, members


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


# --- Builders of annotated data ----------------------------------------------------------------

BOX = [0.1, 0.1, 0.4, 0.4]
BOX_WITH_CONFIDENCE = {"xyxyn": BOX, "confidence": 0.9}
_alert_ids = itertools.count(900_000)


def validated_group(*, user=None, camera=None, **fields) -> SequenceGroup:
    """A validated group (no member yet); label fields may be given with `labeled_at`."""
    return SequenceGroup.objects.create(
        camera=camera or CameraFactory(),
        azimuth=90,
        representative_bbox=BOX_WITH_CONFIDENCE,
        is_validated=True,
        validated_at=timezone.now(),
        validated_by=user,
        **fields,
    )


def add_members(
    group: SequenceGroup, count: int, *, placeholders: bool | str = False
) -> list[Sequence]:
    """`count` new members of `group`, each with one detection holding one box (no image file).

    `placeholders`: True gives every member a `ready_to_annotate` placeholder, "alternate"
    every other one (so a fan-out both creates and updates rows). Written with bulk inserts so
    that groups of hundreds build quickly.
    """
    camera = group.camera
    start = timezone.now() - timedelta(days=1)
    sequences = Sequence.objects.bulk_create(
        Sequence(
            source_api=camera.source_api,
            alert_api_id=next(_alert_ids),
            camera=camera,
            organization_id=camera.organization_id,
            lat=44.5,
            lon=4.2,
            azimuth=group.azimuth,
            recorded_at=start + timedelta(minutes=index),
            group=group,
        )
        for index in range(count)
    )
    detections = Detection.objects.bulk_create(
        Detection(
            sequence=sequence,
            alert_api_id=1,
            recorded_at=sequence.recorded_at,
            image="detections/dummy.jpg",
            algo_predictions=predictions((BOX, 0.9)),
        )
        for sequence in sequences
    )
    if placeholders:
        step = 2 if placeholders == "alternate" else 1
        rows = []
        for detection in detections[::step]:
            content = annotation_generate(detections=[(detection.pk, detection.algo_predictions)])
            rows.append(
                SequenceAnnotation(
                    sequence_id=detection.sequence_id,
                    annotation=content,
                    processing_stage=ProcessingStage.READY_TO_ANNOTATE,
                    **derived_flags(content),
                )
            )
        SequenceAnnotation.objects.bulk_create(rows)
    return sequences


def placeholder(sequence) -> SequenceAnnotation:
    """The import placeholder of a sequence, through the real write path."""
    return annotation_write(
        sequence=sequence, processing_stage=ProcessingStage.READY_TO_ANNOTATE, source=None
    ).annotation


def human_label(sequence, detection, *, stage, smoke_type=None, fp=None, actor=None, unsure=False):
    """A human save of one cluster labeled `smoke_type` or FP `fp` at `stage`."""
    cluster = {
        "is_smoke": smoke_type is not None,
        "smoke_type": smoke_type,
        "false_positive_types": [fp] if fp else [],
        "bboxes": [{"detection_id": detection.pk, "xyxyn": BOX}],
    }
    return annotation_write(
        sequence=sequence,
        annotation={"sequences_bbox": [cluster]},
        processing_stage=stage,
        has_missed_smoke=False,
        is_unsure=unsure,
        source=LabelSource.HUMAN,
        actor=actor,
    )


def smoke(value: str = "wildfire") -> dict:
    """SequenceGroupFactory fields of a group labeled smoke/<value>."""
    return {"smoke_type": value, "labeled_at": timezone.now()}


def fp(value: str = "antenna") -> dict:
    return {"false_positive_type": value, "labeled_at": timezone.now()}


def validated(user=None) -> dict:
    return {"is_validated": True, "validated_at": timezone.now(), "validated_by": user}


def stamp(
    group: SequenceGroup,
    sequence_ids: list[int],
    *,
    kind: str = OperationKind.INHERIT,
    label: Label | None = None,
    actor=None,
    details: dict | None = None,
) -> GroupOperation:
    """Write a machine label on `sequence_ids` the way the services do: one operation of
    `kind` and seed-and-stamp with the matching provenance (inherited / propagated / bulk)."""
    label = label or Label.smoke("wildfire")
    source = {
        OperationKind.INHERIT: LabelSource.INHERITED,
        OperationKind.PROPAGATE: LabelSource.PROPAGATED,
        OperationKind.BULK: LabelSource.BULK,
    }[kind]
    # The services run this in their own transaction (its row locks need one).
    with transaction.atomic():
        operation = GroupOperation.objects.create(
            kind=kind, group=group, actor=actor, details={"label": str(label), **(details or {})}
        )
        group_stamp_members(
            operation=operation,
            sequence_ids=sequence_ids,
            label=label,
            is_unsure=False,
            source=source,
            group_id=group.pk,
        )
    return operation


def tied_groups(count: int, *, members: int = 2) -> list[SequenceGroup]:
    """`count` groups that tie on every sort key: one camera, one azimuth, one created_at and
    `members` members each (no detections). Built with bulk inserts, so hundreds are quick."""
    camera = CameraFactory()
    created = timezone.now() - timedelta(days=1)
    groups = SequenceGroup.objects.bulk_create(
        SequenceGroup(camera=camera, azimuth=10, representative_bbox=BOX_WITH_CONFIDENCE)
        for _ in range(count)
    )
    SequenceGroup.objects.filter(pk__in=[g.pk for g in groups]).update(created_at=created)
    Sequence.objects.bulk_create(
        SequenceFactory.build(
            alert_api_id=next(_alert_ids),
            camera=camera,
            azimuth=10,
            recorded_at=created,
            group=group,
        )
        for group in groups
        for _ in range(members)
    )
    return groups


def smoke_annotation(detection_id: int, smoke_type: str) -> dict:
    """SPEC §9.1 annotation helper: one smoke cluster of the given type."""
    return {
        "sequences_bbox": [
            {
                "is_smoke": True,
                "smoke_type": smoke_type,
                "false_positive_types": [],
                "bboxes": [{"detection_id": detection_id, "xyxyn": [0.1, 0.1, 0.4, 0.4]}],
            }
        ]
    }


def annotate(
    sequence,
    *,
    smoke=(),
    fp=(),
    stage="seq_annotation_done",
    is_unsure=False,
    has_missed_smoke=False,
):
    """A human save on `sequence`: one box-less cluster per smoke type and per FP type."""
    clusters = [
        {"is_smoke": True, "smoke_type": value, "false_positive_types": [], "bboxes": []}
        for value in smoke
    ] + [
        {"is_smoke": False, "smoke_type": None, "false_positive_types": [value], "bboxes": []}
        for value in fp
    ]
    return annotation_write(
        sequence=sequence,
        annotation={"sequences_bbox": clusters},
        processing_stage=stage,
        has_missed_smoke=has_missed_smoke,
        is_unsure=is_unsure,
        source=LabelSource.HUMAN,
    ).annotation


def plume(box=BOX, *, growth: float = 0.04, frames: int = 10, **sequence_fields) -> Sequence:
    """A sequence whose box grows by `growth` of its area per frame around its centre, as a
    rising plume does: its motion (`boxes.box_motion`) is about log(1 + growth), 0.039 by
    default; `growth=0` gives a recurring object that stays put."""
    x1, y1, x2, y2 = box
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    boxes = []
    for frame in range(frames):
        scale = (1 + growth) ** (frame / 2)
        half_width, half_height = (x2 - x1) / 2 * scale, (y2 - y1) / 2 * scale
        corners = (
            centre_x - half_width,
            centre_y - half_height,
            centre_x + half_width,
            centre_y + half_height,
        )
        boxes.append([round(value, 6) for value in corners])
    return sequence_with_boxes(*boxes, **sequence_fields)


def fanned_out_group(
    *signals: dict, label: Label | None = None, actor=None, validated: bool = True, **group_fields
) -> tuple[SequenceGroup, Sequence, list[Sequence]]:
    """Machine labels written by the real propagation, with their risks and hold-backs.

    A validated group (any `validated_group` field may be given) with a saver and one
    placeholder member per entry of `signals` (Sequence fields: `motion`,
    `temporal_model_score`, `is_wildfire_alertapi`); a human save of `label` (default FP/antenna)
    on the saver fans it out. Returns `(group, saver, members)`, members in the order of
    `signals`; those a safeguard held back stay placeholders. `validated=False`: the group is
    not validated, so the save labels the saver only and a validation would fan out.
    """
    label = label or Label.fp("antenna")
    if validated:
        group = validated_group(user=actor, **group_fields)
    else:
        group = SequenceGroupFactory(representative_bbox=BOX_WITH_CONFIDENCE, **group_fields)
    saver, *members = add_members(group, len(signals) + 1, placeholders=True)
    for member, fields in zip(members, signals, strict=True):
        Sequence.objects.filter(pk=member.pk).update(**fields)
    human_label(
        saver,
        saver.detections.get(),
        stage=ProcessingStage.SEQ_ANNOTATION_DONE,
        smoke_type=label.value if label.kind == "smoke" else None,
        fp=label.value if label.kind == "fp" else None,
        actor=actor,
    )
    group.refresh_from_db()
    for member in members:
        member.refresh_from_db()
    return group, saver, members


def labeled_group(
    camera, *, azimuth=90, box=BOX, smoke_type="wildfire", fp=None, unsure=False
) -> SequenceGroup:
    """A labeled, unvalidated group (smoke/<smoke_type>, or FP/<fp> with `smoke_type=None`)
    whose region is `box`."""
    return SequenceGroupFactory(
        camera=camera,
        azimuth=azimuth,
        representative_bbox={"xyxyn": box, "confidence": 0.9},
        smoke_type=smoke_type,
        false_positive_type=fp,
        is_unsure=unsure,
        labeled_at=timezone.now(),
    )


# --- The training export -------------------------------------------------------------------------


def export_alert(camera, alert_api_id: int, *, frames: int = 2, **sequence_fields) -> Sequence:
    """An alert of `camera` with `frames` detections 30 s apart, each with a stored JPEG; the
    first holds the detector's box BOX, the others none (frames without a box)."""
    sequence = SequenceFactory(
        camera=camera, source_api=camera.source_api, alert_api_id=alert_api_id, **sequence_fields
    )
    for index in range(frames):
        DetectionFactory(
            sequence=sequence,
            alert_api_id=alert_api_id * 100 + index,
            recorded_at=sequence.recorded_at + timedelta(seconds=30 * index),
            algo_predictions=predictions((BOX, 0.9)) if index == 0 else predictions(),
        )
    return sequence


def export_labeled(camera, alert_api_id: int, *, smoke_type=None, fp=None, **fields) -> Sequence:
    """`export_alert` with a human label on its first frame's box, at `seq_annotation_done`
    (`unsure`, `has_missed_smoke`, `stage` and `frames` may be given)."""
    unsure = fields.pop("unsure", False)
    missed = fields.pop("has_missed_smoke", False)
    stage = fields.pop("stage", ProcessingStage.SEQ_ANNOTATION_DONE)
    sequence = export_alert(camera, alert_api_id, **fields)
    human_label(
        sequence,
        sequence.detections.order_by("recorded_at", "id").first(),
        stage=stage,
        smoke_type=smoke_type,
        fp=fp,
        unsure=unsure,
    )
    if missed:
        SequenceAnnotation.objects.filter(sequence=sequence).update(has_missed_smoke=True)
    return sequence
