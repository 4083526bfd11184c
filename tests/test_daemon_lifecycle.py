"""The daemon as a process: one instance, stale sockets, signals, crashes,
file modes, retention and health wiring."""

from __future__ import annotations

import grp
import json
import logging
import logging.handlers
import os
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest
from collector_support import Client, Collector, can_connect, isolated_env, wait_for

from logconsole.collectors.spawn import ensure_collector
from logconsole.store.db import connect
from logconsole.store.writer import insert_rows


def records(n: int, marker: str) -> list[dict]:
    return [{"type": "activity", "message": f"{marker} {i}"} for i in range(n)]


def test_socket_is_private_and_lock_files_sit_beside_socket_and_database(tmp_path: Path) -> None:
    c = Collector(tmp_path, sock=tmp_path / "fresh" / "deep" / "s.sock").start()
    try:
        assert stat.S_ISSOCK(c.sock.stat().st_mode)
        assert stat.S_IMODE(c.sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(c.sock.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(c.db.stat().st_mode) == 0o600
        assert (c.sock.parent / "s.sock.lock").read_text().strip() == str(c.proc.pid)
        assert (tmp_path / "logs.db.lock").read_text().strip() == str(c.proc.pid)
    finally:
        assert c.stop() == 0
    assert not c.sock.exists()  # a clean stop removes the socket


def test_socket_mode_option(tmp_path: Path) -> None:
    c = Collector(tmp_path, "--socket-mode", "0660").start()
    try:
        assert stat.S_IMODE(c.sock.stat().st_mode) == 0o660
    finally:
        c.stop()


def test_second_daemon_on_same_socket_or_database_exits_non_zero(tmp_path: Path) -> None:
    first = Collector(tmp_path).start()
    try:
        env = isolated_env(tmp_path)
        same_socket = Collector(tmp_path, db=tmp_path / "other.db")
        out = subprocess.run(same_socket.command(), capture_output=True, text=True, timeout=20, env=env)
        assert out.returncode == 1
        assert f"another collector is already running on socket {first.sock} (pid {first.proc.pid})" in out.stderr
        same_db = Collector(tmp_path, sock=tmp_path / "other" / "o.sock")
        out = subprocess.run(same_db.command(), capture_output=True, text=True, timeout=20, env=env)
        assert out.returncode == 1
        assert f"another collector is already running on database {first.db}" in out.stderr
        assert "Traceback" not in out.stderr
        # The first one is unharmed.
        with Client(first.sock) as cl:
            assert cl.sync()[0]["ok"]
    finally:
        assert first.stop() == 0


def test_stale_socket_after_kill_9_is_recovered(tmp_path: Path) -> None:
    c = Collector(tmp_path).start()
    c.stop(signal.SIGKILL)
    assert c.sock.exists() and not can_connect(c.sock)  # left behind, nobody listening
    again = Collector(tmp_path).start()
    try:
        with Client(again.sock) as cl:
            cl.send_records(*records(3, "after-restart"))
            assert cl.sync()[0]["stored"] == 3
    finally:
        assert again.stop() == 0


def test_sigterm_stores_records_sent_without_sync_and_exits_0(tmp_path: Path) -> None:
    c = Collector(tmp_path).start()
    with Client(c.sock) as cl:
        cl.send_records(*records(10_000, "unsynced"))
        # no sync: the daemon must still store them on SIGTERM
        assert c.stop(signal.SIGTERM) == 0, c.output()
    assert len(c.rows("SELECT id FROM records WHERE message LIKE 'unsynced %'")) == 10_000
    assert "stopped: " in c.output()


def test_sigint_is_a_clean_stop_too(tmp_path: Path) -> None:
    c = Collector(tmp_path).start()
    with Client(c.sock) as cl:
        cl.send_records(*records(10, "interrupted"))
        assert c.stop(signal.SIGINT) == 0
    assert len(c.rows("SELECT id FROM records WHERE message LIKE 'interrupted %'")) == 10


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_takes_clients_still_waiting_to_be_accepted(tmp_path: Path, sig: int) -> None:
    # A connect succeeds while the client waits in the listen backlog, so its
    # records are sent before the daemon has accepted it: a stop must take them.
    c = Collector(tmp_path).start()
    clients = [Client(c.sock)]
    try:
        clients[0].send_records(*records(20_000, "busy"))  # keeps the daemon from accepting at once
        for i in range(100):
            cl = Client(c.sock)
            cl.send_records(*records(3, f"waiting-{i:03d}"))
            clients.append(cl)
        assert c.stop(sig) == 0, c.output()
    finally:
        for cl in clients:
            cl.close()
    assert len(c.rows("SELECT id FROM records WHERE message LIKE 'waiting-%'")) == 300
    assert len(c.rows("SELECT id FROM records WHERE message LIKE 'busy %'")) == 20_000


def test_kill_9_after_sync_loses_nothing_acknowledged(tmp_path: Path) -> None:
    c = Collector(tmp_path).start()
    with Client(c.sock) as cl:
        for round_ in range(5):
            cl.send_records(*records(400, f"acked-{round_}"))
            assert cl.sync()[0]["ok"]
        cl.send_records(*records(400, "maybe"))  # not acknowledged: may or may not survive
        c.stop(signal.SIGKILL)
    restarted = Collector(tmp_path).start()
    try:
        assert len(restarted.rows("SELECT id FROM records WHERE message LIKE 'acked-%'")) == 2000
        conn = sqlite3.connect(restarted.db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("INSERT INTO records_fts(records_fts) VALUES ('integrity-check')").fetchall() == []
        finally:
            conn.close()
    finally:
        assert restarted.stop() == 0


def test_health_sample_at_start_is_stored_with_the_daemons_own_figures(tmp_path: Path) -> None:
    pytest.importorskip("logconsole.collectors.health")
    c = Collector(tmp_path).start()
    try:
        rows = wait_for(lambda: c.rows("SELECT * FROM records WHERE type = 'system'"), 15, "a health record")
        figures = json.loads(rows[0]["metrics"])["collector"]
        assert {"records_per_s", "queue_depth", "rejected", "dropped", "db_size_bytes", "connections"} <= set(figures)
        assert figures["queue_depth"] == 0 and figures["db_size_bytes"] > 0
    finally:
        assert c.stop() == 0


def test_retention_runs_at_start(tmp_path: Path) -> None:
    db = tmp_path / "logs.db"
    conn = connect(db)
    insert_rows(conn, [
        {"type": "activity", "created_at": "2000-01-01T00:00:00.000Z", "message": "ancient", "level": "info"},
        {"type": "error", "created_at": "2000-01-01T00:00:00.000Z", "message": "open error",
         "severity": "high", "is_resolved": 0},
        {"type": "activity", "created_at": "2099-01-01T00:00:00.000Z", "message": "future", "level": "info"},
    ])
    conn.close()
    c = Collector(tmp_path, "--retention-days", "30").start()
    try:
        wait_for(lambda: not c.rows("SELECT id FROM records WHERE message = 'ancient'"), 10, "retention")
        assert {r["message"] for r in c.rows()} == {"open error", "future"}
    finally:
        assert c.stop() == 0


def test_bad_database_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notadir").write_text("")
    c = Collector(tmp_path, db=tmp_path / "notadir" / "x.db")
    out = subprocess.run(c.command(), capture_output=True, text=True, timeout=20, env=isolated_env(tmp_path))
    assert out.returncode == 1 and out.stderr.startswith("Error: ") and "Traceback" not in out.stderr


def test_ensure_collector_starts_one_then_finds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, sock = tmp_path / "logs.db", tmp_path / "run" / "spawned.sock"
    for k, v in isolated_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    message = ensure_collector(db, sock, None)
    assert message.startswith("started a collector (pid ")
    pid = int(message.split("pid ")[1].rstrip(")"))
    try:
        assert can_connect(sock)
        assert ensure_collector(db, sock, None) == f"collector already running at {sock}"
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not can_connect(sock), 15, "the spawned collector to stop")


def test_watched_file_is_tailed_and_resumed_after_restart_without_duplicates(tmp_path: Path) -> None:
    pytest.importorskip("logconsole.collectors.files")
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "app.log"
    log.touch()
    watch = ("--watch", str(tmp_path / "logs" / "*.log"))
    c = Collector(tmp_path, *watch).start()
    try:
        # The tailer starts following a file a moment after the socket listens:
        # append until a line comes through, then the lines under test.
        def warmed_up() -> bool:
            with log.open("a") as f:
                f.write("warm-up\n")
            return bool(c.rows("SELECT id FROM records WHERE message = 'warm-up'"))
        wait_for(warmed_up, 15, "the tailer to follow the file")
        with log.open("a") as f:
            f.write('{"type": "error", "message": "tail one"}\nWARN tail two\n')
        wait_for(lambda: len(c.rows("SELECT id FROM records WHERE type != 'system' AND message LIKE '%tail%'")) == 2, 15,
                 "2 tailed lines")
    finally:
        assert c.stop() == 0
    warm = len(c.rows("SELECT id FROM records WHERE message = 'warm-up'"))
    with log.open("a") as f:
        f.write("ERROR tail three\n")
    again = Collector(tmp_path, *watch).start()
    try:
        rows = wait_for(lambda: len(r := again.rows("SELECT * FROM records WHERE type != 'system' AND message LIKE '%tail%' "
                                                  "ORDER BY id")) == 3
                        and r, 15, "the appended line")
        assert [(r["type"], r["message"]) for r in rows] == [
            ("error", "tail one"), ("activity", "WARN tail two"), ("activity", "ERROR tail three")]
        assert len(again.rows("SELECT id FROM records WHERE message = 'warm-up'")) == warm  # no line twice
        offsets = again.rows("SELECT path, offset FROM file_offsets")
        assert offsets == [{"path": str(log), "offset": log.stat().st_size}]
    finally:
        assert again.stop() == 0


def test_idle_connections_are_closed_and_busy_ones_kept(tmp_path: Path) -> None:
    c = Collector(tmp_path, "--idle-timeout", "0.6").start()
    try:
        with Client(c.sock, timeout=10) as idle, Client(c.sock, timeout=10) as busy:
            for _ in range(24):  # 1.2 s of activity on one connection, none on the other
                busy.send_records({"type": "activity", "message": "keepalive"})
                time.sleep(0.05)
            assert idle.sock.recv(10) == b""  # closed by the daemon
            assert busy.sync()[0]["stored"] == 24
        # Python's SysLogHandler reconnects by itself after an idle close.
        handler = logging.handlers.SysLogHandler(address=str(c.sock))
        try:
            handler.emit(logging.makeLogRecord({"msg": "before idle", "levelno": logging.ERROR}))
            wait_for(lambda: c.rows("SELECT id FROM records WHERE message = 'before idle'"), 10, "first")
            time.sleep(1.2)  # more than the idle timeout (0.6 s) and a sweep (0.3 s)
            handler.emit(logging.makeLogRecord({"msg": "after idle", "levelno": logging.ERROR}))
            wait_for(lambda: c.rows("SELECT id FROM records WHERE message = 'after idle'"), 10, "second")
        finally:
            handler.close()
    finally:
        assert c.stop() == 0


def test_a_socket_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    c = Collector(tmp_path, sock=shared / "s.sock")
    out = subprocess.run(c.command(), capture_output=True, text=True, timeout=20, env=isolated_env(tmp_path))
    assert out.returncode == 1
    assert f"{shared} can be written by others" in out.stderr
    assert list(shared.iterdir()) == []  # not even a lock file


def test_connections_beyond_the_file_limit_are_refused_with_an_answer(tmp_path: Path) -> None:
    c = Collector(tmp_path, max_files=100).start()  # room for 100 - 64 = 36 connections
    clients: list[Client] = []
    try:
        for _ in range(50):
            clients.append(Client(c.sock))
        refused = []
        for cl in clients:
            try:
                cl.send_records({"type": "activity", "message": "crowd"})
                cl.send('{"op": "sync"}\n')
            except BrokenPipeError:
                pass  # refused and closed already: its refusal is still there to read
        for cl in clients:
            a = cl.answer()
            if a.get("op") != "sync":
                refused.append(a)
        accepted = 50 - len(refused)
        assert 30 <= accepted <= 36, refused[:3]  # a probe connection may not have been let go yet
        assert all(a == {"ok": False, "error": "too many connections"} for a in refused)
        assert len(c.rows("SELECT id FROM records WHERE message = 'crowd'")) == accepted
        for cl in clients[:5]:
            cl.close()

        def room_again() -> bool:  # once the daemon has seen those leave
            with Client(c.sock) as late:
                late.send('{"op": "sync"}\n')
                return late.answer().get("op") == "sync"
        wait_for(room_again, 10, "room for a new connection")
    finally:
        for cl in clients:
            cl.close()
        assert c.stop() == 0


def test_socket_group_shares_the_socket_and_its_folder(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    c = Collector(tmp_path, "--socket-group", group, sock=tmp_path / "shared" / "s.sock").start()
    try:
        st = c.sock.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o660, os.getgid())
        assert stat.S_IMODE(c.sock.parent.stat().st_mode) == 0o750
    finally:
        assert c.stop() == 0
    bad = Collector(tmp_path, "--socket-group", "no-such-group-here")
    out = subprocess.run(bad.command(), capture_output=True, text=True, timeout=20, env=isolated_env(tmp_path))
    assert out.returncode == 1 and "no such group 'no-such-group-here' (--socket-group)" in out.stderr


def _open_fds(pid: int) -> set[int]:
    return {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}


def _answer_or_silence(sock_path: Path, timeout: float) -> dict | str:
    """Connect, send a record and a sync, and return the first answer (or why none came)."""
    import socket as socket_module

    s = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM)
    try:
        s.connect(os.fspath(sock_path))  # blocking: the kernel's backlog holds it
        s.settimeout(timeout)
        try:
            s.sendall(b'{"type": "activity", "message": "crowd"}\n{"op": "sync"}\n')
        except OSError:
            pass  # refused before the send: the answer is still there to read
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                return "closed without an answer"
            buf += chunk
        return json.loads(buf.split(b"\n", 1)[0])
    except TimeoutError:
        return "no answer"
    finally:
        s.close()


def test_out_of_file_descriptors_refuses_with_an_answer_quietly_and_recovers(tmp_path: Path) -> None:
    c = Collector(tmp_path).start()
    try:
        assert c.proc is not None
        pid = c.proc.pid
        wait_for(lambda: c.rows("SELECT id FROM records WHERE type = 'system'"), 10, "the start health sample")
        with Client(c.sock) as already:  # a connection made before the limit holds on
            time.sleep(0.2)
            soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            fds = _open_fds(pid)
            lowest_free = min(set(range(len(fds) + 1)) - fds)
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))  # not one more file
            answers = [_answer_or_silence(c.sock, timeout=5)]
            assert isinstance(answers[0], dict), answers[0]
            answers += [_answer_or_silence(c.sock, timeout=5) for _ in range(39)]
            assert all(isinstance(a, dict) and a.get("ok") is False for a in answers), answers[:3]
            assert {a["error"] for a in answers} == {"too many connections (the collector is out of file descriptors)"}
            already.send_records({"type": "activity", "message": "still served"})
            assert already.sync()[0]["stored"] == 1
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))

            def served() -> bool:
                answer = _answer_or_silence(c.sock, timeout=5)
                return isinstance(answer, dict) and answer.get("op") == "sync" and answer["ok"]
            wait_for(served, 5, "accepting again once files are free")
        out = c.output()
        assert out.count("Traceback") == 0, out[-2000:]
        assert out.count("out of file descriptors") <= 2, out[-2000:]
    finally:
        assert c.stop() == 0


