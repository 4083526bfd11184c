"""Writing rows to PostgreSQL: each batch is one transaction that takes ids
from the sequence, keeps the error groups (:mod:`.groups`) and stores the
rows with ``COPY`` (psycopg 3), which is the fastest way in.

Ids come from ``records_id_seq`` before the ``COPY`` (one round trip for the
batch), so the writer knows them without ``RETURNING``; several writers get
disjoint ids.  A month's partition is created, in its own short transaction,
before the first batch that needs it (:func:`ensure_partitions`).

Text PostgreSQL cannot hold is made storable here, in one place: NUL
characters become U+FFFD; a row with a value that is not valid Unicode (a lone
surrogate) is left out and counted in :attr:`PgWriter.unstorable`, as the
SQLite writer does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from time import perf_counter
from typing import Any

import psycopg

from logconsole.ingest import Row
from logconsole.store.groups import GroupEvent, fingerprint_missing
from logconsole.store.postgres import groups as pg_groups
from logconsole.store.postgres.schema import HORIZON_LOCK, month_of, partition_name, partition_sql
from logconsole.store.schema import INSERT_COLUMNS
from logconsole.timeutil import format_ts, utcnow

COPY_COLUMNS: tuple[str, ...] = ("id", *INSERT_COLUMNS)
_GROUP_AT = COPY_COLUMNS.index("group_id")
COPY_SQL = f"COPY records ({', '.join(COPY_COLUMNS)}) FROM STDIN"
PARTITION_LOCK = 0x6C6F6763_0002
"""The advisory lock taken while creating a month's partition."""


def _clean(value: Any) -> Any:
    if type(value) is str and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _storable(row: Row) -> bool:
    for v in row.values():
        if type(v) is str and not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


class Partitions:
    """The months that have a partition, known to this connection."""

    __slots__ = ("known",)

    def __init__(self, conn: psycopg.Connection) -> None:
        self.known: set[str] = set()
        self.reload(conn)

    def reload(self, conn: psycopg.Connection) -> None:
        self.known = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'records'::regclass")}

    def ensure(self, conn: psycopg.Connection, months: Iterable[tuple[int, int]]) -> None:
        """Create the partitions of ``months`` that do not exist yet.

        Runs outside the caller's batch transaction (creating a partition
        locks the parent table briefly); an advisory lock keeps two writers
        from creating the same month at once.
        """
        missing = sorted({m for m in months if partition_name(m) not in self.known})
        if not missing:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
            for month in missing:
                conn.execute(partition_sql(month))  # type: ignore[arg-type]
        self.known.update(partition_name(m) for m in missing)


def _values(rows: Sequence[Row], ids: Sequence[int], group_ids: dict[str, int]) -> list[list[Any]]:
    """The ``COPY`` rows (``COPY_COLUMNS``) of ``rows``; booleans stay ``0``/``1``,
    which a text ``COPY`` reads as false/true."""
    get_group = group_ids.get
    out = []
    for row, new_id in zip(rows, ids):
        values = [new_id, *map(row.get, INSERT_COLUMNS)]
        fp = row.get("fingerprint")
        values[_GROUP_AT] = get_group(fp) if fp is not None else None  # type: ignore[arg-type]
        out.append(values)
    return out


def _take_ids(conn: psycopg.Connection, n: int) -> list[int]:
    """``n`` ids from the sequence, after taking :data:`HORIZON_LOCK` shared for
    the transaction, in one statement: each ``nextval`` is computed for a row
    of the join, so after the one-row subquery that takes the lock (a subquery
    calling a volatile function is never flattened away).

    Holding it until the commit lets the fleet's leader find a horizon below
    which every id is committed or rolled back (``logconsole_horizon()``): ids
    come from one sequence for every host, so a batch may commit after a
    later-numbered one."""
    return [r[0] for r in conn.execute(_TAKE_IDS, (n,))]


