"""Trigram indexes that Django's `icontains` can use, PostgreSQL only.

On PostgreSQL `name__icontains=x` compiles to UPPER("name"::text) LIKE UPPER('%x%'),
which the plain trigram indexes of 0004 (on name and value) cannot serve: search
read all 60,000 contacts and 110,000 identities (~200 ms at 1M entries) for every
query. These index the same UPPER(...::text) expression, so the contact half of
search (conversations/search.py) and the API's contact filter are index scans.
identity_value_trgm stays: the phone-digits fallback uses a case-sensitive LIKE.

Built CONCURRENTLY (atomic = False), like 0004. SQLite gets nothing.
"""

from __future__ import annotations

from django.db import migrations

INDEXES = {
    "contact_name_upper_trgm": "conversations_contact USING gin ((UPPER(name::text)) gin_trgm_ops)",
    "identity_value_upper_trgm": (
        "conversations_identity USING gin ((UPPER(value::text)) gin_trgm_ops)"
    ),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, spec in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {spec}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0006_add_recent_entries_index"),
    ]

    operations = [migrations.RunPython(create, drop)]
