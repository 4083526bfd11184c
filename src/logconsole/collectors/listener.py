"""Accepting connections on the collector's listening socket, without ever
leaving a client without an answer or flooding the log.

asyncio's own server logs a traceback for every failed ``accept()`` when the
process runs out of file descriptors (hundreds in one burst), and the clients
waiting in the kernel's backlog get nothing until one of them gives up.  Here:

* each accepted socket goes to ``admit``, which either takes it or refuses it
  with :func:`refuse` (a one-line answer written straight to the new socket,
  which is closed at once, so a refused client costs no descriptor for long);
* when ``accept()`` fails for want of descriptors (``EMFILE``, ``ENFILE``,
  ...), a spare descriptor held for that moment is let go, the clients waiting
  then are accepted one by one and refused with an answer, and accepting
  pauses for :data:`OUT_OF_FILES_PAUSE` seconds.  One warning is logged per
  episode (at most one a minute), never a traceback;
* :meth:`Listener.listen` takes a new listening socket in place of the old one
  (the daemon re-creates a socket file that was removed); connections already
  waiting on the old one are still served.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Callable

from logconsole.protocol import refusal

log = logging.getLogger("logconsole.daemon")

OUT_OF_FILES_PAUSE = 0.25
"""Seconds accepting pauses after running out of file descriptors."""
ACCEPT_BURST = 256
"""Connections accepted per wake-up, so a flood cannot starve the connections' own work."""
OUT_OF_FILES_REASON = "too many connections (the collector is out of file descriptors)"
_OUT_OF_FILES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_WARN_EVERY = 60.0


def refuse(conn: socket.socket, reason: str) -> None:
    """Answer a just-accepted connection with a refusal and close it.

    The socket's send buffer is empty, so the short line fits without waiting;
    a peer already gone is simply closed.
    """
    try:
        conn.setblocking(False)
        conn.send(refusal(reason))
    except OSError:
        pass
    finally:
        conn.close()


class Listener:
    """Accepts on one listening socket at a time; survives running out of descriptors."""

    def __init__(self, admit: Callable[[socket.socket], None], *, on_refused: Callable[[int], None]) -> None:
        self.admit = admit
        """Takes each accepted socket (non-blocking); must take or close it."""
        self.on_refused = on_refused
        """Told how many clients were refused for want of descriptors."""
        self._loop = asyncio.get_running_loop()
        self._sock: socket.socket | None = None
        self._paused: asyncio.TimerHandle | None = None
        self._spare: int | None = _open_spare()
        self._out_of_files = False
        self._warned = -_WARN_EVERY

    def listen(self, sock: socket.socket) -> None:
        """Accept on ``sock`` from now on (a bound, listening socket; the listener owns it)."""
        sock.setblocking(False)
        old, self._sock = self._sock, sock
        if old is not None:
            self._stop_reading(old)
            self._drain(old)
            old.close()
        if self._paused is None:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def close(self, *, drain: bool = False) -> None:
        """Stop accepting and close the listening socket; with ``drain``, first
        admit the clients already waiting in its backlog (they may have sent
        records: a connect succeeds before the accept)."""
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        if self._sock is not None:
            self._stop_reading(self._sock)
            if drain:
                self._drain(self._sock)
            self._sock.close()
            self._sock = None
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None

    # -- accepting ----------------------------------------------------------------

    def _accept(self, sock: socket.socket) -> bool:
        """Accept up to a burst; True when the backlog may hold more."""
        for _ in range(ACCEPT_BURST):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return False
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _OUT_OF_FILES:
                    self._ran_out(sock, exc)
                else:
                    log.warning("accepting a connection failed: %s", exc.strerror or exc)
                return False
            if self._out_of_files:
                self._out_of_files = False
                log.info("accepting connections again")
            try:
                conn.setblocking(False)
                self.admit(conn)
            except Exception:  # one connection must never stop the accepting
                log.exception("a new connection could not be set up")
                conn.close()
        return True

    def _drain(self, sock: socket.socket) -> None:
        """Serve the connections still waiting on a listening socket about to be closed."""
        with contextlib.suppress(OSError):
            while self._accept(sock) and not self._out_of_files:
                pass

    def _ran_out(self, sock: socket.socket, exc: OSError) -> None:
        """Out of descriptors: answer the waiting clients, then pause accepting."""
        refused = self._refuse_waiting(sock)
        if refused:
            self.on_refused(refused)
        now = time.monotonic()
        if not self._out_of_files and now - self._warned >= _WARN_EVERY:
            self._warned = now
            log.warning(
                "out of file descriptors (%s): refusing new connections until some close; "
                "raise the open-file limit (ulimit -n) if this lasts", exc.strerror or exc,
            )
        self._out_of_files = True
        self._stop_reading(sock)
        if self._paused is None:
            self._paused = self._loop.call_later(OUT_OF_FILES_PAUSE, self._resume)

    def _refuse_waiting(self, sock: socket.socket) -> int:
        """With the spare descriptor let go, accept and refuse every client waiting now."""
        if self._spare is None:
            self._spare = _open_spare()
            if self._spare is None:
                return 0
        os.close(self._spare)
        self._spare = None
        refused = 0
        try:
            while refused < ACCEPT_BURST:
                try:
                    conn, _ = sock.accept()
                except ConnectionAbortedError:
                    continue
                except OSError:  # nobody else waiting, or the spare went elsewhere
                    break
                refuse(conn, OUT_OF_FILES_REASON)
                refused += 1
        finally:
            self._spare = _open_spare()
        return refused

    def _resume(self) -> None:
        self._paused = None
        if self._spare is None:
            self._spare = _open_spare()
        if self._sock is not None:
            self._loop.add_reader(self._sock.fileno(), self._accept, self._sock)

    def _stop_reading(self, sock: socket.socket) -> None:
        if sock.fileno() >= 0:
            self._loop.remove_reader(sock.fileno())


def _open_spare() -> int | None:
    """A descriptor kept in reserve, let go to answer clients when none is left."""
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
