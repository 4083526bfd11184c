"""Helpers for the store tests: records through the real ingest step into a real file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from logconsole.ingest import normalize
from logconsole.store.writer import insert_row, insert_rows

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
"""The store tests' clock."""


def ago(days: float = 0, **kw: float) -> str:
    """An ISO time ``days`` (and ``hours=``, ``minutes=``...) before :data:`NOW`."""
    return (NOW - timedelta(days=days, **kw)).isoformat()


def add(conn: sqlite3.Connection, **record: Any) -> int:
    """Store one record through ingest; its id."""
    return insert_row(conn, normalize(record, now=NOW))


def add_many(conn: sqlite3.Connection, records: Iterable[dict[str, Any]]) -> int:
    return insert_rows(conn, [normalize(r, now=NOW) for r in records])
