"""``logconsole query --follow``: the real command in a child process, reading
lines as records are committed to a real database (and through a real collector)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli_support import add, add_to
from collector_support import Client, Collector, isolated_env
from logconsole.store.db import connect


_LINES: dict[int, queue.Queue[str]] = {}


def follow(tmp_path: Path, db: Path | str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "logconsole", "query", "--follow", "--db", str(db), "--poll-interval", "0.05", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**isolated_env(tmp_path), "COLUMNS": "120"},
    )
    lines = _LINES[proc.pid] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc


def read_line(proc: subprocess.Popen[str], timeout: float = 10.0) -> str:
    try:
        return _LINES[proc.pid].get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"no line within {timeout} s") from None


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)
    assert proc.stderr is not None
    return proc.returncode, proc.stderr.read()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "logs.db"
    conn = connect(path)
    for i in range(5):
        add(conn, type="activity", message=f"old {i}", created_at=f"2026-11-20T10:00:0{i}Z")
    add(conn, type="error", message="old failure", created_at="2026-11-20T10:00:09Z")
    conn.close()
    return path


@pytest.fixture
def both(any_db: Path | str) -> Path | str:
    """:func:`db`'s records in a database of each store: a SQLite file, then PostgreSQL."""
    add_to(any_db, *(dict(type="activity", message=f"old {i}", created_at=f"2026-11-20T10:00:0{i}Z")
                     for i in range(5)))
    add_to(any_db, dict(type="error", message="old failure", created_at="2026-11-20T10:00:09Z"))
    return any_db


def test_jsonl_prints_the_last_matches_then_each_new_one(tmp_path: Path, both: Path | str) -> None:
    proc = follow(tmp_path, both, "-f", "jsonl", "--type", "activity", "--limit", "2")
    assert [json.loads(read_line(proc))["message"] for _ in range(2)] == ["old 3", "old 4"]
    add_to(both, dict(type="error", message="not followed"))
    add_to(both, dict(type="activity", message="new one"))
    assert json.loads(read_line(proc))["message"] == "new one"
    code, err = stop(proc)
    assert code == 0 and "Traceback" not in err


def test_table_lines_show_new_records(tmp_path: Path, db: Path) -> None:
    proc = follow(tmp_path, db, "--type", "error")
    lines = [read_line(proc) for _ in range(3)]  # header, rule, the one error
    assert "old failure" in lines[2]
    conn = connect(db)
    add(conn, type="error", message="payment declined")
    conn.close()
    assert "payment declined" in read_line(proc)
    code, err = stop(proc)
    assert code == 0 and "Traceback" not in err


def test_an_early_closed_pipe_exits_zero(tmp_path: Path, db: Path) -> None:
    """``logconsole query -F | head -n 1``: the reader leaving is not an error."""
    env = {**isolated_env(tmp_path), "COLUMNS": "120"}
    cmd = (f"{sys.executable} -m logconsole query -F -f jsonl --poll-interval 0.05 --db {db} | head -n 1; "
           "echo \"status=${PIPESTATUS[0]}\"")
    proc = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.5)
    conn = connect(db)  # the follower writes again once a record arrives, and meets the closed pipe
    add(conn, type="activity", message="after head left")
    conn.close()
    out, err = proc.communicate(timeout=15)
    assert out.splitlines()[-1] == "status=0", (out, err)
    assert "Traceback" not in err and "Error" not in err


def test_follows_across_a_collector_restart(tmp_path: Path) -> None:
    collector = Collector(tmp_path).start()
    try:
        with Client(collector.sock) as c:
            c.send_records({"type": "activity", "message": "before"})
            c.sync()
        proc = follow(tmp_path, collector.db, "-f", "jsonl", "--type", "activity")
        assert json.loads(read_line(proc))["message"] == "before"
        collector.stop()
        collector.start()
        with Client(collector.sock) as c:
            c.send_records({"type": "activity", "message": "after restart"})
            c.sync()
        assert json.loads(read_line(proc))["message"] == "after restart"
        code, err = stop(proc)
        assert code == 0 and "Traceback" not in err
    finally:
        collector.stop()


def test_follows_a_database_put_in_place_of_the_followed_one(tmp_path: Path, db: Path) -> None:
    proc = follow(tmp_path, db, "-f", "jsonl", "--limit", "0")
    time.sleep(0.3)
    fresh = tmp_path / "fresh.db"
    conn = connect(fresh)
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    os.replace(fresh, db)
    time.sleep(0.3)
    conn = connect(db)
    add(conn, type="activity", message="in the new file")
    conn.close()
    assert json.loads(read_line(proc))["message"] == "in the new file"
    code, _ = stop(proc)
    assert code == 0


def test_follow_refuses_a_json_array(tmp_path: Path, db: Path) -> None:
    proc = follow(tmp_path, db, "-f", "json")
    proc.wait(timeout=10)
    assert proc.stderr is not None
    assert proc.returncode == 2 and "--format jsonl" in proc.stderr.read()


def test_csv_prints_its_header_once(tmp_path: Path, both: Path | str) -> None:
    proc = follow(tmp_path, both, "-f", "csv", "--type", "activity", "--limit", "1")
    assert read_line(proc).startswith("id,type,created_at")
    assert "old 4" in read_line(proc)
    add_to(both, dict(type="activity", message="new row"))
    assert "new row" in read_line(proc)
    code, _ = stop(proc)
    assert code == 0
    assert _LINES[proc.pid].empty()


def test_follows_across_a_postgresql_server_restart(tmp_path: Path, pg_cluster, pg_url: str) -> None:
    """The server goes away for a while and comes back: the follower waits, reconnects, and goes on."""
    add_to(pg_url, dict(type="activity", message="before"))
    proc = follow(tmp_path, pg_url, "-f", "jsonl", "--type", "activity")
    assert json.loads(read_line(proc))["message"] == "before"
    pg_cluster.restart(pause=0.5)
    add_to(pg_url, dict(type="activity", message="after the restart"))
    assert json.loads(read_line(proc))["message"] == "after the restart"
    code, err = stop(proc)
    assert code == 0 and "Traceback" not in err and "Error" not in err


def test_a_batch_committed_after_a_later_numbered_one_is_still_printed(tmp_path: Path, pg_url: str) -> None:
    """Two collectors on one PostgreSQL: each takes its ids before its batch
    commits, so the batch with the lower ids may commit last; it is printed when it does."""
    import psycopg

    add_to(pg_url, dict(type="activity", message="before"))
    proc = follow(tmp_path, pg_url, "-f", "jsonl", "--type", "activity")
    assert json.loads(read_line(proc))["message"] == "before"
    with psycopg.connect(pg_url) as slow:  # one open transaction: a collector's batch on its way
        slow.execute("INSERT INTO records (id, type, created_at, message) "
                     "VALUES (nextval('records_id_seq'), 'activity', now(), 'slow collector')")
        add_to(pg_url, dict(type="error", message="not followed"), dict(type="activity", message="fast collector"))
        assert json.loads(read_line(proc))["message"] == "fast collector"
        slow.commit()
    assert json.loads(read_line(proc))["message"] == "slow collector"
    code, err = stop(proc)
    assert code == 0 and "Traceback" not in err
