"""Bringing a PostgreSQL database to this program's schema.

Versioned steps (:data:`MIGRATIONS`) are recorded in ``schema_migrations``;
the upgrade runs in one transaction under a transaction-level advisory lock
(:data:`UPGRADE_LOCK`), so several collectors starting at once upgrade once:
the others wait for the lock, then find every step done.  As for SQLite, a
column for each field :mod:`logconsole.kinds` declares that the table lacks
is added by itself (derived, no version), and a database newer than this
program is refused before anything is written.  Append steps; never edit one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg

from logconsole.kinds import ALL_FIELDS
from logconsole.store.postgres import schema

UPGRADE_LOCK = 0x6C6F6763_0001
"""The advisory lock key every upgrade of the schema takes ("logc", 1)."""


class PgSchemaError(RuntimeError):
    """The database cannot be brought to this program's schema; says why."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    steps: Callable[[], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records partitioned by month, groups, search", schema.schema_v1),
    Migration(2, "tailed-file offsets per host", schema.offsets_per_host),
    Migration(3, "group events and the commit horizon for the fleet's leader", schema.commit_horizon),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(conn: psycopg.Connection) -> int:
    """The last step applied (0 for an empty database)."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:  # type: ignore[index]
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def _missing_columns(conn: psycopg.Connection) -> list[str]:
    have = {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'records' "
        "AND table_schema = current_schema()")}
    return [n for n in ALL_FIELDS if n not in have]


def _needs_work(conn: psycopg.Connection, migrations: Sequence[Migration]) -> bool:
    version = schema_version(conn)
    if version > migrations[-1].version:
        raise PgSchemaError(
            f"the database has schema version {version}, newer than this logconsole knows "
            f"({migrations[-1].version}): upgrade logconsole")
    return version < migrations[-1].version or bool(_missing_columns(conn))


def upgrade(conn: psycopg.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply what is missing (under :data:`UPGRADE_LOCK`); returns the version reached.

    ``conn`` must be in autocommit mode; the upgrade is one transaction.
    """
    if not _needs_work(conn, migrations):
        return migrations[-1].version
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                     "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        found = schema_version(conn)
        if found > migrations[-1].version:
            raise PgSchemaError(f"the database has schema version {found}, newer than this logconsole knows")
        for m in migrations:
            if m.version <= found:
                continue
            for statement in m.steps():
                conn.execute(statement)  # type: ignore[arg-type]
            conn.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                         (m.version, m.description))
        for name in _missing_columns(conn):
            conn.execute(f"ALTER TABLE records ADD COLUMN IF NOT EXISTS {schema.column_sql(name)}")  # type: ignore[arg-type]
    return migrations[-1].version


__all__ = ["MIGRATIONS", "PgSchemaError", "SCHEMA_VERSION", "UPGRADE_LOCK", "schema_version", "upgrade"]
