"""Cutting a connection's byte stream into messages.

One socket carries three framings, told apart by how a message starts:

* ``LEN SP <PRI>...``: an octet-counted syslog message (RFC 6587, ``logger
  --octet-count``): exactly LEN bytes, no terminator;
* ``<PRI>...``: a syslog message ended by ``\\n`` (``logger -u``) or by NUL
  (Python's ``SysLogHandler``).  Once a connection has ended a syslog message
  with NUL, its syslog messages end only at NUL, so a message may hold
  newlines (a traceback); before that, a newline followed by more text and
  then a NUL is taken as a line break inside the message;
* anything else: one JSON document ended by ``\\n``.

A message longer than the limit becomes an ``error`` frame and the rest of it
is discarded up to its terminator (or its announced length); the stream goes on
after it.  Every frame, blank ones included, counts as one line, so answers
can name the line.  :class:`Framer` never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FrameKind = Literal["json", "syslog", "empty", "error"]

_OCTET = re.compile(rb"([1-9][0-9]{0,9}) <")
_OCTET_PREFIX = re.compile(rb"[1-9][0-9]{0,9} ?\Z")
_DIGITS = b"0123456789"
_STARTS = b"<{" + _DIGITS


@dataclass(frozen=True, slots=True)
class Frame:
    """One message: its framing, its bytes (without terminator), or why it was refused."""

    kind: FrameKind
    data: bytes = b""
    error: str = ""


class Framer:
    """Incremental framer for one connection (feed bytes, get whole frames)."""

    __slots__ = ("_buf", "_discard", "_discard_left", "_searched", "limit", "nul_mode")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._discard: bytes | None = None
        """Terminators that end a message being discarded (over the limit)."""
        self._discard_left = 0
        """Bytes still to discard of an octet-counted message over the limit."""
        self._searched = 0
        """How much of the buffer holds no terminator (a message arriving byte by
        byte is then scanned once, not once per byte)."""
        self.nul_mode = False

    def feed(self, data: bytes) -> list[Frame]:
        """Take more bytes; return the frames they complete."""
        self._buf += data
        out: list[Frame] = []
        while self._step(out, eof=False):
            pass
        return out

    def finish(self) -> list[Frame]:
        """The peer closed its side: whatever is left is the last message."""
        out: list[Frame] = []
        while self._step(out, eof=True):
            pass
        if self._discard_left:
            self._discard_left = 0
        self._discard = None
        self._buf.clear()
        return out

    def _too_long(self, size: int | None = None) -> Frame:
        what = f"{size} bytes" if size is not None else f"more than {self.limit} bytes"
        return Frame("error", error=f"message of {what} exceeds the limit of {self.limit} bytes")

    def _step(self, out: list[Frame], eof: bool) -> bool:
        """Take at most one frame off the buffer; False when more bytes are needed."""
        buf = self._buf
        searched, self._searched = self._searched, 0
        if self._discard_left:
            n = min(self._discard_left, len(buf))
            del buf[:n]
            self._discard_left -= n
            return bool(buf) and not self._discard_left
        if self._discard is not None:
            end = _find_any(buf, self._discard)
            if end < 0:
                buf.clear()
                return False
            del buf[: end + 1]
            self._discard = None
        if not buf:
            return False

        first = buf[0]
        if first in _DIGITS:
            m = _OCTET.match(buf)
            if m:
                size = int(m.group(1))
                start = m.end() - 1
                if size > self.limit:
                    out.append(self._too_long(size))
                    del buf[:start]
                    self._discard_left = size
                    return True
                if len(buf) - start < size:
                    if eof:
                        out.append(Frame("error", error=f"connection closed inside a message of {size} bytes"))
                        buf.clear()
                    return False
                payload = bytes(buf[start : start + size])
                del buf[: start + size]
                out.append(Frame("syslog", payload))
                return True
            if not eof and _OCTET_PREFIX.match(buf):
                return False  # may still turn out to be an octet count
        if first == 0x3C:  # "<"
            kind: FrameKind = "syslog"
            end, terminators = self._syslog_end(buf, searched)
        else:
            kind = "json"
            end, terminators = buf.find(b"\n", searched), b"\n"
        if end < 0:
            if len(buf) > self.limit:
                out.append(self._too_long())
                buf.clear()
                self._discard = terminators
                return False
            if not eof:
                self._searched = len(buf)
                return False
            end = len(buf)
        if end > self.limit:
            out.append(self._too_long(end))
            del buf[: end + 1]
            return True
        payload = bytes(buf[:end])
        del buf[: end + 1]
        if payload.endswith(b"\r"):
            payload = payload[:-1]
        if not payload.strip():
            out.append(Frame("empty"))
        else:
            out.append(Frame(kind, payload))
        return True

    def _syslog_end(self, buf: bytearray, start: int) -> tuple[int, bytes]:
        """Where a syslog message ends, and what may end it.

        Until the connection has used NUL, a newline ends the message unless a
        NUL follows and the newline does not start a new message (``<``, ``{``
        or a digit): then it is a line break inside a NUL-ended message.
        ``buf[:start]`` is known to hold neither.
        """
        nul = buf.find(b"\0", start)
        if self.nul_mode:
            return nul, b"\0"
        pos = start
        while True:
            nl = buf.find(b"\n", pos)
            if nul >= 0 and (nl < 0 or nul < nl):
                self.nul_mode = True
                return nul, b"\0"
            if nl < 0:
                return -1, b"\n\0"
            if nul < 0 or buf[nl + 1] in _STARTS:
                return nl, b"\n\0"
            pos = nl + 1


def _find_any(buf: bytearray, terminators: bytes) -> int:
    hits = [i for i in (buf.find(bytes([t])) for t in terminators) if i >= 0]
    return min(hits) if hits else -1
