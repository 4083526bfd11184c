"""The collector's wire protocol as both ends speak it: the sync line, answers
as the daemon writes them and as clients read them, and a reader that cuts a
byte stream into lines.

Standard library only: :mod:`logconsole.client` (imported by applications)
and the collector (``logconsole.collectors``) both import it, so what a sync
looks like and what an answer means are written down once.  The protocol
itself is described in ``docs/protocol.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SYNC_OP = "sync"
SYNC_LINE = b'{"op":"sync"}\n'
"""Sent after a batch: answered once everything before it on the connection is committed."""


def encode_answer(message: dict[str, Any]) -> bytes:
    """One answer as the daemon writes it: compact JSON and a newline."""
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def refusal(reason: str) -> bytes:
    """The answer that refuses a whole connection: ``{"ok": false, "error": REASON}``."""
    return encode_answer({"ok": False, "error": reason})


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer from the daemon, read.

    Three kinds: a sync answer (``op == "sync"``, ``ok`` says whether the
    records before it are committed); a rejected line (``line`` is its number
    on the connection, ``error`` why); a refused connection (neither: nothing
    sent on it was stored).
    """

    ok: bool
    op: str | None = None
    line: int | None = None
    error: str = ""
    fields: dict[str, Any] | None = None
    """The whole answer (``stored``, ``rejected`` of a sync)."""

    @property
    def is_sync(self) -> bool:
        return self.op == SYNC_OP

    @property
    def retrying(self) -> bool:
        """A sync answered before its records were committed: the collector
        still holds them and keeps trying (sending them again would store them twice)."""
        return bool(self.fields and self.fields.get("retrying"))

    @property
    def is_rejection(self) -> bool:
        return not self.is_sync and self.line is not None

    @property
    def is_refusal(self) -> bool:
        return not self.ok and not self.is_sync and self.line is None


def parse_answer(line: bytes) -> Answer | None:
    """The answer on one line (without its newline), or None when it is not one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    number = value.get("line")
    return Answer(
        ok=value.get("ok") is True,
        op=value.get("op") if isinstance(value.get("op"), str) else None,
        line=number if isinstance(number, int) and not isinstance(number, bool) else None,
        error=str(value.get("error", "")),
        fields=value,
    )


class LineReader:
    """Cuts a byte stream into lines: feed what ``recv`` returned, take whole lines."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_line(self) -> bytes | None:
        """The next whole line without its newline, or None until more bytes come."""
        nl = self._buf.find(b"\n")
        if nl < 0:
            return None
        line = bytes(self._buf[:nl])
        del self._buf[: nl + 1]
        return line

    def clear(self) -> None:
        self._buf.clear()
