"""SQLite's triggers for the counters (PostgreSQL's are in migrations 0005 and 0009): row-level,
taken off before every migrate (a table SQLite remakes would lose them) and put back after it,
with a recount."""

from __future__ import annotations

from groups.counters.drift import counters_fix
from groups.models import TALLY_SIZE_CAP, CheckTally, GroupTally, GroupWriter
from sequences.models import MACHINE_SOURCES
from sequences.sqlite_triggers import sqlite_database, triggers_create, triggers_drop

_MACHINE = "('" + "', '".join(sorted(MACHINE_SOURCES)) + "')"
_COUNT = "(SELECT count(*) FROM sequences_sequence WHERE group_id = {group})"
_CAMERA_NAME = "(SELECT lower(name) FROM sequences_camera WHERE id = NEW.camera_id)"


def _recount(group: str) -> str:
    return (
        f"UPDATE groups_sequencegroup SET member_count = {_COUNT.format(group=group)} "
        f"WHERE id = {group};"
    )


def _group_tally_rows(row: str, sign: int) -> str:
    key = (
        f"{row}.labeled_at IS NOT NULL, {row}.is_validated, "
        f"({row}.is_unsure AND {row}.labeled_at IS NULL), "
        f"min({row}.member_count, {TALLY_SIZE_CAP}), {sign}"
    )
    return (
        "INSERT INTO groups_grouptally "
        "(camera_id, is_labeled, is_validated, is_unsure, size, groups) "
        f"VALUES ({row}.camera_id, {key}), (NULL, {key});"
    )


def _unchecked_sql(row: str) -> str:
    return f"({row}.label_source IN {_MACHINE} AND {row}.checked_at IS NULL)"


def _bucket_sql(row: str) -> str:
    return f"CAST({row}.check_risk * 100 AS INTEGER)"


def _check_tally_row(row: str, sign: int) -> str:
    return (
        "INSERT INTO groups_checktally (risk_bucket, labels) "
        f"SELECT {_bucket_sql(row)}, {sign} WHERE {_unchecked_sql(row)};"
    )


_GROUP_KEY_CHANGED = " OR ".join(
    [
        "OLD.camera_id IS NOT NEW.camera_id",
        "(OLD.labeled_at IS NULL) IS NOT (NEW.labeled_at IS NULL)",
        "OLD.is_validated IS NOT NEW.is_validated",
        "OLD.is_unsure IS NOT NEW.is_unsure",
        f"min(OLD.member_count, {TALLY_SIZE_CAP}) IS NOT min(NEW.member_count, {TALLY_SIZE_CAP})",
    ]
)
_KEEP = (
    f"UPDATE groups_sequencegroup SET member_count = {_COUNT.format(group='NEW.id')}, "
    f"camera_sort_name = {_CAMERA_NAME} WHERE id = NEW.id;"
)

_SEQUENCE_GROUP = "(SELECT group_id FROM sequences_sequence WHERE id = {sequence})"
_WRITTEN = "(SELECT operation_id FROM groups_groupoperationmember WHERE sequence_id = {sequence})"


# One more member counted for each (group, operation) row of the SELECT (the WHERE it needs
# before ON CONFLICT is SQLite's parsing rule).
_WRITER_ADD = (
    "INSERT INTO groups_groupwriter (group_id, operation_id, members) {select} "
    "ON CONFLICT (group_id, operation_id) DO UPDATE SET members = members + 1;"
)


def _writer_remove(group: str, operations: str) -> str:
    """One member fewer of `group` for each operation of `operations` (a list in SQL)."""
    key = f"group_id = {group} AND operation_id IN {operations}"
    return (
        f"DELETE FROM groups_groupwriter WHERE {key} AND members = 1; "
        f"UPDATE groups_groupwriter SET members = members - 1 WHERE {key};"
    )


def _member_row_added(row: str) -> str:
    group = _SEQUENCE_GROUP.format(sequence=f"{row}.sequence_id")
    select = f"SELECT {group}, {row}.operation_id, 1 WHERE {group} IS NOT NULL"
    return _WRITER_ADD.format(select=select)


def _member_row_removed(row: str) -> str:
    group = _SEQUENCE_GROUP.format(sequence=f"{row}.sequence_id")
    return _writer_remove(group, f"({row}.operation_id)")


def _sequence_joined(row: str) -> str:
    select = (
        f"SELECT {row}.group_id, operation_id, 1 FROM groups_groupoperationmember "
        f"WHERE sequence_id = {row}.id AND {row}.group_id IS NOT NULL"
    )
    return _WRITER_ADD.format(select=select)


def _sequence_left(row: str) -> str:
    return _writer_remove(f"{row}.group_id", _WRITTEN.format(sequence=f"{row}.id"))


