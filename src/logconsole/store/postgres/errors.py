"""What went wrong with a PostgreSQL database, said in one line that names it.

The PostgreSQL counterpart of :mod:`logconsole.store.errors`: psycopg's
messages are several lines (the server's text, a detail, a hint); the
collector and the commands need the condition and where, as
``postgresql://logs@db/logs: the server is unreachable (connection refused)``,
with the password never shown.  :func:`is_transient` tells a condition that
passes (a server restarting, a connection dropped, a deadlock, a full disk)
from one that will not (a permission refused, a bug in a statement).
"""

from __future__ import annotations

import psycopg
from psycopg import errors as e

from logconsole.store.url import StoreURL

_TRANSIENT_STATES = (
    "08",  # connection exception
    "40",  # transaction rollback: serialization failure, deadlock
    "53",  # insufficient resources: disk full, out of memory, too many connections
    "57P",  # operator intervention: admin shutdown, crash shutdown, cannot connect now
    "58",  # system error (I/O)
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone and a new one is needed."""
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
        exc, (e.QueryCanceled, e.LockNotAvailable))


def is_transient(exc: BaseException) -> bool:
    """Whether waiting (and connecting again) may cure it."""
    if not isinstance(exc, psycopg.Error):
        return False
    state = exc.sqlstate or ""
    if state.startswith(_TRANSIENT_STATES):
        return True
    return connection_lost(exc)


def describe(exc: BaseException, location: StoreURL) -> str:
    """One line a person can act on, naming the (redacted) database."""
    where = location.redacted()
    state = getattr(exc, "sqlstate", None) or ""
    reason = _first_line(exc)
    if isinstance(exc, (e.AdminShutdown, e.CrashShutdown, e.CannotConnectNow)):
        return f"{where}: the server is shutting down or restarting ({reason})"
    if state.startswith("53"):
        return f"{where}: the server is out of resources ({reason})"
    if isinstance(exc, e.InsufficientPrivilege):
        return f"{where}: permission denied ({reason})"
    if connection_lost(exc):
        return f"{where}: the connection to the server was lost ({reason})"
    return f"{where}: database error: {reason}"


__all__ = ["connection_lost", "describe", "is_transient"]
