"""Bulk loading records from files or stdin: JSON lines, JSON arrays, mongoexport.

A source is read as a stream, so a JSON-lines file of any size loads in
constant memory.  Its shape is told from its first bytes:

* ``[`` — a JSON array (``mongoexport --jsonArray``), read element by element;
* a first line that is just ``{`` — pretty-printed objects one after another
  (``mongoexport --pretty``, ``jq .``);
* anything else — JSON lines, one record per line; blank lines are skipped.

Every record passes :func:`logconsole.ingest.normalize` (the one ingest step)
after MongoDB Extended JSON has been decoded (:mod:`logconsole.extjson`), and
rows go to the store's :class:`~logconsole.store.interface.Writer` a batch at
a time, one transaction per batch (on PostgreSQL a ``COPY``).  A record that cannot be stored is reported with its
line number and reason, and the records around it are stored.
"""

from __future__ import annotations

import codecs
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from logconsole import extjson, json_decode
from logconsole.ingest import DEFAULT_REDACTOR, IngestError, Redactor, Row, json_error, normalize
from logconsole.kinds import resolve_kind
from logconsole.store.writer import BatchWriter
from logconsole.timeutil import format_ts, utcnow

if TYPE_CHECKING:
    from logconsole.store.interface import Writer

BATCH_SIZE = 5000
"""Rows per transaction: large enough to amortise the commit, small enough to
keep other writers (the collector) waiting only briefly."""

_READ_SIZE = 1 << 16
MAX_RECORD_BYTES = 64 << 20
"""A line or array element larger than this is rejected unread (no real record
comes near it: large values are truncated to 10,000 characters anyway), so a
file without newlines cannot fill the memory."""
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_NOT_WS = re.compile(r"[^ \t\r\n]")


class SourceError(Exception):
    """A source that cannot be read at all (missing, a directory, not allowed)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One record that was not stored: where it was and why."""

    source: str
    line: int
    reason: str
    record: int | None = None
    """The element's number (from 1) when the source is a JSON array."""

    def __str__(self) -> str:
        if self.record is None:
            return f"{self.source}:{self.line}: {self.reason}"
        return f"{self.source}: record {self.record} (line {self.line}): {self.reason}"


@dataclass(slots=True)
class ImportResult:
    imported: int = 0
    rejected: int = 0

    def add(self, other: ImportResult) -> None:
        self.imported += other.imported
        self.rejected += other.rejected


@dataclass(frozen=True, slots=True)
class _Item:
    """A decoded value (or the reason it could not be decoded) and its place."""

    line: int
    record: int | None
    value: Any = None
    error: str | None = None


def kind_from_name(path: str | Path) -> str | None:
    """The kind a file's name implies (``errorlogs.json`` -> ``error``), if any.

    mongoexport files are usually named after their collection, so
    ``logconsole import errorlogs.json`` needs no ``--type``.
    """
    stem = Path(path).name.split(".", 1)[0]
    try:
        return resolve_kind(stem).name
    except ValueError:
        return None


def open_source(path: str | Path) -> IO[bytes]:
    """Open ``path`` for reading bytes, or :class:`SourceError` saying why not."""
    p = Path(path)
    try:
        return open(p, "rb")
    except FileNotFoundError:
        raise SourceError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{p}: is a directory, not a file") from None
    except PermissionError:
        raise SourceError(f"{p}: permission denied") from None
    except OSError as exc:
        raise SourceError(f"{p}: cannot read: {exc.strerror or exc}") from None


# ---------------------------------------------------------------- reading


def _loads(text: str) -> Any:
    try:
        return extjson.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _finish_line(start: bytes, stream: IO[bytes]) -> bytes | None:
    """``start`` and the rest of its line; ``None`` (the rest skipped unread)
    when the line is longer than :data:`MAX_RECORD_BYTES`."""
    line = start
    if not line.endswith(b"\n"):
        line += stream.readline(max(0, MAX_RECORD_BYTES + 1 - len(line)))
    if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
        while (rest := stream.readline(_READ_SIZE)) and not rest.endswith(b"\n"):
            pass
        return None
    return line


