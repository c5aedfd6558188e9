"""PostgreSQL change notifications: how a write on one replica reaches the caches of every other.

A statement-level trigger on each cached table sends ``NOTIFY dockyard_changes, '<table name>'`` inside
the writer's transaction, so the notification leaves exactly when the write commits and never without it
(no write can commit and forget to tell the others, whatever code path made it, and a writer that dies
after committing has already told them). :mod:`dockyard.metadata.listener` maps table names to signal slots.

Two quiet tables are queues that background work polls: ``jobs`` and ``image_scans``. Their writers call
:func:`wake` where another replica could act at once (a job lease handed back, a scan queued or given
back), which sends the table's name on the same channel; the listener bumps no cache for these
(:data:`WAKE_TOPICS`) and rings the scheduler or the scan worker instead, so an idle replica need not poll.

Busy tables nothing caches are left out (each upload chunk and pull-time update would otherwise notify
every replica). A later migration that adds a table calls :func:`install` for it; a contract test checks
that every table is either notifying or listed in :data:`QUIET_TABLES`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

CHANNEL = "dockyard_changes"
FUNCTION = "dockyard_notify_change"
QUIET_TABLES = frozenset(
    {
        "alembic_version",
        "uploads",
        "ecr_upload_parts",
        "ecr_image_pulls",
        "jobs",
        # image scanning's queue, inventories and matches (nothing caches them)
        "image_scans",
        "scan_packages",
        "image_scan_packages",
        "package_vulns",
        # the vulnerability database: written in big batches by imports, read uncached by matching
        "vulndb_advisories",
        "vulndb_affected",
        "vulndb_state",
        # CloudWatch Logs: every PutLogEvents writes them, nothing caches them
        "log_groups",
        "log_streams",
        "log_events",
        # ECS: every poll and task state change writes them, nothing caches them
        "ecs_clusters",
        "ecs_task_definitions",
        "ecs_container_instances",
        "ecs_tasks",
    }
)

WAKE_TOPICS = frozenset({"jobs", "image_scans"})

_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""


def trigger_name(table: str) -> str:
    return f"{table}_notify_change"


def install_function(conn: Connection) -> None:
    conn.execute(text(_FUNCTION_SQL))


def install(conn: Connection, table: str) -> None:
    """The notifying trigger on ``table`` (PostgreSQL only; idempotent)."""
    name = trigger_name(table)
    conn.execute(text(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"'))
    conn.execute(
        text(
            f'CREATE TRIGGER "{name}" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
    )


def uninstall(conn: Connection, table: str) -> None:
    conn.execute(text(f'DROP TRIGGER IF EXISTS "{trigger_name(table)}" ON "{table}"'))


def notifying_tables(conn: Connection) -> set[str]:
    """Tables that carry the trigger now."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = c.relname || '_notify_change' AND NOT t.tgisinternal"
        )
    )
    return {row[0] for row in rows}


def changed_and_wake(conn: Connection, statement: Any, topic: str) -> bool:
    """Run ``statement`` (an ``INSERT``, ``UPDATE`` or ``DELETE``); if it changed a row, :func:`wake`
    ``topic``. Whether it changed one."""
    if not conn.execute(statement).rowcount:
        return False
    wake(conn, topic)
    return True


def wake(conn: Connection, topic: str) -> None:
    """Tell every replica's listener that ``topic`` (one of :data:`WAKE_TOPICS`) has work, when ``conn``'s
    transaction commits (PostgreSQL; SQLite has no listeners, and its processes poll)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :topic)"), {"channel": CHANNEL, "topic": topic})
