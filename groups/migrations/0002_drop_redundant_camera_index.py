"""Drop the camera foreign key's own index: a composite index starting with camera_id serves it.

Only the index goes (the state change is the field's ``db_index=False``); Django's own
``AlterField`` would drop and re-add the foreign key, revalidating it over the whole table.
On PostgreSQL the index is dropped CONCURRENTLY, so imports and assignment runs writing to
the table are not held up, hence a non-atomic migration.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "groups_sequencegroup_camera_id_c2056440"
TABLE = "groups_sequencegroup"


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def drop_index(apps, schema_editor):
    schema_editor.execute(f'DROP INDEX{_concurrently(schema_editor)} IF EXISTS "{INDEX}"')


def create_index(apps, schema_editor):
    schema_editor.execute(
        f'CREATE INDEX{_concurrently(schema_editor)} IF NOT EXISTS "{INDEX}" '
        f'ON "{TABLE}" ("camera_id")'
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("groups", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="sequencegroup",
                    name="camera",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sequence_groups",
                        to="sequences.camera",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_index, create_index)],
        ),
    ]
