"""Following a PostgreSQL store: the records committed after a point, as they come.

The same contract as :class:`logconsole.store.follow.Follower` (SQLite): the
last matches first, then every ``interval`` seconds the matching records with
an id above the last one seen, oldest first, at once again while whole pages
arrive.  A server that goes away (a restart, a network cut) is waited out:
the connection is dropped, and each poll tries a new one until it answers.

Ids come from one sequence, taken by each writer before its batch commits;
with several writers a batch that commits after a later one shows up only if
its ids are above the last seen, so a follower reads from ``max(id)`` and a
record committed that late may be missed (the store keeps it; ``query``
finds it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from logconsole.store.db import StoreError
from logconsole.store.follow import DEFAULT_INTERVAL, PAGE
from logconsole.store.postgres import query as pq
from logconsole.store.postgres.schema import SELECT_LIST
from logconsole.store.query import NEWEST, Condition, Filter
from logconsole.store.url import StoreURL


@dataclass(slots=True)
class PgFollower:
    """Yields pages of new matching rows of the PostgreSQL database at ``location``."""

    location: StoreURL
    flt: Filter
    interval: float = DEFAULT_INTERVAL
    sleep: Callable[[float], None] = time.sleep
    last_id: int = 0
    _conn: psycopg.Connection | None = field(default=None, repr=False)

    def _open(self) -> psycopg.Connection:
        if self._conn is None:
            from logconsole.store.postgres.store import connect

            self._conn = connect(self.location)
        return self._conn

    def start(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` matches (oldest first) up to the highest id stored, from which following begins."""
        conn = self._open()
        self.last_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0])  # type: ignore[index]
        if not limit:
            return []
        upto = self.flt.with_(where=(*self.flt.where, Condition("id", "<=", self.last_id)))
        rows = pq.fetch_page(conn, upto, NEWEST, limit=limit)
        rows.sort(key=lambda r: r["id"])
        return rows

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except psycopg.Error:
                pass

    def poll(self) -> list[dict[str, Any]]:
        """The next page of new matching rows (empty when there is none, or the server cannot be reached now)."""
        where, params = pq.where_sql(self.flt)
        sql = f"SELECT {SELECT_LIST} FROM records WHERE {where} AND id > %s ORDER BY id LIMIT {PAGE}"
        try:
            conn = self._open()
            rows = list(pq.dict_rows(conn.execute(sql, [*params, self.last_id])))  # type: ignore[arg-type]
        except (psycopg.Error, StoreError):
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


__all__ = ["PgFollower"]
