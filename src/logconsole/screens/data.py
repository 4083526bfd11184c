"""The console's reads: a small pool of stores and the paged row source.

Nothing here imports Textual: the list view calls these functions from thread
workers.  Each worker borrows a :class:`~logconsole.store.interface.Store`
from :class:`ConnectionPool` (a connection is not shared between threads at
once) and returns it, so the page cache of a connection stays warm between
fetches.  A SQLite file and a PostgreSQL database are lent the same way; each
store runs its own SQL.
"""

from __future__ import annotations

import os
import queue
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logconsole.ingest import IngestError
from logconsole.store import query
from logconsole.store.db import StoreError
from logconsole.store.errors import describe
from logconsole.store.interface import Store, open_for_threads
from logconsole.store.query import Condition, Cursor, Filter, Sort
from logconsole.store.url import POSTGRESQL, StoreURL, parse_store_url

STORE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, StoreError, query.QueryError, IngestError, OSError)
"""What a worker's database work may raise; the worker reports it instead of crashing the console."""


def store_error_text(exc: BaseException) -> str:
    """What to tell the user about one of :data:`STORE_ERRORS`: a database error as
    the condition ("disk is full", "database is locked by another process"), not
    SQLite's symptom."""
    return describe(exc) if isinstance(exc, sqlite3.Error) else str(exc)

PAGE_SIZE = 200
"""Rows per page fetched by the list view."""


def store_location(location: Path | str | StoreURL) -> StoreURL:
    """A database path or URL as the store interface names it."""
    return location if isinstance(location, StoreURL) else parse_store_url(str(location))


class ConnectionPool:
    """Stores on one database for worker threads, at most ``keep`` kept idle."""

    def __init__(self, location: Path | str | StoreURL, *, readonly: bool = False, keep: int = 4) -> None:
        self.location = store_location(location)
        self.path: Path | None = self.location.path
        """The SQLite file (``None`` for PostgreSQL)."""
        self.readonly = readonly
        self._idle: queue.LifoQueue[Store] = queue.LifoQueue()
        self._keep = keep
        self._closed = False

    @property
    def is_postgres(self) -> bool:
        return self.location.backend == POSTGRESQL

    def _open(self) -> Store:
        return open_for_threads(self.location, readonly=self.readonly)

    @contextmanager
    def store(self) -> Iterator[Store]:
        """A store for the calling thread; returned to the pool afterwards.

        A database error in the block comes out as :class:`StoreError` saying the
        condition the way every command does ("database file is damaged (run
        `logconsole doctor`)", "disk is full", a PostgreSQL server's reason), not
        the driver's symptom.
        """
        try:
            store = self._idle.get_nowait()
        except queue.Empty:
            store = self._open()
        try:
            yield store
        except Exception as exc:
            text = store.describe_error(exc)
            if text is None:
                raise
            raise StoreError(text) from exc
        finally:
            # A read transaction left open (a COMMIT that failed after an interrupt)
            # would pin every later borrower to an old snapshot: close it instead.
            if self._closed or not store.reusable() or self._idle.qsize() >= self._keep:
                store.close()
            else:
                self._idle.put(store)

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection of a pooled store on a SQLite file (the file's own checks)."""
        with self.store() as store:
            conn = getattr(store, "conn", None)
            if not isinstance(conn, sqlite3.Connection):
                raise StoreError(f"{self.location.redacted()} is not a SQLite database")
            yield conn

    def change_signature(self) -> object:
        """Something that stays equal while nothing was committed, learnt without a
        query: a SQLite file's stat (:func:`files_signature`).  A PostgreSQL
        database has none, so it is a value equal to no other: the caller polls
        (the newest id, one index lookup)."""
        if self.path is None:
            return object()
        return files_signature(self.path)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


@dataclass(frozen=True, slots=True)
class Neighbours:
    """Keyset anchors for a page: the row just before it and the row just after it."""

    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def fetch_page_rows(
    store: Store,
    flt: Filter,
    sort: Sort,
    page: int,
    *,
    total: int | None,
    neighbours: Neighbours = Neighbours(),
    page_size: int = PAGE_SIZE,
    snapshot_id: int = 0,
) -> list[dict[str, Any]]:
    """Rows ``page * page_size`` .. ``+ page_size`` of the view.

    The cheapest path wins: a keyset continuation from a cached neighbour
    (cost independent of depth), else an offset from whichever end is nearer
    (so "jump to end" at a million rows reads a few hundred rows, not a million).

    ``snapshot_id`` (unless 0) is the newest id of the view as counted
    (``total`` is its count): rows with a higher id arrived later and are left
    out, wherever they sort.  Arrivals do not all sort at the top: an import, a
    back-dated syslog line or a sample stamped before a record committed ahead
    of it ranks among older rows, so skipping "as many rows as arrived" from the
    top would drop rows that belong to the page.  Bounding every page of a view
    by one id makes all of them read the same moment as its count.
    """
    if snapshot_id:
        flt = up_to(flt, snapshot_id)
    if neighbours.before is not None:
        return store.page(flt, sort, limit=page_size, after=query.cursor_of(neighbours.before, sort))
    if neighbours.after is not None:
        rows = store.page(flt, sort.flipped(), limit=page_size, after=query.cursor_of(neighbours.after, sort.flipped()))
        rows.reverse()
        return rows
    start = page * page_size
    if total is not None and start > total // 2:
        end = min(start + page_size, total)
        from_end = total - end
        rows = store.page_at(flt, sort.flipped(), limit=end - start, offset=from_end)
        rows.reverse()
        return rows
    return store.page_at(flt, sort, limit=page_size, offset=start)


def up_to(flt: Filter, snapshot_id: int) -> Filter:
    """``flt`` narrowed to rows stored no later than ``snapshot_id`` (ids only grow)."""
    return flt.with_(where=(*flt.where, Condition("id", "<=", snapshot_id)))


def count_after(store: Store, flt: Filter, after_id: int) -> int:
    """How many rows matching ``flt`` have an id above ``after_id`` (new arrivals)."""
    return store.count_after(flt, after_id)


def max_id(store: Store) -> int:
    """The highest record id (0 when empty): one lookup at the end of the id index."""
    return store.max_id()


def is_empty(store: Store) -> bool:
    return store.is_empty()


def files_signature(path: Path) -> tuple[tuple[int, int, int] | None, ...]:
    """Inode, size and modification time of the database file and its WAL.

    Every commit writes one of them (the WAL in WAL mode, the file itself
    otherwise), so while the signature stays the same nothing was committed and
    a poll would find nothing: two ``stat`` calls instead of a thread and a query.
    """
    out: list[tuple[int, int, int] | None] = []
    for suffix in ("", "-wal"):
        try:
            st = os.stat(f"{path}{suffix}")
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


__all__ = [
    "PAGE_SIZE", "STORE_ERRORS", "ConnectionPool", "store_error_text", "Cursor", "Neighbours", "count_after",
    "fetch_page_rows", "files_signature", "is_empty", "max_id", "store_location", "up_to",
]
