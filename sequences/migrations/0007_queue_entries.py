"""The To-annotate list kept by the database (`QueueEntry`, see `sequences.queue`), and an index
for the Done list.

PostgreSQL: the table is filled from the sequences and their annotations, then triggers keep it.
SQLite gets its triggers after every migrate (`sequences.queue.sqlite_triggers_install`). The SQL
is frozen here, as a migration's must be.
"""

import django.db.models.deletion
from django.db import migrations, models

RANK = (
    "CASE {row}.processing_stage WHEN 'ready_to_annotate' THEN 0 "
    "WHEN 'imported' THEN 1 ELSE NULL END"
)
ENTER = """
        INSERT INTO sequences_queueentry (sequence_id, rank, recorded_at)
        SELECT s.id, {rank}, s.recorded_at FROM sequences_sequence AS s
        WHERE s.id = {row}.sequence_id AND {rank} IS NOT NULL
        ON CONFLICT (sequence_id) DO UPDATE SET rank = EXCLUDED.rank
        WHERE sequences_queueentry.rank <> EXCLUDED.rank;"""

POSTGRESQL = f"""
INSERT INTO sequences_queueentry (sequence_id, rank, recorded_at)
SELECT s.id, CASE WHEN a.id IS NULL THEN 1 ELSE {RANK.format(row="a")} END, s.recorded_at
FROM sequences_sequence AS s
LEFT JOIN sequences_sequenceannotation AS a ON a.sequence_id = s.id
WHERE a.id IS NULL OR {RANK.format(row="a")} IS NOT NULL;

CREATE FUNCTION sequences_queue_sequences_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sequences_queueentry (sequence_id, rank, recorded_at)
    SELECT id, 1, recorded_at FROM new_rows ON CONFLICT (sequence_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER sequences_queue_sequences_insert AFTER INSERT ON sequences_sequence
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequences_queue_sequences_insert();

CREATE FUNCTION sequences_queue_sequences_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sequences_queueentry WHERE sequence_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;
CREATE TRIGGER sequences_queue_sequences_delete AFTER DELETE ON sequences_sequence
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequences_queue_sequences_delete();

CREATE FUNCTION sequences_queue_sequence_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sequences_queueentry SET recorded_at = NEW.recorded_at WHERE sequence_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER sequences_queue_sequence_moved AFTER UPDATE OF recorded_at ON sequences_sequence
    FOR EACH ROW WHEN (OLD.recorded_at IS DISTINCT FROM NEW.recorded_at)
    EXECUTE FUNCTION sequences_queue_sequence_moved();

CREATE FUNCTION sequences_queue_annotation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        {ENTER.format(rank="1", row="OLD")}
    ELSIF NEW.processing_stage NOT IN ('ready_to_annotate', 'imported') THEN
        DELETE FROM sequences_queueentry WHERE sequence_id = NEW.sequence_id;
    ELSE
        {ENTER.format(rank=RANK.format(row="NEW"), row="NEW")}
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER sequences_queue_annotation
    AFTER INSERT OR DELETE OR UPDATE OF processing_stage ON sequences_sequenceannotation
    FOR EACH ROW EXECUTE FUNCTION sequences_queue_annotation();
"""

POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS sequences_queue_sequences_insert ON sequences_sequence;
DROP FUNCTION IF EXISTS sequences_queue_sequences_insert();
DROP TRIGGER IF EXISTS sequences_queue_sequences_delete ON sequences_sequence;
DROP FUNCTION IF EXISTS sequences_queue_sequences_delete();
DROP TRIGGER IF EXISTS sequences_queue_sequence_moved ON sequences_sequence;
DROP FUNCTION IF EXISTS sequences_queue_sequence_moved();
DROP TRIGGER IF EXISTS sequences_queue_annotation ON sequences_sequenceannotation;
DROP FUNCTION IF EXISTS sequences_queue_annotation();
DELETE FROM sequences_queueentry;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)


class Migration(migrations.Migration):

    dependencies = [
        ('sequences', '0006_remote_copies'),
    ]

    operations = [
        migrations.CreateModel(
            name='QueueEntry',
            fields=[
                ('sequence', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='queue_entry', serialize=False, to='sequences.sequence')),
                ('rank', models.SmallIntegerField()),
                ('recorded_at', models.DateTimeField()),
            ],
        ),
        migrations.AddIndex(
            model_name='sequenceannotation',
            index=models.Index(models.OrderBy(models.F('updated_at'), descending=True), models.OrderBy(models.F('sequence'), descending=True), condition=models.Q(('processing_stage__in', ['annotated', 'in_review', 'needs_manual', 'seq_annotation_done', 'under_annotation'])), name='ann_done_idx'),
        ),
        migrations.AddIndex(
            model_name='queueentry',
            index=models.Index(fields=['rank', 'recorded_at', 'sequence'], name='queue_order_idx'),
        ),
        migrations.RunPython(install, uninstall),
    ]
