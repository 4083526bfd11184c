"""The daemon's :class:`~logconsole.collectors.sink.Sink`: ingest, one bounded
queue, and a pump that hands batches to the writer thread.

Every collector (socket, health sampler, file tailer) calls :meth:`Pipeline.put_raw`,
which normalises the record (validation, aliases, redaction, trusted fields)
and awaits room in the queue.  A full queue makes the caller wait: the socket
server stops reading its clients, so the kernel's socket buffers and then the
clients themselves slow down.  Nothing is dropped to make room.

The pump takes everything queued (up to ``max_batch`` items) and commits it in
one transaction on the writer thread; while that commit runs, the next batch
gathers.  A sync mark in the queue is a future resolved once everything queued
before it is committed.

A database that refuses a batch (full disk, a lock held by another process, a
damaged file, or a fault of our own) never costs the batch: it is kept and
tried again with a growing delay (up to ``retry_max_delay``) for as long as it
takes, while the queue fills and the sockets stop being read.  A sync waits at
most ``sync_timeout`` seconds and then fails with the reason, leaving the
records queued.  When the daemon stops while the database still refuses, what
is held in memory goes to a spill file (:mod:`logconsole.collectors.spill`).

On PostgreSQL (``db_path`` a :class:`~logconsole.store.url.StoreURL`) the
batches go through the store's writer (``COPY``); a connection the server
dropped (a restart, a terminated backend) is a refusal like a lock: the
writer connects again on the next attempt, and a batch whose commit reached
the server before the connection went is recognised by its ids and not
stored twice (:class:`_PgLink`).

An upgraded database may have backfills pending (fingerprints and groups for
the errors of an older release): the pump runs them a short batch at a time
on the writer thread, after each batch of records and while the queue is
idle, so records are taken and committed all along.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logconsole.collectors.sink import FileOffset
from logconsole.collectors.spill import Spill, SpillError, write_spill
from logconsole.ingest import Redactor, Row, Trusted, normalize
from logconsole.store.db import connect
from logconsole.store.errors import describe
from logconsole.store.groups import GroupEvent
from logconsole.store.migrations import Backfiller, SchemaError, pending_backfills
from logconsole.store.url import StoreURL
from logconsole.store.writer import BatchWriter, OffsetValues, encode_row

log = logging.getLogger("logconsole.daemon")

DEFAULT_CAPACITY = 10_000
DEFAULT_MAX_BATCH = 10_000
DEFAULT_SYNC_TIMEOUT = 30.0
"""Seconds a sync waits for its records to be committed before it is answered with the reason."""
DEFAULT_BUSY_TIMEOUT = 5.0
"""Seconds one commit attempt waits for a lock held by another connection."""
DEFAULT_RETRY_MAX_DELAY = 5.0
"""Longest pause between two commit attempts of a refused batch."""
FIRST_RETRY_DELAY = 0.05

UNSTORABLE = "a record held text that cannot be stored"

_STOP = object()


class CommitError(RuntimeError):
    """A sync cannot be answered ``ok``; the message is the reason.

    ``retrying``: the records are kept and the writer keeps trying (the client
    must not send them again); false when a record was refused for good.
    """

    def __init__(self, reason: str, *, retrying: bool) -> None:
        super().__init__(reason)
        self.retrying = retrying


@dataclass(slots=True)
class _SyncMark:
    future: asyncio.Future[None]
    dropped: int
    """The count of unstorable records when the mark was queued: any after it fails the sync."""


@dataclass(slots=True)
class Counters:
    """Figures the daemon reports about itself (health records, ``stats``)."""

    received: int = 0
    committed: int = 0
    rejected: int = 0
    dropped: int = 0
    """Records refused by the writer because a value cannot be stored (a lone surrogate)."""
    answers_dropped: int = 0
    connections: int = 0
    failed_commits: int = 0
    spilled: int = 0
    lost: int = 0
    """Records that could neither be committed nor written to a spill file."""
    started: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class WriterTimings:
    """How long the writer waits, settable so that tests take seconds."""

    sync_timeout: float = DEFAULT_SYNC_TIMEOUT
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    retry_max_delay: float = DEFAULT_RETRY_MAX_DELAY


@dataclass(slots=True)
class _MetaWrite:
    """``meta`` values to commit with the next batch; the future is resolved once they are."""

    values: dict[str, str]
    future: asyncio.Future[None]


@dataclass(slots=True)
class _Batch:
    rows: list[Row] = field(default_factory=list)
    offsets: list[OffsetValues] = field(default_factory=list)
    syncs: list[_SyncMark] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    meta_writes: list[_MetaWrite] = field(default_factory=list)
    stop: bool = False

    def add(self, item: Any) -> None:
        if isinstance(item, dict):
            self.rows.append(item)
        elif isinstance(item, tuple):
            row, mark = item
            self.rows.append(row)
            self.offsets.append((mark.path, mark.inode, mark.offset, mark.head))
        elif isinstance(item, FileOffset):
            self.offsets.append((item.path, item.inode, item.offset, item.head))
        elif isinstance(item, _SyncMark):
            self.syncs.append(item)
        elif isinstance(item, _MetaWrite):
            self.meta.update(item.values)
            self.meta_writes.append(item)
        elif item is _STOP:
            self.stop = True


class Pipeline:
    """Normalise, queue and commit records; resolve syncs in order."""

    def __init__(
        self,
        db_path: Path | StoreURL,
        *,
        redactor: Redactor,
        capacity: int = DEFAULT_CAPACITY,
        max_batch: int = DEFAULT_MAX_BATCH,
        group_readable: bool = False,
        timings: WriterTimings | None = None,
        spill_places: Sequence[Path] = (),
        host: str | None = None,
    ) -> None:
        self.db_path = db_path
        self.host = host or socket.gethostname()
        """Stamped on every record that names no ``host`` of its own."""
        self.group_readable = group_readable
        self.redactor = redactor
        self.max_batch = max_batch
        self.timings = timings or WriterTimings()
        self.spill_places = tuple(spill_places)
        """Where records go when the daemon stops before it can commit them, in order of preference."""
        self.counters = Counters()
        self.condition = ""
        """Why the writer cannot commit right now (empty while it can)."""
        self.spill_path: Path | None = None
        self.spill_error = ""
        self._items: deque[Any] = deque()
        self._capacity = capacity
        self._bounded = True
        self._room = asyncio.Event()
        self._ready = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="logconsole-writer")
        self._conn: sqlite3.Connection | None = None
        self._writer: BatchWriter | None = None
        self._pg: _PgLink | None = None
        """The PostgreSQL store and writer, when ``db_path`` is a URL."""
        self._pump: asyncio.Task[None] | None = None
        self._backfiller: Backfiller | None = None
        self._rate_mark = (time.monotonic(), 0)
        self.on_commit: Callable[[range, list[GroupEvent]], None] | None = None
        """Called after each successful commit with its ids and group events
        (alerts); it must return at once."""

    # -- the Sink -------------------------------------------------------------

    async def put_raw(
        self, raw: dict[str, Any], *, kind: str | None = None, trusted: Mapping[str, Any] | Trusted | None = None,
        offset: FileOffset | None = None,
    ) -> None:
        """Normalise and queue one record (with the file offset reached after it, if
        any: one queue item, so one transaction); raises ``IngestError`` when invalid."""
        row = self.normalize(raw, kind=kind, trusted=trusted)
        if offset is None:
            await self.put_row(row)
        else:
            self.counters.received += 1
            await self._put((encode_row(row), offset))

    def normalize(
        self, raw: Mapping[str, Any], *, kind: str | None = None, trusted: Mapping[str, Any] | Trusted | None = None,
    ) -> Row:
        """``raw`` as a row, with this daemon's redaction and host name; raises ``IngestError``."""
        return normalize(raw, kind=kind, redactor=self.redactor, trusted=trusted, host=self.host)

    async def put_offset(self, mark: FileOffset) -> None:
        """Queue a tailed file's offset, committed with the records put before it."""
        await self._put(mark)

    # -- more doors -----------------------------------------------------------

    async def put_row(self, row: Row) -> None:
        """Queue an already normalised row (waits while the queue is full)."""
        self.counters.received += 1
        await self._put(encode_row(row))

    async def put_rows(self, rows: Sequence[Row], *, wait: float) -> bool:
        """Queue normalised rows all together, or none of them: false when the
        queue stays full for ``wait`` seconds (a door that can answer "later",
        such as OTLP/HTTP, says so instead of holding its client).

        Once there is room the rows go in at once, so the queue may pass its
        capacity by one call's rows.
        """
        if self._bounded and len(self._items) >= self._capacity:
            try:
                await asyncio.wait_for(self._room_for_more(), wait)
            except TimeoutError:
                return False
        self.counters.received += len(rows)
        self._items.extend(encode_row(row) for row in rows)
        self._ready.set()
        return True

    async def _room_for_more(self) -> None:
        while self._bounded and len(self._items) >= self._capacity:
            self._room.clear()
            await self._room.wait()

    async def sync(self) -> None:
        """Return once everything queued before this call is committed.

        Raises :class:`CommitError` with the reason when a record before it was
        refused for good, or when ``sync_timeout`` passes first (the records
        stay queued and are committed once the database takes them).
        """
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        mark = _SyncMark(fut, self.counters.dropped)
        timeout = self.timings.sync_timeout
        try:
            await asyncio.wait_for(self._queue_and_wait(mark), timeout)
        except TimeoutError:
            raise CommitError(self.condition or f"not committed within {timeout:g} s (the writer is behind)",
                              retrying=True) from None

    async def write_meta(self, values: Mapping[str, str]) -> None:
        """Commit ``values`` to the ``meta`` table in the writer's next transaction (the
        forwarder's cursor): the writer is the one connection that writes, so
        another one never waits for its lock nor makes it wait.  Raises
        :class:`CommitError` when the daemon stops before the database takes them."""
        write = _MetaWrite(dict(values), asyncio.get_running_loop().create_future())
        # At the head of the queue, past the bound: it is tiny and concerns no
        # record, so it is the very next (short) transaction, not one after a full queue.
        self._items.appendleft(write)
        self._ready.set()
        await write.future

    async def _queue_and_wait(self, mark: _SyncMark) -> None:
        await self._put(mark)
        await mark.future

    async def _put(self, item: Any) -> None:
        items = self._items
        while self._bounded and len(items) >= self._capacity:
            self._room.clear()
            await self._room.wait()
        items.append(item)
        self._ready.set()

    @property
    def queue_depth(self) -> int:
        return len(self._items)

    def records_per_s(self) -> float:
        """Committed records per second since the previous call."""
        now = time.monotonic()
        then, count = self._rate_mark
        self._rate_mark = (now, self.counters.committed)
        elapsed = now - then
        return round((self.counters.committed - count) / elapsed, 2) if elapsed > 0 else 0.0

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Open the database on the writer thread and start the pump."""
        loop = asyncio.get_running_loop()
        if isinstance(self.db_path, StoreURL):
            self._pg = _PgLink(self.db_path, self.host)
            await loop.run_in_executor(self._executor, self._pg.connect)
            return await self._start_pump()
        self._conn = await loop.run_in_executor(self._executor, self._open)
        self._writer = BatchWriter(self._conn)
        if await loop.run_in_executor(self._executor, pending_backfills, self._conn):
            self._backfiller = Backfiller(self._conn)
            log.info("filling in the upgraded database in the background")
        await self._start_pump()

    async def _start_pump(self) -> None:
        self._pump = asyncio.create_task(self._run(), name="writer-pump")

    def _open(self) -> sqlite3.Connection:
        assert isinstance(self.db_path, Path)
        conn = connect(self.db_path, group_readable=self.group_readable, backfills=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timings.busy_timeout * 1000)}")
        return conn

    @property
    def backfilling(self) -> bool:
        """Whether an upgrade's backfill is still running."""
        return self._backfiller is not None

    def _backfill_step(self) -> bool | None:
        """One short backfill transaction on the writer thread: ``True`` while
        there is more, ``False`` once there is nothing left (or it cannot go on:
        logged, records unaffected), ``None`` when the database refused it now."""
        assert self._backfiller is not None
        try:
            return self._backfiller.step()
        except SchemaError as exc:
            log.error("cannot fill in the upgraded database: %s", exc)
            return False
        except sqlite3.Error as exc:
            log.warning("backfill paused: %s", describe(exc))
            return None

    async def _backfill(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._backfiller is None:
            return
        more = await loop.run_in_executor(self._executor, self._backfill_step)
        if more is None and not self._items:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self.timings.retry_max_delay)
        elif not more:
            self._backfiller = None
            log.info("the upgraded database is filled in")

    def open_floodgates(self) -> None:
        """Stop making senders wait for room: the daemon is stopping and takes what
        clients already sent (into memory; committed or spilled by :meth:`close`)."""
        self._bounded = False
        self._room.set()

    def request_stop(self) -> None:
        """Give up on a refused batch after one more attempt (it is then spilled)."""
        self._stop_requested.set()

    async def close(self) -> None:
        """Commit everything queued (spilling what the database refuses), then close it."""
        self.open_floodgates()
        self.request_stop()
        if self._pump is not None:
            await self._put(_STOP)
            await self._pump
            self._pump = None
        loop = asyncio.get_running_loop()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await loop.run_in_executor(self._executor, conn.close)
        if self._pg is not None:
            await loop.run_in_executor(self._executor, self._pg.close)
        self._executor.shutdown(wait=True)

    # -- replaying a spill ----------------------------------------------------

    async def replay(self, spill: Spill) -> bool:
        """Commit a spill file's records and offsets in one transaction, then remove it.

        Waits out a refusing database like any batch; false when the daemon was
        asked to stop first (the file is left for the next start).
        """
        assert self._writer is not None or self._pg is not None
        marker = spill.marker
        loop = asyncio.get_running_loop()
        done = await loop.run_in_executor(self._executor, self._replayed_before, marker)
        if not done:
            if not await self._commit(loop, spill.rows, [*spill.offsets, marker]):
                return False
            log.info("replayed %d records from %s", len(spill.rows), spill.path)
        else:
            log.info("%s was already replayed; removing it", spill.path)
        spill.path.unlink(missing_ok=True)
        await loop.run_in_executor(self._executor, self._forget_marker, marker)
        return True

    def _replayed_before(self, marker: OffsetValues) -> bool:
        if self._pg is not None:
            return self._pg.has_marker(marker)
        assert self._conn is not None
        found = self._conn.execute("SELECT 1 FROM file_offsets WHERE path = ? AND head = ?",
                                   (marker[0], marker[3])).fetchone()
        return found is not None

    def _forget_marker(self, marker: OffsetValues) -> None:
        """Remove the replay marker once its file is gone (a failure only leaves a stale row)."""
        if self._pg is not None:
            try:
                self._pg.forget_marker(marker)
            except Exception as exc:
                log.warning("could not remove the replay marker of %s: %s", marker[0], self._pg.describe(exc))
            return
        assert self._conn is not None
        try:
            self._conn.execute("DELETE FROM file_offsets WHERE path = ? AND head = ?", (marker[0], marker[3]))
        except sqlite3.Error as exc:
            log.warning("could not remove the replay marker of %s: %s", marker[0], describe(exc))

    # -- the pump -------------------------------------------------------------

    def _take(self) -> _Batch:
        items = self._items
        batch = _Batch()
        if isinstance(items[0], _MetaWrite):  # a transaction of its own, not one of a full batch
            while items and isinstance(items[0], _MetaWrite):
                batch.add(items.popleft())
            return batch
        for _ in range(min(len(items), self.max_batch)):
            batch.add(items.popleft())
        if len(items) < self._capacity:
            self._room.set()
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while True:
            while not self._items:
                if stopping:
                    return
                if self._backfiller is not None:
                    await self._backfill(loop)
                    continue
                self._ready.clear()
                await self._ready.wait()
            batch = self._take()
            stopping = stopping or batch.stop
            if (batch.rows or batch.offsets or batch.meta) and not await self._commit(
                    loop, batch.rows, batch.offsets, batch.meta):
                self._spill_everything(batch)
                return
            for write in batch.meta_writes:
                if not write.future.done():
                    write.future.set_result(None)
            for mark in batch.syncs:
                if mark.future.done():
                    continue
                if self.counters.dropped == mark.dropped:
                    mark.future.set_result(None)
                else:
                    mark.future.set_exception(CommitError(UNSTORABLE, retrying=False))
            if self._backfiller is not None and not stopping:
                await self._backfill(loop)

    async def _commit(self, loop: asyncio.AbstractEventLoop, rows: list[Row], offsets: list[OffsetValues],
                      meta: Mapping[str, str] | None = None) -> bool:
        """Commit one batch, waiting out a refusing database; false only when the
        daemon is stopping and the attempt made after the stop request failed too."""
        commit = self._pg.commit if self._pg is not None else self._writer.commit  # type: ignore[union-attr]
        delay = FIRST_RETRY_DELAY
        failing_since: float | None = None
        while True:
            last_chance = self._stop_requested.is_set()
            try:
                stored = await loop.run_in_executor(self._executor, commit, rows, offsets, meta)
            except Exception as exc:  # any failure keeps the batch; a bug must not stop the pump either
                known = self._pg.describe(exc) if self._pg is not None else (
                    describe(exc) if isinstance(exc, sqlite3.Error) else "")
                reason = known or f"internal error: {type(exc).__name__}: {exc}"
                self.counters.failed_commits += 1
                if reason != self.condition:
                    if known:
                        log.warning("cannot commit %d records: %s; keeping them and retrying", len(rows), reason)
                    else:
                        log.exception("cannot commit %d records; keeping them and retrying", len(rows))
                self.condition = reason
                if failing_since is None:
                    failing_since = time.monotonic()
                if last_chance:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), delay)
                delay = min(delay * 2, self.timings.retry_max_delay)
                continue
            if failing_since is not None:
                log.info("the database takes writes again: committed %d records held for %.1f s",
                         stored, time.monotonic() - failing_since)
            self.condition = ""
            self.counters.committed += stored
            writer = self._pg.writer if self._pg is not None else self._writer
            if self.on_commit is not None and writer is not None and (writer.ids or writer.events):
                self.on_commit(writer.ids, writer.events)
            if stored < len(rows):
                self.counters.dropped += len(rows) - stored
                log.error("refused %d records holding text that cannot be stored", len(rows) - stored)
            return True

    def _spill_everything(self, batch: _Batch) -> None:
        """The daemon is stopping and the database refuses: write the refused batch
        and everything still queued to a spill file, and fail the waiting syncs."""
        while self._items:
            batch.add(self._items.popleft())
        rows, offsets = batch.rows, batch.offsets
        try:
            self.spill_path = write_spill(self.spill_places, self.db_path, rows, offsets)
        except SpillError as exc:
            self.spill_error = str(exc) or "no place to write a spill file"
            self.counters.lost += len(rows)
            log.error("%d records could not be stored (%s) and no spill file could be written: %s",
                      len(rows), self.condition, self.spill_error)
            outcome = f"{self.condition}; the collector stopped and lost them"
        else:
            self.counters.spilled += len(rows)
            log.error("%d records could not be stored (%s) and were written to %s",
                      len(rows), self.condition, self.spill_path)
            outcome = f"{self.condition}; the collector stopped and kept them in {self.spill_path}"
        for mark in batch.syncs:
            if not mark.future.done():
                mark.future.set_exception(CommitError(outcome, retrying=False))
        for write in batch.meta_writes:
            if not write.future.done():
                write.future.set_exception(CommitError(self.condition, retrying=False))


