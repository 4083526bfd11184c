"""Following the store: the records committed after a point, as they come.

``logconsole query --follow`` reads the last matches, then asks every
``interval`` seconds for the records with an id above the last one seen that
match the filter (one statement, a range of rowids: ``id > ?`` walks only the
new rows, whatever else the filter says), and asks again at once while a
whole page keeps arriving.  Idle, that is one cheap query a second.

The database may go away under a follower (a collector restart keeps the
file; a restore or ``doctor`` may replace it): the file's identity is checked
before each poll and the connection reopened when it changed; while the file
is missing or cannot be read, the follower waits and tries again.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logconsole.store.db import StoreError, connect
from logconsole.store.query import NEWEST, Filter, fetch_page, range_where_sql

DEFAULT_INTERVAL = 1.0
"""Seconds between two polls while nothing new arrives."""
PAGE = 1000
"""Rows read per poll; a full page is followed by another poll at once."""


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def new_rows_sql(conn: sqlite3.Connection, flt: Filter) -> tuple[str, Callable[[int], list[Any]]]:
    """Rows with an id above the one given to the second value matching ``flt``, oldest first.

    ``NOT INDEXED`` keeps SQLite on the rowid range: with ``type = 'error'`` it
    would otherwise walk that kind's index over every stored error.
    """
    where, bind = range_where_sql(conn, flt, "{col} > ?")
    sql = f"SELECT * FROM records NOT INDEXED WHERE {where} ORDER BY id LIMIT {PAGE}"
    return sql, lambda after: bind((after,))


@dataclass(slots=True)
class Follower:
    """Yields pages of new matching rows of the database at ``path``."""

    path: Path
    flt: Filter
    interval: float = DEFAULT_INTERVAL
    sleep: Callable[[float], None] = time.sleep
    last_id: int = 0
    _conn: sqlite3.Connection | None = field(default=None, repr=False)
    _identity: tuple[int, int] | None = field(default=None, repr=False)
    _sql: tuple[str, Callable[[int], list[Any]]] | None = field(default=None, repr=False)

    def start(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` matches (oldest first), read in one snapshot with
        the highest id stored, from which following begins."""
        conn = self._open()
        conn.execute("BEGIN")
        try:
            self.last_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0])
            rows = fetch_page(conn, self.flt, NEWEST, limit=limit) if limit else []
        finally:
            conn.execute("COMMIT")
        rows.sort(key=lambda r: r["id"])
        return [r for r in rows if r["id"] <= self.last_id]

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self._identity = _identity(self.path)
            self._conn = connect(self.path, readonly=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def poll(self) -> list[dict[str, Any]]:
        """The next page of new matching rows (empty when there is none, or the
        database cannot be read right now)."""
        current = _identity(self.path)
        if current is None:
            self.close()
            return []
        replaced = self._conn is None or current != self._identity
        if self._conn is not None and current != self._identity:
            self.close()
        try:
            conn = self._open()
            if replaced:
                # A database put in place of the one followed may hold fewer rows.
                top = int(conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0])
                self.last_id = min(self.last_id, top)
            if self._sql is None:
                self._sql = new_rows_sql(conn, self.flt)
            sql, bind = self._sql
            cur = conn.execute(sql, bind(self.last_id))
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, values)) for values in cur]
        except (sqlite3.Error, StoreError):
            self.close()
            return []
        if rows:
            self.last_id = int(rows[-1]["id"])
        return rows

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Pages of new rows, forever; waits ``interval`` after an empty or short page."""
        while True:
            rows = self.poll()
            if rows:
                yield rows
            if len(rows) < PAGE:
                self.sleep(self.interval)
