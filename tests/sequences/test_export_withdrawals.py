"""The bookkeeping behind withdrawn alerts: every write that takes a label at a done stage off a
sequence (deletes its annotation, or sends it back to an earlier stage) dates it on the
sequence (`Sequence.label_withdrawn_at`), and no other write does."""

import pytest
from django.utils import timezone

from groups.services import group_operation_undo, label_check_reject
from sequences.models import Sequence, SequenceAnnotation
from sequences.services import annotation_delete, annotation_recompute, annotation_update
from tests.factories import export_alert, human_label, placeholder

pytestmark = pytest.mark.django_db


def withdrawn_at(sequence):
    return Sequence.objects.values_list("label_withdrawn_at", flat=True).get(pk=sequence.pk)


def annotation_of(sequence) -> SequenceAnnotation:
    return SequenceAnnotation.objects.get(sequence=sequence)


def test_deleting_a_label_is_dated(export_history):
    start = timezone.now()

    annotation_delete(annotation=annotation_of(export_history.alerts[1]))

    assert start <= withdrawn_at(export_history.alerts[1]) <= timezone.now()


def test_deleting_a_placeholder_withdraws_nothing(export_history):
    annotation_delete(annotation=annotation_of(export_history.alerts[6]))

    assert withdrawn_at(export_history.alerts[6]) is None


@pytest.mark.parametrize(
    ("stage", "withdrawn"),
    [("under_annotation", True), ("ready_to_annotate", True), ("annotated", False)],
)
def test_a_save_sending_a_label_back_is_dated(export_history, stage, withdrawn):
    sequence = export_history.alerts[1]

    annotation_update(
        annotation_id=annotation_of(sequence).pk,
        changes={"processing_stage": stage},
        source="human",
    )

    assert (withdrawn_at(sequence) is not None) is withdrawn


def test_labeling_a_placeholder_withdraws_nothing(export_history):
    sequence = export_alert(export_history.cam_a, 50)
    placeholder(sequence)

    human_label(sequence, sequence.detections.first(), stage="annotated", smoke_type="other")

    assert withdrawn_at(sequence) is None


def test_a_reject_is_dated(export_history):
    label_check_reject(sequence_id=export_history.alerts[3].pk, actor=export_history.annotator)

    assert withdrawn_at(export_history.alerts[3]) is not None


def test_undoing_a_machine_label_is_dated(export_history, staff_user):
    bulk = export_history.group.operations.get(kind="bulk")

    group_operation_undo(operation_id=bulk.pk, actor=staff_user)

    assert not SequenceAnnotation.objects.filter(sequence=export_history.alerts[3]).exists()
    assert withdrawn_at(export_history.alerts[3]) is not None


def test_undoing_a_confirmation_keeps_the_label_and_dates_the_annotation(
    export_history, staff_user
):
    sequence = export_history.alerts[2]
    check = export_history.group.operations.get(kind="check")

    group_operation_undo(operation_id=check.pk, actor=staff_user)

    # The label stays at its done stage: its own `updated_at` dates the change.
    assert withdrawn_at(sequence) is None
    assert annotation_of(sequence).updated_at > export_history.watermark
    assert annotation_of(sequence).checked_at is None


def test_an_admin_edit_sending_a_label_back_is_dated(export_history):
    annotation = annotation_of(export_history.alerts[5])
    annotation.processing_stage = "needs_manual"

    annotation_recompute(annotation=annotation)

    assert withdrawn_at(export_history.alerts[5]) is not None
