"""Tailing log files (``--watch PATH_OR_GLOB``) into records, like ``tail -F``.

What a line becomes:

* a JSON object line -> a record of the kind its ``type`` names (else the
  tailer's ``default_kind``, ``--watch-type``), with the file under ``file``
  unless the record has its own;
* any other line -> an ``activity`` record: ``message`` is the line, ``title``
  the file's name, ``file`` its path, and ``level`` from the first level word
  near the start of the line (:func:`level_for`);
* a JSON line that ingest refuses is kept as a plain line, with the reason
  under ``ingest_error``: nothing read is lost.

Where reading starts, per file:

* a file the tailer has an offset for resumes there when it is the same file
  (same inode and the same first bytes, :data:`HEAD_BYTES`); shorter than the
  offset means truncated, so it starts over at 0;
* a file that was rotated while the daemon was down (the saved inode now lives
  under another name in the same folder) is finished from the saved offset
  first, then the new file is read from its beginning;
* a file seen for the first time with no saved offset starts at its end (at
  the last complete line), like ``tail -F``: pointing the collector at a
  years-old log does not replay it.  Use ``logconsole import`` for history;
* a file that appears while the tailer runs is read from its beginning.

While running it follows appends; on rotation (rename and recreate) it
finishes the old file through the descriptor it holds open, then reads the new
one from 0; on truncation (``copytruncate``) it starts over at 0.  A last line
without its newline is held until it is completed, or emitted after
``partial_flush_after`` seconds of silence.  Lines longer than ``max_line``
bytes are cut (the record says so) and the rest of the line is skipped.

Offsets go to the daemon's writer through :meth:`Sink.put_offset` after every
line, so they are committed in the same transaction as the records read before
them: a restart neither repeats nor skips lines.

Change notifications come from ``watchfiles`` on the folders of the patterns;
a re-scan every ``rescan_interval`` seconds is the safety net (network file
systems, folders created later, missed events).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import logging
import os
import re
import socket
import sqlite3
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchfiles import awatch

from logconsole import json_decode
from logconsole.collectors.sink import FileOffset, Sink
from logconsole.ingest import IngestError
from logconsole.store.db import StoreError, connect
from logconsole.store.url import StoreURL

log = logging.getLogger("logconsole.daemon")

HEAD_BYTES = 1024
"""How many leading bytes identify a file (with its inode) across restarts."""
CHUNK = 64 * 1024
MAX_LINE = 1 << 20
CUT_MARK = " [line cut: longer than {} bytes]"
RESCAN_INTERVAL = 2.0
PARTIAL_FLUSH_AFTER = 5.0
WATCH_RETRY = 60.0
"""Seconds before a change watcher that failed is started again."""
LEVEL_WINDOW = 120
"""Level words count only this near the start of a line (where formats put them)."""

_LEVEL_WORDS = {
    "fatal": "critical", "crit": "critical", "critical": "critical", "emerg": "critical",
    "emergency": "critical", "alert": "critical", "panic": "critical",
    "error": "error", "err": "error", "severe": "error",
    "warn": "warn", "warning": "warn",
    "info": "info", "notice": "info",
    "debug": "debug", "trace": "debug",
}
_LEVEL_RE = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(sorted(_LEVEL_WORDS, key=len, reverse=True)) + r")(?![A-Za-z0-9])", re.I)


def level_for(line: str) -> str:
    """The activity level a plain log line announces (``info`` when none).

    The first level word within :data:`LEVEL_WINDOW` characters wins, in any
    case: ``ERROR``/``ERR``/``SEVERE`` -> error, ``FATAL``/``CRIT``/``CRITICAL``/
    ``EMERG``/``ALERT``/``PANIC`` -> critical, ``WARN``/``WARNING`` -> warn,
    ``DEBUG``/``TRACE`` -> debug, ``INFO``/``NOTICE`` -> info.
    """
    m = _LEVEL_RE.search(line, 0, LEVEL_WINDOW)
    return _LEVEL_WORDS[m.group(1).lower()] if m else "info"


@dataclass(frozen=True, slots=True)
class SavedOffset:
    inode: int
    offset: int
    head: str


def head_digest(data: bytes) -> str:
    """``"N:sha1"`` of a file's first N bytes (N = ``len(data)``)."""
    return f"{len(data)}:{hashlib.sha1(data).hexdigest()}"


