"""Helpers for the groups.services tests: groups of many members, built set-wise and fast."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

from groups.models import SequenceGroup
from sequences.models import (
    Detection,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.payloads import derived_flags
from sequences.services import annotation_generate, annotation_snapshot, annotation_write
from tests.factories import CameraFactory, predictions

BOX = [0.1, 0.1, 0.4, 0.4]
_alert_ids = itertools.count(900_000)


def validated_group(*, user=None, camera=None, **fields) -> SequenceGroup:
    """A validated group (no member yet); label fields may be given with `labeled_at`."""
    return SequenceGroup.objects.create(
        camera=camera or CameraFactory(),
        azimuth=90,
        representative_bbox={"xyxyn": BOX, "confidence": 0.9},
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


def snapshot_of(sequence) -> dict | None:
    """The annotation snapshot of a sequence as the audit log would take it now."""
    return annotation_snapshot(SequenceAnnotation.objects.filter(sequence=sequence).first())
