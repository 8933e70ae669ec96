"""Reads of the sequence domain: which members are held back from their group's label, in SQL
(`held_back_q`) and on rows already read (`sequence_held_back`), both agreeing with the pure rule
of `sequences.safeguards.hold_back`."""

import itertools

import pytest
from django.conf import settings

from sequences.models import (
    LOCKED_STAGES,
    LabelSource,
    ProcessingStage,
    Sequence,
    SequenceAnnotation,
)
from sequences.safeguards import HoldBack, Signals, Thresholds, hold_back
from sequences.selectors import held_back_q, sequence_held_back
from tests.factories import CameraFactory, SequenceFactory, SequenceGroupFactory, fp, smoke
from tests.support import pin_hold_back_thresholds

pytestmark = pytest.mark.django_db

GROUP_LABELS = {"fp": fp, "smoke": smoke, "unlabeled": dict}
PLATFORM_CLASSES = [None, "wildfire_smoke", "other_smoke", "other"]
# Each threshold (pinned at 0.5 and 0.025) with a value just under it, and NULL.
SCORES = [None, 0.49, 0.5]
MOTIONS = [None, 0.0249, 0.025]
STAGES = [
    None,  # no annotation row
    ProcessingStage.IMPORTED,
    ProcessingStage.READY_TO_ANNOTATE,
    ProcessingStage.SEQ_ANNOTATION_DONE,
    ProcessingStage.ANNOTATED,
]


def _expected(kind, platform_class, score, motion, stage) -> HoldBack | None:
    if kind == "unlabeled" or stage in LOCKED_STAGES:
        return None
    signals = Signals(platform_class, score, motion)
    thresholds = Thresholds.from_settings(settings)
    return hold_back(smoke=kind == "smoke", signals=signals, thresholds=thresholds)


def test_held_back_q_and_sequence_held_back_agree_with_the_safeguards(settings):
    pin_hold_back_thresholds(settings)  # the values above sit on and just under these
    camera = CameraFactory()
    groups = {
        kind: SequenceGroupFactory(camera=camera, **fields())
        for kind, fields in GROUP_LABELS.items()
    }
    cases = list(itertools.product(GROUP_LABELS, PLATFORM_CLASSES, SCORES, MOTIONS, STAGES))
    sequences = Sequence.objects.bulk_create(
        SequenceFactory.build(
            camera=camera,
            group=groups[kind],
            is_wildfire_alertapi=platform_class,
            temporal_model_score=score,
            motion=motion,
        )
        for kind, platform_class, score, motion, _ in cases
    )
    SequenceAnnotation.objects.bulk_create(
        SequenceAnnotation(
            sequence=sequence,
            processing_stage=stage,
            label_source=LabelSource.HUMAN if stage in LOCKED_STAGES else None,
        )
        for sequence, (*_, stage) in zip(sequences, cases, strict=True)
        if stage is not None
    )
    expected = {
        sequence.pk: _expected(*case) for sequence, case in zip(sequences, cases, strict=True)
    }
    assert set(expected.values()) == {None, *HoldBack}  # every outcome of the rule is met

    in_sql = set(Sequence.objects.filter(held_back_q()).values_list("pk", flat=True))
    read = Sequence.objects.select_related("group", "annotation").filter(pk__in=expected)
    in_python = {sequence.pk: sequence_held_back(sequence) for sequence in read}

    assert in_sql == {pk for pk, code in expected.items() if code is not None}
    assert {pk: held.code if held else None for pk, held in in_python.items()} == expected


def test_the_reason_names_the_groups_label_and_the_sequences_own_values(settings):
    pin_hold_back_thresholds(settings)
    group = SequenceGroupFactory(**fp("antenna"))
    sequence = SequenceFactory(camera=group.camera, group=group, temporal_model_score=0.72)

    held = sequence_held_back(Sequence.objects.select_related("group").get(pk=sequence.pk))

    assert held.code == HoldBack.TEMPORAL_SCORE
    assert str(held.label) == "FP/antenna"
    assert held.text == "the platform's temporal model scores it 0.72 (labels wait from 0.50)"


def test_thresholds_are_the_settings(settings):
    settings.GROUPS_HOLD_BACK_MOTION = 0.1
    group = SequenceGroupFactory(**fp("building"))
    slow = SequenceFactory(camera=group.camera, group=group, motion=0.05)
    fast = SequenceFactory(camera=group.camera, group=group, motion=0.1)
    ungrouped = SequenceFactory(motion=0.5)

    assert list(Sequence.objects.filter(held_back_q()).values_list("pk", flat=True)) == [fast.pk]
    assert sequence_held_back(slow) is None and sequence_held_back(ungrouped) is None
