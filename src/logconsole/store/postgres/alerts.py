"""What the fleet's leader reads to run alert rules and forwarding on a shared
PostgreSQL database: the commit horizon, the group events, records by id range,
and its cursors in ``meta``.

Several collectors take ids from one sequence, so a batch can commit after a
later-numbered one: reading ``id > cursor`` alone would pass over a record
that commits a moment later.  Every batch transaction holds
:data:`~logconsole.store.postgres.schema.HORIZON_LOCK` shared from before its
``nextval`` to its commit (:mod:`logconsole.store.postgres.writer`);
:func:`horizon` takes it exclusively for one statement (``logconsole_horizon()``:
it waits for the batches in flight, reads the sequence, lets go), so every id
up to the value it returns is committed or never will be.  The leader reads
``(cursor, horizon]`` and never past it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from logconsole.store.groups import GroupEvent
from logconsole.store.postgres import query as pq
from logconsole.store.postgres.schema import SELECT_LIST
from logconsole.store.query import Filter


def horizon(conn: psycopg.Connection) -> int:
    """The highest id below which every record is committed or never will be."""
    return int(conn.execute("SELECT logconsole_horizon()").fetchone()[0])  # type: ignore[index]


READER_WAIT = 1.0
"""Seconds a reader (a console, ``query --follow``) waits for the batches in flight."""


def reader_horizon(conn: psycopg.Connection, wait: float | None = None) -> int:
    """:func:`horizon` on an autocommit connection, waiting at most ``wait``
    seconds: a batch stuck in flight would otherwise hold the reader and, queued
    behind its look, every host's new batches.  Past that, the newest committed
    id (a batch that late may then be passed over, as without the horizon)."""
    wait = READER_WAIT if wait is None else wait
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = {max(1, int(wait * 1000))}")  # type: ignore[arg-type]
            return horizon(conn)
    except psycopg.errors.LockNotAvailable:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0])  # type: ignore[index]


def count_in_range(conn: psycopg.Connection, flt: Filter, first: int, last: int) -> tuple[int, int | None]:
    """How many records with ids in ``[first, last]`` match ``flt``, and the latest of them."""
    where, params = pq.where_sql(flt)
    n, latest = conn.execute(
        f"SELECT count(*), max(id) FROM records WHERE id BETWEEN %s AND %s AND {where}",  # type: ignore[arg-type]
        [first, last, *params]).fetchone()  # type: ignore[misc]
    return int(n), (int(latest) if latest is not None else None)


def matching_ids(conn: psycopg.Connection, flt: Filter, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` match ``flt``."""
    if not ids:
        return set()
    where, params = pq.where_sql(flt)
    return {int(r[0]) for r in conn.execute(
        f"SELECT id FROM records WHERE id = ANY(%s) AND {where}", [list(ids), *params])}  # type: ignore[arg-type]


def group_events(conn: psycopg.Connection, after: int, upto: int) -> list[GroupEvent]:
    """The group events of the records with ids in ``(after, upto]``, in id order."""
    return [GroupEvent(str(kind), int(group_id), "", int(record_id)) for record_id, kind, group_id in conn.execute(
        "SELECT record_id, kind, group_id FROM group_events WHERE record_id > %s AND record_id <= %s "
        "ORDER BY record_id", (after, upto))]


def trim_group_events(conn: psycopg.Connection, upto: int) -> None:
    """Forget the events of records up to ``upto`` (evaluated)."""
    conn.execute("DELETE FROM group_events WHERE record_id <= %s", (upto,))


def records_between(conn: psycopg.Connection, after: int, upto: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` stored rows with ids in ``(after, upto]``, in id order."""
    return list(pq.dict_rows(conn.execute(
        f"SELECT {SELECT_LIST} FROM records WHERE id > %s AND id <= %s ORDER BY id LIMIT %s",  # type: ignore[arg-type]
        (after, upto, limit))))


def write_meta(conn: psycopg.Connection, values: Mapping[str, str]) -> None:
    """``values`` into ``meta``, in one short transaction of their own."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                        "SET value = excluded.value", list(values.items()))


__all__ = ["count_in_range", "group_events", "horizon", "matching_ids", "records_between", "trim_group_events",
           "write_meta"]