_TAKE_IDS = (f"SELECT nextval('records_id_seq') FROM (SELECT pg_advisory_xact_lock_shared({HORIZON_LOCK})) AS lock, "
             "generate_series(1, %s)")


class PgWriter:
    """Group commit into PostgreSQL (the :class:`~logconsole.store.interface.Writer` protocol)."""

    __slots__ = ("conn", "partitions", "batches", "rows", "unstorable", "seconds", "ids", "events", "host")

    def __init__(self, conn: psycopg.Connection, partitions: Partitions | None = None) -> None:
        self.conn = conn
        self.partitions = partitions or Partitions(conn)
        self.batches = 0
        self.rows = 0
        self.unstorable = 0
        self.seconds = 0.0
        self.ids: list[int] = []
        self.events: list[GroupEvent] = []
        self.host = ""
        """Whose tailed files the offsets are: hosts sharing a database tail different files."""

    def _store(self, rows: list[Row], latest: dict[str, tuple[str, int, int, str]],
               meta: Mapping[str, str] | None) -> None:
        conn = self.conn
        self.ids, self.events = [], []
        if rows:
            self.partitions.ensure(conn, {month_of(str(r["created_at"])) for r in rows})
        with conn.transaction():
            if rows:
                ids = _take_ids(conn, len(rows))
                self.ids = ids  # known before the commit: a commit cut off is recognised by them
                pending, group_ids = pg_groups.before_insert(conn, rows)
                with conn.cursor().copy(COPY_SQL) as copy:  # type: ignore[arg-type]
                    for values in _values(rows, ids, group_ids):
                        copy.write_row(values)
                pg_groups.after_insert(conn, pending, ids)
                self.ids = ids
                self.events = pending.events if pending is not None else []
                if self.events:
                    with conn.cursor() as cur:
                        cur.executemany("INSERT INTO group_events (record_id, kind, group_id) VALUES (%s, %s, %s)",
                                        [(e.record_id, e.kind, e.group_id) for e in self.events])
            if latest:
                now = format_ts(utcnow())
                with conn.cursor() as cur:
                    cur.executemany(
                        'INSERT INTO file_offsets (host, path, inode, "offset", head, updated_at) VALUES '
                        '(%s, %s, %s, %s, %s, %s) ON CONFLICT (host, path) DO UPDATE SET inode = excluded.inode, '
                        '"offset" = excluded."offset", head = excluded.head, updated_at = excluded.updated_at',
                        [(self.host, *o, now) for o in latest.values()])
            if meta:
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                                    "SET value = excluded.value", list(meta.items()))

    def commit(self, rows: Iterable[Row], offsets: Iterable[tuple[str, int, int, str]] = (),
               meta: Mapping[str, str] | None = None) -> int:
        """Store ``rows``, ``offsets`` and ``meta`` values in one transaction; returns how many rows."""
        started = perf_counter()
        self.ids, self.events = [], []
        rows = list(rows)
        latest = {o[0]: o for o in offsets}
        if not rows and not latest and not meta:
            return 0
        fingerprint_missing(rows)
        try:
            try:
                self._store(rows, latest, meta)
            except psycopg.errors.CheckViolation:
                # No partition for a row: another host's retention dropped a
                # month this connection knew of.  Look again and retry once.
                self.partitions.reload(self.conn)
                self._store(rows, latest, meta)
        except (UnicodeEncodeError, psycopg.DataError):
            # Rare: a NUL or a lone surrogate somewhere in the batch; the
            # transaction was rolled back, so store what can be stored.
            keep = [r for r in rows if _storable(r)]
            self.unstorable += len(rows) - len(keep)
            rows = [type(r)({k: _clean(v) for k, v in r.items()}) for r in keep]
            self._store(rows, latest, meta)
        self.batches += 1
        self.rows += len(rows)
        self.seconds += perf_counter() - started
        return len(rows)


__all__ = ["COPY_COLUMNS", "COPY_SQL", "Partitions", "PgWriter"]
