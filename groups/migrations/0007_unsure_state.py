"""The unsure state of a group without a label (the group list's Unsure tab): a group may be
unsure before it has a label, and the tallies count it apart (a labeled group counts as
labeled whatever it says: the label wins over unsure).

PostgreSQL: the tally triggers of 0005 are remade with the new key and the tallies recounted;
SQLite's triggers are installed after every migrate (`groups.counters`), which recounts. The
SQL is frozen here, as a migration's must be.
"""

from django.db import migrations, models

SIZE_CAP = 10  # groups.models.TALLY_SIZE_CAP when this migration was written

_EVENTS = {
    "insert": ("INSERT", "REFERENCING NEW TABLE AS new_rows", [("new_rows", 1)]),
    "update": (
        "UPDATE",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        [("old_rows", -1), ("new_rows", 1)],
    ),
    "delete": ("DELETE", "REFERENCING OLD TABLE AS old_rows", [("old_rows", -1)]),
}


def _tally_sql(unsure: bool) -> str:
    """The group tally's three trigger functions, with or without the unsure key."""
    key = (
        "is_labeled, is_validated, is_unsure, size" if unsure else "is_labeled, is_validated, size"
    )
    unsure_select = "(is_unsure AND labeled_at IS NULL) AS is_unsure, " if unsure else ""
    groups = "1, 2, 3, 4, 5" if unsure else "1, 2, 3, 4"
    statements = []
    for event, (verb, referencing, sources) in _EVENTS.items():
        rows = " UNION ALL ".join(
            "SELECT camera_id, labeled_at IS NOT NULL AS is_labeled, is_validated, "
            f"{unsure_select}least(member_count, {SIZE_CAP}) AS size, {sign} AS delta "
            f"FROM {source}"
            for source, sign in sources
        )
        columns = ", ".join(f"r.{name.strip()}" for name in key.split(","))
        function = f"groups_tally_{event}"
        statements.append(
            f"DROP TRIGGER IF EXISTS {function} ON groups_sequencegroup;\n"
            f"DROP FUNCTION IF EXISTS {function}();\n"
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n    INSERT INTO groups_grouptally (camera_id, {key}, groups) "
            f"SELECT cameras.camera_id, {columns}, sum(r.delta) FROM ({rows}) AS r "
            "CROSS JOIN LATERAL (VALUES (r.camera_id), (NULL::bigint)) AS cameras(camera_id) "
            f"GROUP BY {groups} HAVING sum(r.delta) <> 0;\n    RETURN NULL;\nEND $$;\n"
            f"CREATE TRIGGER {function} AFTER {verb} ON groups_sequencegroup {referencing}\n"
            f"    FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
        )
    return "\n".join(statements)


def _recount(unsure: bool) -> list[str]:
    key = (
        "is_labeled, is_validated, is_unsure, size" if unsure else "is_labeled, is_validated, size"
    )
    unsure_select = "(is_unsure AND labeled_at IS NULL) AS is_unsure, " if unsure else ""
    return [
        "LOCK TABLE groups_grouptally IN SHARE ROW EXCLUSIVE MODE",
        "DELETE FROM groups_grouptally",
        f"INSERT INTO groups_grouptally (camera_id, {key}, groups) "
        f"SELECT camera_id, {key}, count(*) FROM ("
        "SELECT camera_id, labeled_at IS NOT NULL AS is_labeled, is_validated, "
        f"{unsure_select}least(member_count, {SIZE_CAP}) AS size "
        f"FROM groups_sequencegroup) AS g GROUP BY camera_id, {key}",
        f"INSERT INTO groups_grouptally (camera_id, {key}, groups) "
        f"SELECT NULL, {key}, sum(groups) FROM groups_grouptally GROUP BY {key}",
    ]


def _tallies_remade(schema_editor, *, unsure: bool) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(_tally_sql(unsure=unsure))
    for statement in _recount(unsure=unsure):
        schema_editor.execute(statement)


def tallies_with_unsure(apps, schema_editor):
    _tallies_remade(schema_editor, unsure=True)


def tallies_without_unsure(apps, schema_editor):
    _tallies_remade(schema_editor, unsure=False)


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0006_group_merge_split"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="sequencegroup",
            name="groups_sequencegroup_unsure_needs_label",
        ),
        migrations.AddField(
            model_name="grouptally",
            name="is_unsure",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(tallies_with_unsure, tallies_without_unsure),
    ]