def _first_answers(socks: list, timeout: float) -> list[dict | None]:
    """Each socket's first answer line (None: closed without one, or none within ``timeout``)."""
    import selectors

    bufs = {s: b"" for s in socks}
    done: dict = {}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        while len(done) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                bufs[s] += chunk
                if b"\n" in bufs[s] or not chunk:
                    done[s] = json.loads(bufs[s].split(b"\n", 1)[0]) if b"\n" in bufs[s] else None
                    sel.unregister(s)
    return [done.get(s) for s in socks]


def test_a_burst_beyond_the_file_limit_logs_no_tracebacks_and_answers_everyone(tmp_path: Path) -> None:
    c = Collector(tmp_path, max_files=64 + 40).start()
    clients = []
    try:
        import socket as socket_module

        for _ in range(300):  # far more than fit: the accept loop runs out of descriptors
            s = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM)
            clients.append(s)
            s.connect(os.fspath(c.sock))  # blocking: the kernel's backlog holds it
            try:
                s.sendall(b'{"type": "activity", "message": "burst"}\n{"op": "sync"}\n')
            except OSError:
                pass  # refused already: the answer is there to read
        answers = _first_answers(clients, timeout=15)
        synced = [a for a in answers if a and a.get("op") == "sync"]
        assert synced and all(a is not None and (a.get("op") == "sync" or a["ok"] is False) for a in answers)
        assert len(c.rows("SELECT id FROM records WHERE message = 'burst'")) == len(synced)
        out = c.output()
        tracebacks, lines = out.count("Traceback"), len(out.splitlines())
        assert (tracebacks, lines < 10) == (0, True), f"{tracebacks} tracebacks, {lines} lines: {out[-2000:]}"
    finally:
        for s in clients:
            s.close()
        assert c.stop() == 0


