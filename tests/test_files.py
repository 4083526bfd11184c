"""File tailing through real files, a real SQLite store and the real writer.

The sink here is the daemon's contract in small: each record goes through
``ingest.normalize``; each offset mark commits the rows put before it and the
offset in one transaction (``BatchWriter.commit``).  ``CrashingSink`` stops
committing after a number of transactions, like a daemon killed mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from collector_support import Collector
from collector_support import wait_for as collector_wait
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logconsole.collectors.files import FileTailer, level_for
from logconsole.collectors.sink import FileOffset
from logconsole.ingest import Row, normalize
from logconsole.store.db import connect
from logconsole.store.writer import BatchWriter

FAST = {"rescan_interval": 0.3, "partial_flush_after": 60.0}


class StoreSink:
    """A real :class:`~logconsole.collectors.sink.Sink`: normalise, then commit with offsets."""

    def __init__(self, db_path: Path, commits: int | None = None) -> None:
        self.conn = connect(db_path)
        self.writer = BatchWriter(self.conn)
        self.rows: list[Row] = []
        self.commits_left = commits

    async def put_raw(
        self, raw: dict[str, Any], *, kind: str | None = None, trusted: dict[str, Any] | None = None,
        offset: FileOffset | None = None,
    ) -> None:
        self.rows.append(normalize(raw, kind=kind, trusted=trusted))
        if offset is not None:
            await self.put_offset(offset)

    async def put_offset(self, mark: FileOffset) -> None:
        if self.commits_left is not None:
            if self.commits_left <= 0:
                self.rows.clear()  # the process died: nothing more reaches the disk
                return
            self.commits_left -= 1
        self.writer.commit(self.rows, [(mark.path, mark.inode, mark.offset, mark.head)])
        self.rows = []

    def close(self) -> None:
        self.conn.close()


def messages(db_path: Path) -> list[str]:
    conn = sqlite3.connect(db_path)
    try:
        return [r[0] for r in conn.execute("SELECT message FROM records ORDER BY id")]
    finally:
        conn.close()


def records(db_path: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM records ORDER BY id")]
    finally:
        conn.close()


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def tailing(patterns: list[str], db_path: Path, sink: StoreSink | None = None, **opts: Any) -> AsyncIterator[FileTailer]:
    """A running tailer; on exit it is stopped and must end promptly."""
    own = sink is None
    sink = sink or StoreSink(db_path)
    settings = {**FAST, **opts}
    tailer = FileTailer(patterns, db_path, sink, **settings)
    stop = asyncio.Event()
    task = asyncio.create_task(tailer.run(stop))
    await tailer_started(tailer, task)
    try:
        yield tailer
    finally:
        stop.set()
        await asyncio.wait_for(task, 3.0)
        if own:
            sink.close()


async def tailer_started(tailer: FileTailer, task: asyncio.Task[None]) -> None:
    """Give the first scan (saved offsets, start positions) time to finish."""
    await asyncio.sleep(0.2)
    if task.done():
        task.result()


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def lines(prefix: str, n: int, start: int = 0) -> str:
    return "".join(f"{prefix} {i}\n" for i in range(start, start + n))


def expected(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix} {i}" for i in range(start, start + n)]


# -- level words -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2026-11-27 10:00:00 ERROR db down", "error"),
        ("[err] cannot open", "error"),
        ("FATAL: out of memory", "critical"),
        ("kernel: CRIT temperature", "critical"),
        ("WARNING low disk", "warn"),
        ("level=warn msg=slow", "warn"),
        ("DEBUG cache miss", "debug"),
        ("INFO retrying after error", "info"),
        ("user signed in", "info"),
        ("terror and errors are not level words", "info"),
        ("x" * 200 + " ERROR too far into the line", "info"),
    ],
)
def test_level_words(line: str, level: str) -> None:
    assert level_for(line) == level


# -- following ---------------------------------------------------------------


async def test_existing_file_starts_at_its_end_and_follows_appends(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(lines("old", 3) + "half a line")
    async with tailing([str(log)], db_path):
        append(log, lines("new", 3))
        await eventually(lambda: len(messages(db_path)) >= 3)
        append(log, lines("more", 2))
        await eventually(lambda: len(messages(db_path)) >= 5)
    # Reading starts at the last complete line: the half line is read once completed.
    assert messages(db_path) == ["half a linenew 0"] + expected("new", 3)[1:] + expected("more", 2)


async def test_notifications_drive_reading_without_the_rescan(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path, rescan_interval=60.0):
        append(log, "hello\n")
        await eventually(lambda: messages(db_path) == ["hello"], timeout=4.0)


async def test_json_and_plain_lines(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.touch()
    async with tailing([str(log)], db_path, default_kind="chat") as tailer:
        append(log, "\n".join([
            json.dumps({"type": "error", "severity": "HIGH", "message": "boom", "errorType": "DbError"}),
            json.dumps({"message": "hi there", "senderName": "ana"}),
            json.dumps({"type": "error", "severity": "high"}),
            "{not json}",
            "[1, 2, 3]",
            "",
            "2026-11-27 WARN disk almost full\r",
        ]) + "\n")
        await eventually(lambda: len(messages(db_path)) >= 6)
    rows = records(db_path)
    assert [r["type"] for r in rows] == ["error", "chat", "activity", "activity", "activity", "activity"]
    err, chat, refused, broken, array, plain = rows
    assert (err["severity"], err["error_type"], err["message"]) == ("high", "DbError", "boom")
    assert json.loads(err["extra"])["file"] == str(log)
    assert (chat["sender_name"], chat["message"]) == ("ana", "hi there")
    # Refused by ingest: kept as text, with the reason.
    assert refused["message"] == '{"type": "error", "severity": "high"}'
    assert "message" in json.loads(refused["extra"])["ingest_error"]
    assert json.loads(broken["extra"])["ingest_error"].startswith("not valid JSON")
    assert array["message"] == "[1, 2, 3]" and "ingest_error" not in json.loads(array["extra"])
    assert (plain["message"], plain["level"], plain["title"]) == ("2026-11-27 WARN disk almost full", "warn", "mixed.log")
    assert json.loads(plain["extra"]) == {"file": str(log)}
    assert tailer.lines == 6 and tailer.rejected == 0


async def test_partial_line_is_held_until_completed(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path):
        append(log, "first\nsecond ha")
        await eventually(lambda: messages(db_path) == ["first"])
        await asyncio.sleep(0.5)  # several scans: the half line must stay held
        assert messages(db_path) == ["first"]
        append(log, "lf done\nthird\n")
        await eventually(lambda: len(messages(db_path)) >= 3)
    assert messages(db_path) == ["first", "second half done", "third"]


async def test_quiet_partial_line_is_flushed_after_a_while(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path, partial_flush_after=0.4):
        append(log, "no newline yet")
        await eventually(lambda: messages(db_path) == ["no newline yet"])
        append(log, " and the rest\n")
        await eventually(lambda: len(messages(db_path)) == 2)
    assert messages(db_path) == ["no newline yet", " and the rest"]


async def test_overlong_lines_are_cut_and_the_rest_skipped(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path, max_line=100):
        append(log, "a" * 250 + "\nshort\n" + "b" * 70_000 + "\nend\n")
        await eventually(lambda: len(messages(db_path)) >= 4)
    got = messages(db_path)
    assert got[0] == "a" * 100 + " [line cut: longer than 100 bytes]"
    assert got[1] == "short"
    assert got[2] == "b" * 100 + " [line cut: longer than 100 bytes]"
    assert got[3] == "end"
    assert len(got) == 4


# -- rotation and truncation -------------------------------------------------


async def test_rotation_rename_and_recreate(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path):
        with log.open("a", encoding="utf-8") as old:
            old.write(lines("before", 3))
            old.flush()
            await eventually(lambda: len(messages(db_path)) == 3)
            log.rename(tmp_path / "app.log.1")
            old.write(lines("late", 2))  # the app writes on until it reopens
            old.flush()
        append(log, lines("after", 3))
        await eventually(lambda: len(messages(db_path)) >= 8)
    assert messages(db_path) == expected("before", 3) + expected("late", 2) + expected("after", 3)


async def test_rotation_when_the_glob_matches_rotated_names_makes_no_duplicates(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(tmp_path / "app.log*")], db_path):
        append(log, lines("one", 2))
        await eventually(lambda: len(messages(db_path)) == 2)
        log.rename(tmp_path / "app.log.1")
        append(tmp_path / "app.log.1", lines("late", 1))
        append(log, lines("two", 2))
        await eventually(lambda: len(messages(db_path)) >= 5)
        await asyncio.sleep(0.5)  # a few more scans: nothing is read twice
    assert sorted(messages(db_path)) == sorted(expected("one", 2) + expected("late", 1) + expected("two", 2))


async def test_truncation_copytruncate(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path):
        append(log, lines("before", 5))
        await eventually(lambda: len(messages(db_path)) == 5)
        with log.open("r+") as f:
            f.truncate(0)
        append(log, lines("after", 2))
        await eventually(lambda: len(messages(db_path)) >= 7)
    assert messages(db_path) == expected("before", 5) + expected("after", 2)


async def test_truncated_and_refilled_past_the_offset_between_scans(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path, rescan_interval=60.0) as tailer:
        append(log, "short one\n")
        await eventually(lambda: len(messages(db_path)) == 1)
        # Rewritten in place with more than before: only the first bytes tell.
        log.write_text("rewritten line that is longer\nsecond\n")
        await eventually(lambda: len(messages(db_path)) >= 3)
    assert messages(db_path) == ["short one", "rewritten line that is longer", "second"]
    assert tailer.lines == 3


async def test_new_file_matching_the_glob_is_read_from_its_beginning(tmp_path: Path, db_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "old.log").write_text(lines("history", 2))
    async with tailing([str(logs / "*.log")], db_path):
        (logs / "new.log").write_text(lines("fresh", 2))
        (logs / "ignored.txt").write_text("not matching\n")
        await eventually(lambda: len(messages(db_path)) >= 2)
        append(logs / "old.log", "appended\n")
        await eventually(lambda: len(messages(db_path)) >= 3)
    assert sorted(messages(db_path)) == sorted(expected("fresh", 2) + ["appended"])


async def test_fifos_and_folders_matching_the_glob_are_ignored(tmp_path: Path, db_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.log")
    (tmp_path / "dir.log").mkdir()
    async with tailing([str(tmp_path / "*.log")], db_path):
        (tmp_path / "real.log").write_text("read me\n")
        await eventually(lambda: messages(db_path) == ["read me"])


async def test_folder_created_after_start_is_picked_up(tmp_path: Path, db_path: Path) -> None:
    async with tailing([str(tmp_path / "later" / "*.log")], db_path):
        (tmp_path / "later").mkdir()
        (tmp_path / "later" / "a.log").write_text("hello\n")
        await eventually(lambda: messages(db_path) == ["hello"])


async def test_folder_removed_and_recreated(tmp_path: Path, db_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").touch()
    async with tailing([str(logs / "*.log")], db_path):
        append(logs / "a.log", "first\n")
        await eventually(lambda: messages(db_path) == ["first"])
        (logs / "a.log").unlink()
        logs.rmdir()
        await asyncio.sleep(0.5)
        logs.mkdir()
        (logs / "a.log").write_text("second\n")
        await eventually(lambda: messages(db_path) == ["first", "second"])


# -- restarts ----------------------------------------------------------------


async def test_restart_resumes_without_duplicates_or_gaps(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path):
        append(log, lines("first", 3))
        await eventually(lambda: len(messages(db_path)) == 3)
    append(log, lines("while down", 3) + "partial")  # the daemon is stopped
    async with tailing([str(log)], db_path):
        append(log, " line\n" + lines("second", 2))
        await eventually(lambda: len(messages(db_path)) >= 9)
    assert messages(db_path) == expected("first", 3) + expected("while down", 3) + ["partial line"] + expected("second", 2)


async def test_restart_after_rotation_while_down_finishes_the_old_file(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path):
        append(log, lines("first", 2))
        await eventually(lambda: len(messages(db_path)) == 2)
    append(log, lines("unread", 2))
    log.rename(tmp_path / "app.log.1")
    log.write_text(lines("new file", 2))
    async with tailing([str(log)], db_path):
        await eventually(lambda: len(messages(db_path)) >= 6)
        await asyncio.sleep(0.4)
    assert messages(db_path) == expected("first", 2) + expected("unread", 2) + expected("new file", 2)


async def test_restart_after_truncation_while_down_starts_over(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    async with tailing([str(log)], db_path):
        append(log, lines("first", 4))
        await eventually(lambda: len(messages(db_path)) == 4)
    log.write_text("x\n")  # shorter than the saved offset
    async with tailing([str(log)], db_path):
        await eventually(lambda: len(messages(db_path)) >= 5)
    assert messages(db_path) == expected("first", 4) + ["x"]


async def test_crash_mid_stream_loses_nothing_and_repeats_nothing(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    crashing = StoreSink(db_path, commits=1)  # the first commit is the start mark
    async with tailing([str(log)], db_path, sink=crashing):
        append(log, lines("line", 50))
        await eventually(lambda: len(crashing.rows) == 0 and crashing.commits_left == 0)
        await asyncio.sleep(0.3)
    crashing.close()
    assert messages(db_path) == []
    crashing = StoreSink(db_path, commits=11)  # this run dies after 10 lines
    async with tailing([str(log)], db_path, sink=crashing):
        await eventually(lambda: crashing.commits_left == 0)
    crashing.close()
    assert messages(db_path) == expected("line", 10)
    async with tailing([str(log)], db_path):
        await eventually(lambda: len(messages(db_path)) >= 50)
    assert messages(db_path) == expected("line", 50)


async def test_stop_returns_promptly_and_files_are_closed(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    started = time.monotonic()
    async with tailing([str(log)], db_path, rescan_interval=60.0):
        append(log, "x\n")
        await eventually(lambda: messages(db_path) == ["x"])
        assert str(log) in open_files()
    assert time.monotonic() - started < 3.0
    assert str(log) not in open_files()


def open_files() -> set[str]:
    """What this process has open (``/proc/self/fd``)."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return out


