"""API tokens used to be rest_framework.authtoken's, stored in clear. They are revoked: their
table is dropped where an earlier version created it (clients log in again for a hashed one)."""

from django.db import migrations

OLD_TOKEN_TABLE = "authtoken_token"


def drop_clear_text_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TOKEN_TABLE in connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(OLD_TOKEN_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("knox", "0009_extend_authtoken_field")]

    operations = [
        migrations.RunPython(drop_clear_text_tokens, migrations.RunPython.noop, elidable=True)
    ]
