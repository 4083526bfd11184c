"""Talking to a running collector from a command: is one listening, send and sync.

Standard library only.  Used by ``logconsole send``, ``logconsole health`` and
:func:`logconsole.collectors.spawn.ensure_collector`.  The sync line and the
reading of answers are :mod:`logconsole.protocol`'s, shared with the client.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logconsole.protocol import SYNC_LINE, LineReader, parse_answer

SEND_CHUNK = 64 * 1024


class NoCollector(ConnectionError):
    """Nothing listens on the socket."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no collector at {path} — start one with `logconsole daemon`")
        self.path = path


def connect(path: Path, timeout: float = 5.0) -> socket.socket:
    """A connected stream socket, or :class:`NoCollector`."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(os.fspath(path))
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        sock.close()
        raise NoCollector(path) from None
    except OSError:
        sock.close()
        raise
    return sock


def is_listening(path: Path, timeout: float = 1.0) -> bool:
    """Whether a collector accepts connections on ``path``."""
    try:
        connect(path, timeout).close()
    except OSError:
        return False
    return True


@dataclass(slots=True)
class SendResult:
    """What the collector said about a batch: rejected lines and the sync answer."""

    rejected: list[tuple[int, str]] = field(default_factory=list)
    """``(line, reason)`` with the line numbers of the connection (from 1)."""
    sync: dict[str, Any] | None = None
    error: str | None = None
    """Why the batch is not known to be stored (no sync answer, or a failed sync)."""
    retrying: bool = False
    """The collector keeps the records and will commit them once the database takes
    writes (a sync answered after its timeout): sending them again would store them twice."""

    @property
    def ok(self) -> bool:
        return self.error is None and not self.rejected and bool(self.sync and self.sync.get("ok"))


def send_lines(path: Path, lines: Iterable[bytes], *, timeout: float = 60.0) -> SendResult:
    """Send one message per item (each without its newline), then a sync; wait for it.

    ``lines`` may be a generator (a pipe): it is sent as it comes, in chunks.
    Answers are read while sending, so a long batch never fills the answer buffer.
    """
    sock = connect(path, timeout)
    result = SendResult()
    done = threading.Event()

    def read_answers() -> None:
        lines = LineReader()
        try:
            while not done.is_set():
                chunk = sock.recv(65536)
                if not chunk:
                    break
                lines.feed(chunk)
                while (line := lines.next_line()) is not None:
                    answer = parse_answer(line)
                    if answer is None:
                        continue
                    if answer.is_sync:
                        result.sync = answer.fields
                        if not answer.ok:
                            result.error = answer.error or "the collector could not commit"
                            result.retrying = answer.retrying
                        done.set()
                    elif answer.is_rejection:
                        result.rejected.append((answer.line or 0, answer.error))
                    elif answer.is_refusal:
                        result.error = answer.error or "refused"
                        done.set()
        except OSError as exc:
            if not done.is_set():
                result.error = f"connection to the collector failed: {exc}"
        finally:
            done.set()

    reader = threading.Thread(target=read_answers, daemon=True)
    reader.start()
    try:
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            chunk.append(line)
            size += len(line) + 1
            if size >= SEND_CHUNK:
                sock.sendall(b"\n".join(chunk) + b"\n")
                chunk, size = [], 0
        chunk.append(SYNC_LINE)
        sock.sendall(b"\n".join(chunk))
        deadline = time.monotonic() + timeout
        while not done.wait(0.1):
            if time.monotonic() > deadline:
                result.error = f"no answer from the collector within {timeout:g} s"
                break
    except OSError as exc:
        result.error = f"connection to the collector failed: {exc}"
    finally:
        done.set()
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        reader.join(1.0)
    if result.sync is None and result.error is None:
        result.error = "the collector closed the connection before committing"
    return result
