"""The write-ahead log gives its space back: after a reader held a snapshot,
and while retention deletes a large part of the store."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from collector_support import Client, Collector, wait_for

from logconsole.ingest import normalize
from logconsole.store.db import connect
from logconsole.store.retention import prune
from logconsole.store.wal import JOURNAL_SIZE_LIMIT, wal_size
from logconsole.store.writer import insert_rows
from tests.store_support import NOW


def test_writing_connections_limit_the_log_they_keep(db_path: Path) -> None:
    conn = connect(db_path)
    assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == JOURNAL_SIZE_LIMIT
    conn.close()


def test_retention_keeps_the_log_about_one_batch_long_while_readers_come_and_go(db_path: Path) -> None:
    conn = connect(db_path)
    old = "2020-01-01T00:00:00Z"
    insert_rows(conn, [normalize({"type": "activity", "message": f"old message {i} with a few words",
                                  "created_at": old}) for i in range(10_000)])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes: list[int] = []
    stop = threading.Event()
    # The readers start only now: the fill above is not what is measured.
    with _readers(db_path, stop):
        removed = prune(conn, 90, now=NOW, batch=1000, on_batch=lambda n: sizes.append(wal_size(db_path)))
    assert removed == 10_000
    # Without checkpoints between batches the log grows by a batch each time (about 10x the first).
    assert max(sizes) < 3 * sizes[0], sizes
    assert wal_size(db_path) == 0  # the run ends with a TRUNCATE checkpoint
    conn.close()


class _readers:
    def __init__(self, db_path: Path, stop: threading.Event) -> None:
        self.db_path, self.stop = db_path, stop

    def __enter__(self) -> None:
        def read(phase: float) -> None:
            conn = sqlite3.connect(self.db_path, isolation_level=None)
            time.sleep(phase)
            while not self.stop.is_set():
                conn.execute("BEGIN")
                conn.execute("SELECT max(id) FROM records").fetchone()
                time.sleep(0.03)
                conn.execute("COMMIT")
            conn.close()

        self.threads = [threading.Thread(target=read, args=(p,)) for p in (0.0, 0.015)]
        for t in self.threads:
            t.start()
        time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def test_the_collector_truncates_the_log_once_the_reader_left_and_it_is_idle(tmp_path: Path) -> None:
    c = Collector(tmp_path, "--idle-checkpoint", "0.5").start()
    try:
        wait_for(lambda: c.db.exists() and c.rows("SELECT 1 FROM records WHERE type = 'system'"), 15, "health")
        reader = sqlite3.connect(c.db, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM records").fetchone()  # holds this snapshot
        big = "x" * 1000
        with Client(c.sock, timeout=30) as client:
            for part in range(4):
                client.send_records(*({"type": "activity", "message": f"{part} {i} {big}"} for i in range(2000)))
                answer, rejected = client.sync()
                assert answer["ok"] and not rejected
        grown = wal_size(c.db)
        # With a reader on an old snapshot the log cannot start afresh: it holds every record sent.
        assert grown > 8_000_000, grown
        time.sleep(1.5)
        assert wal_size(c.db) >= grown  # idle, but the reader is still there: nothing to give back yet
        reader.execute("COMMIT")
        reader.close()
        wait_for(lambda: wal_size(c.db) == 0, 10, "the idle collector to truncate the log")
    finally:
        assert c.stop() == 0


def test_a_stop_while_the_idle_collector_truncates_the_log_is_clean(tmp_path: Path) -> None:
    """The truncation runs on a thread the stop cannot interrupt: the stop must
    leave that thread its connection (closing it under the thread crashed the
    daemon with SIGSEGV) and still store everything."""
    c = Collector(tmp_path, "--idle-checkpoint", "0.2").start()
    stopped = False
    try:
        wait_for(lambda: c.db.exists() and c.rows("SELECT 1 FROM records WHERE type = 'system'"), 15, "health")
        reader = sqlite3.connect(c.db, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM records").fetchone()  # the log must hold every record below
        big = "y" * 2000
        sent = 0
        with Client(c.sock, timeout=60) as client:
            for part in range(12):
                client.send_records(*({"type": "activity", "message": f"{part} {i} {big}"} for i in range(2000)))
                answer, rejected = client.sync()
                assert answer["ok"] and not rejected
                sent += 2000
        before = c.db.stat().st_size
        reader.execute("COMMIT")
        reader.close()
        # The checkpoint copies the log into the database file: stop as soon as it is seen doing so.
        deadline = time.monotonic() + 30
        while c.db.stat().st_size == before:
            assert time.monotonic() < deadline, "the idle collector never started copying the log"
            time.sleep(0.0005)
        stopped = True
        assert c.stop() == 0
    finally:
        if not stopped:
            c.stop()
    conn = sqlite3.connect(c.db)
    assert conn.execute("SELECT count(*) FROM records WHERE type = 'activity'").fetchone()[0] == sent
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    conn.close()
