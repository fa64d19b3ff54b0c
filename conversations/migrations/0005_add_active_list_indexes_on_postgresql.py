"""Partial indexes for the inbox's default lists (active conversations), PostgreSQL only.

The list's two sort orders, "waiting longest" (waiting_since ASC NULLS LAST, id) and
"newest" (last_message_at DESC NULLS LAST, id DESC), over status IN (open, pending,
snoozed): with these an index scan returns the first page already in order, however
many conversations there are. The composite (status, ...) indexes can't do that for
an IN list of statuses. SQLite can't index NULLS LAST and doesn't need to.
"""

from __future__ import annotations

from django.db import migrations

ACTIVE = "status IN ('open', 'pending', 'snoozed')"
INDEXES = {
    "conv_active_waiting": f"(waiting_since ASC NULLS LAST, id ASC) WHERE {ACTIVE}",
    "conv_active_recent": f"(last_message_at DESC NULLS LAST, id DESC) WHERE {ACTIVE}",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, spec in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON conversations_conversation {spec}"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0004_add_search_indexes_on_postgresql"),
    ]

    operations = [migrations.RunPython(create, drop)]
