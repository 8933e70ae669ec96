"""One human save, one pass (SPEC §5.1, §5.7): the group row is locked once, where the write
starts, and what the group did comes back as the save's outcome, never on the instance."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groups.models import SequenceGroup
from sequences.models import ProcessingStage
from sequences.payloads import Label
from sequences.services import SaveOutcome, annotation_write, human_save_for
from tests.factories import add_members, human_label, validated_group
from tests.support import annotation_of

pytestmark = pytest.mark.django_db

DONE = ProcessingStage.SEQ_ANNOTATION_DONE
GROUP_TABLE = f'"{SequenceGroup._meta.db_table}"'


def _group_reads(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and f"FROM {GROUP_TABLE}" in query["sql"]
    ]


def test_a_human_save_that_fans_out_reads_the_group_row_once():
    group = validated_group()
    saver, *_ = add_members(group, 4, placeholders=True)
    with CaptureQueriesContext(connection) as queries:
        outcome = human_label(saver, saver.detections.get(), stage=DONE, smoke_type="wildfire")
    assert outcome.effect.members_updated == 3
    assert len(_group_reads(queries)) == 1


def test_a_human_save_takes_the_group_lock_once(postgres_only):
    """On PostgreSQL that one read is the lock: FOR NO KEY UPDATE, taken before the write."""
    group = validated_group()
    saver, *_ = add_members(group, 4, placeholders=True)
    with CaptureQueriesContext(connection) as queries:
        human_label(saver, saver.detections.get(), stage=DONE, smoke_type="wildfire")
    locks = [sql for sql in _group_reads(queries) if "FOR NO KEY UPDATE" in sql]
    assert len(locks) == 1
    sql = [query["sql"] for query in queries.captured_queries]
    first_write = next(i for i, text in enumerate(sql) if text.startswith(("INSERT", "UPDATE")))
    assert sql.index(locks[0]) < first_write


def test_the_outcome_says_what_the_group_did():
    group = validated_group()
    saver, *_ = add_members(group, 3, placeholders=True)
    outcome = human_label(saver, saver.detections.get(), stage=DONE, fp="antenna")

    assert isinstance(outcome, SaveOutcome)
    assert outcome.annotation == annotation_of(saver)
    assert outcome.group_id == group.pk
    assert outcome.effect.label == Label.fp("antenna")
    assert (outcome.effect.members_updated, outcome.effect.group_labeled) == (2, True)
    assert outcome.effect.warning is None


def test_the_outcome_travels_in_no_attribute_of_the_instance():
    group = validated_group()
    saver, *_ = add_members(group, 2, placeholders=True)
    outcome = human_label(saver, saver.detections.get(), stage=DONE, smoke_type="wildfire")
    leftovers = {name for name in vars(outcome.annotation) if "propagat" in name or "human" in name}
    assert leftovers == set()


def test_the_channel_closes_after_the_save():
    group = validated_group()
    saver, *_ = add_members(group, 2, placeholders=True)
    outcome = human_label(saver, saver.detections.get(), stage=DONE, smoke_type="wildfire")
    assert human_save_for(outcome.annotation) is None


def test_only_a_human_save_reaches_the_group():
    """An import placeholder's write and a plain model save (as the admin makes) open no
    human save: the group is left alone."""
    group = validated_group()
    saver, other = add_members(group, 2, placeholders=True)
    outcome = annotation_write(
        sequence=saver, processing_stage=ProcessingStage.READY_TO_ANNOTATE, source=None
    )
    assert outcome.effect.members_updated == 0 and outcome.effect.label is None

    labeled = human_label(other, other.detections.get(), stage=DONE, smoke_type="wildfire")
    row = labeled.annotation
    row.save()  # an admin-like save of a labeled row: no fan-out, no second operation
    group.refresh_from_db()
    assert group.operations.count() == 1
