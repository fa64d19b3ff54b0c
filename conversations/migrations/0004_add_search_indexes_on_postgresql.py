"""Search indexes, PostgreSQL only (conversations/search.py uses them).

- entry_body_fts: GIN over to_tsvector('simple', body); search.BodyMatches repeats
  the expression verbatim so the planner can use it.
- contact_name_trgm, identity_value_trgm: pg_trgm GIN indexes, so ILIKE '%fragment%'
  on names, e-mails and phone numbers is an index scan.

Built CONCURRENTLY (hence atomic = False) so a deployment with a million entries
keeps taking writes. SQLite gets nothing: its LIKE path needs no index to be correct.
"""

from __future__ import annotations

from django.db import migrations

INDEXES = [
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS entry_body_fts ON conversations_entry "
    "USING gin (to_tsvector('simple', body))",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS contact_name_trgm ON conversations_contact "
    "USING gin (name gin_trgm_ops)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS identity_value_trgm ON conversations_identity "
    "USING gin (value gin_trgm_ops)",
]
NAMES = ["entry_body_fts", "contact_name_trgm", "identity_value_trgm"]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for sql in INDEXES:
        schema_editor.execute(sql)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in NAMES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0003_add_canned_responses_notifications_and_inbox_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
