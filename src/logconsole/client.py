"""Logging to the logconsole collector from Python: standard library only.

Three ways in, all through one :class:`LogClient`:

* the client itself, a method per record type (``activity``, ``error``, ``ai``,
  ``chat``, ``system``; also under the original service's names,
  ``createActivityLog`` and friends) and :meth:`LogClient.time_ai_call`;
* :class:`LogHandler`, a :class:`logging.Handler` (ERROR and above become
  ``error`` records with the stack, the rest ``activity`` records);
* :class:`WSGIMiddleware` and :class:`ASGIMiddleware`, which record every
  request like the original request interceptor did.

Calls never block the application and never raise into it.  Records are
encoded at once (so later changes to the objects passed in do not leak in) and
queued in a bounded buffer; a daemon thread sends them over the collector's
Unix socket, each batch followed by ``{"op": "sync"}``, and forgets a batch
only once the collector has answered that it is committed.  When the
collector is away the thread reconnects with backoff while the buffer fills;
once it is full, new records are dropped and counted (:attr:`LogClient.dropped`).

Delivery: a batch whose commit was never confirmed because the connection
broke after it was sent is counted in :attr:`LogClient.unconfirmed` and not
sent again (the collector may well have stored it; sending twice would store it
twice).  Bytes the collector never received are sent again after reconnecting.

Secrets are redacted by the collector before anything is stored; the client
only bounds sizes.  This module must stay importable without third-party
packages: an application that logs through it does not pull in the console.
"""

from __future__ import annotations

import atexit
import collections
import io
import json
import logging
import math
import os
import socket
import threading
import time
import traceback
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any

from logconsole.paths import default_socket_path

__all__ = [
    "ASGIMiddleware",
    "AiCall",
    "LogClient",
    "LogHandler",
    "WSGIMiddleware",
    "get_client",
]

DEFAULT_BUFFER = 10_000
MAX_RECORD_BYTES = (1 << 20) - 1024
"""Largest encoded record sent (the collector's default limit is 1 MiB)."""
MAX_TEXT_CHARS = 64 * 1024
"""Longest string value kept when a record would be too large as a whole."""
MAX_BATCH = 1000
MAX_BODY = 10_000
"""Largest request body (bytes) the middleware records."""
SYNC_LINE = b'{"op":"sync"}\n'
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
        self._rbuf = bytearray()
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

    # -- queueing ----------------------------------------------------------------

    def log(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Queue one record of ``kind``; never raises, never blocks on the collector."""
        try:
            record: dict[str, Any] = {"type": kind}
            for key, value in self.defaults.items():
                record.setdefault(key, value)
            record.update(fields)
            record["type"] = kind
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
        self._rbuf = bytearray()
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
            self._rbuf.clear()
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
            if answer.get("op") == "sync" and answer.get("line", sync_line) >= sync_line:
                break
            if answer.get("ok") is False and "line" not in answer:
                # The collector refused the connection (too many, shutting down):
                # nothing sent on it was stored, so all of it goes again.
                raise _ConnectionLost(f"collector refused the connection: {answer.get('error', '?')}", 0)
            if answer.get("ok") is False and first_line <= _int(answer.get("line")) < sync_line:
                refused += 1
                self.last_error = f"collector refused a record: {answer.get('error', '?')}"
        if answer.get("ok") is not True:
            if answer.get("retrying"):
                # The collector keeps them and commits them once its database takes
                # writes: sending them again would store them twice.
                self.last_error = f"collector has not committed yet: {answer.get('error', '?')}"
                self._count(rejected=refused, unconfirmed=len(batch) - refused)
            else:
                self.last_error = f"collector could not commit: {answer.get('error', '?')}"
                self._count(rejected=refused, dropped=len(batch) - refused)
            return False
        self._count(rejected=refused, committed=len(batch) - refused)
        return refused == 0

    def _read_answer(self, deadline: float, sent: int) -> dict[str, Any]:
        """The next answer line from the collector."""
        sock = self._sock
        assert sock is not None
        while True:
            nl = self._rbuf.find(b"\n")
            if nl >= 0:
                line = bytes(self._rbuf[:nl])
                del self._rbuf[: nl + 1]
                try:
                    answer = json.loads(line)
                except ValueError:
                    continue
                if isinstance(answer, dict):
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
            self._rbuf += chunk


_CLIENTS: weakref.WeakSet[LogClient] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for client in list(_CLIENTS):
        client._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else -1


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


# -- logging ------------------------------------------------------------------

_LOG_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}

_LEVELS = ((logging.ERROR, "error"), (logging.WARNING, "warn"), (logging.INFO, "info"), (0, "debug"))


class LogHandler(logging.Handler):
    """Python ``logging`` into the collector.

    ERROR and above become ``error`` records (``critical`` severity for
    CRITICAL, ``high`` for ERROR) with ``error_type`` and ``stack`` from
    ``exc_info``; lower levels become ``activity`` records with the matching
    level.  The logger's name, module, function and line go under ``extra``,
    with anything passed as ``logging``'s own ``extra=``.
    """

    def __init__(
        self,
        client: LogClient | None = None,
        level: int = logging.NOTSET,
        *,
        category: str | None = None,
    ) -> None:
        super().__init__(level)
        self.client = client
        self.category = category

    def emit(self, record: logging.LogRecord) -> None:
        try:
            client = self.client or get_client()
            fields = self.fields(record)
            client.log(fields.pop("type"), fields)
        except Exception:
            self.handleError(record)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record ``record`` becomes (with its ``type``)."""
        extra: dict[str, Any] = {
            "logger": record.name,
            "module": record.module,
            "function": record.funcName,
            "line": record.lineno,
        }
        for key, value in record.__dict__.items():
            if key not in _LOG_RECORD_ATTRS and not key.startswith("_"):
                extra[key] = value
        created = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "message": record.getMessage(),
            "created_at": _stamp(created),
            "extra": extra,
        }
        if record.levelno >= logging.ERROR:
            out["type"] = "error"
            out["severity"] = "critical" if record.levelno >= logging.CRITICAL else "high"
            if record.exc_info and record.exc_info[0] is not None:
                out["error_type"] = record.exc_info[0].__name__
                out["stack"] = "".join(traceback.format_exception(*record.exc_info))
            elif record.stack_info:
                out["stack"] = record.stack_info
        else:
            out["type"] = "activity"
            out["level"] = next(name for floor, name in _LEVELS if record.levelno >= floor)
            out["title"] = record.name
            if self.category:
                out["category"] = self.category
            if record.exc_info and record.exc_info[0] is not None:
                extra["stack"] = "".join(traceback.format_exception(*record.exc_info))
        return out


