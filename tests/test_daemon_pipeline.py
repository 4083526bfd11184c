"""The daemon's pipeline in-process on a real database: group commit, offsets
with their records, syncs, and what a refusing database does to them (nothing
is dropped: batches wait, syncs say why, a stop spills, a start replays)."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest

from logconsole.collectors.pipeline import CommitError, Pipeline, WriterTimings
from logconsole.collectors.sink import FileOffset
from logconsole.collectors.spill import read_spill, write_spill
from logconsole.ingest import IngestError, Redactor, normalize
from logconsole.store.db import connect
from logconsole.store.writer import BatchWriter, EncodedRow, encode_row


async def started(db: Path, **kw: object) -> Pipeline:
    p = Pipeline(db, redactor=Redactor(["session"]), **kw)  # type: ignore[arg-type]
    await p.start()
    return p


async def test_records_and_offsets_commit_together_and_sync_waits_for_them(db_path: Path) -> None:
    p = await started(db_path)
    try:
        for i in range(3000):
            await p.put_raw({"type": "activity", "message": f"m{i}", "sessionId": "s"}, trusted={"_pid": 7})
        await p.put_offset(FileOffset("/var/log/a.log", 11, 100, "h1"))
        await p.put_offset(FileOffset("/var/log/a.log", 11, 250, "h1"))
        await p.sync()
        conn = connect(db_path, readonly=True)
        try:
            assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 3000
            assert conn.execute("SELECT extra FROM records LIMIT 1").fetchone()[0] == (
                '{"sessionId":"[REDACTED]","_pid":7}')
            assert conn.execute("SELECT path, inode, offset, head FROM file_offsets").fetchall() == [
                ("/var/log/a.log", 11, 250, "h1")]
        finally:
            conn.close()
        assert p.counters.committed == 3000 and p.counters.dropped == 0
    finally:
        await p.close()


async def test_a_record_and_its_offset_are_one_queue_item(db_path: Path) -> None:
    """A tailed line's record carries its offset, so a batch boundary (here every
    3 items) can never commit one without the other."""
    p = await started(db_path, max_batch=3)
    try:
        for i in range(10):
            await p.put_raw({"type": "activity", "message": f"line {i}"},
                            offset=FileOffset("/var/log/b.log", 5, (i + 1) * 7, "h"))
        assert p.queue_depth <= 10
        await p.sync()
        conn = connect(db_path, readonly=True)
        try:
            assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 10
            assert conn.execute("SELECT offset FROM file_offsets").fetchall() == [(70,)]
        finally:
            conn.close()
        assert p.counters.received == 10 and p.counters.committed == 10
    finally:
        await p.close()


async def test_invalid_records_raise_and_are_not_queued(db_path: Path) -> None:
    p = await started(db_path)
    try:
        with pytest.raises(IngestError, match="field `message` is required"):
            await p.put_raw({"type": "error"})
        assert p.queue_depth == 0 and p.counters.received == 0
    finally:
        await p.close()


async def test_a_full_queue_makes_the_sender_wait(db_path: Path) -> None:
    p = Pipeline(db_path, redactor=Redactor(), capacity=10)
    # Not started: nothing drains the queue.
    for i in range(10):
        await p.put_raw({"type": "activity", "message": str(i)})
    blocked = asyncio.create_task(p.put_raw({"type": "activity", "message": "eleventh"}))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # waiting, not dropped
    await p.start()
    await asyncio.wait_for(blocked, 5)
    await p.sync()
    assert p.counters.committed == 11
    await p.close()


FAST = WriterTimings(sync_timeout=0.3, busy_timeout=0.02, retry_max_delay=0.05)


def count_records(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM records").fetchone()[0]
    finally:
        conn.close()


async def test_a_locked_database_keeps_the_batch_and_the_sync_says_why(db_path: Path) -> None:
    """Before: three attempts, then the batch was dropped and counted."""
    p = await started(db_path, timings=FAST)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        for i in range(50):
            await p.put_raw({"type": "activity", "message": f"held {i}"})
        with pytest.raises(CommitError, match="^database is locked by another process$") as info:
            await p.sync()
        assert info.value.retrying
        await asyncio.sleep(0.5)  # many more attempts than the old three
        assert p.counters.failed_commits > 3 and p.counters.dropped == 0
        holder.execute("COMMIT")
        await p.sync()
        assert count_records(db_path) == 50 and p.counters.committed == 50 and p.condition == ""
    finally:
        holder.close()
        await p.close()


async def test_a_broken_database_keeps_the_records_and_spills_them_on_close(
    db_path: Path, tmp_path: Path
) -> None:
    """Not a passing condition, and still no drop: the records wait, and on close
    they go to the spill file with the reason."""
    spill_at = tmp_path / "logs.db.spill.jsonl"
    p = await started(db_path, timings=FAST, spill_places=[tmp_path / "missing" / "x.spill.jsonl", spill_at])
    await p.put_raw({"type": "activity", "message": "stored"})
    await p.sync()
    other = sqlite3.connect(db_path)
    other.execute("DROP TABLE records")  # every later insert fails
    other.close()
    await p.put_raw({"type": "activity", "message": "kept"})
    await p.put_offset(FileOffset("/var/log/c.log", 3, 40, "h"))
    with pytest.raises(CommitError, match="database error: no such table: records"):
        await p.sync()
    waiting = asyncio.create_task(p.sync())
    await p.close()
    with pytest.raises(CommitError, match=f"kept them in {spill_at}"):
        await waiting
    assert p.counters.dropped == 0 and p.counters.spilled == 1 and p.spill_path == spill_at
    spill = read_spill(spill_at)
    assert [r["message"] for r in spill.rows] == ["kept"]
    assert spill.offsets == [("/var/log/c.log", 3, 40, "h")]
    assert stat.S_IMODE(spill_at.stat().st_mode) == 0o600


async def test_a_spill_is_replayed_once_even_when_the_file_outlives_its_commit(
    db_path: Path, tmp_path: Path
) -> None:
    rows = [normalize({"type": "activity", "message": f"spilled {i}", "token": "t"}) for i in range(3)]
    path = write_spill([tmp_path / "logs.db.spill.jsonl"], db_path, rows, [("/var/log/d.log", 9, 99, "h")])
    with open(path, "ab") as f:
        f.write(b'{"row": {"type": "activ')  # the machine stopped mid-line
    keep = path.read_bytes()
    p = await started(db_path)
    try:
        assert await p.replay(read_spill(path))
        assert not path.exists()
        path.write_bytes(keep)  # as if the daemon died between the commit and the removal
        spill = read_spill(path)
        conn = sqlite3.connect(db_path)
        conn.execute("INSERT INTO file_offsets (path, inode, offset, head) VALUES (?, ?, ?, ?)", spill.marker)
        conn.commit()
        conn.close()
        assert await p.replay(spill)
        assert not path.exists()
    finally:
        await p.close()
    conn = connect(db_path, readonly=True)
    try:
        assert [r[0] for r in conn.execute("SELECT message FROM records ORDER BY id")] == [
            "spilled 0", "spilled 1", "spilled 2"]
        assert conn.execute("SELECT path, offset FROM file_offsets").fetchall() == [("/var/log/d.log", 99)]
    finally:
        conn.close()


def test_batch_writer_leaves_out_only_rows_it_cannot_encode(conn: sqlite3.Connection) -> None:
    w = BatchWriter(conn)
    rows = [
        {"type": "activity", "created_at": "2026-01-01T00:00:00.000Z", "message": "fine", "level": "info"},
        {"type": "activity", "created_at": "2026-01-01T00:00:00.000Z", "message": "bad \ud800", "level": "info"},
        {"type": "system", "created_at": "2026-01-01T00:00:00.000Z", "metrics": '{"cpu":1.5}', "requires_action": 1},
    ]
    assert w.commit(rows) == 2 and w.unstorable == 1
    got = conn.execute("SELECT type, message, metrics, requires_action, typeof(requires_action) FROM records").fetchall()
    assert got == [("activity", "fine", None, None, "null"), ("system", None, '{"cpu":1.5}', 1, "integer")]


def test_rows_encoded_before_the_writer_store_what_plain_rows_do(conn: sqlite3.Connection) -> None:
    rows = [
        {"type": "activity", "created_at": "2026-01-01T00:00:00.000Z", "message": "Zoë 🙂", "level": "info",
         "duration_ms": 1.5, "status_code": 200, "extra": '{"_pid":7}'},
        {"type": "system", "created_at": "2026-01-01T00:00:01.000Z", "metrics": '{"cpu":1.5}', "requires_action": 1},
        {"type": "error", "created_at": "2026-01-01T00:00:02.000Z", "message": "big", "severity": "high",
         "status_code": 2**62},
    ]
    encoded = [encode_row(r) for r in rows]
    assert all(type(r) is EncodedRow and r == plain for r, plain in zip(encoded, rows))
    assert type(encode_row({**rows[0], "message": "bad \ud800"})) is dict  # left to the writer to sort out
    w = BatchWriter(conn)
    assert w.commit(rows) == 3 and w.commit(encoded) == 3
    got = conn.execute("SELECT * FROM records ORDER BY id").fetchall()
    typed = conn.execute("SELECT typeof(duration_ms), typeof(status_code), typeof(requires_action) "
                         "FROM records ORDER BY id").fetchall()
    assert [r[1:] for r in got[:3]] == [r[1:] for r in got[3:]] and typed[:3] == typed[3:]
