"""The writers of each group (`GroupWriter`): which operations wrote current members of a
group, and how many, kept by triggers so that a group page's history reads a few rows instead
of probing the audit log once per member.

Triggers, as the other stored counters (migration 0005): membership changes through the
assignment's set-wise updates, cascades and SET NULL that no service sees, and an operation's
member rows are written set-wise too. On PostgreSQL, statement-level triggers with transition
tables fold each statement into one delta per (group, operation), and rows that fall to zero
are deleted. SQLite gets
row-level triggers, installed after every migrate (`groups.counters.sqlite`), which recounts.

The SQL is frozen here, as a migration's must be.
"""

import django.db.models.deletion
from django.db import migrations, models

# The deltas of a statement, one per (group, operation), are applied in three steps: rows that
# exist are added to, missing ones inserted (a negative count there is drift: the CHECK fails
# the write), and rows that fell to zero deleted. As separate statements, each sees what the
# last did and what concurrent writers committed (an UPDATE waiting on a row lock re-reads it).
_APPLY = """
DECLARE
    groups bigint[];
    operations bigint[];
    deltas integer[];
BEGIN
    SELECT array_agg(group_id), array_agg(operation_id), array_agg(delta)
    INTO groups, operations, deltas
    FROM (SELECT group_id, operation_id, sum(delta)::integer AS delta FROM ({rows}) AS r
          GROUP BY 1, 2 HAVING sum(delta) <> 0) AS d;
    IF groups IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE groups_groupwriter AS w SET members = w.members + d.delta
    FROM unnest(groups, operations, deltas) AS d(group_id, operation_id, delta)
    WHERE w.group_id = d.group_id AND w.operation_id = d.operation_id;
    INSERT INTO groups_groupwriter (group_id, operation_id, members)
    SELECT d.group_id, d.operation_id, d.delta
    FROM unnest(groups, operations, deltas) AS d(group_id, operation_id, delta)
    WHERE NOT EXISTS (SELECT 1 FROM groups_groupwriter AS w
                      WHERE w.group_id = d.group_id AND w.operation_id = d.operation_id)
    ON CONFLICT (group_id, operation_id)
    DO UPDATE SET members = groups_groupwriter.members + EXCLUDED.members;
    DELETE FROM groups_groupwriter AS w
    USING unnest(groups, operations) AS d(group_id, operation_id)
    WHERE w.group_id = d.group_id AND w.operation_id = d.operation_id AND w.members = 0;
    RETURN NULL;
END
"""

# An operation's member rows written or deleted: each counts for its sequence's group.
_MEMBER_ROWS = (
    "SELECT s.group_id, r.operation_id, {sign} AS delta FROM {rows} AS r "
    "JOIN sequences_sequence AS s ON s.id = r.sequence_id WHERE s.group_id IS NOT NULL"
)
# A sequence moved between groups: each of its member rows leaves one and joins the other.
_MOVED_SEQUENCES = (
    "SELECT moved.group_id, m.operation_id, moved.delta "
    "FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id "
    "CROSS JOIN LATERAL (VALUES (o.group_id, -1), (n.group_id, 1)) AS moved(group_id, delta) "
    "JOIN groups_groupoperationmember AS m ON m.sequence_id = o.id "
    "WHERE o.group_id IS DISTINCT FROM n.group_id AND moved.group_id IS NOT NULL"
)
# A sequence deleted while member rows of it remain (Django deletes those first: usually none).
_DELETED_SEQUENCES = (
    "SELECT o.group_id, m.operation_id, -1 AS delta FROM old_rows AS o "
    "JOIN groups_groupoperationmember AS m ON m.sequence_id = o.id WHERE o.group_id IS NOT NULL"
)

TRIGGERS = {
    # name: (table, event, transition tables, delta rows)
    "groups_writers_member_insert": (
        "groups_groupoperationmember",
        "INSERT",
        "REFERENCING NEW TABLE AS new_rows",
        _MEMBER_ROWS.format(sign=1, rows="new_rows"),
    ),
    "groups_writers_member_delete": (
        "groups_groupoperationmember",
        "DELETE",
        "REFERENCING OLD TABLE AS old_rows",
        _MEMBER_ROWS.format(sign=-1, rows="old_rows"),
    ),
    "groups_writers_member_update": (
        "groups_groupoperationmember",
        "UPDATE",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        _MEMBER_ROWS.format(sign=-1, rows="old_rows")
        + " UNION ALL "
        + _MEMBER_ROWS.format(sign=1, rows="new_rows"),
    ),
    "groups_writers_sequence_update": (
        "sequences_sequence",
        "UPDATE",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        _MOVED_SEQUENCES,
    ),
    "groups_writers_sequence_delete": (
        "sequences_sequence",
        "DELETE",
        "REFERENCING OLD TABLE AS old_rows",
        _DELETED_SEQUENCES,
    ),
}

POSTGRESQL = "\n".join(
    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
    f"{_APPLY.format(rows=rows)}$$;\n"
    f"CREATE TRIGGER {name} AFTER {event} ON {table} {referencing}\n"
    f"    FOR EACH STATEMENT EXECUTE FUNCTION {name}();\n"
    for name, (table, event, referencing, rows) in TRIGGERS.items()
)

POSTGRESQL_DROP = "".join(
    f"DROP TRIGGER IF EXISTS {name} ON {table};\nDROP FUNCTION IF EXISTS {name}();\n"
    for name, (table, *_) in TRIGGERS.items()
)

BACKFILL = (
    "INSERT INTO groups_groupwriter (group_id, operation_id, members) "
    "SELECT s.group_id, m.operation_id, count(*) FROM groups_groupoperationmember AS m "
    "JOIN sequences_sequence AS s ON s.id = m.sequence_id WHERE s.group_id IS NOT NULL "
    "GROUP BY 1, 2"
)


def writers_install(apps, schema_editor):
    """PostgreSQL: count the writers from the rows, then let the triggers keep them (SQLite:
    `groups.counters.sqlite_counters_install`, after every migrate)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(BACKFILL)
    schema_editor.execute(POSTGRESQL)


def writers_uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(POSTGRESQL_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0008_operation_member_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="GroupWriter",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "group_id",
                        "operation_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("members", models.IntegerField()),
                (
                    "group",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="groups.sequencegroup",
                    ),
                ),
                (
                    "operation",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="groups.groupoperation",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("members__gte", 0)),
                        name="groups_groupwriter_members_not_negative",
                    )
                ],
            },
        ),
        migrations.RunPython(writers_install, writers_uninstall),
    ]
