"""Opening the database: private file modes, pragmas, and the upgrade (:mod:`.migrations`)."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from logconsole.store.errors import DAMAGED, describe
from logconsole.store.migrations import SchemaError, refuse_newer, upgrade
from logconsole.store.wal import JOURNAL_SIZE_LIMIT


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message says why."""


def _precreate(path: Path, group_readable: bool) -> None:
    """Create the file (and its folder) before SQLite does, with private modes.

    SQLite gives the ``-wal`` and ``-shm`` files the mode of the database file.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = 0o640 if group_readable else 0o600
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except FileExistsError:
        return
    os.close(fd)
    os.chmod(path, mode)  # the umask may have taken bits away; never adds any


def connect(
    path: str | os.PathLike[str],
    *,
    readonly: bool = False,
    group_readable: bool = False,
    check_same_thread: bool = True,
    backfills: bool = True,
) -> sqlite3.Connection:
    """Open (creating and migrating unless ``readonly``) the store at ``path``.

    ``backfills=False`` leaves pending backfills to the caller
    (:class:`~logconsole.store.migrations.Backfiller`)."""
    path = Path(path)
    if readonly:
        if not path.exists():
            raise StoreError(f"no database at {path}")
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=check_same_thread, isolation_level=None)
    else:
        try:
            _precreate(path, group_readable)
        except OSError as exc:
            raise StoreError(f"cannot create database {path}: {exc.strerror}") from None
        conn = sqlite3.connect(path, check_same_thread=check_same_thread, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        refuse_newer(conn)  # before anything writes: a newer database is left untouched
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -32000")
        conn.execute("PRAGMA temp_store = MEMORY")
        if not readonly:
            upgrade(conn, backfills=backfills)
    except SchemaError as exc:
        conn.close()
        raise StoreError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"cannot open {path}: {describe(exc)}") from None
    return conn


def file_size(path: str | os.PathLike[str]) -> int:
    """Bytes on disk of the database with its WAL (:func:`logconsole.store.wal.wal_size` alone)."""
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.path.getsize(f"{os.fspath(path)}{suffix}")
        except OSError:
            pass
    return total


QUICK_CHECK_SECONDS = 10.0
"""How long the collector's start-up check may take before it goes on unchecked."""


@dataclass(frozen=True, slots=True)
class QuickCheck:
    """The outcome of :func:`quick_check`.

    ``complete`` is False when the time ran out first (a large database): then
    nothing is known, and ``problems`` is empty.
    """

    complete: bool
    problems: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return bool(self.problems)


def quick_check(conn: sqlite3.Connection, seconds: float = QUICK_CHECK_SECONDS, *, limit: int = 1) -> QuickCheck:
    """``PRAGMA quick_check(limit)``, abandoned after ``seconds``.

    It reads every page (about a second per gigabyte from the page cache), so
    it is bounded: a collector must not stay down for minutes because its
    database is large.  The check stops at ``limit`` problems (one is enough to
    refuse a file).  SQLite may end a check of a badly damaged file with
    "database disk image is malformed" instead of a listing: that is damage too.
    """
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        lines = [str(row[0]) for row in conn.execute(f"PRAGMA quick_check({int(limit)})")]
    except sqlite3.OperationalError as exc:
        if time.monotonic() > deadline and "interrupted" in str(exc):
            return QuickCheck(False)
        raise
    except sqlite3.DatabaseError as exc:
        lines = [str(exc)]
    finally:
        conn.set_progress_handler(None, 0)
    return QuickCheck(True, check_problems(lines))


def check_before_writing(conn: sqlite3.Connection, path: str | os.PathLike[str],
                         seconds: float = QUICK_CHECK_SECONDS) -> QuickCheck:
    """The check the doors that store records (the collector, ``import``) run
    before accepting any: :class:`StoreError` when the file is damaged, so
    nothing is acknowledged into it.  The result says whether it finished."""
    try:
        result = quick_check(conn, seconds)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot check {os.fspath(path)}: {describe(exc)}") from None
    if result.damaged:
        raise StoreError(f"{os.fspath(path)}: {DAMAGED}; first problem found: {result.problems[0]}")
    return result


def check_problems(lines: list[str]) -> list[str]:
    """The problems in the rows of an integrity or quick check, one per item.

    SQLite answers ``ok``, or rows that may each hold several lines under a
    ``*** in database main ***`` heading.
    """
    out = []
    for row in lines:
        for line in row.splitlines():
            line = line.strip()
            if line and line != "ok" and not line.startswith("*** in database"):
                out.append(line)
    return out
