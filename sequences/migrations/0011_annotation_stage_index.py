"""The API's annotation list by stage, newest first, with its id tie-break, is one range of the
stage index (it walked the newest annotations of every stage instead)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0008_operation_member_indexes"),
        ("sequences", "0010_group_members_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="sequenceannotation",
            name="ann_stage_created_idx",
        ),
        migrations.AddIndex(
            model_name="sequenceannotation",
            index=models.Index(
                fields=["processing_stage", "created_at", "id"], name="ann_stage_created_idx"
            ),
        ),
    ]
