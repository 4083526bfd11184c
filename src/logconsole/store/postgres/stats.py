"""What ``logconsole stats`` asks of a PostgreSQL store: its size, the span
of record times, the ``meta`` values (retention's last run, the forwarder's
state, the alert rules' states)."""

from __future__ import annotations

import psycopg

from logconsole.store.postgres.schema import time_text


def sizes(conn: psycopg.Connection) -> dict[str, int]:
    """``database_bytes``: the whole database (``pg_database_size``);
    ``records_bytes``: the record partitions with their indexes and TOAST
    (``pg_total_relation_size`` of each; the partitioned parent holds nothing)."""
    database, records = conn.execute(
        "SELECT pg_database_size(current_database()), (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) "
        "FROM pg_inherits WHERE inhparent = 'records'::regclass)").fetchone()  # type: ignore[misc]
    return {"database_bytes": int(database), "records_bytes": int(records)}


def time_span(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    """The oldest and newest record times, in the stored form."""
    oldest, newest = conn.execute(
        f"SELECT {time_text('min(created_at)')}, {time_text('max(created_at)')} FROM records").fetchone()  # type: ignore[misc]
    return oldest, newest


def meta(conn: psycopg.Connection, *, keys: tuple[str, ...] = (), prefix: str | None = None) -> dict[str, str]:
    """The ``meta`` values of ``keys``, or of every key starting with ``prefix``."""
    if prefix is not None:
        cur = conn.execute("SELECT key, value FROM meta WHERE starts_with(key, %s)", (prefix,))
    else:
        cur = conn.execute("SELECT key, value FROM meta WHERE key = ANY(%s)", (list(keys),))
    return {str(k): str(v) for k, v in cur}


def after_cursor(conn: psycopg.Connection, cursor: int) -> tuple[int, str | None]:
    """How many records have an id above ``cursor``, and the stored time of the first of them."""
    n, first = conn.execute("SELECT count(*), min(id) FROM records WHERE id > %s", (cursor,)).fetchone()  # type: ignore[misc]
    if not n:
        return 0, None
    row = conn.execute(f"SELECT {time_text('created_at')} FROM records WHERE id = %s", (first,)).fetchone()
    return int(n), (row[0] if row else None)


__all__ = ["after_cursor", "meta", "sizes", "time_span"]
