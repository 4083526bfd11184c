""":class:`LogClient`: records to the collector over its Unix socket, in the background.

Calls never block the application and never raise into it.  Records are
encoded at once (so later changes to the objects passed in do not leak in) and
queued in a bounded buffer; a daemon thread sends them over the collector's
Unix socket, each batch followed by the sync line, and forgets a batch only
once the collector has answered that it is committed.  When the collector is
away the thread reconnects with backoff while the buffer fills; once it is
full, new records are dropped and counted (:attr:`LogClient.dropped`).

Delivery: a batch whose commit was never confirmed because the connection
broke after it was sent is counted in :attr:`LogClient.unconfirmed` and not
sent again (the collector may well have stored it; sending twice would store it
twice).  Bytes the collector never received are sent again after reconnecting.

Secrets are redacted by the collector before anything is stored; the client
only bounds sizes.  Standard library only.
"""

from __future__ import annotations

import atexit
import collections
import json
import math
import os
import socket
import threading
import time
import traceback
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from logconsole.client import request_context as _correlation
from logconsole.paths import default_socket_path
from logconsole.protocol import SYNC_LINE, Answer, LineReader, parse_answer

DEFAULT_BUFFER = 10_000
MAX_RECORD_BYTES = (1 << 20) - 1024
"""Largest encoded record sent (the collector's default limit is 1 MiB)."""
MAX_TEXT_CHARS = 64 * 1024
"""Longest string value kept when a record would be too large as a whole."""
MAX_BATCH = 1000
BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0


def _now() -> str:
    return _stamp(datetime.now(UTC))


