"""The write-ahead log: how big it is, and giving its space back.

SQLite appends every commit to ``DB-wal`` and copies the pages into the
database file at a checkpoint.  The log is only rewritten from its start once
a checkpoint has copied everything and no reader still looks at the old
pages; while a reader holds an old snapshot (a console counting a million
rows, a long export) the log keeps growing, and the file keeps that size
until something truncates it.  Two things give the space back:

* :data:`JOURNAL_SIZE_LIMIT` on every writing connection: when the log is
  rewritten from its start, SQLite cuts the file down to this size;
* a ``TRUNCATE`` checkpoint (:func:`checkpoint`) when nothing is writing: the
  collector runs one after it has been idle a short while, ``prune`` after
  its last batch.

A checkpoint that must wait for readers also holds up writers while it
waits, so the collector's and retention's checkpoints do not wait at all and
are simply tried again later; ``prune``'s last one waits only briefly
(:data:`CHECKPOINT_WAIT`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass

JOURNAL_SIZE_LIMIT = 16 << 20
"""Bytes the log file keeps when it is rewritten from its start (about four
times what the automatic checkpoint lets it reach when readers come and go)."""

CHECKPOINT_WAIT = 0.1
"""Seconds a checkpoint waits for readers and writers before giving up for now."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a checkpoint did: ``log`` pages in the log, ``copied`` of them in the database."""

    busy: bool
    log: int
    copied: int

    @property
    def complete(self) -> bool:
        """Every page of the log is in the database file (the next writer starts the log afresh)."""
        return not self.busy and self.copied >= self.log


def wal_path(db_path: str | os.PathLike[str]) -> str:
    return f"{os.fspath(db_path)}-wal"


def wal_size(db_path: str | os.PathLike[str]) -> int:
    """Bytes of the database's write-ahead log file (0 when there is none)."""
    try:
        return os.path.getsize(wal_path(db_path))
    except OSError:
        return 0


def checkpoint(conn: sqlite3.Connection, mode: str = "PASSIVE", *, wait: float = CHECKPOINT_WAIT) -> Checkpoint:
    """Run ``PRAGMA wal_checkpoint(mode)``, waiting at most ``wait`` seconds for locks.

    ``mode`` is ``PASSIVE`` (copy what no reader needs, never wait),
    ``RESTART`` or ``TRUNCATE`` (also start the log afresh, ``TRUNCATE``
    cutting the file to zero bytes).  The connection's own busy timeout is put
    back afterwards.
    """
    if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
        raise ValueError(f"unknown checkpoint mode {mode!r}")
    previous = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
    try:
        busy, log, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(previous)}")
    return Checkpoint(bool(busy), int(log), int(copied))


def settle(conn: sqlite3.Connection, timeout: float, *, interval: float = 0.02) -> bool:
    """``RESTART`` checkpoints until one completes, for at most ``timeout`` seconds.

    Between the batches of a long delete: a reader still using the log is
    waited for between attempts (never inside one, so writers are not held up),
    readers that begin after the checkpoint read the database file only, and
    the next batch rewrites the log from its start instead of growing it.
    Returns whether it got there.
    """
    deadline = time.monotonic() + timeout
    while True:
        # No waiting inside SQLite: a checkpoint that waits for readers holds
        # writers (the collector) up for as long.  Readers are waited for here.
        if checkpoint(conn, "RESTART", wait=0).complete:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