# -- web middleware ------------------------------------------------------------

DEFAULT_SKIP = ("/health", "/static", "/docs", "/favicon.ico")
DEFAULT_CATEGORIES: Mapping[str, str] = {
    "/api/auth": "security",
    "/api/payments": "payment",
    "/api/admin": "admin",
    "/api/ai": "ai",
    "/api/chat": "chat",
    "/api/users": "user",
    "/api/courses": "course",
}


def _under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it (``/api`` covers ``/api/x``, not ``/apix``)."""
    prefix = prefix.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


@dataclass(slots=True)
class _Request:
    """What the middleware records about one request (server-neutral)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    remote_addr: str | None
    started: float = field(default_factory=time.perf_counter)
    body: bytes | None = None
    body_size: int | None = None
    status: int | None = None
    response_size: int = 0
    content_type: str | None = None


class _RequestRecorder:
    """The request-interceptor rules, shared by the WSGI and ASGI middleware."""

    def __init__(
        self,
        client: LogClient | None,
        skip: Iterable[str],
        categories: Mapping[str, str] | None,
        max_body: int,
        trust_forwarded: bool,
    ) -> None:
        self._client = client
        self.skip = tuple(skip)
        rules = DEFAULT_CATEGORIES if categories is None else categories
        self.categories = sorted(rules.items(), key=lambda kv: len(kv[0]), reverse=True)
        self.max_body = max_body
        self.trust_forwarded = trust_forwarded

    @property
    def client(self) -> LogClient:
        return self._client or get_client()

    def skipped(self, path: str) -> bool:
        return any(_under(path, prefix) for prefix in self.skip)

    def category(self, path: str) -> str | None:
        """The category of the longest URL prefix rule ``path`` falls under."""
        for prefix, name in self.categories:
            if _under(path, prefix):
                return name
        return None

    def wants_body(self, headers: Mapping[str, str]) -> bool:
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            return False
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            return False
        return 0 < length <= self.max_body

    def ip(self, req: _Request) -> str | None:
        forwarded = req.headers.get("x-forwarded-for", "") if self.trust_forwarded else ""
        first = forwarded.split(",")[0].strip()
        return first or req.remote_addr

    def request_data(self, req: _Request) -> dict[str, Any] | None:
        data: dict[str, Any] = {}
        if req.query:
            if len(req.query) > self.max_body:
                data["query"] = {"truncated": True, "size": len(req.query)}
            else:
                parsed = urllib.parse.parse_qs(req.query, keep_blank_values=True)
                data["query"] = {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}
        if req.body is not None:
            try:
                data["body"] = json.loads(req.body)
            except ValueError:
                data["body"] = {"invalid_json": True, "size": len(req.body)}
        elif req.body_size:
            data["body"] = {"truncated": True, "size": req.body_size}
        return data or None

    def record(
        self, req: _Request, user_id: Any, exc: BaseException | None = None
    ) -> None:
        """Log the activity record of a finished request (and its error record)."""
        try:
            status = req.status if req.status is not None else 500
            duration = round((time.perf_counter() - req.started) * 1000, 1)
            common: dict[str, Any] = {
                "endpoint": req.path,
                "method": req.method,
                "status_code": status,
                "ip_address": self.ip(req),
                "user_agent": req.headers.get("user-agent"),
            }
            if user_id is not None:
                common["user_id"] = str(user_id)
            level = "error" if status >= 500 or exc is not None else "warn" if status >= 400 else "info"
            phrase = _phrase(status)
            activity = {
                **common,
                "level": level,
                "title": f"{req.method} {req.path}",
                "message": (
                    f"Request failed: {type(exc).__name__}" if exc is not None
                    else "Request completed successfully" if status < 400
                    else f"Request failed: {status} {phrase}"
                ),
                "duration_ms": duration,
                "request_data": self.request_data(req),
                "response_data": {"size": req.response_size, "content_type": req.content_type},
            }
            category = self.category(req.path)
            if category:
                activity["category"] = category
            client = self.client
            client.activity(**activity)
            if isinstance(exc, Exception):
                client.error(exc, severity="critical", **common)
            elif exc is None and status >= 400:
                client.error(
                    f"{req.method} {req.path} -> {status} {phrase}",
                    severity="critical" if status >= 500 else "high",
                    error_type=f"HTTP {status}",
                    **common,
                )
        except Exception:  # recording must never break the app
            pass


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _remote_user(environ: Mapping[str, Any]) -> Any:
    return environ.get("REMOTE_USER")


