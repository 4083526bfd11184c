"""A real collector process on temp paths, and a small socket client, for tests."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"


def isolated_env(tmp: Path) -> dict[str, str]:
    """The environment for a child: XDG paths inside ``tmp``, no LOGCONSOLE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGCONSOLE_")}
    env.update(
        XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_RUNTIME_DIR=str(tmp / "run"), PYTHONUNBUFFERED="1",
    )
    return env


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def can_connect(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(os.fspath(path))
    except OSError:
        return False
    finally:
        s.close()
    return True


class Collector:
    """``python -m logconsole daemon`` on ``tmp``; start, wait, signal, inspect."""

    def __init__(self, tmp: Path, *extra: str, db: Path | None = None, sock: Path | None = None,
                 max_files: int | None = None) -> None:
        self.tmp = tmp
        self.max_files = max_files
        """An open-file limit (soft and hard) for the daemon process."""
        self.db = db or tmp / "logs.db"
        self.sock = sock or tmp / "run" / "s.sock"
        self.extra = extra
        self.log = tmp / f"daemon-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "logconsole", "daemon", "--db", str(self.db),
                "--socket", str(self.sock), "--health-interval", "3600", *self.extra]

    def start(self, wait: bool = True) -> Collector:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=out,
                                         stdin=subprocess.DEVNULL, env=isolated_env(self.tmp),
                                         preexec_fn=self._limit if self.max_files else None)
        if wait:
            self.wait_listening()
        return self

    def _limit(self) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.max_files, self.max_files))

    def wait_listening(self, timeout: float = 15.0) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.output()}")
            return can_connect(self.sock)
        wait_for(ready, timeout, "the daemon to listen")

    def otlp_url(self, timeout: float = 15.0) -> str:
        """The OTLP/HTTP endpoint of a daemon started with ``--otlp 127.0.0.1:0``
        (a free port the system chose; the daemon logs the URL)."""
        def said() -> re.Match[str] | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.output()}")
            return re.search(r"OTLP/HTTP logs accepted at (\S+)", self.output())
        return wait_for(said, timeout, "the OTLP door to listen").group(1)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def rows(self, sql: str = "SELECT * FROM records WHERE type != 'system' ORDER BY id",
             params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, tuple(params))]
        finally:
            conn.close()


class Client:
    """A raw connection to the collector socket."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.fspath(path))  # blocking: waits while the listen backlog is full
        self.sock.settimeout(timeout)
        self._buf = b""

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def send_records(self, *records: dict[str, Any]) -> None:
        self.send("".join(json.dumps(r) + "\n" for r in records))

    def answer(self) -> dict[str, Any]:
        """The next answer (blocks up to the socket timeout)."""
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("collector closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def sync(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send a sync; return its answer and the answers that came before it."""
        self.send('{"op": "sync"}\n')
        before = []
        while True:
            a = self.answer()
            if a.get("op") == "sync":
                return a, before
            before.append(a)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
