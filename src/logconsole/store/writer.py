"""Writing rows: one ``executemany`` per batch inside one transaction.

Rows come from :func:`logconsole.ingest.normalize`; nothing else writes records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from itertools import islice

from logconsole.ingest import Row
from logconsole.store.schema import INSERT_COLUMNS

INSERT_SQL = (
    f"INSERT INTO records ({', '.join(INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in INSERT_COLUMNS)})"
)


def row_values(row: Row) -> tuple[object, ...]:
    get = row.get
    return tuple(get(c) for c in INSERT_COLUMNS)


def insert_rows(conn: sqlite3.Connection, rows: Iterable[Row]) -> int:
    """Insert ``rows`` in one transaction; returns how many."""
    values = [row_values(r) for r in rows]
    if not values:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(INSERT_SQL, values)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(values)


def insert_row(conn: sqlite3.Connection, row: Row) -> int:
    """Insert one row and return its id."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(INSERT_SQL, row_values(row))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(cur.lastrowid or 0)


def batched(items: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
