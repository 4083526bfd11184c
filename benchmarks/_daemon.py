"""A ``logconsole daemon`` process for the benchmarks: start it, wait until
its socket answers, stop it; read a connection up to its sync answer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def start(args: Sequence[str], *, sock: Path, log: Path | None, env: Mapping[str, str],
          timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """``logconsole daemon --socket SOCK ARGS`` with its stderr appended to
    ``log`` (discarded when None), once it accepts connections."""
    err = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "logconsole", "daemon", "--socket", str(sock), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=dict(env),
    )
    deadline = time.monotonic() + timeout
    while not listening(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            said = log.read_text() if log is not None else ""
            raise SystemExit(f"the collector did not start: {said}")
        time.sleep(0.05)
    return proc


def listening(sock: Path) -> bool:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(os.fspath(sock))
    except OSError:
        return False
    finally:
        s.close()
    return True


def stop(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout)


def read_until_sync(s: socket.socket, buf: bytearray) -> dict:
    """Read answers from ``s`` (``buf`` holds what was read before) up to the sync's."""
    while True:
        nl = buf.find(b"\n")
        if nl >= 0:
            answer = json.loads(bytes(buf[:nl]))
            del buf[: nl + 1]
            if answer.get("op") == "sync":
                return answer
            raise SystemExit(f"unexpected answer: {answer}")
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("daemon closed the connection")
        buf += chunk
