"""Starting a collector in the background when none is running (used by the TUI).

The collector runs as ``python -m logconsole daemon`` in its own session, so it
outlives the console that started it; its log goes to ``collector.log`` next to
the socket.  A PostgreSQL database reaches the child through ``LOGCONSOLE_DB``
in its environment, not its command line, where anyone could read a password.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from logconsole.collectors.wire import is_listening
from logconsole.store.url import StoreURL

START_TIMEOUT = 5.0


def collector_command(db_path: Path | StoreURL, socket_path: Path, config_path: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "logconsole", "daemon"]
    if not isinstance(db_path, StoreURL):
        cmd += ["--db", os.fspath(db_path)]
    cmd += ["--socket", os.fspath(socket_path)]
    if config_path is not None:
        cmd += ["--config", os.fspath(config_path)]
    return cmd


def collector_env(db_path: Path | StoreURL) -> dict[str, str]:
    """The child's environment: this one, with ``LOGCONSOLE_DB`` naming a PostgreSQL store."""
    env = dict(os.environ)
    if isinstance(db_path, StoreURL):
        env["LOGCONSOLE_DB"] = db_path.conninfo
    return env


def ensure_collector(
    db_path: Path | StoreURL, socket_path: Path, config_path: Path | None = None, *, timeout: float = START_TIMEOUT
) -> str:
    """Start a collector unless one listens on ``socket_path``; says what happened.

    Never raises: the console works without a collector, so a failure is a message.
    """
    if is_listening(socket_path):
        return f"collector already running at {socket_path}"
    try:
        socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_path = socket_path.parent / "collector.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    except OSError as exc:
        return f"could not start a collector: {exc.strerror or exc}"
    try:
        proc = subprocess.Popen(
            collector_command(db_path, socket_path, config_path),
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            start_new_session=True, close_fds=True, env=collector_env(db_path),
        )
    except OSError as exc:
        return f"could not start a collector: {exc.strerror or exc}"
    finally:
        log_file.close()
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if is_listening(socket_path, timeout=0.5):
            return f"started a collector (pid {proc.pid})"
        code = proc.poll()
        if code is not None:
            if is_listening(socket_path, timeout=0.5):  # another one won the race
                return f"collector already running at {socket_path}"
            return f"could not start a collector (exit {code}): {_last_line(log_path)}"
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    return f"collector started (pid {proc.pid}) but not yet listening on {socket_path}"


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "see its log"
    return lines[-1] if lines else f"see {path}"