def head_matches(fd: int, head: str) -> bool:
    """Whether the file open as ``fd`` starts with the bytes ``head`` describes."""
    n_text, _, digest = head.partition(":")
    try:
        n = int(n_text)
    except ValueError:
        return False
    data = os.pread(fd, n, 0) if n > 0 else b""
    return len(data) == n and head_digest(data) == head


@dataclass(slots=True, eq=False)
class _Tracked:
    """One file being read.  ``path`` is the name its offsets are stored under."""

    path: str
    fd: int
    dev: int
    ino: int
    offset: int = 0
    """Bytes consumed: complete lines (and skipped overlong ones)."""
    pending: bytearray = field(default_factory=bytearray)
    skipping: bool = False
    head: bytes = b""
    """The file's first ``min(HEAD_BYTES, read_pos)`` bytes."""
    last_data: float = field(default_factory=time.monotonic)
    marked: tuple[str, int] | None = None
    digest: tuple[int, str] = (0, head_digest(b""))
    """The last head digest computed, by length (the head only grows, until a reset)."""

    @property
    def read_pos(self) -> int:
        return self.offset + len(self.pending)

    def mark(self) -> FileOffset:
        n = min(len(self.head), self.offset)
        if self.digest[0] != n:
            self.digest = (n, head_digest(self.head[:n]))
        return FileOffset(self.path, self.ino, self.offset, self.digest[1])

    def restart(self) -> None:
        """Read the file again from its beginning (it was truncated or rewritten)."""
        self.offset = 0
        self.pending.clear()
        self.skipping = False
        self.head = b""
        self.digest = (0, head_digest(b""))


def normalize_pattern(pattern: str) -> str:
    """Absolute, ``~`` expanded; an existing folder means every file in it."""
    path = os.path.abspath(os.path.expanduser(pattern))
    if os.path.isdir(path):
        path = os.path.join(glob.escape(path), "*")
    return path


def watch_roots(patterns: list[str]) -> tuple[tuple[str, ...], bool]:
    """The existing folders to watch for ``patterns`` and whether recursively."""
    roots: list[str] = []
    recursive = False
    for pattern in patterns:
        parts = Path(pattern).parts
        magic = next((i for i, part in enumerate(parts) if glob.has_magic(part)), None)
        if magic is None:
            base = os.path.dirname(pattern)
        else:
            base = os.path.join(*parts[:magic])
            if magic < len(parts) - 1:
                recursive = True
        if os.path.isdir(base) and base not in roots:
            roots.append(base)
    return tuple(roots), recursive


