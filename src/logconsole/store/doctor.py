"""Checking a database file, and copying what is readable out of a damaged one.

:func:`diagnose` runs SQLite's ``integrity_check`` and the full-text index's
own ``integrity-check`` (which compares the index with the records).  Neither
writes: the full-text check is an ``INSERT`` command, so it runs on a
read-write connection inside a transaction that is rolled back.

:func:`recover` copies the records row by row, in id order, into a new file
made with the current schema (so its full-text index is built as the rows go
in), then the small tables.  A damaged page makes a read fail; the walk then
steps over the ids it cannot read (an exponential probe, then a binary search
for the first id a read can reach again) and goes on, noting each unreadable
id range and, when an index still lists them, how many records it held.  The
damaged file is only read, never changed.  This needs nothing but Python's
``sqlite3``: the sqlite3 shell's ``.recover`` is not on every machine.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from logconsole.store.db import StoreError, check_problems, connect
from logconsole.store.migrations import SCHEMA_VERSION, newer_message, run_backfills, schedule_backfill
from logconsole.store.transaction import transaction

MIN_ID = -(1 << 63)
MAX_ID = (1 << 63) - 1
CHUNK = 2000
"""Rows read (and written) at a time while the reads succeed."""

SMALL_TABLES = ("meta", "file_offsets")
"""Tables copied whole besides the records."""

COUNTING_INDEX = "idx_records_time"
"""An index that lists every record's id: how many records an unreadable range held."""


@dataclass(slots=True)
class Diagnosis:
    """What the checks found; empty lists mean sound."""

    path: Path
    integrity: list[str] = field(default_factory=list)
    fts: list[str] | None = field(default_factory=list)
    """None: not checked (the file could not be read at all)."""

    @property
    def damaged(self) -> bool:
        return bool(self.integrity or self.fts)


@dataclass(frozen=True, slots=True)
class LostRange:
    """Ids the walk could not read: ``first`` to ``last`` (None: to the end)."""

    first: int
    last: int | None
    records: int | None
    """How many records the counting index lists in the range (None: unknown)."""


@dataclass(slots=True)
class Recovery:
    """What :func:`recover` copied and what it could not."""

    output: Path
    records: int = 0
    lost: list[LostRange] = field(default_factory=list)
    tables: dict[str, int | str] = field(default_factory=dict)
    """Rows copied per small table, or why it could not be read."""
    fts: list[str] = field(default_factory=list)
    """Problems of the new file's full-text index (empty: sound)."""


# ---------------------------------------------------------------- checking


