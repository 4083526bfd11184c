"""Following a PostgreSQL store: the records committed after a point, as they come.

The same contract as :class:`logconsole.store.follow.Follower` (SQLite): the
last matches first, then every ``interval`` seconds the matching records with
an id above the last one seen, oldest first, at once again while whole pages
arrive.  A server that goes away (a restart, a network cut) is waited out:
the connection is dropped, and each poll tries a new one until it answers.

Several collectors write at once, each taking its batch's ids from one
sequence before the batch commits, so a batch may commit after one with
higher ids: its ids are a gap when the follower passes them.  Each poll reads
the new ids with whether they match (one query, ``id > last``), keeps the
gaps it saw, and looks for them again until they are filled or
:data:`GAP_SECONDS` have passed (a batch that was rolled back leaves its gap
for good).  A record committed that late is printed when it arrives, after
records with higher ids.  Following begins at the commit horizon, not the
newest id: a batch in flight then is among the last matches or followed.
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
from logconsole.store.postgres.alerts import reader_horizon
from logconsole.store.postgres.schema import SELECT_LIST
from logconsole.store.query import NEWEST, Condition, Filter
from logconsole.store.url import StoreURL

GAP_SECONDS = 60.0
"""How long an id passed over stays looked for (a batch commits within seconds)."""
MAX_GAPS = 100_000
"""The most ids looked for at once; the oldest are given up first."""


@dataclass(slots=True)
class PgFollower:
    """Yields pages of new matching rows of the PostgreSQL database at ``location``."""

    location: StoreURL
    flt: Filter
    interval: float = DEFAULT_INTERVAL
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    last_id: int = 0
    gaps: dict[int, float] = field(default_factory=dict)
    """Ids passed over while not committed, with when they were first seen missing."""
    _conn: psycopg.Connection | None = field(default=None, repr=False)
    _sql: tuple[str, str, list[Any]] | None = field(default=None, repr=False)
    _full: bool = field(default=False, repr=False)

    def _open(self) -> psycopg.Connection:
        if self._conn is None:
            from logconsole.store.postgres.store import connect

            self._conn = connect(self.location)
        return self._conn

    def start(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` matches (oldest first) up to the highest id stored, from which following begins."""
        conn = self._open()
        # The horizon, not the newest id: a batch in flight with lower ids is
        # waited for, so it is either among the last matches or followed.
        self.last_id = reader_horizon(conn)
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

    def _queries(self) -> tuple[str, str, list[Any]]:
        if self._sql is None:
            where, params = pq.where_sql(self.flt)
            scan = f"SELECT id, ({where}) AS m FROM records WHERE id > %s ORDER BY id LIMIT {PAGE}"
            late = f"SELECT id, ({where}) AS m FROM records WHERE id = ANY(%s)"
            self._sql = (scan, late, list(params))
        return self._sql

    def poll(self) -> list[dict[str, Any]]:
        """The next page of new matching rows (empty when there is none, or the server cannot be reached now)."""
        scan, late, params = self._queries()
        try:
            conn = self._open()
            found = conn.execute(scan, [*params, self.last_id]).fetchall()  # type: ignore[arg-type]
            filled = conn.execute(late, [*params, list(self.gaps)]).fetchall() if self.gaps else []  # type: ignore[arg-type]
            wanted = [int(i) for i, m in filled if m] + [int(i) for i, m in found if m]
            rows = list(pq.dict_rows(conn.execute(
                f"SELECT {SELECT_LIST} FROM records WHERE id = ANY(%s) ORDER BY id", (wanted,)))) if wanted else []  # type: ignore[arg-type]
        except (psycopg.Error, StoreError):
            self.close()
            self._full = False
            return []
        self._full = len(found) == PAGE
        self._note(found, filled)
        return rows

    def _note(self, found: list[tuple[Any, ...]], filled: list[tuple[Any, ...]]) -> None:
        """Forget the gaps filled or too old; add the ids ``found`` passed over."""
        now = self.clock()
        for i, _ in filled:
            self.gaps.pop(int(i), None)
        expired = [i for i, seen in self.gaps.items() if now - seen > GAP_SECONDS]
        for i in expired:
            del self.gaps[i]
        expected = self.last_id + 1
        for i, _ in found:
            for missing in range(max(expected, int(i) - MAX_GAPS), int(i)):
                self.gaps[missing] = now
            expected = int(i) + 1
        if found:
            self.last_id = int(found[-1][0])
        while len(self.gaps) > MAX_GAPS:
            del self.gaps[next(iter(self.gaps))]

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Pages of new rows, forever; waits ``interval`` unless a whole page of new ids was read."""
        while True:
            rows = self.poll()
            if rows:
                yield rows
            if not self._full:
                self.sleep(self.interval)


__all__ = ["GAP_SECONDS", "PgFollower"]