def test_a_removed_socket_file_comes_back_and_a_second_daemon_is_still_refused(tmp_path: Path) -> None:
    c = Collector(tmp_path).start()
    try:
        with Client(c.sock) as before:
            c.sock.unlink()
            before.send_records({"type": "activity", "message": "connected before"})
            assert before.sync()[0]["stored"] == 1  # a connection made before goes on
        wait_for(lambda: can_connect(c.sock), 5, "the socket file to come back")
        assert stat.S_IMODE(c.sock.stat().st_mode) == 0o600
        with Client(c.sock) as after:
            after.send_records({"type": "activity", "message": "connected after"})
            assert after.sync()[0]["stored"] == 1
        out = subprocess.run(Collector(tmp_path).command(), capture_output=True, text=True, timeout=20,
                             env=isolated_env(tmp_path))
        assert out.returncode == 1 and "another collector is already running on socket" in out.stderr
        shutil.rmtree(c.sock.parent)  # the whole folder, lock file included
        wait_for(lambda: can_connect(c.sock), 5, "the socket folder and file to come back")
        assert stat.S_IMODE(c.sock.parent.stat().st_mode) == 0o700
        out = subprocess.run(Collector(tmp_path, db=tmp_path / "other.db").command(), capture_output=True,
                             text=True, timeout=20, env=isolated_env(tmp_path))
        assert out.returncode == 1 and "another collector is already running on socket" in out.stderr
        with Client(c.sock) as last:
            last.send_records({"type": "activity", "message": "after the folder came back"})
            assert last.sync()[0]["stored"] == 1
    finally:
        assert c.stop() == 0
    assert not c.sock.exists()