# -- end to end: the real daemon with --watch ----------------------------------


def test_daemon_tails_across_rotation_restart_and_kill(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_text("history that is not replayed\n")
    daemon = Collector(tmp_path, "--watch", str(logs / "*.log"), "--retention-days", "0")

    def tailed() -> list[str]:
        return [r["message"] for r in daemon.rows("SELECT message FROM records WHERE type != 'system' ORDER BY id")]

    def until(n: int) -> None:
        collector_wait(lambda: len(tailed()) >= n, timeout=10, what=f"{n} tailed records")

    daemon.start()
    try:
        collector_wait(lambda: daemon.rows("SELECT * FROM file_offsets"), timeout=10, what="the start offset")
        append(log, lines("one", 3) + json.dumps({"type": "error", "message": "json boom", "severity": "high"}) + "\n")
        until(4)
        log.rename(logs / "app.log.1")  # rotation while running: the new name no longer matches
        append(log, lines("two", 2))
        until(6)
        assert daemon.stop() == 0
        append(log, lines("while down", 2))
        daemon.start()
        until(8)
        append(log, lines("three", 2))
        until(10)
        daemon.stop(signal.SIGKILL)
        append(log, lines("after kill", 2))
        daemon.start()
        until(12)
        assert daemon.stop() == 0
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(10)
    assert tailed() == (
        expected("one", 3) + ["json boom"] + expected("two", 2) + expected("while down", 2)
        + expected("three", 2) + expected("after kill", 2)
    )
    errors = daemon.rows("SELECT severity, extra FROM records WHERE type = 'error'")
    assert errors[0]["severity"] == "high" and json.loads(errors[0]["extra"])["file"] == str(log)


# -- properties ----------------------------------------------------------------

TEXT = st.text(
    st.one_of(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{"), st.just("\r")),
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(TEXT, max_size=12), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_any_chunking_of_appends_gives_the_same_lines(tmp_path: Path, lines: list[str], cuts: list[int]) -> None:
    """However writes split the bytes, each line is stored once, whole (or cut at the limit)."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    log = folder / "app.log"
    log.touch()
    data = "".join(line + "\n" for line in lines).encode()
    max_line = 30

    def expect(line: str) -> str | None:
        raw = line.encode()
        text = raw[:max_line].decode("utf-8", "replace").rstrip("\r")
        if len(raw) > max_line:
            text += f" [line cut: longer than {max_line} bytes]"
        return text if text.strip() else None

    async def scenario() -> list[str]:
        db = folder / "logs.db"
        sink = StoreSink(db)
        tailer = FileTailer([str(log)], db, sink, max_line=max_line)
        try:
            await tailer._scan(initial=True)
            points = sorted({min(c, len(data)) for c in cuts} | {len(data)})
            start = 0
            for point in points:
                with log.open("ab") as f:
                    f.write(data[start:point])
                start = point
                await tailer._scan()
        finally:
            for t in tailer._tracked.values():
                os.close(t.fd)
            sink.close()
        return messages(db)

    assert asyncio.run(scenario()) == [e for e in map(expect, lines) if e is not None]


@given(st.text(max_size=300))
def test_level_for_always_names_a_level(line: str) -> None:
    assert level_for(line) in ("debug", "info", "warn", "error", "critical")