class FileTailer:
    """Follows files matching ``patterns`` and puts their lines into ``sink``."""

    def __init__(
        self,
        patterns: list[str],
        db_path: Path | StoreURL,
        sink: Sink,
        default_kind: str = "activity",
        *,
        rescan_interval: float = RESCAN_INTERVAL,
        partial_flush_after: float = PARTIAL_FLUSH_AFTER,
        max_line: int = MAX_LINE,
    ) -> None:
        self.patterns = [normalize_pattern(p) for p in patterns]
        self.db_path = db_path if isinstance(db_path, StoreURL) else Path(db_path)
        self.sink = sink
        self.default_kind = default_kind
        self.rescan_interval = rescan_interval
        self.partial_flush_after = partial_flush_after
        self.max_line = max_line
        self.lines = 0
        """Lines read (records put, including plain fallbacks)."""
        self.rejected = 0
        """Lines ingest refused even as plain text (logged, counted)."""
        self._tracked: dict[str, _Tracked] = {}
        self._saved: dict[str, SavedOffset] = {}
        self._warned: set[str] = set()
        self._wake = asyncio.Event()
        self._stopping = False

    # -- the loop ----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Tail until ``stop`` is set; everything read by then has been put."""
        self._saved = await asyncio.to_thread(self.load_offsets)
        watcher: asyncio.Task[None] | None = None
        watch_stop = asyncio.Event()
        roots: tuple[tuple[str, ...], bool] | None = None
        started = 0.0
        stopper = asyncio.ensure_future(self._stop_when(stop))
        try:
            await self._scan(initial=True)
            while not stop.is_set():
                now_roots = watch_roots(self.patterns)
                # A new set of folders gets a new watcher; one that failed is
                # tried again now and then (the re-scan covers the meantime).
                died = watcher is not None and watcher.done() and time.monotonic() - started > WATCH_RETRY
                if now_roots != roots or died:
                    await self._end_watcher(watcher, watch_stop)
                    roots, watch_stop = now_roots, asyncio.Event()
                    watcher = None
                    if now_roots[0]:
                        started = time.monotonic()
                        watcher = asyncio.create_task(self._watch(now_roots, watch_stop), name="tail-watch")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.rescan_interval)
                self._wake.clear()
                if stop.is_set():
                    break
                await self._scan()
        finally:
            stopper.cancel()
            await self._end_watcher(watcher, watch_stop)
            for t in self._tracked.values():
                os.close(t.fd)
            self._tracked.clear()

    async def _stop_when(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stopping = True
        self._wake.set()

    async def _watch(self, roots: tuple[tuple[str, ...], bool], watch_stop: asyncio.Event) -> None:
        paths, recursive = roots
        try:
            async for _changes in awatch(
                *paths, watch_filter=None, stop_event=watch_stop, debounce=200, step=50,
                recursive=recursive, ignore_permission_denied=True,
            ):
                self._wake.set()
        except Exception as exc:  # a vanished folder, inotify limits: the re-scan still runs
            log.warning("watching %s stopped (%s); re-scanning every %gs", ", ".join(paths), exc, self.rescan_interval)

    @staticmethod
    async def _end_watcher(watcher: asyncio.Task[None] | None, watch_stop: asyncio.Event) -> None:
        if watcher is None:
            return
        watch_stop.set()
        try:
            await asyncio.wait_for(watcher, 2.0)
        except (TimeoutError, asyncio.CancelledError):
            pass

    # -- saved offsets -----------------------------------------------------------

    def load_offsets(self) -> dict[str, SavedOffset]:
        """The offsets stored by earlier runs, by path (none when there is no database)."""
        if isinstance(self.db_path, StoreURL):
            return self._shared_offsets(self.db_path)
        if not self.db_path.exists():
            return {}
        try:
            conn = connect(self.db_path, readonly=True)
        except (StoreError, sqlite3.Error) as exc:
            log.warning("cannot read file offsets from %s: %s; files start at their end", self.db_path, exc)
            return {}
        try:
            rows = conn.execute("SELECT path, inode, offset, head FROM file_offsets").fetchall()
        except sqlite3.Error as exc:
            log.warning("cannot read file offsets from %s: %s; files start at their end", self.db_path, exc)
            return {}
        finally:
            conn.close()
        return {p: SavedOffset(int(i or 0), int(o or 0), h or "0:") for p, i, o, h in rows}

    def _shared_offsets(self, location: StoreURL) -> dict[str, SavedOffset]:
        """This host's offsets in a PostgreSQL database that several hosts share
        (the host is the one the sink stamps on records)."""
        host = str(getattr(self.sink, "host", "") or socket.gethostname())
        try:
            from logconsole.store.postgres.store import PostgresStore

            store = PostgresStore.open(location, readonly=True)
            try:
                rows = store.file_offsets(host)
            finally:
                store.close()
        except Exception as exc:
            log.warning("cannot read file offsets from %s: %s; files start at their end", location, exc)
            return {}
        return {p: SavedOffset(i, o, h) for p, i, o, h in rows}

    # -- scanning ----------------------------------------------------------------

    def _matches(self) -> dict[str, os.stat_result]:
        out: dict[str, os.stat_result] = {}
        for pattern in self.patterns:
            names = glob.iglob(pattern, recursive=True) if glob.has_magic(pattern) else [pattern]
            for name in names:
                try:
                    st = os.stat(name)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    out[os.path.abspath(name)] = st
        return out

    async def _scan(self, initial: bool = False) -> None:
        """Read what is new in every matching file (``initial``: the scan at start-up)."""
        matches = self._matches()
        by_inode = {(st.st_dev, st.st_ino): p for p, st in matches.items()}
        # Files whose name now holds another file (or nothing): rotated or deleted.
        stale = [
            t for p, t in self._tracked.items()
            if (st := matches.get(p)) is None or (st.st_dev, st.st_ino) != (t.dev, t.ino)
        ]
        for t in stale:
            del self._tracked[t.path]
            await self._read(t)  # finish it through the descriptor we hold
        for t in stale:
            moved = by_inode.get((t.dev, t.ino))
            if moved is not None and moved not in self._tracked:
                t.path = moved  # renamed to a name that still matches: keep following it
                self._tracked[moved] = t
                await self._mark(t)
            else:
                await self._flush_partial(t)
                os.close(t.fd)
        for t in list(self._tracked.values()):
            if self._stopping:
                return
            try:
                await self._follow(t)
            except OSError as exc:  # one unreadable file must not stop the others
                self._complain(t.path, exc)
        followed = {(t.dev, t.ino) for t in self._tracked.values()}
        for path, st in sorted(matches.items()):
            if self._stopping:
                return
            if path in self._tracked or (st.st_dev, st.st_ino) in followed:
                continue
            t = await self._open(path, matches, initial)
            if t is not None:
                self._tracked[path] = t
                followed.add((t.dev, t.ino))
                await self._read(t)
        if initial:
            # Saved offsets of files present now are used up; the rest wait for their file.
            self._saved = {p: s for p, s in self._saved.items() if p not in matches}

    async def _open(self, path: str, matches: dict[str, os.stat_result], initial: bool) -> _Tracked | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self._complain(path, exc)
            return None
        try:
            st = os.fstat(fd)
            t = _Tracked(path, fd, st.st_dev, st.st_ino)
            start = await self._start_offset(t, st, matches, initial)
            if start:
                t.offset = start
                t.head = os.pread(fd, min(HEAD_BYTES, start), 0)
        except OSError as exc:
            os.close(fd)
            self._complain(path, exc)
            return None
        self._warned.discard(path)
        await self._mark(t)
        return t

    def _complain(self, path: str, exc: OSError) -> None:
        """Log a file's read problem once (until it is readable again)."""
        if path not in self._warned:
            self._warned.add(path)
            log.warning("cannot read %s: %s", path, exc.strerror or exc)

    async def _start_offset(
        self, t: _Tracked, st: os.stat_result, matches: dict[str, os.stat_result], initial: bool
    ) -> int:
        """Where reading a newly opened file starts (see the module docstring)."""
        saved = self._saved
        mine = saved.get(t.path) if initial else saved.pop(t.path, None)
        if mine is not None and mine.inode == st.st_ino and head_matches(t.fd, mine.head):
            return mine.offset if st.st_size >= mine.offset else 0
        for other_path, other in saved.items() if initial else ():
            # Renamed while we were down, to a name that still matches.
            if other_path == t.path or other.inode != st.st_ino:
                continue
            try:
                now = os.stat(other_path)
            except OSError:
                now = None
            if (now is None or now.st_ino != st.st_ino) and head_matches(t.fd, other.head):
                return other.offset if st.st_size >= other.offset else 0
        if mine is not None:
            await self._finish_rotated(t.path, mine, matches)
            return 0
        return self._end_of_last_line(t.fd, st.st_size) if initial else 0

    async def _finish_rotated(self, path: str, saved: SavedOffset, matches: dict[str, os.stat_result]) -> None:
        """Read the rest of a file rotated away from ``path`` while the daemon was down."""
        folder = os.path.dirname(path)
        try:
            entries = [e for e in os.scandir(folder) if e.inode() == saved.inode and e.is_file()]
        except OSError:
            return
        for entry in entries:
            if os.path.abspath(entry.path) in matches:
                return  # it still matches a pattern: it resumes under its new name
            try:
                fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if st.st_ino != saved.inode or not head_matches(fd, saved.head) or st.st_size < saved.offset:
                    continue
                old = _Tracked(path, fd, st.st_dev, st.st_ino, offset=saved.offset)
                old.head = os.pread(fd, min(HEAD_BYTES, saved.offset), 0)
                log.info("finishing %s (rotated from %s) from offset %d", entry.path, path, saved.offset)
                await self._read(old)
                await self._flush_partial(old)
            finally:
                os.close(fd)
            return

    @staticmethod
    def _end_of_last_line(fd: int, size: int) -> int:
        """Just after the last newline in the file's final stretch (else its size)."""
        if size == 0:
            return 0
        start = max(0, size - CHUNK)
        tail = os.pread(fd, size - start, start)
        nl = tail.rfind(b"\n")
        return start + nl + 1 if nl >= 0 else size

    # -- reading -----------------------------------------------------------------

    async def _follow(self, t: _Tracked) -> None:
        st = os.fstat(t.fd)
        if st.st_size < t.read_pos or (t.head and os.pread(t.fd, len(t.head), 0) != t.head):
            log.info("%s was truncated or rewritten; reading it from the start", t.path)
            await self._flush_partial(t)
            t.restart()
            await self._mark(t)
        await self._read(t)
        if t.pending and time.monotonic() - t.last_data >= self.partial_flush_after:
            await self._flush_partial(t)

    async def _read(self, t: _Tracked) -> None:
        """Put every complete line from ``t.read_pos`` to the end of the file."""
        while not self._stopping:
            try:
                data = os.pread(t.fd, CHUNK, t.read_pos)
            except OSError as exc:
                self._complain(t.path, exc)
                return
            if not data:
                return
            t.last_data = time.monotonic()
            if len(t.head) < HEAD_BYTES:
                t.head += data[: HEAD_BYTES - len(t.head)]
            await self._consume(t, data)

    async def _consume(self, t: _Tracked, data: bytes) -> None:
        start = 0
        while (nl := data.find(b"\n", start)) >= 0:
            piece = data[start:nl]
            start = nl + 1
            if t.skipping:
                t.skipping = False
                t.offset += len(piece) + 1
            else:
                line = bytes(t.pending) + piece if t.pending else piece
                t.pending.clear()
                t.offset += len(line) + 1
                await self._emit(t, line)
            await self._mark(t)
        rest = data[start:]
        if not rest:
            return
        if t.skipping:
            t.offset += len(rest)
            await self._mark(t)
            return
        t.pending += rest
        if len(t.pending) > self.max_line:
            line = bytes(t.pending)
            t.offset += len(line)
            t.pending.clear()
            t.skipping = True
            await self._emit(t, line)
            await self._mark(t)

    async def _flush_partial(self, t: _Tracked) -> None:
        """Emit a held last line as it is (the file is done with, or has gone quiet)."""
        if not t.pending:
            return
        line = bytes(t.pending)
        t.offset += len(line)
        t.pending.clear()
        await self._emit(t, line)
        await self._mark(t)

    async def _mark(self, t: _Tracked) -> None:
        key = (t.path, t.offset)
        if key != t.marked:
            t.marked = key
            await self.sink.put_offset(t.mark())

    # -- lines into records ------------------------------------------------------

    async def _emit(self, t: _Tracked, line: bytes) -> None:
        cut = len(line) > self.max_line
        text = line[: self.max_line].decode("utf-8", "replace").rstrip("\r")
        if cut:
            text += CUT_MARK.format(self.max_line)
        if not text.strip():
            return
        self.lines += 1
        mark = t.mark()
        reason: str | None = None
        body = text.strip()
        if body.startswith("{") and not cut:
            reason = await self._put_json(t, body, mark)
            if reason == "":
                t.marked = (t.path, t.offset)
                return
        raw: dict[str, Any] = {
            "type": "activity",
            "level": level_for(text),
            "title": os.path.basename(t.path),
            "message": text,
            "file": t.path,
        }
        if reason:
            raw["ingest_error"] = reason
        try:
            await self.sink.put_raw(raw, kind="activity", offset=mark)
        except IngestError as exc:
            self.rejected += 1
            log.warning("%s: line refused: %s", t.path, exc.reason)
        else:
            t.marked = (t.path, t.offset)

    async def _put_json(self, t: _Tracked, body: str, mark: FileOffset) -> str | None:
        """Put a JSON line; ``""`` when stored, else why not (``None``: not JSON at all)."""
        try:
            obj = json_decode.loads(body)
        except json_decode.JsonValueError as exc:
            return str(exc)
        except ValueError as exc:
            return f"not valid JSON: {exc}" if body.endswith("}") else None
        if not isinstance(obj, dict):
            return None
        obj.setdefault("file", t.path)
        try:
            await self.sink.put_raw(obj, kind=self.default_kind, offset=mark)
        except IngestError as exc:
            return exc.reason
        return ""
