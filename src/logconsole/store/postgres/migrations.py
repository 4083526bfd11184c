"""Bringing a PostgreSQL database to this program's schema.

Versioned steps (:data:`MIGRATIONS`) are recorded in ``schema_migrations``;
the upgrade runs in one transaction under a transaction-level advisory lock
(:data:`UPGRADE_LOCK`), so several collectors starting at once upgrade once:
the others wait for the lock, then find every step done.  As for SQLite, a
column for each field :mod:`logconsole.kinds` declares that the table lacks
is added by itself (derived, no version), and a database newer than this
program is refused before anything is written.  Append steps; never edit one.

The generated ``search`` column is derived too: its expression is kept as the
column's comment, and a database whose comment is not this program's
expression (the kinds' ``fts`` fields changed) has the column made anew, so
every record is searchable by the new fields (a rewrite of the table, once).
A column without a comment (made before comments were kept) is taken as
current.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from logconsole.kinds import ALL_FIELDS, FTS_COLUMNS
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


def _search_comment(conn: psycopg.Connection) -> str | None:
    """The expression the ``search`` column was made from, as its comment says."""
    row = conn.execute(
        "SELECT col_description(a.attrelid, a.attnum) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass('records') AND a.attname = 'search' AND NOT a.attisdropped").fetchone()
    return row[0] if row else None


def _search_is_stale(conn: psycopg.Connection, columns: tuple[str, ...]) -> bool:
    found = _search_comment(conn)
    return found is None or found != schema.search_sql(columns)


def remake_search(conn: psycopg.Connection, columns: tuple[str, ...] = FTS_COLUMNS) -> None:
    """The ``search`` column and its index made anew over ``columns`` (in the caller's transaction)."""
    conn.execute("DROP INDEX IF EXISTS idx_records_search")
    conn.execute("ALTER TABLE records DROP COLUMN IF EXISTS search")
    conn.execute(f"ALTER TABLE records ADD COLUMN search tsvector "  # type: ignore[arg-type]
                 f"GENERATED ALWAYS AS ({schema.search_sql(columns)}) STORED")
    conn.execute("CREATE INDEX idx_records_search ON records USING gin (search)")
    _comment_search(conn, columns)


def _comment_search(conn: psycopg.Connection, columns: tuple[str, ...]) -> None:
    conn.execute(sql.SQL("COMMENT ON COLUMN records.search IS {}").format(sql.Literal(schema.search_sql(columns))))


def _needs_work(conn: psycopg.Connection, migrations: Sequence[Migration], columns: tuple[str, ...]) -> bool:
    version = schema_version(conn)
    if version > migrations[-1].version:
        raise PgSchemaError(
            f"the database has schema version {version}, newer than this logconsole knows "
            f"({migrations[-1].version}): upgrade logconsole")
    return (version < migrations[-1].version or bool(_missing_columns(conn))
            or _search_is_stale(conn, columns))


def upgrade(conn: psycopg.Connection, migrations: Sequence[Migration] = MIGRATIONS, *,
            fts_columns: tuple[str, ...] = FTS_COLUMNS) -> int:
    """Apply what is missing (under :data:`UPGRADE_LOCK`); returns the version reached.

    ``conn`` must be in autocommit mode; the upgrade is one transaction.
    """
    if not _needs_work(conn, migrations, fts_columns):
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
        # No comment: made by the first step or before comments were kept, from today's fields.
        made_from = _search_comment(conn) or schema.search_sql()
        if made_from != schema.search_sql(fts_columns):
            remake_search(conn, fts_columns)
        else:
            _comment_search(conn, fts_columns)
    return migrations[-1].version


__all__ = ["MIGRATIONS", "PgSchemaError", "SCHEMA_VERSION", "UPGRADE_LOCK", "remake_search", "schema_version",
           "upgrade"]
