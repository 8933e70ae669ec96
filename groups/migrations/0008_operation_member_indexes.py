"""An operation's members are found by sequence along (sequence, operation), without a table
read; the foreign keys' own indexes go (the unique (operation, sequence) and the new one
serve their lookups), after the new one is built."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0007_unsure_state"),
        ("sequences", "0010_group_members_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="groupoperationmember",
            index=models.Index(fields=["sequence", "operation"], name="opmember_sequence_idx"),
        ),
        migrations.AlterField(
            model_name="groupoperationmember",
            name="operation",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="members",
                to="groups.groupoperation",
            ),
        ),
        migrations.AlterField(
            model_name="groupoperationmember",
            name="sequence",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="sequences.sequence",
            ),
        ),
    ]