# Member counts are recounted (an index lookup at SQLite's scale), which also puts back a
# stale value an application save may write; the rest mirrors the PostgreSQL triggers.
SQLITE_TRIGGERS = {
    "groups_member_count_insert": "AFTER INSERT ON sequences_sequence "
    f"WHEN NEW.group_id IS NOT NULL BEGIN {_recount('NEW.group_id')} END",
    "groups_member_count_delete": "AFTER DELETE ON sequences_sequence "
    f"WHEN OLD.group_id IS NOT NULL BEGIN {_recount('OLD.group_id')} END",
    "groups_member_count_update": "AFTER UPDATE OF group_id ON sequences_sequence "
    "WHEN OLD.group_id IS NOT NEW.group_id "
    f"BEGIN {_recount('OLD.group_id')} {_recount('NEW.group_id')} END",
    "groups_sequencegroup_keep_insert": f"AFTER INSERT ON groups_sequencegroup BEGIN {_KEEP} END",
    "groups_sequencegroup_keep_update": "AFTER UPDATE OF member_count, camera_sort_name "
    f"ON groups_sequencegroup WHEN NEW.member_count IS NOT {_COUNT.format(group='NEW.id')} "
    f"OR NEW.camera_sort_name IS NOT {_CAMERA_NAME} BEGIN {_KEEP} END",
    "groups_camera_sort_name_update": "AFTER UPDATE OF name ON sequences_camera "
    "WHEN OLD.name IS NOT NEW.name BEGIN UPDATE groups_sequencegroup "
    "SET camera_sort_name = lower(NEW.name) WHERE camera_id = NEW.id; END",
    "groups_tally_insert": "AFTER INSERT ON groups_sequencegroup "
    f"BEGIN {_group_tally_rows('NEW', 1)} END",
    "groups_tally_delete": "AFTER DELETE ON groups_sequencegroup "
    f"BEGIN {_group_tally_rows('OLD', -1)} END",
    "groups_tally_update": f"AFTER UPDATE ON groups_sequencegroup WHEN {_GROUP_KEY_CHANGED} "
    f"BEGIN {_group_tally_rows('OLD', -1)} {_group_tally_rows('NEW', 1)} END",
    "groups_check_tally_insert": "AFTER INSERT ON sequences_sequenceannotation "
    f"WHEN {_unchecked_sql('NEW')} BEGIN {_check_tally_row('NEW', 1)} END",
    "groups_check_tally_delete": "AFTER DELETE ON sequences_sequenceannotation "
    f"WHEN {_unchecked_sql('OLD')} BEGIN {_check_tally_row('OLD', -1)} END",
    "groups_check_tally_update": "AFTER UPDATE ON sequences_sequenceannotation "
    f"WHEN {_unchecked_sql('OLD')} IS NOT {_unchecked_sql('NEW')} "
    f"OR ({_unchecked_sql('NEW')} AND {_bucket_sql('OLD')} IS NOT {_bucket_sql('NEW')}) "
    f"BEGIN {_check_tally_row('OLD', -1)} {_check_tally_row('NEW', 1)} END",
    "groups_writers_member_insert": "AFTER INSERT ON groups_groupoperationmember "
    f"BEGIN {_member_row_added('NEW')} END",
    "groups_writers_member_delete": "AFTER DELETE ON groups_groupoperationmember "
    f"BEGIN {_member_row_removed('OLD')} END",
    "groups_writers_member_update": "AFTER UPDATE OF operation_id, sequence_id "
    f"ON groups_groupoperationmember BEGIN {_member_row_removed('OLD')} "
    f"{_member_row_added('NEW')} END",
    "groups_writers_sequence_update": "AFTER UPDATE OF group_id ON sequences_sequence "
    f"WHEN OLD.group_id IS NOT NEW.group_id BEGIN {_sequence_left('OLD')} "
    f"{_sequence_joined('NEW')} END",
    "groups_writers_sequence_delete": "AFTER DELETE ON sequences_sequence "
    f"WHEN OLD.group_id IS NOT NULL BEGIN {_sequence_left('OLD')} END",
}


def sqlite_triggers_drop(*, using: str = "default", **kwargs) -> None:
    """Before a migrate (SQLite): take the triggers off (`sequences.sqlite_triggers`)."""
    database = sqlite_database(using)
    if database is not None:
        triggers_drop(database, SQLITE_TRIGGERS)


# The tables the triggers write to: all of them, or the migrations went only part of the way.
_KEPT_TABLES = {model._meta.db_table for model in (GroupTally, CheckTally, GroupWriter)}


def sqlite_counters_install(*, using: str = "default", **kwargs) -> None:
    """After a migrate (SQLite): put the triggers back and recount what they keep."""
    database = sqlite_database(using)
    if database is None or not set(database.introspection.table_names()) >= _KEPT_TABLES:
        return
    triggers_create(database, SQLITE_TRIGGERS)
    if using == "default":
        counters_fix()
