"""The fleet leader's look at the commit horizon, shared by its alert rules
and its forwarding.

Taking the horizon (:func:`logconsole.store.postgres.alerts.horizon`) makes
every host's new batches wait for an instant, so the leader takes it at most
once every ``interval`` seconds, whoever asks: a value up to ``interval``
seconds old is still a horizon (every id up to it is committed or never will
be), only an earlier one.

A batch that stays in flight (its writer waits on a row lock, or its host
went silent mid-transaction until the server notices) would hold the look,
and every host's new batches queued behind it.  So the look waits at most
``lock_timeout`` seconds; it then gives up, keeps the last horizon (alert
rules and forwarding wait at it: they cannot pass that batch) and tries again
after ``backoff`` seconds, so ingest is held at most that briefly and rarely.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from logconsole.store.db import StoreError
from logconsole.store.url import StoreURL

log = logging.getLogger("logconsole.daemon")

HORIZON_INTERVAL = 0.5
"""Seconds between two looks at the commit horizon by the fleet's leader."""
LOCK_TIMEOUT = 1.0
"""Seconds a look waits for the batches in flight before giving up."""
BACKOFF = 10.0
"""Seconds before the next look after one that gave up."""


class SharedHorizon:
    """The horizon on a connection of its own, looked at no more than once per ``interval``."""

    def __init__(self, location: StoreURL, interval: float = HORIZON_INTERVAL, *,
                 lock_timeout: float = LOCK_TIMEOUT, backoff: float = BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.location = location
        self.interval = interval
        self.lock_timeout = lock_timeout
        self.backoff = backoff
        self.clock = clock
        self.looks = 0
        """How many times the horizon was taken."""
        self.gave_up = 0
        """Looks that gave up waiting for a batch in flight."""
        self._lock = threading.Lock()
        self._conn: Any = None
        self._value = 0
        self._at: float | None = None
        """Until when the value held is used without a new look."""

    def get(self) -> int:
        """The horizon, taken now unless it was less than ``interval`` seconds ago;
        raises ``psycopg.Error`` or ``StoreError`` when the server cannot be reached."""
        with self._lock:
            if self._at is not None and self.clock() < self._at:
                return self._value
            import psycopg

            from logconsole.store.postgres import alerts as pg_alerts
            from logconsole.store.postgres.store import connect

            if self._conn is None or self._conn.closed:
                self._conn = connect(self.location)
                self._conn.execute(f"SET lock_timeout = {max(1, int(self.lock_timeout * 1000))}")  # type: ignore[arg-type]
            try:
                self._value = pg_alerts.horizon(self._conn)
            except psycopg.errors.LockNotAvailable:
                self.gave_up += 1
                if self.gave_up == 1 or self.gave_up % 100 == 0:
                    log.warning("a batch has been in flight for over %g s; alert rules and forwarding wait "
                                "for it to commit (looked %d times)", self.lock_timeout, self.gave_up)
                if self._at is None:
                    raise StoreError(f"{self.location.redacted()}: a batch has been in flight for over "
                                     f"{self.lock_timeout:g} s; waiting for it to commit") from None
                self._at = self.clock() + self.backoff
                return self._value
            except BaseException:
                self._close()
                raise
            self._at = self.clock() + self.interval
            self.looks += 1
            return self._value

    def close(self) -> None:
        """Let the connection go and forget the value (leadership lost, or the collector stops)."""
        with self._lock:
            self._close()
            self._at = None

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass


__all__ = ["HORIZON_INTERVAL", "SharedHorizon"]
