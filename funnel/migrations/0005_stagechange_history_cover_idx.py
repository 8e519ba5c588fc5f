"""A covering index on the stage history in history order, for the live funnel KPIs
(metrics/queries/funnel.py, docs/metrics.md "Funnel").

``stagechange_history_cover_idx`` (customer, changed_at, id) INCLUDE (from_stage, to_stage): the
conversion query groups a period's changes by customer and the median time in stage takes each
change's previous one with LAG over the customer's history; both become an index-only scan already
in the order they need. Measured on 2,200,000 stage changes of 1,000,000 customers (12-month period,
a busy 2-core machine): conversion 2.6 s → 1.6 s, median time in stage 6.8 s → 3.6 s (with the LAG
query that this index makes possible).

PostgreSQL only (INCLUDE, built CONCURRENTLY so stage moves go on during the build); nothing on
SQLite. Plain SQL rather than Meta.indexes: it changes no model state.
"""

from django.db import migrations

NAME = "stagechange_history_cover_idx"


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON funnel_stagechange (customer_id, changed_at, id) "
            "INCLUDE (from_stage, to_stage)"
        )


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("funnel", "0004_campaigns")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
