import pytest

from sequences.models import LabelSource, ProcessingStage, SequenceAnnotation
from sequences.payloads import Label
from sequences.services import AnnotationInvalid, annotation_write, annotation_write_many
from tests.factories import smoke_annotation

pytestmark = pytest.mark.django_db


def test_placeholder_is_generated_from_predictions(world):
    row = annotation_write(
        sequence=world.seq2, processing_stage=ProcessingStage.READY_TO_ANNOTATE, source=None
    ).annotation
    assert len(row.annotation["sequences_bbox"]) == 2
    assert row.has_smoke is True and row.smoke_types == []
    assert row.label_source is None and row.checked_at is None


def test_human_save_is_checked_and_derives_flags(world, annotator):
    row = annotation_write(
        sequence=world.seq1,
        annotation=smoke_annotation(world.det1.pk, "wildfire"),
        processing_stage=ProcessingStage.SEQ_ANNOTATION_DONE,
        has_missed_smoke=False,
        source=LabelSource.HUMAN,
        actor=annotator,
    ).annotation
    assert row.smoke_types == ["wildfire"]
    assert row.label_source == LabelSource.HUMAN
    assert row.checked_by == annotator and row.checked_at is not None


def test_foreign_detection_is_refused_and_nothing_saved(world):
    with pytest.raises(AnnotationInvalid) as excinfo:
        annotation_write(
            sequence=world.seq1,
            annotation=smoke_annotation(world.det3.pk, "wildfire"),
            processing_stage=ProcessingStage.SEQ_ANNOTATION_DONE,
            source=LabelSource.HUMAN,
        )
    assert excinfo.value.errors == [
        (("annotation",), f"detections [{world.det3.pk}] do not belong to sequence {world.seq1.pk}")
    ]
    assert not SequenceAnnotation.objects.exists()


def test_write_many_stamps_and_skips_locked(world, annotator, human_save):
    human_save(world.seq1, detection=world.det1, smoke_type="industrial")
    outcomes = annotation_write_many(
        sequence_ids=[world.seq1.pk, world.seq2.pk],
        label=Label.fp("antenna"),
        is_unsure=False,
        source=LabelSource.BULK,
    )
    assert [o.applied for o in outcomes] == [False, True]
    assert outcomes[0].reason == "already seq_annotation_done"
    stamped = SequenceAnnotation.objects.get(sequence=world.seq2)
    assert stamped.false_positive_types == ["antenna"]
    assert stamped.label_source == LabelSource.BULK and stamped.checked_at is None
    assert len(stamped.annotation["sequences_bbox"]) == 2
