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
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logconsole.collectors.sink import FileOffset
from logconsole.ingest import Redactor, Row, Trusted, normalize
from logconsole.store.db import connect
from logconsole.store.writer import BatchWriter, encode_row

log = logging.getLogger("logconsole.daemon")

DEFAULT_CAPACITY = 10_000
DEFAULT_MAX_BATCH = 10_000
COMMIT_RETRIES = 3
RETRY_DELAY = 0.5

_STOP = object()


class CommitError(RuntimeError):
    """A batch could not be committed (its records are counted as dropped)."""


@dataclass(slots=True)
class _SyncMark:
    future: asyncio.Future[None]
    dropped: int
    """The drop count when the mark was queued: any drop after it fails the sync."""


@dataclass(slots=True)
class Counters:
    """Figures the daemon reports about itself (health records, ``stats``)."""

    received: int = 0
    committed: int = 0
    rejected: int = 0
    dropped: int = 0
    answers_dropped: int = 0
    connections: int = 0
    started: float = field(default_factory=time.monotonic)


class Pipeline:
    """Normalise, queue and commit records; resolve syncs in order."""

    def __init__(
        self,
        db_path: Path,
        *,
        redactor: Redactor,
        capacity: int = DEFAULT_CAPACITY,
        max_batch: int = DEFAULT_MAX_BATCH,
        group_readable: bool = False,
    ) -> None:
        self.db_path = db_path
        self.group_readable = group_readable
        self.redactor = redactor
        self.max_batch = max_batch
        self.counters = Counters()
        self._queue: asyncio.Queue[Any] = asyncio.Queue(capacity)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="logconsole-writer")
        self._conn: sqlite3.Connection | None = None
        self._writer: BatchWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._rate_mark = (time.monotonic(), 0)
        self._last_error = ""

    # -- the Sink -------------------------------------------------------------

    async def put_raw(
        self, raw: dict[str, Any], *, kind: str | None = None, trusted: Mapping[str, Any] | Trusted | None = None,
        offset: FileOffset | None = None,
    ) -> None:
        """Normalise and queue one record (with the file offset reached after it, if
        any: one queue item, so one transaction); raises ``IngestError`` when invalid."""
        row = normalize(raw, kind=kind, redactor=self.redactor, trusted=trusted)
        if offset is None:
            await self.put_row(row)
        else:
            self.counters.received += 1
            await self._queue.put((encode_row(row), offset))

    async def put_offset(self, mark: FileOffset) -> None:
        """Queue a tailed file's offset, committed with the records put before it."""
        await self._queue.put(mark)

    # -- more doors -----------------------------------------------------------

    async def put_row(self, row: Row) -> None:
        """Queue an already normalised row (waits while the queue is full)."""
        self.counters.received += 1
        await self._queue.put(encode_row(row))

    async def sync(self) -> None:
        """Return once everything queued before this call is committed.

        Raises :class:`CommitError` when a batch it waited for could not be stored.
        """
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(_SyncMark(fut, self.counters.dropped))
        await fut

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

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
        self._conn = await loop.run_in_executor(self._executor, self._open)
        self._writer = BatchWriter(self._conn)
        self._pump = asyncio.create_task(self._run(), name="writer-pump")

    def _open(self) -> sqlite3.Connection:
        return connect(self.db_path, group_readable=self.group_readable)

    async def close(self) -> None:
        """Commit everything queued, then close the database."""
        if self._pump is not None:
            await self._queue.put(_STOP)
            await self._pump
            self._pump = None
        loop = asyncio.get_running_loop()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await loop.run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)

    # -- the pump -------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await queue.get()
            items = [first]
            while len(items) < self.max_batch and not queue.empty():
                items.append(queue.get_nowait())
            rows: list[Row] = []
            offsets: list[tuple[str, int, int, str]] = []
            syncs: list[_SyncMark] = []
            for item in items:
                if isinstance(item, dict):
                    rows.append(item)
                elif isinstance(item, tuple):
                    row, mark = item
                    rows.append(row)
                    offsets.append((mark.path, mark.inode, mark.offset, mark.head))
                elif isinstance(item, FileOffset):
                    offsets.append((item.path, item.inode, item.offset, item.head))
                elif isinstance(item, _SyncMark):
                    syncs.append(item)
                elif item is _STOP:
                    stopping = True
            if rows or offsets:
                error = await self._commit(loop, rows, offsets)
                if error is not None:
                    self._last_error = error
            for mark in syncs:
                if mark.future.done():
                    continue
                if self.counters.dropped == mark.dropped:
                    mark.future.set_result(None)
                else:
                    mark.future.set_exception(CommitError(self._last_error))

    async def _commit(
        self, loop: asyncio.AbstractEventLoop, rows: list[Row], offsets: list[tuple[str, int, int, str]]
    ) -> str | None:
        """Commit one batch, retrying a locked or busy database; the reason on failure."""
        assert self._writer is not None
        reason = ""
        for attempt in range(COMMIT_RETRIES):
            try:
                stored = await loop.run_in_executor(self._executor, self._writer.commit, rows, offsets)
            except sqlite3.Error as exc:
                log.warning("commit of %d records failed (attempt %d): %s", len(rows), attempt + 1, exc)
                reason = f"database error: {exc}"
                if attempt + 1 < COMMIT_RETRIES:
                    await asyncio.sleep(RETRY_DELAY)
                continue
            except Exception as exc:  # a bug must not stop the pump: every later record would wait forever
                log.exception("commit of %d records failed", len(rows))
                reason = f"internal error: {type(exc).__name__}: {exc}"
                break
            self.counters.committed += stored
            if stored < len(rows):
                self.counters.dropped += len(rows) - stored
                log.error("dropped %d records holding text that cannot be stored", len(rows) - stored)
                return "a record held text that cannot be stored"
            return None
        self.counters.dropped += len(rows)
        log.error("dropped %d records: %s", len(rows), reason)
        return reason
