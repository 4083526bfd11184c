"""The daemon's pipeline in-process on a real database: group commit, offsets
with their records, syncs, and what a failing database does to them."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from logconsole.collectors import pipeline as pipeline_module
from logconsole.collectors.pipeline import CommitError, Pipeline
from logconsole.collectors.sink import FileOffset
from logconsole.ingest import IngestError, Redactor
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


async def test_a_failing_database_fails_the_sync_and_counts_the_drop(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "RETRY_DELAY", 0.01)
    p = await started(db_path)
    try:
        await p.put_raw({"type": "activity", "message": "stored"})
        await p.sync()
        other = sqlite3.connect(db_path)
        other.execute("DROP TABLE records")  # every later insert fails
        other.close()
        await p.put_raw({"type": "activity", "message": "lost"})
        with pytest.raises(CommitError, match="database error: no such table"):
            await p.sync()
        assert p.counters.dropped == 1
    finally:
        await p.close()


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
