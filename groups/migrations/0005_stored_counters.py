"""Stored counters kept by the database: each group's member count and camera sort name, and
the tallies behind the group list's tab counts and the navigation badges.

Triggers, not the service layer, keep them: membership also changes through cascades and
SET NULL (a sequence or a group deleted from the admin) that no service sees, and on
PostgreSQL statement-level triggers with transition tables keep the assignment's set-wise
writes set-wise (one counter update per group and statement, not per row). The tallies are
delta rows that the triggers append, so writers never wait on a shared counter row (and
never deadlock on one); `groups.counters` sums and folds them. SQLite gets row-level triggers
with the same effect. `manage.py recount_groups` verifies all of it against fresh counts.

The SQL is frozen here, as a migration's must be.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SIZE_CAP = 10  # groups.models.TALLY_SIZE_CAP when this migration was written
MACHINE_SOURCES = "('inherited', 'propagated', 'bulk')"

# --- PostgreSQL ---------------------------------------------------------------------------------

POSTGRESQL = """
CREATE FUNCTION groups_member_count_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE groups_sequencegroup AS g SET member_count = g.member_count + d.delta
        FROM (SELECT group_id, count(*) AS delta FROM new_rows
              WHERE group_id IS NOT NULL GROUP BY group_id) AS d
        WHERE g.id = d.group_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE groups_sequencegroup AS g SET member_count = g.member_count - d.delta
        FROM (SELECT group_id, count(*) AS delta FROM old_rows
              WHERE group_id IS NOT NULL GROUP BY group_id) AS d
        WHERE g.id = d.group_id;
    ELSE
        UPDATE groups_sequencegroup AS g SET member_count = g.member_count + d.delta
        FROM (SELECT moved.group_id, sum(moved.delta) AS delta
              FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
              CROSS JOIN LATERAL (VALUES (o.group_id, -1), (n.group_id, 1))
                  AS moved(group_id, delta)
              WHERE o.group_id IS DISTINCT FROM n.group_id AND moved.group_id IS NOT NULL
              GROUP BY moved.group_id) AS d
        WHERE g.id = d.group_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER groups_member_count_insert AFTER INSERT ON sequences_sequence
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groups_member_count_follow();
CREATE TRIGGER groups_member_count_update AFTER UPDATE ON sequences_sequence
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groups_member_count_follow();
CREATE TRIGGER groups_member_count_delete AFTER DELETE ON sequences_sequence
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groups_member_count_follow();

-- A new group counts its members (none, unless a loader inserted them first) and takes its
-- camera's name as its sort key; afterwards only the triggers (nested, so at depth 2) or
-- `recount_groups` (groups.recount = on) change them: a stale save from the application keeps
-- the stored values.
CREATE FUNCTION groups_sequencegroup_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO NEW.member_count
        FROM sequences_sequence AS s WHERE s.group_id = NEW.id;
        SELECT lower(c.name) INTO NEW.camera_sort_name
        FROM sequences_camera AS c WHERE c.id = NEW.camera_id;
    ELSIF pg_trigger_depth() = 1
          AND coalesce(current_setting('groups.recount', true), '') <> 'on' THEN
        NEW.member_count := OLD.member_count;
        NEW.camera_sort_name := OLD.camera_sort_name;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER groups_sequencegroup_keep_insert BEFORE INSERT ON groups_sequencegroup
    FOR EACH ROW EXECUTE FUNCTION groups_sequencegroup_keep();
CREATE TRIGGER groups_sequencegroup_keep_update BEFORE UPDATE ON groups_sequencegroup
    FOR EACH ROW
    WHEN (OLD.member_count IS DISTINCT FROM NEW.member_count
          OR OLD.camera_sort_name IS DISTINCT FROM NEW.camera_sort_name)
    EXECUTE FUNCTION groups_sequencegroup_keep();

CREATE FUNCTION groups_camera_sort_name_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE groups_sequencegroup SET camera_sort_name = lower(NEW.name)
    WHERE camera_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER groups_camera_sort_name_update AFTER UPDATE OF name ON sequences_camera
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION groups_camera_sort_name_follow();

