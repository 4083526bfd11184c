"""The one way the store writes: ``with transaction(conn): ...``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; on any exception, roll back and re-raise it.

    The connection must be in autocommit mode (``isolation_level=None``, as
    :func:`logconsole.store.db.connect` opens it).  The rollback runs only while
    a transaction is still open: after a full disk or an I/O error SQLite has
    already rolled back, and an unconditional ``ROLLBACK`` would replace the
    real error with "cannot rollback - no transaction is active".
    """
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the original error is the one to report
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise
