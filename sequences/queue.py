"""The To-annotate list kept by the database: `QueueEntry`, one row per sequence waiting for a
person, with its rank (0: its annotation is ready_to_annotate, first in the list; 1: no
annotation, or one at `imported`) and its recorded time. Annotated sequences have none.

Triggers keep the table (PostgreSQL: migration 0007; SQLite: the triggers below, installed
after every migrate, since SQLite remakes tables for most schema changes and loses their
triggers): a new sequence enters at rank 1, an annotation write moves or removes its entry,
a deleted annotation puts it back, a deleted sequence takes its entry along. The entries live in
their own table so that an annotation write never locks a sequence row (a group's fan-out
writes the annotations of sequences that other saves may hold). `queue_drift` and
`queue_rebuild` compare the table with the annotations and repair it.
"""

from __future__ import annotations

from django.db import connections, transaction

from sequences.sqlite_triggers import sqlite_database, triggers_create, triggers_drop

TABLE = "sequences_queueentry"
# The rank of an annotation's stage, as SQL over the row `row` (NEW, OLD or an alias).
RANK = (
    "CASE {row}.processing_stage WHEN 'ready_to_annotate' THEN 0 "
    "WHEN 'imported' THEN 1 ELSE NULL END"
)
# Every entry there should be, from the sequences and their annotations.
EXPECTED = (
    "SELECT s.id AS sequence_id, CASE WHEN a.id IS NULL THEN 1 ELSE "
    + RANK.format(row="a")
    + " END AS rank, s.recorded_at AS recorded_at FROM sequences_sequence AS s "
    "LEFT JOIN sequences_sequenceannotation AS a ON a.sequence_id = s.id"
)
_ENTER = (
    f"INSERT INTO {TABLE} (sequence_id, rank, recorded_at) "
    "SELECT s.id, {rank}, s.recorded_at FROM sequences_sequence AS s "
    "WHERE s.id = {row}.sequence_id AND {rank} IS NOT NULL;"
)

SQLITE_TRIGGERS = {
    "sequences_queue_sequence_insert": "AFTER INSERT ON sequences_sequence BEGIN "
    f"INSERT OR IGNORE INTO {TABLE} (sequence_id, rank, recorded_at) "
    "VALUES (NEW.id, 1, NEW.recorded_at); END",
    "sequences_queue_sequence_update": "AFTER UPDATE OF recorded_at ON sequences_sequence "
    f"BEGIN UPDATE {TABLE} SET recorded_at = NEW.recorded_at WHERE sequence_id = NEW.id; END",
    "sequences_queue_sequence_delete": "AFTER DELETE ON sequences_sequence "
    f"BEGIN DELETE FROM {TABLE} WHERE sequence_id = OLD.id; END",
    "sequences_queue_annotation_insert": "AFTER INSERT ON sequences_sequenceannotation BEGIN "
    f"DELETE FROM {TABLE} WHERE sequence_id = NEW.sequence_id; "
    + _ENTER.format(rank=RANK.format(row="NEW"), row="NEW")
    + " END",
    "sequences_queue_annotation_update": "AFTER UPDATE OF processing_stage "
    "ON sequences_sequenceannotation BEGIN "
    f"DELETE FROM {TABLE} WHERE sequence_id = NEW.sequence_id; "
    + _ENTER.format(rank=RANK.format(row="NEW"), row="NEW")
    + " END",
    "sequences_queue_annotation_delete": "AFTER DELETE ON sequences_sequenceannotation BEGIN "
    f"DELETE FROM {TABLE} WHERE sequence_id = OLD.sequence_id; "
    + _ENTER.format(rank="1", row="OLD")
    + " END",
}


def queue_drift(using: str = "default") -> list[tuple]:
    """`(sequence id, rank, recorded_at)` rows missing from the table or stored wrong, then
    those stored that should not be: empty when the table is exact."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM ({EXPECTED}) AS e WHERE e.rank IS NOT NULL "
            f"EXCEPT SELECT sequence_id, rank, recorded_at FROM {TABLE}"
        )
        missing = cursor.fetchall()
        cursor.execute(
            f"SELECT sequence_id, rank, recorded_at FROM {TABLE} "
            f"EXCEPT SELECT * FROM ({EXPECTED}) AS e WHERE e.rank IS NOT NULL"
        )
        return sorted(missing) + sorted(cursor.fetchall())


def queue_rebuild(using: str = "default") -> None:
    """Rewrite the whole table from the sequences and their annotations."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")
        cursor.execute(
            f"INSERT INTO {TABLE} (sequence_id, rank, recorded_at) "
            f"SELECT * FROM ({EXPECTED}) AS e WHERE e.rank IS NOT NULL"
        )


def sqlite_triggers_drop(*, using: str = "default", **kwargs) -> None:
    """Before a migrate (SQLite): take the triggers off (`sequences.sqlite_triggers`)."""
    database = sqlite_database(using)
    if database is not None:
        triggers_drop(database, SQLITE_TRIGGERS)


def sqlite_triggers_install(*, using: str = "default", **kwargs) -> None:
    """After a migrate (SQLite): put the triggers back and rebuild the table."""
    database = sqlite_database(using)
    if database is None or TABLE not in database.introspection.table_names():
        return
    triggers_create(database, SQLITE_TRIGGERS)
    queue_rebuild(using)