"""

# A transition table exists only for the events that declare it: each event of a tally gets its
# own function, reading the tables it has (old rows count -1, new rows +1).
_EVENTS = {
    "insert": ("INSERT", "REFERENCING NEW TABLE AS new_rows", [("new_rows", 1)]),
    "update": (
        "UPDATE",
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        [("old_rows", -1), ("new_rows", 1)],
    ),
    "delete": ("DELETE", "REFERENCING OLD TABLE AS old_rows", [("old_rows", -1)]),
}

# Each group counts once for its camera and once for every camera (camera_id NULL).
GROUP_TALLY = {
    "table": "groups_sequencegroup",
    "select": (
        "camera_id, labeled_at IS NOT NULL AS is_labeled, is_validated, "
        f"least(member_count, {SIZE_CAP}) AS size, {{sign}} AS delta FROM {{rows}}"
    ),
    "insert": (
        "INSERT INTO groups_grouptally (camera_id, is_labeled, is_validated, size, groups) "
        "SELECT cameras.camera_id, r.is_labeled, r.is_validated, r.size, sum(r.delta) "
        "FROM ({rows}) AS r "
        "CROSS JOIN LATERAL (VALUES (r.camera_id), (NULL::bigint)) AS cameras(camera_id) "
        "GROUP BY 1, 2, 3, 4 HAVING sum(r.delta) <> 0"
    ),
}
# Unchecked machine labels by risk in hundredths.
CHECK_TALLY = {
    "table": "sequences_sequenceannotation",
    "select": (
        "CASE WHEN check_risk IS NULL THEN NULL ELSE floor(check_risk * 100)::smallint END "
        "AS risk_bucket, {sign} AS delta FROM {rows} "
        f"WHERE label_source IN {MACHINE_SOURCES} AND checked_at IS NULL"
    ),
    "insert": (
        "INSERT INTO groups_checktally (risk_bucket, labels) "
        "SELECT r.risk_bucket, sum(r.delta) FROM ({rows}) AS r "
        "GROUP BY 1 HAVING sum(r.delta) <> 0"
    ),
}


def _tally_sql(name: str, tally: dict) -> str:
    statements = []
    for event, (verb, referencing, sources) in _EVENTS.items():
        rows = " UNION ALL ".join(
            "SELECT " + tally["select"].format(sign=sign, rows=source) for source, sign in sources
        )
        function = f"{name}_{event}"
        statements.append(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n    {tally['insert'].format(rows=rows)};\n    RETURN NULL;\nEND $$;\n"
            f"CREATE TRIGGER {function} AFTER {verb} ON {tally['table']} {referencing}\n"
            f"    FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
        )
    return "\n".join(statements)


POSTGRESQL_TALLIES = _tally_sql("groups_tally", GROUP_TALLY) + _tally_sql(
    "groups_check_tally", CHECK_TALLY
)

POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS groups_member_count_insert ON sequences_sequence;
DROP TRIGGER IF EXISTS groups_member_count_update ON sequences_sequence;
DROP TRIGGER IF EXISTS groups_member_count_delete ON sequences_sequence;
DROP FUNCTION IF EXISTS groups_member_count_follow();
DROP TRIGGER IF EXISTS groups_sequencegroup_keep_insert ON groups_sequencegroup;
DROP TRIGGER IF EXISTS groups_sequencegroup_keep_update ON groups_sequencegroup;
DROP FUNCTION IF EXISTS groups_sequencegroup_keep();
DROP TRIGGER IF EXISTS groups_camera_sort_name_update ON sequences_camera;
DROP FUNCTION IF EXISTS groups_camera_sort_name_follow();
""" + "".join(
    f"DROP TRIGGER IF EXISTS {name}_{event} ON {table};\n"
    f"DROP FUNCTION IF EXISTS {name}_{event}();\n"
    for name, table in (
        ("groups_tally", "groups_sequencegroup"),
        ("groups_check_tally", "sequences_sequenceannotation"),
    )
    for event in _EVENTS
)

# --- Filling the counters of an existing site ------------------------------------------------------

