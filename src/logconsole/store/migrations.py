"""Bringing a database of any earlier release to the current schema.

Two kinds of change reach a database:

- **Versioned steps** (:data:`MIGRATIONS`): migration *n* takes the schema
  from ``PRAGMA user_version`` *n-1* to *n*, as SQL statements or a Python
  function, each in its own ``BEGIN IMMEDIATE`` transaction with its version
  bump, so an interrupted upgrade resumes at the first step not done.  A step
  that rewrites stored data (``rewrites=True``) is preceded by a backup beside
  the database; a step may register a :class:`Backfill` that fills existing
  rows afterwards in short batches.  Append steps; never edit one.
- **Derived objects**, which follow :mod:`logconsole.kinds` by themselves on
  every read-write open: a column for each declared field the table lacks
  (so a new field is one line in ``kinds.py``), the full-text table and its
  triggers (recreated and rebuilt when the ``fts`` fields change, after a
  backup) and the sort indexes (recreated when a kind's columns or ranks
  change).  None of them changes the version: an older release still opens
  a database with more columns and indexes than it knows.

A database whose version is newer than this program's is refused before
anything is written to it, whether opened read-write or read-only.

Who upgrades: the first read-write opener (the collector when it starts, or
any command).  Every step runs under the write lock and re-reads the version
inside it, so a second opener waits for the lock (``busy_timeout``) and then
finds the step done.  Read-only openers never upgrade.

A backup taken for an upgrade is recorded in ``meta`` and removed by the next
start that finds nothing left to do: the upgraded database has then been
opened successfully by this release at least once more.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from logconsole.kinds import ALL_FIELDS, FTS_COLUMNS
from logconsole.store import groups, schema
from logconsole.store.transaction import transaction

log = logging.getLogger("logconsole.store")

BACKUP_KEY = "upgrade.backup"
"""``meta`` key: the path of the backup taken before the last upgrade that rewrote data."""
BACKFILL_PREFIX = "backfill:"
"""``meta`` keys ``backfill:NAME``: the id up to which a backfill is done."""


class SchemaError(RuntimeError):
    """The database cannot be brought to this program's schema; the message says why."""


@dataclass(frozen=True, slots=True)
class Backfill:
    """Fills existing rows after a step, a range of ids at a time.

    ``fill(conn, after_id, up_to_id)`` updates the rows with
    ``after_id < id <= up_to_id`` and runs inside a transaction of its own, so
    it never holds the writer long; progress is recorded in the same
    transaction, so a backfill that is interrupted resumes where it stopped.
    ``fill`` must be harmless to repeat on rows the writer has already filled.
    """

    name: str
    fill: Callable[[sqlite3.Connection, int, int], None]


@dataclass(frozen=True, slots=True)
class Migration:
    """One versioned step: ``apply`` is a tuple of SQL statements or a function."""

    version: int
    summary: str
    apply: tuple[str, ...] | Callable[[sqlite3.Connection], None]
    rewrites: bool = False
    """The step changes stored rows or rebuilds a table: a backup is taken first."""
    backfill: Backfill | None = None

    def run(self, conn: sqlite3.Connection) -> None:
        if callable(self.apply):
            self.apply(conn)
        else:
            for statement in self.apply:
                conn.execute(statement)


def _sort_indexes(conn: sqlite3.Connection) -> None:
    for statement in schema.index_sql(schema.SORT_INDEXES):
        conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records, indexes, full-text index, meta, file offsets", tuple(schema.schema_v1())),
    Migration(2, "indexes for open errors and needed actions", tuple(schema.index_sql(schema.INDEXES_V2))),
    Migration(3, "an index for every column the console sorts by", _sort_indexes),
    # Filling the new fingerprint and group_id columns changes no stored value,
    # so no backup: a release that does not know groups reads the same records.
    Migration(4, "error groups: fingerprints, the groups table and its upkeep", tuple(groups.schema_sql()),
              backfill=Backfill("groups", groups.backfill)),
    # The request_id and trace_id columns come from kinds.py before any step runs.
    Migration(5, "indexes for related records: request and trace ids", tuple(schema.index_sql(schema.INDEXES_V5))),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