class WSGIMiddleware:
    """Records every request of a WSGI app: an activity record, and an error
    record for exceptions (re-raised) and 4xx/5xx answers.

    ``user`` maps the WSGI environ to a user id (default ``REMOTE_USER``);
    ``categories`` maps URL prefixes to a category (longest prefix wins);
    requests under ``skip`` are not recorded.  A JSON request body of at most
    ``max_body`` bytes is recorded (the app still reads it as usual).
    """

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        client: LogClient | None = None,
        *,
        skip: Iterable[str] = DEFAULT_SKIP,
        categories: Mapping[str, str] | None = None,
        user: Callable[[Mapping[str, Any]], Any] = _remote_user,
        max_body: int = MAX_BODY,
        trust_forwarded: bool = True,
    ) -> None:
        self.app = app
        self.user = user
        self.recorder = _RequestRecorder(client, skip, categories, max_body, trust_forwarded)

    def __call__(self, environ: MutableMapping[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = _wsgi_path(environ)
        if self.recorder.skipped(path):
            return self.app(environ, start_response)
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if environ.get("CONTENT_LENGTH"):
            headers["content-length"] = environ["CONTENT_LENGTH"]
        req = _Request(
            method=environ.get("REQUEST_METHOD", "GET"),
            path=path,
            query=environ.get("QUERY_STRING", ""),
            headers=headers,
            remote_addr=environ.get("REMOTE_ADDR"),
        )
        req.body_size = _int_or_none(headers.get("content-length"))
        if self.recorder.wants_body(headers):
            try:
                body = environ["wsgi.input"].read(req.body_size)
            except Exception:
                body = None
            if body is not None:
                req.body = body
                environ["wsgi.input"] = io.BytesIO(body)  # the app reads the same bytes

        def recording_start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                req.status = int(status.split(" ", 1)[0])
            except ValueError:
                req.status = None
            for name, value in response_headers:
                if name.lower() == "content-type":
                    req.content_type = value
            if exc_info is not None:
                return start_response(status, response_headers, exc_info)
            return start_response(status, response_headers)

        try:
            body_iter = self.app(environ, recording_start_response)
        except BaseException as exc:
            self.recorder.record(req, self._user(environ), exc)
            raise
        return _RecordingBody(body_iter, lambda exc: self.recorder.record(req, self._user(environ), exc), req)

    def _user(self, environ: Mapping[str, Any]) -> Any:
        try:
            return self.user(environ)
        except Exception:
            return None


def _wsgi_path(environ: Mapping[str, Any]) -> str:
    """The request's path as the client sent it: ``SCRIPT_NAME`` + ``PATH_INFO``,
    back from WSGI's latin-1 to UTF-8 text."""
    raw = f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}" or "/"
    try:
        return raw.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return raw


class _RecordingBody:
    """The app's response iterable, counting bytes and recording once it is closed."""

    def __init__(self, inner: Iterable[bytes], done: Callable[[BaseException | None], None], req: _Request) -> None:
        self.inner = inner
        self.done = done
        self.req = req
        self.recorded = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.inner:
                self.req.response_size += len(chunk)
                yield chunk
        except BaseException as exc:
            self._finish(exc)
            raise

    def close(self) -> None:
        try:
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        if not self.recorded:
            self.recorded = True
            self.done(exc)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _scope_user(scope: Mapping[str, Any]) -> Any:
    """``scope["user"]`` as an id: its ``identity``/``username``/``id``, or a string."""
    user = scope.get("user")
    if user is None or isinstance(user, (str, int)):
        return user
    for attr in ("identity", "username", "id"):
        value = getattr(user, attr, None)
        if value:
            return value
    return None


class ASGIMiddleware:
    """The ASGI twin of :class:`WSGIMiddleware` (HTTP requests only; other
    scopes such as ``lifespan`` and ``websocket`` pass straight through).

    ``user`` maps the scope to a user id (default: ``scope["user"]``, as set by
    authentication middleware); it is asked after the app has run.
    """

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        client: LogClient | None = None,
        *,
        skip: Iterable[str] = DEFAULT_SKIP,
        categories: Mapping[str, str] | None = None,
        user: Callable[[Mapping[str, Any]], Any] = _scope_user,
        max_body: int = MAX_BODY,
        trust_forwarded: bool = True,
    ) -> None:
        self.app = app
        self.user = user
        self.recorder = _RequestRecorder(client, skip, categories, max_body, trust_forwarded)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") or "/"
        if scope.get("type") != "http" or self.recorder.skipped(path):
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for name, value in scope.get("headers") or ():
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        client = scope.get("client")
        req = _Request(
            method=scope.get("method", "GET"),
            path=path,
            query=(scope.get("query_string") or b"").decode("latin-1"),
            headers=headers,
            remote_addr=client[0] if client else None,
        )
        req.body_size = _int_or_none(headers.get("content-length"))
        app_receive = receive
        if self.recorder.wants_body(headers):
            req.body, app_receive = await _buffer_body(receive, self.recorder.max_body)

        async def recording_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                req.status = int(message.get("status", 200))
                for name, value in message.get("headers") or ():
                    if name.lower() == b"content-type":
                        req.content_type = value.decode("latin-1")
            elif kind == "http.response.body":
                req.response_size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, app_receive, recording_send)
        except BaseException as exc:
            self.recorder.record(req, self._user(scope), exc)
            raise
        self.recorder.record(req, self._user(scope))

    def _user(self, scope: Mapping[str, Any]) -> Any:
        try:
            return self.user(scope)
        except Exception:
            return None


async def _buffer_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """Read the request body (up to ``limit`` bytes) and a ``receive`` replaying it.

    The app then receives the same messages, and after them whatever the
    server sends next (``http.disconnect``).
    """
    messages: list[Message] = []
    body = bytearray()
    more = True
    while more:
        message = await receive()
        messages.append(message)
        if message.get("type") != "http.request":
            break
        body += message.get("body", b"")
        more = bool(message.get("more_body", False))
        if len(body) > limit:
            break
    replay = collections.deque(messages)

    async def replaying_receive() -> Message:
        if replay:
            return replay.popleft()
        return await receive()

    complete = not more and messages and messages[-1].get("type") == "http.request"
    return (bytes(body) if complete else None), replaying_receive
