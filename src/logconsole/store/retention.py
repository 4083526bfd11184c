"""Retention: deleting records past the retention period, visibly.

The rule: records older than the period go, except unresolved errors and
system records that require action (:data:`RETENTION_KEEPS`).  A run deletes
in batches, one transaction each, and checkpoints the write-ahead log between
batches (:func:`logconsole.store.wal.settle`), so removing millions of records
rewrites a log the size of one batch instead of growing it by gigabytes.

Every run is recorded in the ``meta`` table under :data:`LAST_RUN_KEY`, in the
same transaction as each batch: when it started, the period and cut-off, how
many records it has removed, and when it finished (``None`` while it runs or
when it was stopped).  ``stats`` prints it and the console tells when a run
removed records, so history never disappears without a word.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from logconsole.store import groups
from logconsole.store.transaction import transaction
from logconsole.store.wal import checkpoint, settle
from logconsole.timeutil import bound_sql, format_ts, utcnow

RETENTION_KEEPS = (
    "(type = 'error' AND is_resolved = 0)",
    "(type = 'system' AND requires_action = 1)",
)
"""Records kept whatever their age (SQL conditions, any of which keeps a record)."""

MAX_RETENTION_DAYS = 365_000
"""A thousand years: the most ``--days`` / ``retention_days`` may say."""

LAST_RUN_KEY = "retention_last_run"

BATCH = 10_000
"""Records deleted per transaction."""

SETTLE_SECONDS = 5.0
"""How long a run waits between batches for readers, so the log can start afresh."""


@dataclass(frozen=True, slots=True)
class RetentionRun:
    """One retention run as recorded in ``meta``."""

    started: str
    days: float
    cutoff: str
    removed: int
    finished: str | None = None


def cutoff_for(days: float, now: datetime | None = None) -> str:
    """The stored-form time before which records are past a ``days`` period."""
    if not 0 <= days <= MAX_RETENTION_DAYS:  # also false for NaN
        raise ValueError(f"days must be between 0 and {MAX_RETENTION_DAYS}, got {days!r}")
    return format_ts((now or utcnow()) - timedelta(days=days))


def _expired_sql(cutoff: str) -> tuple[str, list[object]]:
    """The WHERE clause of the records past ``cutoff`` that retention removes."""
    older, params = bound_sql("created_at", "<", cutoff)
    return f"{older} AND NOT ({' OR '.join(RETENTION_KEEPS)})", params


def count_expired(conn: sqlite3.Connection, days: float, *, now: datetime | None = None, after_id: int = 0) -> int:
    """How many records a run now would remove (only those with an id above ``after_id``)."""
    where, params = _expired_sql(cutoff_for(days, now))
    sql = f"SELECT count(*) FROM records WHERE {where}"
    if after_id:
        sql += " AND id > ?"
        params.append(after_id)
    return int(conn.execute(sql, params).fetchone()[0])


def prune(
    conn: sqlite3.Connection, days: float, *, now: datetime | None = None, batch: int = BATCH,
    settle_seconds: float = SETTLE_SECONDS, on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete the records past ``days``, batch by batch; returns how many.

    Each batch is one transaction that also records the run so far in
    ``meta``; between batches the log is checkpointed (waiting up to
    ``settle_seconds`` for readers of older snapshots); after the last batch a
    short ``TRUNCATE`` checkpoint gives the log's space back.  ``on_batch``
    gets the running total after each batch.
    """
    cutoff = cutoff_for(days, now)
    where, params = _expired_sql(cutoff)
    run = RetentionRun(started=format_ts(utcnow()), days=float(days), cutoff=cutoff, removed=0)
    total = 0
    while True:
        with transaction(conn):
            cur = conn.execute(
                f"DELETE FROM records WHERE id IN (SELECT id FROM records WHERE {where} LIMIT ?)",
                (*params, batch),
            )
            total += cur.rowcount
            groups.refresh(conn)
            last = cur.rowcount < batch
            run = RetentionRun(run.started, run.days, cutoff, total, format_ts(utcnow()) if last else None)
            _record(conn, run)
        if on_batch is not None:
            on_batch(total)
        if last:
            break
        settle(conn, settle_seconds)
    if total:
        checkpoint(conn, "TRUNCATE")
    return total


def _record(conn: sqlite3.Connection, run: RetentionRun) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (LAST_RUN_KEY, json.dumps(asdict(run)))
    )


def last_run(conn: sqlite3.Connection) -> RetentionRun | None:
    """The latest run recorded (finished or not), or None when none was."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (LAST_RUN_KEY,)).fetchone()
    return None if row is None else parse_run(row[0])


def parse_run(text: str) -> RetentionRun | None:
    """A run as :func:`_record` stored it (in ``meta``), or None when unreadable."""
    try:
        data = json.loads(text)
        return RetentionRun(
            started=str(data["started"]), days=float(data["days"]), cutoff=str(data["cutoff"]),
            removed=int(data["removed"]), finished=data.get("finished"),
        )
    except (ValueError, KeyError, TypeError):
        return None


__all__ = [
    "BATCH", "LAST_RUN_KEY", "RETENTION_KEEPS", "RetentionRun", "count_expired", "cutoff_for",
    "last_run", "parse_run", "prune",
]
