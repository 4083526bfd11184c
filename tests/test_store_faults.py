"""A locked or full database, with a real daemon, a real socket and a real file:
nothing accepted is lost, and every door says what is wrong.

* a lock held by another connection for longer than any retry window: JSON
  senders and `logger -u` keep sending, a sync is answered with the reason after
  the sync timeout, and once the lock goes every record is stored once;
* a full disk (a small tmpfs, so SQLite itself reports SQLITE_FULL): the sync,
  `logconsole send` and `logconsole import` say "disk is full"; SIGTERM writes a
  spill file and exits 1 with the count; a start with room again replays it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_support import Client, Collector, isolated_env, wait_for

from logconsole.collectors.spill import read_spill
from logconsole.store.db import connect

FAST = ("--busy-timeout", "0.05", "--retry-max-delay", "0.2", "--sync-timeout", "1")
"""Old behaviour with these settings: 3 attempts of 0.05 s and two 0.5 s pauses, then a drop."""

HAS_LOGGER = Path("/usr/bin/logger").exists()


def records(marker: str, n: int, size: int = 0) -> list[dict[str, object]]:
    return [{"type": "activity", "message": f"{marker} {i}", "request_data": {"pad": "x" * size}}
            for i in range(n)]


def messages(c: Collector, marker: str) -> list[str]:
    return [r["message"] for r in c.rows("SELECT message FROM records WHERE message LIKE ? ORDER BY id",
                                         (f"{marker}%",))]


def logcli(tmp: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logconsole", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env=isolated_env(tmp))


# -- a lock held elsewhere ------------------------------------------------------


def test_a_lock_held_past_every_retry_window_loses_nothing(tmp_path: Path) -> None:
    c = Collector(tmp_path, *FAST).start()
    marker = f"lock-{uuid.uuid4().hex[:8]}"
    holder = sqlite3.connect(c.db, isolation_level=None)
    try:
        with Client(c.sock) as early:
            early.send_records(*records(f"{marker} early", 5))
            assert early.sync()[0]["ok"]
        holder.execute("BEGIN IMMEDIATE")
        held_since = time.monotonic()
        lines = tmp_path / "syslog.txt"
        lines.write_text("".join(f"{marker} syslog {i}\n" for i in range(300)))
        logger = None
        if HAS_LOGGER:
            logger = subprocess.Popen(["logger", "-u", str(c.sock), "--socket-errors=on", "-t", "lockt",
                                       "-f", str(lines)])
        with Client(c.sock) as cl:
            cl.send_records(*records(f"{marker} json", 2000))
            answer, before = cl.sync()
            assert before == []
            assert answer["ok"] is False and answer["op"] == "sync"
            assert answer["error"] == "database is locked by another process"
            assert answer["retrying"] is True and answer["stored"] == 2000
            # The records behind a failed sync are taken too.
            cl.send_records(*records(f"{marker} after", 100))
            if logger is not None:
                assert logger.wait(30) == 0
            out = logcli(tmp_path, "send", "--socket", str(c.sock),
                         json.dumps({"type": "error", "severity": "high", "message": f"{marker} send"}))
            assert out.returncode == 1
            assert "Error: not stored yet: database is locked by another process" in out.stderr
            assert "do not send them again" in out.stderr
            while time.monotonic() - held_since < 4:  # well past the old window (about 1.2 s here)
                time.sleep(0.1)
            assert messages(c, marker) == [f"{marker} early {i}" for i in range(5)]
            holder.execute("COMMIT")
            answer, before = cl.sync()
            assert answer["ok"] and answer["stored"] == 2100 and before == []
        got = messages(c, marker)
        assert sorted(got) == sorted(
            [f"{marker} early {i}" for i in range(5)] + [f"{marker} json {i}" for i in range(2000)]
            + [f"{marker} after {i}" for i in range(100)] + [f"{marker} send"]
            + ([f"{marker} syslog {i}" for i in range(300)] if HAS_LOGGER else []))
        assert "database is locked by another process" in c.output()
    finally:
        with contextlib.suppress(sqlite3.Error):
            holder.execute("ROLLBACK")
        holder.close()
        assert c.stop() == 0


# -- a full disk ------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root; CI runs tests as root)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s filesystem; the file that does it."""
    ballast = folder / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 512):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return ballast