# ---------------------------------------------------------------- versions


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def database_path(conn: sqlite3.Connection) -> Path | None:
    """The file of ``conn``'s main database (``None`` in memory)."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return Path(file) if file else None
    return None


def refuse_newer(conn: sqlite3.Connection, known: int = SCHEMA_VERSION) -> int:
    """The database's version; :class:`SchemaError` when it is newer than ``known``.

    Reads the header only: call it before anything that writes, so a newer
    database is left exactly as it was.
    """
    found = schema_version(conn)
    if found > known:
        raise SchemaError(newer_message(database_path(conn) or "the database", found, known))
    return found


def newer_message(where: object, found: int, known: int) -> str:
    return (f"{where} has schema version {found}, newer than this logconsole knows ({known}); "
            "upgrade logconsole to open it (the file was not changed)")


# ---------------------------------------------------------------- the upgrade


def upgrade(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS, *,
            backfills: bool = True) -> int:
    """Bring ``conn``'s database to the schema of ``migrations`` and ``kinds``;
    returns the version found.

    ``backfills=False`` leaves the pending backfills to the caller (the
    collector runs them between its own batches with a :class:`Backfiller`,
    so it takes records while an old database is filled in).  Cheap when there
    is nothing to do (a few catalogue reads): every read-write open calls it.
    """
    target = migrations[-1].version
    found = refuse_newer(conn, target)
    idle = found == target and not _derived_changes(conn) and not (backfills and pending_backfills(conn))
    if idle:
        if not pending_backfills(conn):
            _forget_backup(conn)
        return found
    _add_missing_columns(conn)
    _reconcile_sort_indexes(conn)
    while _next_step(conn, migrations, found):
        pass
    _reconcile_fts(conn, found)
    _reconcile_sort_indexes(conn)
    if backfills:
        run_backfills(conn, migrations)
    return found


def _next_step(conn: sqlite3.Connection, migrations: Sequence[Migration], found: int) -> bool:
    """Run the first step the database lacks; ``False`` once there is none."""
    target = migrations[-1].version
    with transaction(conn):
        current = refuse_newer(conn, target)
        if current >= target:
            return False
        step = migrations[current]
        if step.version != current + 1:
            raise SchemaError(f"migration {current + 1} is missing (found {step.version})")
        if step.rewrites:
            _backup(conn, found)
        step.run(conn)
        if step.backfill is not None and conn.execute("SELECT 1 FROM records LIMIT 1").fetchone():
            # A new database has nothing to fill in.
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '0')",
                         (BACKFILL_PREFIX + step.backfill.name,))
        conn.execute(f"PRAGMA user_version = {step.version}")
    log.info("database schema upgraded to version %d: %s", step.version, step.summary)
    return True


# ---------------------------------------------------------------- derived from kinds


def _table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _stored_sql(conn: sqlite3.Connection, names: Sequence[str]) -> dict[str, str]:
    marks = ", ".join("?" for _ in names)
    return dict(conn.execute(f"SELECT name, sql FROM sqlite_master WHERE name IN ({marks})", tuple(names)))


def _as_stored(statement: str) -> str:
    """How SQLite keeps a ``CREATE ... IF NOT EXISTS`` statement in ``sqlite_master``."""
    return statement.replace(" IF NOT EXISTS", "", 1)


def _missing_columns(conn: sqlite3.Connection) -> list[str]:
    have = set(_table_columns(conn, "records"))
    if not have:
        return []  # no table yet: the first step creates it with every column
    return [name for name in ALL_FIELDS if name not in have]


def _fts_is_current(conn: sqlite3.Connection) -> bool:
    stored = _stored_sql(conn, schema.FTS_OBJECTS)
    return all(stored.get(name) == _as_stored(sql) for name, sql in zip(schema.FTS_OBJECTS, schema.fts_sql()))


def _stale_sort_indexes(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """``(name, CREATE statement)`` of sort indexes missing or defined otherwise."""
    wanted = dict(zip((n for n, _, _ in schema.SORT_INDEXES), schema.index_sql(schema.SORT_INDEXES)))
    stored = _stored_sql(conn, tuple(wanted))
    return [(name, sql) for name, sql in wanted.items() if stored.get(name) != _as_stored(sql)]


def _derived_changes(conn: sqlite3.Connection) -> bool:
    """Whether the database lacks a column, FTS definition or sort index that
    ``kinds`` now declares (only asked of a database at the current version)."""
    return bool(_missing_columns(conn)) or not _fts_is_current(conn) or bool(_stale_sort_indexes(conn))


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """A column for every field ``kinds`` declares and the table lacks.

    Adding a nullable column rewrites no row (SQLite reads absent trailing
    columns as NULL), so no backup is needed.
    """
    if not _missing_columns(conn):
        return
    with transaction(conn):
        for name in _missing_columns(conn):
            conn.execute(f"ALTER TABLE records ADD COLUMN {schema.column_sql(name)}")
            log.info("database column added for the field %s", name)


def _reconcile_fts(conn: sqlite3.Connection, found: int) -> None:
    """Recreate and rebuild the full-text index when ``kinds`` changed its fields."""
    if _fts_is_current(conn):
        return
    with transaction(conn):
        if not _fts_is_current(conn):
            _backup(conn, found)
            rebuild_fts(conn)


def _reconcile_sort_indexes(conn: sqlite3.Connection) -> None:
    """Create (or define anew) the sort indexes ``kinds`` implies, one
    transaction per index: at a million records each takes well under a
    second, where all of them at once would hold the writer for several."""
    if not _table_columns(conn, "records"):
        return
    for name, sql in _stale_sort_indexes(conn):
        with transaction(conn):
            conn.execute(f"DROP INDEX IF EXISTS {name}")
            conn.execute(sql)
        log.info("index %s created", name)


def rebuild_fts(conn: sqlite3.Connection, columns: tuple[str, ...] = FTS_COLUMNS) -> None:
    """Recreate the full-text table and triggers over ``columns`` and index every
    record again.  Call inside a transaction: searches see the old index or the
    new one, never a half-built one."""
    for trigger in schema.FTS_OBJECTS[1:]:
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute("DROP TABLE IF EXISTS records_fts")
    for statement in schema.fts_sql(columns):
        conn.execute(statement)
    conn.execute("INSERT INTO records_fts(records_fts) VALUES ('rebuild')")
    log.info("full-text index rebuilt over %s", ", ".join(columns))


# ---------------------------------------------------------------- backfills


def pending_backfills(conn: sqlite3.Connection) -> dict[str, int]:
    """``{name: id done up to}`` of the backfills not finished yet."""
    if not _table_columns(conn, "meta"):
        return {}
    rows = conn.execute("SELECT key, value FROM meta WHERE key GLOB ?", (BACKFILL_PREFIX + "*",))
    return {key[len(BACKFILL_PREFIX):]: int(value) for key, value in rows}


def schedule_backfill(conn: sqlite3.Connection, name: str) -> None:
    """Have the backfill ``name`` run (again) over every record, from the start."""
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '0')", (BACKFILL_PREFIX + name,))


BATCH_SECONDS = 0.25
"""What one backfill batch aims to take; it halves its size when a batch takes
longer, so the writer is never held near a second."""


def run_backfills(
    conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS, *,
    batch_seconds: float = BATCH_SECONDS, first_batch: int = 1000,
) -> None:
    """Finish every pending backfill, one short transaction per batch of ids."""
    backfiller = Backfiller(conn, migrations, batch_seconds=batch_seconds, first_batch=first_batch)
    while backfiller.step():
        pass


class Backfiller:
    """Runs the pending backfills one batch (one short transaction) per
    :meth:`step`, so a caller can interleave them with its own writes."""

    def __init__(
        self, conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS, *,
        batch_seconds: float = BATCH_SECONDS, first_batch: int = 1000,
    ) -> None:
        self.conn = conn
        self.known = {m.backfill.name: m.backfill for m in migrations if m.backfill is not None}
        self.batch_seconds = batch_seconds
        self.first_batch = first_batch
        self.sizes: dict[str, int] = {}

    def step(self) -> bool:
        """Run one batch of the first pending backfill; ``False`` once none is left."""
        pending = pending_backfills(self.conn)
        if not pending:
            return False
        name = next(iter(pending))
        backfill = self.known.get(name)
        if backfill is None:
            raise SchemaError(f"the database lists a backfill this logconsole does not know: {name}")
        size = self.sizes.get(name, self.first_batch)
        started = time.perf_counter()
        _backfill_batch(self.conn, backfill, size)
        took = time.perf_counter() - started
        if took > self.batch_seconds:
            size = max(1, size // 2)
        elif took < self.batch_seconds / 4:
            size = min(size * 2, 1_000_000)
        self.sizes[name] = size
        return True


def _backfill_batch(conn: sqlite3.Connection, backfill: Backfill, size: int) -> None:
    """One transaction: the next ``size`` ids of ``backfill``, or its end."""
    key = BACKFILL_PREFIX + backfill.name
    with transaction(conn):
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return  # another opener finished it
        done = int(row[0])
        last = conn.execute("SELECT max(id) FROM records").fetchone()[0] or 0
        if done >= last:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
            log.info("backfill %s finished", backfill.name)
            return
        up_to = min(done + size, last)
        backfill.fill(conn, done, up_to)
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(up_to), key))
    log.debug("backfill %s done up to id %d of %d", backfill.name, up_to, last)


# ---------------------------------------------------------------- backups


def backup_path(db: Path, version: int) -> Path:
    """Where the backup of a database at schema ``version`` goes: beside it."""
    return db.with_name(f"{db.name}.v{version}-backup")


def _backup(conn: sqlite3.Connection, version: int) -> None:
    """Copy the database as it is before this upgrade beside it (mode 0600).

    Runs inside the upgrade's write transaction, before the step changes
    anything: a second, read-only connection copies the last committed state
    (``VACUUM INTO``), which no other writer can change meanwhile.  An
    earlier backup from an upgrade that did not finish is kept, not replaced:
    it holds the older state.  A database without records needs none.
    """
    db = database_path(conn)
    if db is None or conn.execute("SELECT 1 FROM records LIMIT 1").fetchone() is None:
        return
    dest = backup_path(db, version)
    try:
        fd = os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        fd = None
    except OSError as exc:
        raise SchemaError(f"cannot write the backup {dest} before upgrading: {exc.strerror}") from None
    if fd is not None:
        os.close(fd)
        reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        try:
            reader.execute("VACUUM INTO ?", (os.fspath(dest),))
        except sqlite3.Error:
            dest.unlink(missing_ok=True)
            raise
        finally:
            reader.close()
        log.info("database backed up to %s before upgrading", dest)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (BACKUP_KEY, os.fspath(dest)))


def _forget_backup(conn: sqlite3.Connection) -> None:
    """Remove the backup of an earlier upgrade, now that this start found the
    database current."""
    if not _table_columns(conn, "meta"):
        return
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (BACKUP_KEY,)).fetchone()
    if row is None:
        return
    with transaction(conn):
        conn.execute("DELETE FROM meta WHERE key = ?", (BACKUP_KEY,))
    Path(row[0]).unlink(missing_ok=True)
    log.info("removed the backup %s of the last upgrade", row[0])