class _PgLink:
    """The writer thread's PostgreSQL store: connects again after a lost
    connection, and tells a batch whose commit reached the server from one
    that did not.

    The ids of a batch are taken from the sequence before its ``COPY``
    (:mod:`logconsole.store.postgres.writer`), so when the connection goes
    while a commit is under way, the first of them says whether the
    transaction committed: found, the batch is stored and not sent again.
    """

    __slots__ = ("location", "host", "store", "writer", "_unsure")

    def __init__(self, location: StoreURL, host: str) -> None:
        self.location = location
        self.host = host
        self.store: Any = None
        self.writer: Any = None
        self._unsure: list[int] = []
        """The ids of a batch whose commit was under way when the connection went."""

    def connect(self) -> None:
        from logconsole.store.postgres.store import PostgresStore

        self.store = PostgresStore.open(self.location)
        self.writer = self.store.writer()
        self.writer.host = self.host

    def close(self) -> None:
        store, self.store, self.writer = self.store, None, None
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()

    def commit(self, rows: list[Row], offsets: list[OffsetValues], meta: Mapping[str, str] | None) -> int:
        if self.writer is None:
            self.connect()
            if self._unsure:
                landed = self.store.get(self._unsure[0]) is not None
                ids, self._unsure = self._unsure, []
                if landed:
                    self.writer.ids = ids
                    return len(ids)
        try:
            return int(self.writer.commit(rows, offsets, meta))
        except Exception as exc:
            from logconsole.store.postgres.errors import connection_lost

            if connection_lost(exc) or self.store.conn.closed:
                self._unsure = list(self.writer.ids)
                self.close()
            raise

    def has_marker(self, marker: OffsetValues) -> bool:
        if self.writer is None:
            self.connect()
        return bool(self.store.has_file_offset(self.host, marker[0], marker[3]))

    def forget_marker(self, marker: OffsetValues) -> None:
        if self.writer is None:
            self.connect()
        self.store.forget_file_offset(self.host, marker[0], marker[3])

    def describe(self, exc: BaseException) -> str:
        """One line naming the database; empty for an error that is not the database's."""
        from logconsole.store.db import StoreError
        from logconsole.store.postgres.errors import describe as pg_describe

        if isinstance(exc, StoreError):
            return str(exc)
        import psycopg

        return pg_describe(exc, self.location) if isinstance(exc, psycopg.Error) else ""
