"""A group's members in their order, from one index (group, recorded_at, id), which also serves
every lookup by group: the foreign key's own index goes, after the new one is built."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0007_unsure_state"),
        ("sequences", "0009_removed_sequences_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="sequence",
            index=models.Index(fields=["group", "recorded_at", "id"], name="seq_group_members_idx"),
        ),
        migrations.AlterField(
            model_name="sequence",
            name="group",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="members",
                to="groups.sequencegroup",
            ),
        ),
    ]