def _stamp(when: datetime) -> str:
    """``when`` (UTC) as the collector stores it: ISO 8601 with microseconds."""
    return (f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:"
            f"{when.second:02d}.{when.microsecond:06d}Z")


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as strict JSON takes it: string keys, no cycles, bounded depth, finite numbers."""
    if depth > 50:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _shorten(value: Any) -> Any:
    """Long strings cut to :data:`MAX_TEXT_CHARS` (saying so), at any depth."""
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        return value[:MAX_TEXT_CHARS] + f"... [cut: {len(value)} characters]"
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    return value


def encode_record(record: Mapping[str, Any]) -> bytes | None:
    """One record as a JSON line of at most :data:`MAX_RECORD_BYTES`, or None."""
    try:
        text = json.dumps(record, default=str, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        try:
            text = json.dumps(_plain(record), default=str, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            return None
    data = text.encode("utf-8", "replace") + b"\n"
    if len(data) <= MAX_RECORD_BYTES:
        return data
    try:
        text = json.dumps(_shorten(_plain(record)), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    data = text.encode("utf-8", "replace") + b"\n"
    return data if len(data) <= MAX_RECORD_BYTES else None


@dataclass(slots=True, eq=False)
class _Flush:
    """A flush request waiting in the queue: resolved once the sync before it is answered."""

    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


class _ConnectionLost(OSError):
    def __init__(self, message: str, sent_bytes: int) -> None:
        super().__init__(message)
        self.sent_bytes = sent_bytes


class LogClient:
    """Sends records to the collector in the background; never raises into the app.

    ``socket_path`` defaults to ``$LOGCONSOLE_SOCKET``, else the collector's
    default socket.  ``defaults`` are fields added to every record that does
    not set them (an app name, a host).  Counters: :attr:`dropped` (never sent:
    buffer full, client closed, not encodable), :attr:`rejected` (refused by
    the collector, reason in :attr:`last_error`), :attr:`unconfirmed` (sent but
    the connection broke before the commit was confirmed), :attr:`committed`.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        buffer_size: int = DEFAULT_BUFFER,
        defaults: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.socket_path = Path(socket_path) if socket_path is not None else default_socket_path()
        self.buffer_size = buffer_size
        self.defaults = dict(defaults or {})
        self.timeout = timeout
        self.dropped = 0
        self.rejected = 0
        self.unconfirmed = 0
        self.committed = 0
        self.last_error = ""
        self._cond = threading.Condition()
        self._queue: collections.deque[bytes | _Flush] = collections.deque()
        self._records = 0
        self._closing = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._answers = LineReader()
        self._line = 0
        self._flushed_trouble = 0
        self._hurry = False
        _CLIENTS.add(self)
        atexit.register(self._at_exit)

    # -- record methods (the original service's, in Python) ---------------------

    def activity(self, message: str | None = None, **fields: Any) -> None:
        """An activity record: ``level``, ``category``, ``title``, ``user_id``, ..."""
        if message is not None:
            fields["message"] = message
        self.log("activity", fields)

    def error(self, message: str | BaseException, severity: str = "medium", **fields: Any) -> None:
        """An error record; given an exception, its type and stack are filled in."""
        if isinstance(message, BaseException):
            exc = message
            fields.setdefault("error_type", type(exc).__name__)
            if exc.__traceback__ is not None:
                fields.setdefault("stack", "".join(traceback.format_exception(exc)))
            message = str(exc) or type(exc).__name__
        self.log("error", {"message": message, "severity": severity, **fields})

    def ai(self, ai_model: str, **fields: Any) -> None:
        """An AI call record: ``prompt``, ``response``, ``tokens_used``, ``response_time_ms``, ..."""
        self.log("ai", {"ai_model": ai_model, **fields})

    def chat(self, message: str, **fields: Any) -> None:
        """A chat message record: ``chat_type``, ``sender_id``, ``receiver_id``, ..."""
        self.log("chat", {"message": message, **fields})

    def system(self, message: str | None = None, **fields: Any) -> None:
        """A system record: ``event_type``, ``status``, ``metrics``, ``requires_action``."""
        if message is not None:
            fields["message"] = message
        self.log("system", fields)

    def create_activity_log(self, data: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """``createActivityLog(data)``: the fields as one mapping (camelCase names accepted)."""
        self.log("activity", {**(data or {}), **fields})

    def create_error_log(self, data: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """``createErrorLog(data)``."""
        self.log("error", {**(data or {}), **fields})

    def create_ai_log(self, data: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """``createAiLog(data)``."""
        self.log("ai", {**(data or {}), **fields})

    def create_chat_log(self, data: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """``createChatLog(data)``."""
        self.log("chat", {**(data or {}), **fields})

    def create_system_log(self, data: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """``createSystemLog(data)``."""
        self.log("system", {**(data or {}), **fields})

    createActivityLog = create_activity_log  # noqa: N815 - the original service's names
    createErrorLog = create_error_log  # noqa: N815
    createAiLog = create_ai_log  # noqa: N815
    createChatLog = create_chat_log  # noqa: N815
    createSystemLog = create_system_log  # noqa: N815

    def time_ai_call(self, ai_model: str, prompt: str | None = None, **fields: Any) -> AiCall:
        """A context manager recording one AI call with its ``response_time_ms``.

        Set ``call.response`` and ``call.tokens_used`` (or any field through
        ``call.fields``) inside the block.  When the block raises, the record
        says ``status="error"`` with the exception as ``error_message``, and
        the exception goes on.  Works with ``with`` and ``async with``.
        """
        return AiCall(self, ai_model, prompt, fields)

    context = staticmethod(_correlation.correlation)
    """``with client.context(request_id=..., trace_id=..., span_id=...):`` tags
    every record sent inside the block (:func:`logconsole.client.correlation`)."""

    # -- queueing ----------------------------------------------------------------

    def log(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Queue one record of ``kind``; never raises, never blocks on the collector."""
        try:
            record: dict[str, Any] = {"type": kind}
            for key, value in self.defaults.items():
                record.setdefault(key, value)
            record.update(fields)
            record["type"] = kind
            _correlation.apply(record)
            if "created_at" not in record and "createdAt" not in record:
                record["created_at"] = _now()
            data = encode_record(record)
        except Exception:  # a hostile __str__ or mapping: count it, never raise
            data = None
        if data is None:
            with self._cond:
                self.dropped += 1
                self.last_error = "record could not be encoded within the size limit"
            return
        self.send_line(data)

    def send_line(self, data: bytes) -> None:
        """Queue one encoded JSON line (ending in a newline)."""
        with self._cond:
            if self._closing or self._records >= self.buffer_size:
                self.dropped += 1
                return
            self._queue.append(data)
            self._records += 1
            self._start()
            self._cond.notify()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the collector has committed everything queued so far.

        True when it has (and nothing was dropped, refused or left
        unconfirmed since the previous flush); False on timeout or trouble.
        """
        marker = _Flush()
        with self._cond:
            if self._closed:
                return False
            self._queue.append(marker)
            self._hurry = True
            self._start()
            self._cond.notify()
        if not marker.done.wait(timeout):
            return False
        with self._cond:
            trouble = self._trouble()
            ok = marker.ok and trouble == self._flushed_trouble
            self._flushed_trouble = trouble
        return ok

    def _trouble(self) -> int:
        return self.dropped + self.rejected + self.unconfirmed

    @property
    def pending(self) -> int:
        """Records queued and not yet confirmed as committed."""
        with self._cond:
            return self._records

    def close(self, timeout: float = 5.0) -> bool:
        """Flush (up to ``timeout`` seconds), stop the sender and disconnect.

        Returns what :meth:`flush` returned (with nothing queued, whether
        everything since the last flush arrived).  Records still queued after
        the timeout are counted as dropped.  Safe to call twice.
        """
        if self._closed:
            return False
        with self._cond:
            idle = self._records == 0 and not self._queue
            clean = self._trouble() == self._flushed_trouble
        # Nothing waiting: no need to ask the collector (which may be gone).
        ok = clean if idle else self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(0.1, timeout))
        with self._cond:
            # What is still queued will not be sent; a batch the sender still
            # holds (a collector that stopped answering) is its to count.
            for item in self._queue:
                if isinstance(item, _Flush):
                    item.done.set()
                else:
                    self.dropped += 1
                    self._records -= 1
            self._queue.clear()
            self._closed = True
        self._disconnect()
        atexit.unregister(self._at_exit)
        return ok

    def __enter__(self) -> LogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _at_exit(self) -> None:
        self.close(timeout=1.0)

    def _start(self) -> None:
        """Start the sender thread (called with the lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="logconsole-client", daemon=True)
            self._thread.start()

    def _after_fork(self) -> None:
        """In a forked child the sender thread, lock and connection are the parent's:
        start afresh (the parent sends what it had queued)."""
        self._cond = threading.Condition()
        self._thread = None
        self._sock = None
        self._answers = LineReader()
        self._queue = collections.deque()
        self._records = 0

    # -- the sender thread -------------------------------------------------------

    def _take(self) -> tuple[list[bytes], list[_Flush]] | None:
        """The next batch: records up to the first flush marker (inclusive)."""
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            batch: list[bytes] = []
            markers: list[_Flush] = []
            while self._queue and len(batch) < MAX_BATCH:
                item = self._queue.popleft()
                if isinstance(item, _Flush):
                    markers.append(item)
                    break
                batch.append(item)
            return batch, markers

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            batch, markers = taken
            try:
                ok = self._deliver(batch)
            except Exception as exc:  # a bug here must not silence the app's logging for good
                self._disconnect()
                self.last_error = f"sender failed: {exc!r}"
                self._count(dropped=len(batch))
                ok = False
            with self._cond:
                self._records = max(0, self._records - len(batch))
            for m in markers:
                m.ok = ok
                m.done.set()

    def _deliver(self, batch: list[bytes]) -> bool:
        """Send ``batch`` and a sync until answered; False when not all committed."""
        backoff = BACKOFF_MIN
        attempts = 0
        while True:
            if attempts and self._closing_now():
                self._count(dropped=len(batch))
                return False
            attempts += 1
            try:
                sock = self._connection()
                return self._exchange(sock, batch)
            except _ConnectionLost as exc:
                self._disconnect()
                self.last_error = str(exc)
                sent_lines = _lines_within(batch, exc.sent_bytes)
                if sent_lines:
                    self._count(unconfirmed=sent_lines)
                    batch = batch[sent_lines:]
                    if not batch:
                        return False
            except OSError as exc:
                self._disconnect()
                self.last_error = f"no collector at {self.socket_path}: {exc.strerror or exc}"
            self._back_off(backoff)
            backoff = min(BACKOFF_MAX, backoff * 2)

    def _back_off(self, seconds: float) -> None:
        """Wait before reconnecting; new records do not cut it short, a flush or close does."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._closing and not self._hurry:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._hurry = False

    def _closing_now(self) -> bool:
        with self._cond:
            return self._closing

    def _count(self, *, dropped: int = 0, unconfirmed: int = 0, rejected: int = 0, committed: int = 0) -> None:
        with self._cond:
            self.dropped += dropped
            self.unconfirmed += unconfirmed
            self.rejected += rejected
            self.committed += committed

    def _connection(self) -> socket.socket:
        sock = self._sock
        if sock is not None and _peer_closed(sock):
            self._disconnect()
            sock = None
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(os.fspath(self.socket_path))
            except OSError:
                sock.close()
                raise
            self._sock = sock
            self._answers.clear()
            self._line = 0
        return sock

    def _disconnect(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _exchange(self, sock: socket.socket, batch: list[bytes]) -> bool:
        payload = b"".join(batch) + SYNC_LINE
        view = memoryview(payload)
        sent = 0
        try:
            while sent < len(payload):
                sent += sock.send(view[sent:])
        except OSError as exc:
            raise _ConnectionLost(f"connection lost while sending: {exc.strerror or exc}", sent) from None
        first_line = self._line + 1
        self._line += len(batch) + 1
        sync_line = self._line
        refused = 0
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read_answer(deadline, sent)
            if answer.is_sync and (answer.line is None or answer.line >= sync_line):
                break
            if answer.is_refusal:
                # The collector refused the connection (too many, shutting down):
                # nothing sent on it was stored, so all of it goes again.
                raise _ConnectionLost(f"collector refused the connection: {answer.error or '?'}", 0)
            if answer.is_rejection and not answer.ok and first_line <= answer.line < sync_line:  # type: ignore[operator]
                refused += 1
                self.last_error = f"collector refused a record: {answer.error or '?'}"
        if not answer.ok:
            if answer.retrying:
                # The collector keeps them and commits them once its database takes
                # writes: sending them again would store them twice.
                self.last_error = f"collector has not committed yet: {answer.error or '?'}"
                self._count(rejected=refused, unconfirmed=len(batch) - refused)
            else:
                self.last_error = f"collector could not commit: {answer.error or '?'}"
                self._count(rejected=refused, dropped=len(batch) - refused)
            return False
        self._count(rejected=refused, committed=len(batch) - refused)
        return refused == 0

    def _read_answer(self, deadline: float, sent: int) -> Answer:
        """The next answer from the collector."""
        sock = self._sock
        assert sock is not None
        while True:
            line = self._answers.next_line()
            if line is not None:
                answer = parse_answer(line)
                if answer is not None:
                    return answer
                continue
            if time.monotonic() > deadline:
                raise _ConnectionLost("no answer from the collector in time", sent)
            try:
                chunk = sock.recv(65536)
            except OSError as exc:
                raise _ConnectionLost(f"connection lost waiting for the commit: {exc.strerror or exc}", sent) from None
            if not chunk:
                raise _ConnectionLost("the collector closed the connection before confirming the commit", sent)
            self._answers.feed(chunk)


_CLIENTS: weakref.WeakSet[LogClient] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for client in list(_CLIENTS):
        client._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _lines_within(batch: list[bytes], sent_bytes: int) -> int:
    """How many lines of ``batch`` the first ``sent_bytes`` bytes carried.

    A line short only of its newline counts as carried: the collector reads a
    connection's last line at its end, so it may well have stored it.
    """
    n = 0
    total = 0
    for line in batch:
        total += len(line)
        if total - 1 > sent_bytes:
            break
        n += 1
    return n


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the collector closed this connection (idle timeout, restart)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)  # with a timeout set, recv would wait for data first
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)
    return data == b""


class AiCall:
    """One timed AI call (see :meth:`LogClient.time_ai_call`)."""

    def __init__(self, client: LogClient, ai_model: str, prompt: str | None, fields: dict[str, Any]) -> None:
        self.client = client
        self.ai_model = ai_model
        self.prompt = prompt
        self.fields = fields
        self.response: Any = None
        self.tokens_used: int | None = None
        self.response_time_ms: float | None = None
        self._started = 0.0

    def __enter__(self) -> AiCall:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.response_time_ms = round((time.perf_counter() - self._started) * 1000, 1)
        fields = dict(self.fields)
        if self.prompt is not None:
            fields.setdefault("prompt", self.prompt)
        if self.response is not None:
            fields["response"] = self.response
        if self.tokens_used is not None:
            fields["tokens_used"] = self.tokens_used
        fields["response_time_ms"] = self.response_time_ms
        if exc is not None:
            fields["status"] = "error"
            fields["error_message"] = f"{exc_type.__name__ if exc_type else 'Error'}: {exc}"
        else:
            fields.setdefault("status", "success")
        self.client.ai(self.ai_model, **fields)

    async def __aenter__(self) -> AiCall:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


_default_client: LogClient | None = None
_default_lock = threading.Lock()


def get_client() -> LogClient:
    """One shared client for the process (the handler and middleware use it by default)."""
    global _default_client
    with _default_lock:
        if _default_client is None or _default_client._closed:
            _default_client = LogClient()
        return _default_client
