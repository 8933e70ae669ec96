"""Drop the camera foreign key's own index: a composite index starting with camera_id serves it.

Only the index goes (the state change is the field's ``db_index=False``); Django's own
``AlterField`` would drop and re-add the foreign key, revalidating it over the whole table
under an exclusive lock.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "sequences_sequence_camera_id_6d1aaa02"
TABLE = "sequences_sequence"


class Migration(migrations.Migration):
    dependencies = [
        ("sequences", "0002_group_links"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="sequence",
                    name="camera",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sequences",
                        to="sequences.camera",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "{TABLE}" ("camera_id")',
                ),
            ],
        ),
    ]
