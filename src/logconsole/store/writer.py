"""Writing rows: one statement per batch inside one transaction, with the
error groups the rows belong to kept in the same transaction
(:mod:`logconsole.store.groups`).

Rows come from :func:`logconsole.ingest.normalize`; nothing else writes records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from time import perf_counter

from logconsole.ingest import Row, encode_json
from logconsole.store import groups
from logconsole.store.schema import INSERT_COLUMNS
from logconsole.store.transaction import transaction
from logconsole.timeutil import format_ts, utcnow

VALUE_COLUMNS: tuple[str, ...] = tuple(c for c in INSERT_COLUMNS if c != "group_id")
"""The columns a row gives values for; ``group_id`` is looked up by fingerprint."""
_FINGERPRINT_AT = VALUE_COLUMNS.index("fingerprint")

INSERT_SQL = (
    f"INSERT INTO records ({', '.join(VALUE_COLUMNS)}, group_id) "
    f"VALUES ({', '.join('?' for _ in VALUE_COLUMNS)}, "
    f"{groups.GROUP_ID_SQL.format(fp=f'?{_FINGERPRINT_AT + 1}')})"
)
"""Insert one row (values from :func:`row_values`); it takes the id of its
fingerprint's group, which :func:`logconsole.store.groups.before_insert` made sure exists."""


def row_values(row: Row) -> tuple[object, ...]:
    return tuple(map(row.get, VALUE_COLUMNS))


def _consecutive_ids(conn: sqlite3.Connection, n: int) -> range:
    """The ids of the ``n`` rows just inserted in this transaction: consecutive,
    since ids are AUTOINCREMENT and the transaction holds the write lock."""
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    return range(last - n + 1, last + 1)


def insert_rows(conn: sqlite3.Connection, rows: Iterable[Row]) -> int:
    """Insert ``rows`` in one transaction with their groups; returns how many."""
    rows = list(rows)
    if not rows:
        return 0
    groups.fingerprint_missing(rows)
    values = [row_values(r) for r in rows]
    with transaction(conn):
        pending = groups.before_insert(conn, rows)
        conn.executemany(INSERT_SQL, values)
        if pending is not None:
            groups.after_insert(conn, pending, _consecutive_ids(conn, len(rows)))
    return len(values)


def insert_row(conn: sqlite3.Connection, row: Row) -> int:
    """Insert one row (with its group) and return its id."""
    groups.fingerprint_missing([row])
    with transaction(conn):
        pending = groups.before_insert(conn, [row])
        cur = conn.execute(INSERT_SQL, row_values(row))
        new_id = int(cur.lastrowid or 0)
        groups.after_insert(conn, pending, [new_id])
    return new_id