def test_a_full_disk_is_reported_spilled_on_stop_and_replayed_on_start(small_disk: Path, tmp_path: Path) -> None:
    db = small_disk / "logs.db"
    c = Collector(tmp_path, *FAST, db=db).start()
    marker = f"full-{uuid.uuid4().hex[:8]}"
    with Client(c.sock) as cl:
        cl.send_records(*records(f"{marker} before", 10))
        assert cl.sync()[0]["ok"]
    ballast = fill(small_disk)
    with Client(c.sock) as cl:
        cl.send_records(*records(f"{marker} held", 400, size=2000))  # more than the WAL holds
        answer, _ = cl.sync()
        assert answer["ok"] is False and answer["error"] == "disk is full" and answer["retrying"] is True
    out = logcli(tmp_path, "send", "--socket", str(c.sock),
                 json.dumps({"type": "activity", "message": f"{marker} send"}))
    assert out.returncode == 1 and "Error: not stored yet: disk is full;" in out.stderr, out.stderr
    if HAS_LOGGER:
        subprocess.run(["logger", "-u", str(c.sock), "--socket-errors=on", "-t", "fullt", f"{marker} syslog"],
                       check=True, timeout=10)
    held = 400 + 1 + (1 if HAS_LOGGER else 0)
    wait_for(lambda: "disk is full" in c.output(), 10, "the daemon to log the full disk")
    assert "cannot rollback" not in c.output()

    code = c.stop()
    log = c.output()
    assert code == 1, log
    # The database's disk is the full one, so the spill goes beside the socket.
    spill_path = c.sock.with_name(c.sock.name + ".spill.jsonl")
    spill = read_spill(spill_path)
    # The daemon's own health sample at start may be among them.
    assert len([r for r in spill.rows if r["type"] != "system"]) == held and spill.db == str(db)
    total = len(spill.rows)
    assert f"{total} records could not be stored and were written to {spill_path} (disk is full)" in log
    assert stat.S_IMODE(spill_path.stat().st_mode) == 0o600
    assert not list(small_disk.glob("*.spill.jsonl*"))

    ballast.unlink()
    again = Collector(tmp_path, *FAST, db=db).start()
    try:
        assert not spill_path.exists()
        got = messages(again, marker)
        expected = ([f"{marker} before {i}" for i in range(10)] + [f"{marker} held {i}" for i in range(400)]
                    + [f"{marker} send"] + ([f"{marker} syslog"] if HAS_LOGGER else []))
        assert sorted(got) == sorted(expected)  # every record, exactly once
        assert f"replayed {total} records from {spill_path}" in again.output()
    finally:
        assert again.stop() == 0


def test_import_into_a_full_disk_says_disk_is_full(small_disk: Path, tmp_path: Path) -> None:
    existing, fresh = small_disk / "logs.db", small_disk / "new.db"
    keep = connect(existing)  # its -wal and -shm files stay, so the import opens it and fails on insert
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records("imp", 3000, size=1000)))
    fill(small_disk)
    try:
        out = logcli(tmp_path, "import", "--db", str(existing), str(source))
    finally:
        keep.close()
    assert out.returncode == 1
    assert out.stderr.splitlines()[-2:] == [
        "stopped: 0 records were stored before the database refused the next batch", "Error: disk is full"
    ], out.stderr
    out = logcli(tmp_path, "import", "--db", str(fresh), str(source))
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == f"Error: cannot open {fresh}: disk is full", out.stderr


