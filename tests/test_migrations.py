"""Upgrading databases of earlier releases: every record and the search index
survive, new fields get their columns, backups, backfills, refusing a newer file.

The starting point is ``tests/data/release-v2.db``, written by the store at
schema version 2 (see ``tests/data/make_release_db.py``); each test upgrades a
copy of it.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from logconsole.kinds import FTS_COLUMNS
from logconsole.store import migrations as M
from logconsole.store.db import StoreError, connect
from logconsole.store.query import fetch_page, make_filter
from logconsole.store.transaction import transaction
from tests.cli_support import assert_user_error, run
from tests.collector_support import Collector, isolated_env
from tests.store_support import add

RELEASE_V2 = Path(__file__).parent / "data" / "release-v2.db"
SEARCHES = ("zebra*", "cafe", "façade", "東京", "timed out", "quota", "où", "Ångström", "volume", "région")


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    path = tmp_path / "logs.db"
    shutil.copyfile(RELEASE_V2, path)
    return path


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def snapshot(path: Path) -> dict[str, Any]:
    """Every stored row, every tailed-file offset and what each search finds."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(records)")]
        return {
            "columns": columns,
            "records": conn.execute(f"SELECT {', '.join(columns)} FROM records ORDER BY id").fetchall(),
            "offsets": conn.execute("SELECT * FROM file_offsets").fetchall(),
            "found": {w: [r[0] for r in conn.execute(
                "SELECT rowid FROM records_fts WHERE records_fts MATCH ? ORDER BY rowid", (w,))] for w in SEARCHES},
        }
    finally:
        conn.close()


def records_of(path: Path, columns: list[str]) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT {', '.join(columns)} FROM records ORDER BY id").fetchall()
    finally:
        conn.close()