def batched(items: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


OFFSET_SQL = (
    "INSERT OR REPLACE INTO file_offsets (path, inode, offset, head, updated_at) VALUES (?, ?, ?, ?, ?)"
)

META_SQL = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"

BATCH_INSERT_SQL = (
    f"INSERT INTO records ({', '.join(VALUE_COLUMNS)}, group_id) "
    f"SELECT {', '.join(f'value ->> {i}' for i in range(len(VALUE_COLUMNS)))}, "
    f"{groups.GROUP_ID_SQL.format(fp=f'value ->> {_FINGERPRINT_AT}')} FROM json_each(?)"
)
"""Insert a whole batch given as one JSON array of rows (each an array of column values).

Why not ``executemany``: it releases the GIL around every row's step and must
win it back for the next, so while another thread is busy (the collector's
event loop parsing a flood) each row waits a whole switch interval (5 ms) and
a batch of thousands takes seconds.  Here the batch is one statement: SQLite
parses the array and runs the inserts (and FTS triggers) without the GIL.
Values keep their SQL types: JSON strings are TEXT, integers INTEGER, other
numbers REAL, null NULL.
"""


class EncodedRow(dict):  # type: ignore[type-arg]
    """A row that carries its values already encoded as :data:`BATCH_INSERT_SQL`
    reads them (a JSON array), so the writer thread only joins a batch's rows.

    The collector encodes each row on its event loop as it queues it: the
    writer thread is the bottleneck of ingest, the loop is not.
    """

    __slots__ = ("values_json",)

    values_json: str


def encode_row(row: Row) -> Row:
    """``row`` with its values encoded (:class:`EncodedRow`), or as it is when a
    value cannot be UTF-8 (the writer then sorts it out)."""
    groups.fingerprint_missing([row])
    text = encode_json(row_values(row))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return row
    encoded = EncodedRow(row)
    encoded.values_json = text
    return encoded


OffsetValues = tuple[str, int, int, str]
"""A tailed file's ``(path, inode, offset, head)``."""


class BatchWriter:
    """Group commit: each call to :meth:`commit` is one transaction holding a
    whole batch of rows (one statement, see :data:`BATCH_INSERT_SQL`), their
    error groups and the tailed-file offsets read with them, so a crash keeps
    all or none.

    The collector calls it from one thread while the next batch gathers in its
    queue; the bigger the backlog, the bigger the batch, so the cost of a commit
    (the WAL write) is shared by every record in it.
    """

    __slots__ = ("conn", "batches", "rows", "unstorable", "seconds", "ids", "events")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.batches = 0
        self.rows = 0
        self.unstorable = 0
        """Rows refused because a value cannot be encoded (a lone surrogate)."""
        self.seconds = 0.0
        self.ids: range = range(0)
        """The ids of the rows the last :meth:`commit` stored."""
        self.events: list[groups.GroupEvent] = []
        """The group events of the last :meth:`commit` (new groups, regressions)."""

    def commit(self, rows: Iterable[Row], offsets: Iterable[OffsetValues] = (),
               meta: Mapping[str, str] | None = None) -> int:
        """Store ``rows``, ``offsets`` and ``meta`` values in one transaction; returns how many rows.

        A row that SQLite cannot take as text (a string holding a lone UTF-16
        surrogate) is left out and counted in :attr:`unstorable`; the rest of the
        batch is stored.
        """
        started = perf_counter()
        self.ids, self.events = range(0), []
        rows = list(rows)
        latest = {o[0]: o for o in offsets}  # the last offset of a file wins
        if not rows and not latest and not meta:
            return 0
        payload, rows = self._payload(rows)
        conn = self.conn
        ids: range = range(0)
        pending = None
        with transaction(conn):
            if rows:
                pending = groups.before_insert(conn, rows)
                conn.execute(BATCH_INSERT_SQL, (payload,))
                ids = _consecutive_ids(conn, len(rows))
                if pending is not None:
                    groups.after_insert(conn, pending, ids)
            if latest:
                now = format_ts(utcnow())
                conn.executemany(OFFSET_SQL, [(*o, now) for o in latest.values()])
            if meta:
                conn.executemany(META_SQL, meta.items())
        self.ids = ids
        self.events = pending.events if pending is not None else []
        self.batches += 1
        self.rows += len(rows)
        self.seconds += perf_counter() - started
        return len(rows)

    def _payload(self, rows: list[Row]) -> tuple[str, list[Row]]:
        """The batch as one JSON array for :data:`BATCH_INSERT_SQL`, and the rows it holds."""
        if all(type(r) is EncodedRow for r in rows):
            return f"[{','.join(r.values_json for r in rows)}]", rows  # type: ignore[attr-defined]
        groups.fingerprint_missing(rows)
        values = [row_values(r) for r in rows]
        payload = _encode_rows(values)
        if payload is None:
            keep = [i for i, v in enumerate(values) if _encode_rows([v]) is not None]
            self.unstorable += len(values) - len(keep)
            rows = [rows[i] for i in keep]
            payload = _encode_rows([values[i] for i in keep]) or "[]"
        return payload, rows


def _encode_rows(values: list[tuple[object, ...]]) -> str | None:
    """The batch as JSON text SQLite can read, or None when a value cannot be UTF-8."""
    text = encode_json(values)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text
