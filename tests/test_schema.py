"""Opening the store: file modes, pragmas, schema, migrations, clear errors."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from logconsole.kinds import ALL_FIELDS, FTS_COLUMNS
from logconsole.store.db import StoreError, connect, file_size
from logconsole.store.migrations import MIGRATIONS, SCHEMA_VERSION, upgrade
from logconsole.store.schema import ALL_INDEXES
from tests.store_support import add


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(("group_readable", "expected"), [(False, 0o600), (True, 0o640)])
def test_database_wal_and_shm_are_private_whatever_the_umask(
    tmp_path: Path, group_readable: bool, expected: int,
) -> None:
    path = tmp_path / "new" / "dir" / "logs.db"
    with umask(0):  # a permissive umask must not open the files up
        conn = connect(path, group_readable=group_readable)
        add(conn, type="activity", title="t")
    for suffix in ("", "-wal", "-shm"):
        assert _mode(f"{path}{suffix}") == expected, suffix
    assert _mode(path.parent) == 0o700
    conn.close()


def test_pragmas(conn: sqlite3.Connection) -> None:
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: safe with WAL
    assert conn.isolation_level is None


def test_counts_of_open_errors_and_needed_actions_use_their_indexes(conn: sqlite3.Connection) -> None:
    """Without ANALYZE statistics (a collector's database never runs it)."""
    from logconsole.store.query import make_filter, where_sql

    # The flag's own sort index, (flag, rowid), serves a count as well as (flag, created_at).
    for where, indexes in (("is_resolved=false", ("idx_records_error_open", "idx_sort_error_is_resolved")),
                           ("requires_action=true", ("idx_records_system_action", "idx_sort_system_requires_action")),
                           ("severity=critical", ("idx_records_error_state",))):
        flt = make_filter(types=["error" if "action" not in where else "system"], where=[where])
        sql, params = where_sql(conn, flt)
        plan = conn.execute(f"EXPLAIN QUERY PLAN SELECT count(*) FROM records WHERE {sql}", params).fetchall()
        assert any(f"USING COVERING INDEX {i} " in plan[0][3] or f"USING INDEX {i} " in plan[0][3]
                   for i in indexes), plan


def test_schema_has_every_field_and_index(conn: sqlite3.Connection) -> None:
    columns = [r[1] for r in conn.execute("PRAGMA table_info(records)")]
    assert columns == list(ALL_FIELDS)
    indexes = {r[1] for r in conn.execute("PRAGMA index_list(records)")}
    assert {name for name, _, _ in ALL_INDEXES} <= indexes
    fts_columns = [r[1] for r in conn.execute("PRAGMA table_info(records_fts)")]
    assert fts_columns == list(FTS_COLUMNS)
    for name in ("meta", "file_offsets"):
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()


def test_fts_update_trigger_watches_only_indexed_columns(conn: sqlite3.Connection) -> None:
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'records_au'").fetchone()[0]
    watched = sql.split("AFTER UPDATE OF", 1)[1].split(" ON records", 1)[0]
    assert [c.strip() for c in watched.split(",")] == list(FTS_COLUMNS)
    for untouched in ("is_resolved", "resolution", "resolved_at", "resolved_by", "is_read", "requires_action"):
        assert untouched not in watched


def test_user_version_is_set_and_reopening_does_not_migrate_again(db_path: Path) -> None:
    conn = connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    rid = add(conn, type="chat", message="kept")
    conn.execute("DROP INDEX idx_records_endpoint")  # a re-run migration would bring it back
    conn.close()
    conn = connect(db_path)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'idx_records_endpoint'").fetchone() is None
    assert conn.execute("SELECT message FROM records WHERE id = ?", (rid,)).fetchone()[0] == "kept"
    assert upgrade(conn) == SCHEMA_VERSION
    conn.close()


def test_an_empty_file_is_migrated_from_version_zero(db_path: Path) -> None:
    sqlite3.connect(db_path).close()
    conn = connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_version_1_database_is_migrated_in_place(db_path: Path) -> None:
    raw = sqlite3.connect(db_path, isolation_level=None)
    MIGRATIONS[0].run(raw)
    raw.execute("PRAGMA user_version = 1")
    raw.execute("INSERT INTO records (type, created_at, message) VALUES ('error', '2026-01-01T00:00:00.000Z', 'old')")
    raw.close()
    conn = connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'idx_records_error_open'").fetchone()
    assert conn.execute("SELECT message FROM records").fetchall() == [("old",)]
    conn.close()


def test_a_newer_schema_is_refused_clearly(db_path: Path) -> None:
    connect(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    for readonly in (False, True):
        with pytest.raises(StoreError, match=f"has schema version {SCHEMA_VERSION + 1}, newer than this logconsole"):
            connect(db_path, readonly=readonly)


def test_read_only_connections(db_path: Path) -> None:
    with pytest.raises(StoreError, match="no database at"):
        connect(db_path, readonly=True)
    conn = connect(db_path)
    add(conn, type="activity", title="t")
    ro = connect(db_path, readonly=True)
    assert ro.execute("SELECT count(*) FROM records").fetchone()[0] == 1
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("DELETE FROM records")
    ro.close()
    conn.close()


def test_a_file_that_is_not_a_database_is_a_clear_error(db_path: Path) -> None:
    db_path.write_bytes(b"this is a text file, not SQLite\n" * 100)
    with pytest.raises(StoreError, match="cannot open .*logs.db: file is not a database"):
        connect(db_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(StoreError, match="cannot create database"):
        connect(locked / "sub" / "logs.db")


def test_file_size_counts_the_wal(db_path: Path) -> None:
    conn = connect(db_path)
    add(conn, type="chat", message="x" * 5000)
    assert file_size(db_path) == os.path.getsize(db_path) + os.path.getsize(f"{db_path}-wal")
    assert file_size(db_path.with_name("missing.db")) == 0
    conn.close()