def _lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """The lines of ``stream``; ``None`` for a line too long to hold."""
    while raw := stream.readline(MAX_RECORD_BYTES + 1):
        yield _finish_line(raw, stream)


def _line_items(first: list[bytes | None], rest: Iterator[bytes | None]) -> Iterator[_Item]:
    """JSON lines: one value per non-blank line, each decoded on its own."""
    line_no = 0
    for chunks in (first, rest):
        for raw in chunks:
            line_no += 1
            if raw is None:
                yield _Item(line_no, None, error=f"line longer than {MAX_RECORD_BYTES >> 20} MB")
                continue
            if line_no == 1 and raw.startswith(_UTF8_BOM):
                raw = raw[len(_UTF8_BOM):]
            raw = raw.strip()
            if not raw:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield _Item(line_no, None, error=f"invalid UTF-8 at column {exc.start + 1}")
                continue
            try:
                yield _Item(line_no, None, _loads(text))
            except json.JSONDecodeError as exc:
                yield _Item(line_no, None, error=json_error(exc))
            except json_decode.JsonValueError as exc:
                yield _Item(line_no, None, error=str(exc))
            except ValueError as exc:
                yield _Item(line_no, None, error=f"invalid JSON: {exc}")


class _TextStream:
    """Text from a byte stream, decoded as UTF-8 as it is needed, with the
    line number of any position kept up to date as text is consumed."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._rest = rest
        self._pending = head[len(_UTF8_BOM):] if head.startswith(_UTF8_BOM) else head
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def more(self, at_least: int = 0) -> bool:
        """Append at least ``at_least`` more bytes' worth of text (a read's worth
        by default); ``False`` at the end of the stream."""
        if self.eof:
            return False
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.pos = 0
        data = self._pending or self._rest.read(max(_READ_SIZE, at_least))
        self._pending = b""
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            raise ValueError("invalid UTF-8") from None
        if not data:
            self.eof = True
        self.buf += text
        return bool(data) or bool(text)

    def advance(self, end: int) -> None:
        self.line += self.buf.count("\n", self.pos, end)
        self.pos = end

    def skip_ws(self) -> str:
        """Skip whitespace; the next character, or ``""`` at the end."""
        while True:
            found = _NOT_WS.search(self.buf, self.pos)
            if found is not None:
                self.advance(found.start())
                return found.group()
            self.advance(len(self.buf))
            if not self.more():
                return ""


def _next_value(ts: _TextStream) -> Any:
    """Decode the value at ``ts.pos``, reading more text until it is complete.

    A value refused for what it holds (:class:`~logconsole.json_decode.JsonValueError`)
    is skipped: the reader is left after it, so the next record can be read.
    """
    while True:
        try:
            value, end = json_decode.raw_decode(ts.buf, ts.pos, object_hook=extjson.object_hook)
        except json_decode.JsonValueError as exc:
            if exc.end is not None and exc.end == len(ts.buf) and not ts.eof and ts.more():
                continue  # a number may go on in the next chunk
            if exc.end is not None:
                ts.advance(exc.end)
            raise
        except json.JSONDecodeError:
            if len(ts.buf) - ts.pos > MAX_RECORD_BYTES:
                raise ValueError(f"a record larger than {MAX_RECORD_BYTES >> 20} MB, "
                                 "or invalid JSON") from None
            if ts.more(len(ts.buf)):
                continue
            raise
        except RecursionError:
            raise ValueError("nested too deeply") from None
        if end == len(ts.buf) and not ts.eof and ts.more():
            continue  # a number may go on in the next chunk
        ts.advance(end)
        return value


def _stream_items(head: bytes, rest: IO[bytes], array: bool) -> Iterator[_Item]:
    """A JSON array, or JSON values one after another, element by element.

    A syntax error ends the source: after it there is no telling where the
    next record starts.
    """
    ts = _TextStream(head, rest)
    record = 0
    try:
        if array:
            ts.skip_ws()
            ts.advance(ts.pos + 1)  # the "[" that told us it is an array
        while True:
            ch = ts.skip_ws()
            if ch == "":
                if array:
                    yield _Item(ts.line, record + 1, error="the array is not closed with ]")
                return
            if array and ch == "]":
                ts.advance(ts.pos + 1)
                if ts.skip_ws():
                    yield _Item(ts.line, None, error="unexpected text after the closing ]")
                return
            record += 1
            line = ts.line
            try:
                value = _next_value(ts)
            except json.JSONDecodeError as exc:
                yield _Item(line, record if array else None,
                            error=f"{json_error(exc)}; the rest of the file was not read")
                return
            except json_decode.JsonValueError as exc:
                yield _Item(line, record if array else None, error=str(exc))
            else:
                yield _Item(line, record if array else None, value)
            if array:
                ch = ts.skip_ws()
                if ch == ",":
                    ts.advance(ts.pos + 1)
                elif ch != "]":
                    found = repr(ch) if ch else "the end of the file"
                    yield _Item(ts.line, None,
                                error=f"expected , or ] after record {record}, found {found}; "
                                "the rest of the file was not read")
                    return
    except ValueError as exc:
        yield _Item(ts.line, None, error=f"{exc}; the rest of the file was not read")


def read_items(stream: IO[bytes]) -> Iterator[_Item]:
    """The decoded values of a source, whatever its shape (see the module doc)."""
    # Read just far enough to see the first byte that is not blank: a
    # --jsonArray export may be one line of gigabytes.
    head = b""
    while chunk := stream.readline(_READ_SIZE):
        head += chunk
        seen = head.removeprefix(_UTF8_BOM).strip()
        if seen and (seen != b"{" or head.endswith(b"\n")):
            break
    if head.startswith(_UTF16_BOMS):
        yield _Item(1, None, error="the file is UTF-16; convert it to UTF-8 first "
                    "(iconv -f UTF-16 -t UTF-8)")
        return
    text = head.removeprefix(_UTF8_BOM).strip()
    if not text:
        return
    if text.startswith(b"["):
        yield from _stream_items(head, stream, array=True)
    elif text == b"{" and head.endswith(b"\n"):
        yield from _stream_items(head, stream, array=False)
    else:
        *blank, partial = head.split(b"\n")
        first: list[bytes | None] = [line + b"\n" for line in blank]
        if partial:
            first.append(_finish_line(partial, stream))
        yield from _line_items(first, _lines(stream))


# ---------------------------------------------------------------- loading


def import_stream(
    writer: Writer | sqlite3.Connection | None,
    stream: IO[bytes],
    source: str,
    *,
    kind: str | None = None,
    redactor: Redactor = DEFAULT_REDACTOR,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    on_reject: Callable[[Rejection], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> ImportResult:
    """Store every record of ``stream``; report the others through ``on_reject``.

    ``kind`` is the type of records that do not name one.  Records without a
    time get ``now`` (the start of the import), so they keep the file's order.
    ``writer`` is either store's (a SQLite connection is written to by its
    batch writer).  With ``writer`` None nothing is stored: the records are only checked, and
    ``imported`` counts those that would be.
    """
    if isinstance(writer, sqlite3.Connection):
        writer = BatchWriter(writer)
    stamp = format_ts(now or utcnow())
    result = ImportResult()
    batch: list[Row] = []

    def flush() -> None:
        if batch:
            result.imported += writer.commit(batch) if writer is not None else len(batch)
            batch.clear()
            if on_batch:
                on_batch(result.imported)

    for item in read_items(stream):
        reason = item.error
        if reason is None:
            try:
                batch.append(normalize(item.value, kind=kind, now=stamp, redactor=redactor))
            except IngestError as exc:
                reason = exc.reason
            except RecursionError:
                reason = "nested too deeply"
        if reason is not None:
            result.rejected += 1
            if on_reject:
                on_reject(Rejection(source, item.line, reason, item.record))
        elif len(batch) >= batch_size:
            flush()
    flush()
    return result


__all__ = [
    "BATCH_SIZE", "ImportResult", "Rejection", "SourceError", "import_stream",
    "kind_from_name", "open_source", "read_items",
]