def test_a_stop_while_the_lock_is_held_spills_beside_the_database(tmp_path: Path) -> None:
    c = Collector(tmp_path, *FAST).start()
    holder = sqlite3.connect(c.db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with Client(c.sock) as cl:
            cl.send_records(*records("stop-locked", 3000))
            assert cl.sync()[0]["error"] == "database is locked by another process"
        code = c.stop(signal.SIGTERM)
        spill_path = tmp_path / "logs.db.spill.jsonl"
        assert code == 1
        spilled = read_spill(spill_path).rows
        assert len([r for r in spilled if r["type"] != "system"]) == 3000  # and perhaps the start's health sample
        assert (f"{len(spilled)} records could not be stored and were written to {spill_path} "
                "(database is locked by another process)") in c.output()
        assert stat.S_IMODE(spill_path.stat().st_mode) == 0o600
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    again = Collector(tmp_path, *FAST).start()
    try:
        assert len(messages(again, "stop-locked")) == 3000 and not spill_path.exists()
    finally:
        assert again.stop() == 0


def test_health_into_a_full_disk_says_disk_is_full(small_disk: Path, tmp_path: Path) -> None:
    db = small_disk / "logs.db"
    keep = connect(db)
    keep.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fill(small_disk)
    try:
        out = logcli(tmp_path, "health", "--db", str(db), "--socket", str(tmp_path / "none.sock"))
    finally:
        keep.close()
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == f"Error: cannot store the sample in {db}: disk is full", out.stderr


# -- the console ------------------------------------------------------------------


async def test_the_console_says_disk_is_full_when_an_action_cannot_be_written(small_disk: Path) -> None:
    from tui_data import FIXED_NOW, make_db, settle

    from logconsole.screens.app import LogConsoleApp

    db = make_db(small_disk / "logs.db")
    keep = connect(db)  # the -shm file stays, so the console can read; only writes need room
    keep.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    app = LogConsoleApp(db, now=FIXED_NOW, cursor_blink=False, poll_interval=0)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            fill(small_disk)
            await pilot.press("x")
            await pilot.pause()
            await pilot.press("y")
            await settle(pilot)
            await wait_notes(pilot, app)
            said = [str(n.message) for n in app._notifications]
            assert "Deleted nothing: disk is full" in said, said
    finally:
        keep.close()


async def wait_notes(pilot: object, app: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not app._notifications and time.monotonic() < deadline:  # type: ignore[attr-defined]
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def test_the_client_counts_records_the_collector_still_holds_as_unconfirmed_not_dropped(tmp_path: Path) -> None:
    from logconsole.client import LogClient

    c = Collector(tmp_path, *FAST).start()
    holder = sqlite3.connect(c.db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with LogClient(c.sock, timeout=10) as client:
            for i in range(20):
                client.log("activity", {"message": f"client-held {i}"})
            assert client.flush(timeout=10) is False
            assert client.unconfirmed == 20 and client.dropped == 0
            assert client.last_error == "collector has not committed yet: database is locked by another process"
            holder.execute("COMMIT")
            client.log("activity", {"message": "client-after"})
            assert client.flush(timeout=10) is True
        assert len(messages(c, "client-")) == 21  # each once: nothing was sent twice
    finally:
        with contextlib.suppress(sqlite3.Error):
            holder.execute("ROLLBACK")
        holder.close()
        assert c.stop() == 0


# -- what the docs promise -----------------------------------------------------------


def test_the_protocol_doc_states_the_guarantee_and_the_settings_as_built(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from logconsole.cli import cli
    from logconsole.collectors import pipeline
    from logconsole.config import Settings, load_settings

    doc = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    assert "### Delivery guarantee" in doc and "### When the database refuses writes" in doc
    assert "records could not be stored and were written to" in doc and "`logs.db.spill.jsonl`" in doc
    assert "`SOCKET.spill.jsonl`" in doc and "Mode `0600`" in doc
    help_text = CliRunner().invoke(cli, ["daemon", "--help"]).output
    settings = Settings()
    for option, key, default in (("--sync-timeout", "sync_timeout", pipeline.DEFAULT_SYNC_TIMEOUT),
                                 ("--busy-timeout", "busy_timeout", pipeline.DEFAULT_BUSY_TIMEOUT),
                                 ("--retry-max-delay", "retry_max_delay", pipeline.DEFAULT_RETRY_MAX_DELAY)):
        assert f"| `{option} SECONDS` | {default:g}:" in doc
        assert option in help_text and f"[default: {default:g}]" in " ".join(help_text.split())
        assert getattr(settings, key) == default
        config = tmp_path / f"{key}.toml"
        config.write_text(f"[daemon]\n{key} = 0.25\n")
        assert getattr(load_settings(config), key) == 0.25
