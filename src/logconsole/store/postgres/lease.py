"""Fleet-wide duties on a shared PostgreSQL database: one collector at a time.

Several collectors (one per host) write to one database; retention must run
once for all of them, not once per host.  The one that holds a session-level
advisory lock (:data:`FLEET_LOCK`) on a connection of its own is the leader
and runs those duties; the others try again every so often.

Why a session advisory lock and not a lease row with an expiry: the server
releases the lock the moment the leader's session ends (its process killed,
its host rebooted, its connection cut), with no clock to agree on and no
expiry to tune; a row would need the leader to renew it and the others to
wait out its expiry after a crash.  The price: a leader cut off by the network
keeps the lock until the server notices the dead connection (TCP keepalives),
so :meth:`Lease.hold` also checks its connection each time and steps down
when it is gone.
"""

from __future__ import annotations

import json
import os
import socket

import psycopg

from logconsole.store.url import StoreURL
from logconsole.timeutil import format_ts, utcnow

FLEET_LOCK = 0x6C6F6763_0003
"""The advisory lock key of the fleet's leader ("logc", 3)."""
LEADER_KEY = "fleet_leader"
"""``meta`` key naming the current leader (host, pid, since): for people, not for the choice."""


class Lease:
    """Leadership of the fleet, held by a dedicated connection to ``location``."""

    def __init__(self, location: StoreURL, host: str | None = None) -> None:
        self.location = location
        self.host = host or socket.gethostname()
        self.conn: psycopg.Connection | None = None
        self.held = False

    def hold(self) -> bool:
        """Whether this process leads now: keeps the lock when it has it, takes
        it when free.  Raises ``psycopg.Error`` (or ``StoreError``) when the
        server cannot be reached; leadership is then lost until it can."""
        if self.conn is not None and self.held:
            try:
                self.conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                self._drop()
                raise
        if self.conn is None or self.conn.closed:
            from logconsole.store.postgres.store import connect

            self.conn = connect(self.location)
        try:
            row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (FLEET_LOCK,)).fetchone()
        except psycopg.Error:
            self._drop()
            raise
        self.held = bool(row and row[0])
        if self.held:
            leader = {"host": self.host, "pid": os.getpid(), "since": format_ts(utcnow())}
            self.conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                              "SET value = excluded.value", (LEADER_KEY, json.dumps(leader)))
        return self.held

    def _drop(self) -> None:
        self.held = False
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def release(self) -> None:
        """Give leadership up (closing the session releases the lock)."""
        self._drop()


__all__ = ["FLEET_LOCK", "LEADER_KEY", "Lease"]