def test_the_fixture_is_a_release_2_database_with_every_kind() -> None:
    before = snapshot(RELEASE_V2)
    conn = sqlite3.connect(f"file:{RELEASE_V2}?mode=ro", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    kinds = {t for (t,) in conn.execute("SELECT DISTINCT type FROM records")}
    assert kinds == {"activity", "error", "ai", "chat", "system"}
    assert conn.execute("SELECT count(*) FROM records WHERE is_resolved = 1").fetchone()[0] > 0
    conn.close()
    assert all(before["found"].values()), before["found"]


def test_a_release_2_database_upgrades_with_every_record_and_search_intact(v2: Path) -> None:
    before = snapshot(v2)
    conn = connect(v2)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == M.SCHEMA_VERSION
    conn.execute("INSERT INTO records_fts(records_fts) VALUES ('integrity-check')")
    conn.close()
    after = snapshot(v2)
    # The fields declared since release 2 are added; every value stored before is kept.
    assert after["columns"] == [*before["columns"], "request_id", "trace_id", "span_id", "host", "fingerprint", "group_id"]
    assert records_of(v2, before["columns"]) == before["records"]  # every column of every record
    assert after["offsets"] == before["offsets"]
    assert after["found"] == before["found"]
    indexes = {r[0] for r in raw(v2).execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {name for name, _, _ in M.schema.SORT_INDEXES} <= indexes
    assert {name for name, _, _ in M.schema.INDEXES_V5} <= indexes
    # Adding indexes rewrites no record: no backup is taken for it.
    assert not M.backup_path(v2, 2).exists()

    conn = connect(v2)  # a new record is stored and found like the old ones
    rid = add(conn, type="chat", message="zebra crossing after the upgrade")
    found = fetch_page(conn, make_filter(search="zebra"), limit=50)
    assert rid in [r["id"] for r in found] and len(found) == len(before["found"]["zebra*"]) + 1
    conn.close()


def test_a_read_only_open_of_an_older_database_reads_it_and_changes_nothing(v2: Path) -> None:
    original = v2.read_bytes()
    conn = connect(v2, readonly=True)
    assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == len(snapshot(RELEASE_V2)["records"])
    assert len(fetch_page(conn, make_filter(types=["error"]), limit=50)) == 6
    conn.close()
    assert v2.read_bytes() == original


def test_a_field_new_in_kinds_gets_its_column(v2: Path) -> None:
    """A database from before a field was declared (here: without ``user_agent``)
    gets the column on open; the insert used to fail with "table records has
    no column named user_agent"."""
    connect(v2).close()
    conn = raw(v2)
    conn.execute("ALTER TABLE records DROP COLUMN user_agent")
    conn.close()
    kept = records_of(v2, ["id", "message", "request_data", "is_resolved"])

    conn = connect(v2)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == M.SCHEMA_VERSION  # no version for a column
    rid = add(conn, type="activity", title="after", user_agent="curl/8.5")
    assert conn.execute("SELECT user_agent FROM records WHERE id = ?", (rid,)).fetchone() == ("curl/8.5",)
    assert conn.execute("SELECT count(user_agent) FROM records WHERE id != ?", (rid,)).fetchone() == (0,)
    conn.close()
    assert records_of(v2, ["id", "message", "request_data", "is_resolved"])[:-1] == kept


def test_a_change_of_the_fts_fields_rebuilds_the_index_after_a_backup(v2: Path) -> None:
    """A database whose search index predates ``stack`` being searchable: the
    table and triggers are made anew and every record is indexed again."""
    conn = raw(v2)
    older = tuple(c for c in FTS_COLUMNS if c != "stack")
    with transaction(conn):
        M.rebuild_fts(conn, older)
    conn.close()
    columns = snapshot(v2)["columns"]
    original = records_of(v2, columns)
    assert not snapshot(v2)["found"]["東京"]  # only in stack traces

    conn = connect(v2)
    assert [r[1] for r in conn.execute("PRAGMA table_info(records_fts)")] == list(FTS_COLUMNS)
    conn.execute("INSERT INTO records_fts(records_fts) VALUES ('integrity-check')")
    assert len(fetch_page(conn, make_filter(search="東京"), limit=50)) == 6
    rid = add(conn, type="error", message="new", stack="KeyError: 大阪")
    assert [r["id"] for r in fetch_page(conn, make_filter(search="大阪"), limit=50)] == [rid]
    conn.close()

    backup = M.backup_path(v2, 2)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert records_of(backup, columns) == original
    connect(v2).close()  # the next start finds the database current and drops the backup
    assert not backup.exists()
    assert raw(v2).execute("SELECT count(*) FROM meta WHERE key = ?", (M.BACKUP_KEY,)).fetchone() == (0,)


def _with_words_step(calls: list[tuple[int, int]], fail_at: int | None = None) -> tuple[M.Migration, ...]:
    """The project's migrations and one more that rewrites data: a column of
    word counts, filled by a backfill that records the ranges it was given
    and fails (like a crash mid-batch) on call ``fail_at``."""

    def fill(conn: sqlite3.Connection, after: int, up_to: int) -> None:
        calls.append((after, up_to))
        conn.execute(
            "UPDATE records SET words = length(message) - length(replace(message, ' ', '')) + 1 "
            "WHERE id > ? AND id <= ? AND message IS NOT NULL", (after, up_to))
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt

    step = M.Migration(M.SCHEMA_VERSION + 1, "word counts", ("ALTER TABLE records ADD COLUMN words INTEGER",),
                       rewrites=True, backfill=M.Backfill("words", fill))
    return (*M.MIGRATIONS, step)


def test_an_interrupted_backfill_resumes_where_it_stopped(v2: Path) -> None:
    original = records_of(v2, snapshot(v2)["columns"])
    conn = connect(v2)
    with pytest.raises(KeyboardInterrupt):  # stopped in its first batch: the step stays, the batch does not
        M.upgrade(conn, _with_words_step([], fail_at=1))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == M.SCHEMA_VERSION + 1
    assert M.pending_backfills(conn) == {"words": 0}
    calls: list[tuple[int, int]] = []
    with pytest.raises(KeyboardInterrupt):
        M.run_backfills(conn, _with_words_step(calls, fail_at=3), first_batch=5)
    done = M.pending_backfills(conn)["words"]
    assert done == calls[1][1]  # two batches committed, the third rolled back
    assert conn.execute("SELECT count(*) FROM records WHERE id > ? AND words IS NOT NULL", (done,)).fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM records WHERE id <= ? AND words IS NULL AND message IS NOT NULL", (done,)).fetchone() == (0,)

    resumed: list[tuple[int, int]] = []
    M.upgrade(conn, _with_words_step(resumed))
    assert resumed[0][0] == done  # the batches already done are not done again
    assert M.pending_backfills(conn) == {}
    assert conn.execute("SELECT count(*) FROM records WHERE words IS NULL AND message IS NOT NULL").fetchone() == (0,)
    assert conn.execute("SELECT words FROM records WHERE message = 'plain line without title'").fetchone() == (4,)

    backup = M.backup_path(v2, M.SCHEMA_VERSION)  # taken before the step that rewrites
    assert records_of(backup, snapshot(RELEASE_V2)["columns"]) == original
    M.upgrade(conn, _with_words_step([]))
    assert not backup.exists()
    conn.close()


def test_backfill_batches_shrink_to_stay_short(v2: Path) -> None:
    sizes: list[int] = []

    def slow(conn: sqlite3.Connection, after: int, up_to: int) -> None:
        sizes.append(up_to - after)
        time.sleep(0.002 * (up_to - after))  # 2 ms a row: 16 rows overrun a 10 ms budget

    migrations = (*M.MIGRATIONS, M.Migration(M.SCHEMA_VERSION + 1, "slow", (), backfill=M.Backfill("slow", slow)))
    conn = connect(v2)
    M.upgrade(conn, migrations)  # registers the backfill and runs it (one batch of up to 1,000 ids)
    assert M.pending_backfills(conn) == {} and len(sizes) == 1
    conn.execute("INSERT INTO meta (key, value) VALUES ('backfill:slow', '0')")
    sizes.clear()
    M.run_backfills(conn, migrations, batch_seconds=0.01, first_batch=16)
    assert sizes[:3] == [16, 8, 4], sizes
    assert M.pending_backfills(conn) == {}
    conn.close()


def test_a_second_opener_waits_for_the_upgrade_and_finds_it_done(v2: Path) -> None:
    ran: list[str] = []

    def slow_step(conn: sqlite3.Connection) -> None:
        ran.append(threading.current_thread().name)
        time.sleep(0.5)
        conn.execute("CREATE TABLE slow_step_done (x)")

    migrations = (*M.MIGRATIONS, M.Migration(M.SCHEMA_VERSION + 1, "slow", slow_step))
    found: dict[str, int] = {}

    def opener(name: str) -> None:
        conn = raw(v2)
        conn.execute("PRAGMA busy_timeout = 10000")
        found[name] = M.upgrade(conn, migrations)
        conn.close()

    first = threading.Thread(target=opener, args=("first",), name="first")
    second = threading.Thread(target=opener, args=("second",), name="second")
    first.start()
    time.sleep(0.2)
    second.start()
    first.join(10)
    second.join(10)
    assert ran == ["first"]
    assert raw(v2).execute("PRAGMA user_version").fetchone()[0] == M.SCHEMA_VERSION + 1


# ---------------------------------------------------------------- a newer database


def _newer(path: Path) -> bytes:
    conn = raw(path)
    conn.execute(f"PRAGMA user_version = {M.SCHEMA_VERSION + 1}")
    conn.close()
    return path.read_bytes()


NEWER = f"has schema version {M.SCHEMA_VERSION + 1}, newer than this logconsole knows ({M.SCHEMA_VERSION})"


def test_a_newer_database_is_refused_by_connect_and_left_byte_identical(v2: Path) -> None:
    original = _newer(v2)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=re.escape(NEWER)) as caught:
            connect(v2, readonly=readonly)
        assert "\n" not in str(caught.value)
        assert v2.read_bytes() == original
    assert sorted(p.name for p in v2.parent.iterdir()) == ["logs.db"]


@pytest.mark.parametrize("args", [("stats",), ("query", "--limit", "1"), ("tui", "--read-only")])
def test_a_newer_database_is_refused_by_the_commands(v2: Path, args: tuple[str, ...]) -> None:
    original = _newer(v2)
    result = run(v2, *args)
    assert_user_error(result, NEWER, "upgrade logconsole")
    assert v2.read_bytes() == original


def test_a_newer_database_is_refused_by_the_daemon(v2: Path, tmp_path: Path) -> None:
    original = _newer(v2)
    daemon = Collector(tmp_path, db=v2)
    out = subprocess.run(daemon.command(), capture_output=True, text=True, timeout=30, env=isolated_env(tmp_path))
    assert out.returncode != 0
    assert NEWER in out.stderr and "upgrade logconsole" in out.stderr
    assert "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if NEWER in line]) == 1, out.stderr
    assert v2.read_bytes() == original
    assert not (tmp_path / "logs.db-wal").exists()


def test_the_upgrade_promises_in_the_docs_are_what_the_store_does() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    assert f"Error: {M.newer_message('/srv/app/logs.db', 5, 4)}" in docs
    assert f"`{M.backup_path(Path('logs.db'), 'N').name}`" in docs  # type: ignore[arg-type]
    assert "mode `0600`" in docs.split("**Upgrades.**")[1].split("**Output.**")[0]


def test_a_new_database_has_nothing_to_fill_in(tmp_path: Path) -> None:
    conn = connect(tmp_path / "new.db")
    try:
        assert M.pending_backfills(conn) == {}
    finally:
        conn.close()


def test_an_upgraded_database_with_records_has_its_backfills_registered(v2: Path) -> None:
    conn = connect(v2, backfills=False)
    try:
        assert "groups" in M.pending_backfills(conn)
    finally:
        conn.close()
