"""``logconsole doctor`` on sound and really damaged files: it checks without
changing anything, and recovers what is readable into a new file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from damage_support import damage_records, filled_db, overwrite_pages, pages_of

from cli_support import run
from logconsole.store import doctor
from logconsole.store.db import connect
from logconsole.store.query import count, make_filter
from logconsole.store.retention import last_run, prune
from logconsole.store.writer import OFFSET_SQL
from tests.store_support import NOW


def _ids(path: Path) -> set[int]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM records")}
    finally:
        conn.close()


def test_a_sound_file_is_reported_sound(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db", 200)
    result = run(db, "doctor")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["integrity   ok", "full-text   ok", f"{db} is sound"]


def test_damage_is_reported_exit_1_and_the_file_is_not_changed(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db")
    pages = damage_records(db)
    before = db.read_bytes()
    result = run(db, "doctor")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert any(f"Page {p}: " in result.stdout for p in pages)
    assert "full-text   1 problem" in result.stdout
    assert "doctor --recover" in result.stdout.splitlines()[-1]
    assert db.read_bytes() == before


def test_recover_copies_every_readable_record_and_names_what_was_lost(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db")
    conn = connect(db)
    conn.execute(OFFSET_SQL, ("/var/log/app.log", 7, 1234, "head", "2026-11-01T00:00:00.000Z"))
    conn.execute("INSERT INTO records (type, created_at, message) VALUES ('chat', '2000-01-01T00:00:00.000Z', 'x')")
    prune(conn, 90, now=NOW)  # a retention run in meta
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    damage_records(db)
    before = db.read_bytes()

    result = run(db, "doctor", "--recover")
    assert result.exit_code == 0, result.output
    out = tmp_path / "logs.recovered.db"
    assert db.read_bytes() == before  # the damaged file is kept as it was
    recovered = _ids(out)
    lost = [line for line in result.stdout.splitlines() if line.startswith("  unreadable: ids ")]
    assert 1 <= len(lost) <= 3
    lost_ids: set[int] = set()
    for line in lost:
        first, last = line.split("ids ")[1].split(" ")[0].split("-")
        lost_ids |= set(range(int(first), int(last) + 1))
    # Every id is either copied or named as lost; none is both.
    assert recovered | lost_ids == set(range(1, 3001)) and not recovered & lost_ids
    assert f"records     {len(recovered):,} copied" in result.stdout
    assert f"lost        {3000 - len(recovered):,} records in" in result.stdout
    assert "meta        1 row copied" in result.stdout
    assert "file offsets 1 row copied" in result.stdout

    assert doctor.diagnose(out).damaged is False
    conn = connect(out)
    try:
        assert count(conn, make_filter(search="timeouts")) == len(recovered)  # a fresh full-text index
        assert conn.execute("SELECT offset FROM file_offsets").fetchone()[0] == 1234
        assert last_run(conn) is not None
        new_id = conn.execute("INSERT INTO records (type, created_at) VALUES ('chat', 'now')").lastrowid
        assert new_id == 3002  # never an id the damaged file handed out
    finally:
        conn.close()
    assert run(out, "doctor").exit_code == 0


def test_recover_through_a_damaged_root_page_terminates_and_counts_the_loss(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db")
    overwrite_pages(db, pages_of(db, "records", "internal"))
    result = doctor.recover(db, tmp_path / "out.db")
    assert result.records == 0
    assert [(r.first, r.last, r.records) for r in result.lost] == [(doctor.MIN_ID, None, 3000)]


def test_a_truncated_file_gives_back_its_first_part(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db")
    with open(db, "r+b") as fh:
        fh.truncate(os.path.getsize(db) // 2)
    assert run(db, "doctor").exit_code == 1
    result = doctor.recover(db, tmp_path / "out.db")
    assert 0 < result.records < 3000


def test_recover_never_overwrites(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db", 10)
    taken = tmp_path / "taken.db"
    taken.write_text("mine")
    result = run(db, "doctor", "--recover", "--output", str(taken))
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert taken.read_text() == "mine"


@pytest.mark.parametrize("content", [b"these are my notes\n" * 300, b"SQLite format 3\x00" + b"\xff" * 8000], ids=["text", "header"])
def test_a_file_that_is_no_database_is_damaged_not_a_traceback(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "logs.db"
    db.write_bytes(content)
    result = run(db, "doctor")
    assert result.exit_code == 1 and "Traceback" not in result.output
    recovered = run(db, "doctor", "--recover")
    assert recovered.exit_code == 1 and recovered.stderr.splitlines()[-1].startswith("Error: ")
    assert "Traceback" not in recovered.output


def test_a_running_collector_is_not_held_up_by_the_check(tmp_path: Path) -> None:
    from collector_support import Client, Collector

    db = filled_db(tmp_path / "logs.db", 200)
    c = Collector(tmp_path, db=db).start()
    try:
        result = run(db, "doctor")
        assert result.exit_code == 0, result.output
        assert f"a collector is running on this database (pid {c.proc.pid})" in result.stderr  # type: ignore[union-attr]
        assert "full-text   not checked" in result.stdout
        with Client(c.sock) as client:
            client.send_records({"type": "activity", "message": "still collecting"})
            assert client.sync()[0]["ok"]
    finally:
        assert c.stop() == 0
