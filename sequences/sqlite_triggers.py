"""Triggers that SQLite keeps only between migrations.

SQLite remakes a table for most schema changes, which drops the triggers on it, and a trigger
naming a table being remade fails the migration: the apps that keep tables with triggers
(`sequences.queue`, `groups.counters`) take theirs off before every migrate and put them back
after it. PostgreSQL's live in the migrations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import connections, transaction


def sqlite_database(using: str):
    """The connection `using` when it is SQLite's, else None."""
    database = connections[using]
    return database if database.vendor == "sqlite" else None


def triggers_drop(database, names: Iterable[str]) -> None:
    with database.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def triggers_create(database, triggers: Mapping[str, str]) -> None:
    """Create `triggers` ({name: body after CREATE TRIGGER name}) afresh, in one transaction."""
    with transaction.atomic(using=database.alias), database.cursor() as cursor:
        for name, body in triggers.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"CREATE TRIGGER {name} {body}")