BACKFILL = [
    "UPDATE groups_sequencegroup SET member_count = "
    "(SELECT count(*) FROM sequences_sequence WHERE group_id = groups_sequencegroup.id), "
    "camera_sort_name = "
    "(SELECT lower(name) FROM sequences_camera WHERE id = groups_sequencegroup.camera_id)",
    "INSERT INTO groups_grouptally (camera_id, is_labeled, is_validated, size, groups) "
    "SELECT camera_id, is_labeled, is_validated, size, count(*) FROM ("
    "SELECT camera_id, labeled_at IS NOT NULL AS is_labeled, is_validated, "
    f"CASE WHEN member_count > {SIZE_CAP} THEN {SIZE_CAP} ELSE member_count END AS size "
    "FROM groups_sequencegroup) AS g GROUP BY camera_id, is_labeled, is_validated, size",
    "INSERT INTO groups_grouptally (camera_id, is_labeled, is_validated, size, groups) "
    "SELECT NULL, is_labeled, is_validated, size, sum(groups) FROM groups_grouptally "
    "GROUP BY is_labeled, is_validated, size",
    "INSERT INTO groups_checktally (risk_bucket, labels) "
    "SELECT floor(check_risk * 100)::smallint, count(*) FROM sequences_sequenceannotation "
    f"WHERE label_source IN {MACHINE_SOURCES} AND checked_at IS NULL GROUP BY 1",
]


def counters_install(apps, schema_editor):
    """PostgreSQL: fill the counters from the rows, then let the triggers keep them.

    SQLite remakes a table for most schema changes, which drops the triggers on it and breaks
    those that name it; its triggers are installed after every migrate instead
    (`groups.counters.sqlite_counters_install`, connected to post_migrate), which recounts.
    """
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in BACKFILL:
        schema_editor.execute(statement)
    schema_editor.execute(POSTGRESQL)
    schema_editor.execute(POSTGRESQL_TALLIES)


def counters_uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(POSTGRESQL_DROP)
    schema_editor.execute("DELETE FROM groups_grouptally")
    schema_editor.execute("DELETE FROM groups_checktally")


class Migration(migrations.Migration):

    dependencies = [
        ('groups', '0004_groupoperation_delete_kind'),
        ('sequences', '0005_label_withdrawn_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CheckTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('risk_bucket', models.SmallIntegerField(blank=True, null=True)),
                ('labels', models.IntegerField()),
            ],
        ),
        migrations.CreateModel(
            name='GroupTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('is_labeled', models.BooleanField()),
                ('is_validated', models.BooleanField()),
                ('size', models.SmallIntegerField()),
                ('groups', models.IntegerField()),
            ],
        ),
        migrations.AddField(
            model_name='sequencegroup',
            name='camera_sort_name',
            field=models.CharField(blank=True, editable=False, max_length=255, null=True),
        ),
        migrations.AddField(
            model_name='sequencegroup',
            name='member_count',
            field=models.IntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='grouptally',
            name='camera',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='sequences.camera'),
        ),
        migrations.AddIndex(
            model_name='groupoperation',
            index=models.Index(fields=['created_at', 'id'], name='op_created_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2), ('labeled_at__isnull', True)), fields=['member_count', 'id'], name='group_u_members_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2), ('labeled_at__isnull', True)), fields=['created_at', 'id'], name='group_u_created_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2), ('labeled_at__isnull', True)), fields=['camera_sort_name', 'id'], name='group_u_camera_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2), ('labeled_at__isnull', True)), fields=['azimuth', 'id'], name='group_u_azimuth_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2), ('labeled_at__isnull', False)), fields=['member_count', 'id'], name='group_l_members_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2), ('labeled_at__isnull', False)), fields=['created_at', 'id'], name='group_l_created_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2), ('labeled_at__isnull', False)), fields=['camera_sort_name', 'id'], name='group_l_camera_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2), ('labeled_at__isnull', False)), fields=['azimuth', 'id'], name='group_l_azimuth_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2)), fields=['member_count', 'id'], name='group_a_members_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2)), fields=['created_at', 'id'], name='group_a_created_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2)), fields=['camera_sort_name', 'id'], name='group_a_camera_idx'),
        ),
        migrations.AddIndex(
            model_name='sequencegroup',
            index=models.Index(condition=models.Q(('member_count__gte', 2)), fields=['azimuth', 'id'], name='group_a_azimuth_idx'),
        ),
        migrations.AddConstraint(
            model_name='sequencegroup',
            constraint=models.CheckConstraint(condition=models.Q(('member_count__gte', 0)), name='groups_sequencegroup_member_count_not_negative'),
        ),
        migrations.RunPython(counters_install, counters_uninstall),
    ]