def _open_raw(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """The file as it is: no migration, no pragma that writes."""
    if not path.exists():
        raise StoreError(f"no database at {path}")
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    uri = f"file:{path}?mode={'ro' if readonly else 'rw'}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _pragma_check(conn: sqlite3.Connection, pragma: str) -> list[str]:
    """``PRAGMA integrity_check(N)``'s problems.

    SQLite may end a check with "malformed" after listing fewer than N
    problems, and the sqlite3 module then drops the last listed row; fewer
    asked for, the listing comes back whole.
    """
    error: sqlite3.DatabaseError | None = None
    for limit in (100, 10, 1):
        try:
            return check_problems([str(r[0]) for r in conn.execute(f"PRAGMA {pragma}({limit})")])
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            error = exc
    return [str(error)]


def _fts_check(conn: sqlite3.Connection) -> list[str]:
    """The full-text index against the records (``rank`` 1: compare with the content)."""
    conn.execute("BEGIN")
    try:
        conn.execute("INSERT INTO records_fts(records_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return ["the full-text index is missing"]
        raise
    except sqlite3.DatabaseError as exc:
        return [f"the full-text index does not match the records ({exc})"]
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return []


def diagnose(path: str | os.PathLike[str], *, fts: bool = True) -> Diagnosis:
    """Run the integrity and full-text checks on ``path``; changes nothing.

    The full-text check is an ``INSERT`` command: it holds the write lock while
    it runs, so with ``fts`` False (a collector is writing) it is left out and
    :attr:`Diagnosis.fts` is None.
    """
    path = Path(path)
    out = Diagnosis(path)
    conn = _open_raw(path, readonly=False)
    try:
        try:
            conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            out.integrity = [f"the file cannot be read as a database ({exc})"]
            out.fts = None
            return out
        out.integrity = _pragma_check(conn, "integrity_check")
        out.fts = _fts_check(conn) if fts else None
    finally:
        conn.close()
    return out


# ---------------------------------------------------------------- recovering


def default_output(path: Path) -> Path:
    """``logs.db`` -> ``logs.recovered.db``, beside it."""
    return path.with_name(f"{path.stem}.recovered{path.suffix or '.db'}")


class _Reader:
    """Reads records by id from the damaged file, one statement shape."""

    def __init__(self, conn: sqlite3.Connection, columns: list[str]) -> None:
        self.conn = conn
        self.sql = f"SELECT {', '.join(columns)} FROM records WHERE id >= ? ORDER BY id LIMIT ?"
        self.id_at = columns.index("id")

    def chunk(self, start: int, limit: int) -> tuple[list[tuple[object, ...]], bool]:
        """Rows from ``start`` on, and whether a damaged page stopped the read."""
        rows: list[tuple[object, ...]] = []
        try:
            for row in self.conn.execute(self.sql, (start, limit)):
                rows.append(row)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError:
            return rows, True
        return rows, False

    def first(self, start: int) -> tuple[bool, tuple[object, ...] | None]:
        """Whether the first row from ``start`` on can be read, and that row (None: no more rows)."""
        try:
            return True, self.conn.execute(self.sql, (start, 1)).fetchone()
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError:
            return False, None

    def next_readable(self, bad: int) -> tuple[int, tuple[object, ...] | None]:
        """The smallest id after ``bad`` (a start that fails) from which a read succeeds, with its row."""
        step = 1
        while True:
            probe = min(bad + step, MAX_ID)
            good, row = self.first(probe)
            if good or probe == MAX_ID:
                break
            bad, step = probe, step * 2
        low, high, found = bad, probe, row
        while high - low > 1:
            middle = (low + high) // 2
            good, row = self.first(middle)
            if good:
                high, found = middle, row
            else:
                low = middle
        return high, found


def _count_listed(conn: sqlite3.Connection, first: int, last: int | None) -> int | None:
    """How many records the counting index lists with ids in the range, if it can be read."""
    try:
        return int(conn.execute(
            f"SELECT count(*) FROM records INDEXED BY {COUNTING_INDEX} WHERE id BETWEEN ? AND ?",
            (first, MAX_ID if last is None else last),
        ).fetchone()[0])
    except sqlite3.DatabaseError:
        return None


def recover(
    path: str | os.PathLike[str], output: str | os.PathLike[str], *,
    progress: Callable[[int], None] | None = None, chunk: int = CHUNK,
) -> Recovery:
    """Copy what is readable of the store at ``path`` into a new store at ``output``.

    ``output`` must not exist.  ``progress`` gets the number of records copied
    so far.  The file at ``path`` is opened read-only.
    """
    path, output = Path(path), Path(output)
    if output.exists():
        raise StoreError(f"{output} already exists; choose another --output")
    src = _open_raw(path, readonly=True)
    # Without this a schema naming a page past the end of a truncated file makes
    # every statement fail; the connection is read-only, so nothing can be written.
    src.execute("PRAGMA writable_schema = ON")
    try:
        try:
            version = src.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} cannot be read as a database ({exc}); nothing to recover") from None
        if version > SCHEMA_VERSION:
            raise StoreError(newer_message(path, version, SCHEMA_VERSION))
        dest = connect(output)
        try:
            result = Recovery(output)
            _copy_records(src, dest, result, progress, chunk)
            for table in SMALL_TABLES:
                result.tables[table] = _copy_table(src, dest, table)
            # Groups are made anew from the records recovered (counts true to
            # what was saved; a group's status follows its records' resolution).
            schedule_backfill(dest, "groups")
            run_backfills(dest)
            result.fts = _fts_check(dest)
        except BaseException:
            dest.close()
            for suffix in ("", "-wal", "-shm"):  # no half-made copy left behind
                Path(f"{output}{suffix}").unlink(missing_ok=True)
            raise
        dest.close()
    finally:
        src.close()
    return result


def _columns(src: sqlite3.Connection, dest: sqlite3.Connection) -> list[str]:
    """The columns to copy: those both stores have, but ``group_id`` (the new
    store groups the recovered errors itself)."""
    wanted = [r[1] for r in dest.execute("PRAGMA table_info(records)") if r[1] != "group_id"]
    try:
        found = {r[1] for r in src.execute("PRAGMA table_info(records)")}
    except sqlite3.DatabaseError:
        found = set()
    return [c for c in wanted if c in found]


def _copy_records(
    src: sqlite3.Connection, dest: sqlite3.Connection, result: Recovery,
    progress: Callable[[int], None] | None, chunk: int,
) -> None:
    columns = _columns(src, dest)
    if "id" not in columns:
        result.lost.append(LostRange(MIN_ID, None, _count_listed(src, MIN_ID, None)))
        return
    reader = _Reader(src, columns)
    insert = f"INSERT INTO records ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    highest = 0

    def store(rows: list[tuple[object, ...]]) -> int:
        nonlocal highest
        with transaction(dest):
            dest.executemany(insert, rows)
        result.records += len(rows)
        highest = max(highest, int(rows[-1][reader.id_at]))  # type: ignore[call-overload]
        if progress is not None:
            progress(result.records)
        return int(rows[-1][reader.id_at]) + 1  # type: ignore[call-overload]

    start = MIN_ID
    while True:
        rows, failed = reader.chunk(start, chunk)
        if rows:
            start = store(rows)
        if not failed:
            if len(rows) < chunk:
                break
            continue
        # The row just before the damage may have been dropped with the error: read singly up to it.
        while True:
            good, row = reader.first(start)
            if not good:
                break
            if row is None:
                start = MAX_ID
                break
            start = store([row])
        if start == MAX_ID:
            break
        resume, row = reader.next_readable(start)
        last = None if row is None else int(row[reader.id_at]) - 1  # type: ignore[call-overload]
        result.lost.append(LostRange(start, last, _count_listed(src, start, last)))
        if row is None:
            break
        start = resume
    _keep_sequence(src, dest, highest)


def _keep_sequence(src: sqlite3.Connection, dest: sqlite3.Connection, highest: int) -> None:
    """New records get ids above every id the damaged file handed out, read or not."""
    try:
        row = src.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
        seq = int(row[0]) if row else 0
    except sqlite3.DatabaseError:
        seq = 0
    top = max(seq, highest)
    if top:
        with transaction(dest):
            dest.execute("DELETE FROM sqlite_sequence WHERE name = 'records'")
            dest.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('records', ?)", (top,))


def _copy_table(src: sqlite3.Connection, dest: sqlite3.Connection, table: str) -> int | str:
    """Copy a small table whole; the rows copied, or why it could not be read."""
    try:
        cur = src.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    except sqlite3.OperationalError as exc:
        return str(exc)
    except sqlite3.DatabaseError as exc:
        return f"unreadable ({exc})"
    if rows:
        with transaction(dest):
            dest.executemany(
                f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})", rows,
            )
    return len(rows)


__all__ = ["Diagnosis", "LostRange", "Recovery", "default_output", "diagnose", "recover"]
