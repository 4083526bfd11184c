"""The collector's Unix stream socket: JSON lines and syslog in, answers out.

Each connection is a :class:`Connection` (an asyncio protocol) and one task that
frames its bytes (:mod:`logconsole.collectors.framing`), decodes each message
and puts it into the pipeline.  What the protocol promises:

* a rejected line is answered ``{"ok": false, "line": N, "error": "..."}`` and
  the connection goes on;
* ``{"op": "sync"}`` is answered ``{"ok": true, "op": "sync", ...}`` once every
  record before it on the connection is committed, or after the sync timeout
  ``{"ok": false, "op": "sync", "error": REASON, "retrying": true, ...}`` while the
  database refuses writes (the records stay queued);
* answers go into a small per-connection buffer: a client that never reads
  them loses them (counted), it never holds the daemon up;
* while the pipeline is full the connection's task waits, reading stops, and
  the kernel pushes back on the client: nothing is dropped;
* the peer's pid, uid, gid and process name (``SO_PEERCRED``, read as the
  connection is accepted) are stored with every record as ``_pid``, ``_uid``,
  ``_gid``, ``_comm``, over anything the client sent under those names;
* a connection beyond ``max_connections`` is refused with an answer; running
  out of file descriptors is :mod:`logconsole.collectors.listener`'s to survive.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import struct
import termios
import time
from typing import Any

from logconsole.collectors.framing import Frame, Framer
from logconsole.collectors.listener import Listener, refuse
from logconsole.collectors.pipeline import CommitError, Pipeline
from logconsole.collectors.syslog import SyslogError, parse_syslog
from logconsole.ingest import IngestError, Trusted, decode_json
from logconsole.protocol import SYNC_OP, encode_answer

log = logging.getLogger("logconsole.daemon")

READ_HIGH_WATER = 256 * 1024
"""Unprocessed bytes of one connection at which its reading pauses."""
ANSWER_BUFFER = 64 * 1024
"""Unsent answer bytes of one connection beyond which answers are dropped."""
DEFAULT_IDLE_TIMEOUT = 900.0
DEFAULT_MAX_CONNECTIONS = 4096

_CRED = struct.Struct("3i")


def peer_credentials(sock: Any) -> dict[str, Any]:
    """The trusted fields of a connection: ``_pid``, ``_uid``, ``_gid``, ``_comm``."""
    try:
        pid, uid, gid = _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size))
    except (OSError, AttributeError, struct.error):
        return {}
    creds: dict[str, Any] = {"_pid": pid, "_uid": uid, "_gid": gid}
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            creds["_comm"] = f.read().strip()
    except OSError:
        pass
    return creds


def decode_json_line(data: bytes) -> Any:
    """The JSON value of one line, or :class:`IngestError` saying what is wrong."""
    nul = data.find(0)
    if nul >= 0:
        raise IngestError(f"NUL byte at column {nul + 1}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"invalid UTF-8 at byte {exc.start + 1}") from None
    return decode_json(text)


class SocketServer:
    """Accepts connections on a bound socket and feeds the pipeline."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        max_record_bytes: int,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.pipeline = pipeline
        self.max_record_bytes = max_record_bytes
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.connections: set[Connection] = set()
        self.stopping = False
        self._draining = False
        """The stop is admitting the clients left in the backlog."""
        self._listener: Listener | None = None
        self._opening: set[asyncio.Task[None]] = set()
        """Accepted connections whose transport is being set up."""
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, sock: socket.socket) -> None:
        """Serve on an already bound and listening socket (the server owns it from now on)."""
        self._listener = Listener(self._admit, on_refused=self._count_refused)
        self._listener.listen(sock)
        self._sweeper = asyncio.create_task(self._sweep(), name="idle-sweeper")

    def serve_on(self, sock: socket.socket) -> None:
        """Accept on ``sock`` instead of the current listening socket (a re-created socket file)."""
        assert self._listener is not None
        self._listener.listen(sock)

    def _admit(self, conn: socket.socket) -> None:
        """Take an accepted socket, or refuse it with an answer when there is no room."""
        refusing = self.stopping and not self._draining
        if refusing or len(self.connections) + len(self._opening) >= self.max_connections:
            self._count_refused(1)
            refuse(conn, "collector is shutting down" if refusing else "too many connections")
            return
        # Read at once: a short-lived sender (``logger``) may be gone a moment later.
        trusted = peer_credentials(conn)
        task = asyncio.create_task(self._open(conn, trusted))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket, trusted: dict[str, Any]) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: Connection(self, trusted), conn)
        except OSError as exc:
            log.debug("a new connection failed before it was served: %s", exc)
            conn.close()
        except Exception:  # one connection must never cost the daemon
            log.exception("a new connection could not be set up")
            conn.close()

    def _count_refused(self, n: int) -> None:
        self.pipeline.counters.rejected += n

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting; let each connection finish what it has sent; close them."""
        self.stopping = True  # refuse newcomers (a re-created socket file) from now on
        if self._listener is not None:
            # ... but serve the clients already in the backlog: a connect succeeds
            # before the accept, so they may have sent records.
            self._draining = True
            try:
                self._listener.close(drain=True)
            finally:
                self._draining = False
        if self._opening:
            await asyncio.wait(list(self._opening), timeout=grace)
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.connections):
            conn.begin_stop()
        tasks = [c.task for c in self.connections if c.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for t in pending:
                t.cancel()
        for conn in list(self.connections):
            conn.close()

    async def _sweep(self) -> None:
        """Close connections idle for longer than the idle timeout."""
        period = max(0.05, min(30.0, self.idle_timeout / 2))
        while True:
            await asyncio.sleep(period)
            deadline = time.monotonic() - self.idle_timeout
            for conn in list(self.connections):
                if conn.last_active < deadline and conn.idle:
                    log.debug("closing idle connection from pid %s", conn.trusted.get("_pid"))
                    conn.close()


class Connection(asyncio.Protocol):
    """One client: bytes in through :class:`Framer`, answers out, bounded both ways."""

    def __init__(self, server: SocketServer, trusted: dict[str, Any]) -> None:
        self.server = server
        self.pipeline = server.pipeline
        self.counters = server.pipeline.counters
        self.framer = Framer(server.max_record_bytes)
        self.transport: asyncio.Transport | None = None
        self.trusted = trusted
        self.vouched = Trusted(trusted, server.pipeline.redactor)
        """The trusted fields prepared once for all the connection's records."""
        self.inbox: list[bytes] = []
        self.inbox_bytes = 0
        self.wake = asyncio.Event()
        self.eof = False
        self.lost = False
        self.stopping = False
        self.paused = False
        self.idle = True
        self.last_active = time.monotonic()
        self.line = 0
        self.stored = 0
        self.rejected = 0
        self.task: asyncio.Task[None] | None = None

    # -- transport callbacks ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        server = self.server
        server.connections.add(self)
        self.counters.connections = len(server.connections)
        self.task = asyncio.create_task(self._serve(), name=f"conn-{self.trusted.get('_pid')}")
        if server.stopping:  # accepted before the stop: take what it sent, then close
            self.begin_stop()

    def data_received(self, data: bytes) -> None:
        self.inbox.append(data)
        self.inbox_bytes += len(data)
        self.last_active = time.monotonic()
        if self.inbox_bytes >= READ_HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self.wake.set()

    def eof_received(self) -> bool:
        self.eof = True
        self.wake.set()
        return True  # keep the write side open for the last answers

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.eof = True
        self.wake.set()
        self.server.connections.discard(self)
        self.counters.connections = len(self.server.connections)

    # -- control ----------------------------------------------------------------

    def begin_stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.server.connections.discard(self)
        self.counters.connections = len(self.server.connections)

    # -- the connection's task -------------------------------------------------

    async def _serve(self) -> None:
        try:
            while True:
                if not self.inbox:
                    if self.eof or self.lost:
                        break
                    if self.stopping:
                        # Shutting down: take what the kernel still holds, then stop.
                        if not self._unread():
                            break
                        self.wake.clear()
                        await self.wake.wait()
                        continue
                    self.idle = True
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                self.idle = False
                chunks, self.inbox, self.inbox_bytes = self.inbox, [], 0
                for n, chunk in enumerate(chunks):
                    if n:
                        await asyncio.sleep(0)  # let other connections in between big reads
                    for frame in self.framer.feed(chunk):
                        await self._handle(frame)
                if self.paused and not self.lost and self.transport is not None:
                    self.paused = False
                    self.transport.resume_reading()
            if self.eof:  # the client is done: an unterminated last line is a line
                for frame in self.framer.finish():
                    await self._handle(frame)
        except Exception:  # the daemon never dies on input
            log.exception("connection from pid %s failed", self.trusted.get("_pid"))
        finally:
            self.close()

    def _unread(self) -> int:
        """Bytes the client sent that the kernel still holds for this connection."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None or self.lost:
            return 0
        try:
            return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0])
        except OSError:
            return 0

    async def _handle(self, frame: Frame) -> None:
        self.line += 1
        if frame.kind == "empty":
            return
        try:
            if frame.kind == "error":
                raise IngestError(frame.error)
            if frame.kind == "syslog":
                try:
                    raw = parse_syslog(frame.data.decode("utf-8", errors="replace"))
                except SyslogError as exc:
                    raise IngestError(str(exc)) from None
                await self.pipeline.put_raw(raw, trusted=self.vouched)
                self.stored += 1
                return
            value = decode_json_line(frame.data)
            if isinstance(value, dict) and "op" in value and "type" not in value:
                await self._op(value)
                return
            await self.pipeline.put_raw(value, trusted=self.vouched)
            self.stored += 1
        except IngestError as exc:
            self.reject(exc.reason)
        except Exception as exc:  # a bug must cost one line, never the connection or the daemon
            log.exception("line %d from pid %s could not be processed", self.line, self.trusted.get("_pid"))
            self.reject(f"record could not be processed: {type(exc).__name__}")

    def reject(self, reason: str) -> None:
        """Count a rejected line and answer it."""
        self.rejected += 1
        self.counters.rejected += 1
        self.answer({"ok": False, "line": self.line, "error": reason})

    async def _op(self, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op == SYNC_OP:
            try:
                await self.pipeline.sync()
            except CommitError as exc:
                self.answer({
                    "ok": False, "op": SYNC_OP, "line": self.line, "error": str(exc),
                    "retrying": exc.retrying, "stored": self.stored, "rejected": self.rejected,
                })
                return
            self.answer({
                "ok": True, "op": SYNC_OP, "line": self.line,
                "stored": self.stored, "rejected": self.rejected,
            })
            return
        raise IngestError(f"unknown op {op!r}: the only op is \"sync\"")

    def answer(self, message: dict[str, Any]) -> None:
        """Queue an answer unless the client is not reading them (then count the drop)."""
        t = self.transport
        if t is None or t.is_closing():
            self.counters.answers_dropped += 1
            return
        if t.get_write_buffer_size() > ANSWER_BUFFER:
            self.counters.answers_dropped += 1
            return
        t.write(encode_answer(message))

