"""An index for the API's annotation list, newest first."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sequences", "0007_queue_entries"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="sequenceannotation",
            index=models.Index(fields=["created_at", "id"], name="ann_created_idx"),
        ),
    ]
