"""Changing what is stored: resolve, unresolve, delete, retention."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from logconsole.store.query import Filter, where_sql
from logconsole.store.transaction import transaction
from logconsole.timeutil import bound_sql, format_ts, utcnow


@dataclass(slots=True)
class Outcome:
    """What an action did to the ids it was given."""

    changed: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    """Ids with no record."""
    skipped: list[int] = field(default_factory=list)
    """Ids whose record the action does not apply to (not an error, already so)."""


def _ids_json(ids: Iterable[int]) -> str:
    return json.dumps(sorted({int(i) for i in ids}))


def _set_resolved(
    conn: sqlite3.Connection, ids: Iterable[int], resolved: bool,
    note: str | None, by: str | None, now: datetime | None,
) -> Outcome:
    wanted = _ids_json(ids)
    out = Outcome()
    with transaction(conn):
        found = dict(conn.execute(
            "SELECT id, type = 'error' AND is_resolved IS NOT ? FROM records "
            "WHERE id IN (SELECT value FROM json_each(?))", (int(resolved), wanted),
        ).fetchall())
        for i in json.loads(wanted):
            if i not in found:
                out.missing.append(i)
            elif found[i]:
                out.changed.append(i)
            else:
                out.skipped.append(i)
        if out.changed:
            ts = format_ts(now or utcnow()) if resolved else None
            conn.execute(
                "UPDATE records SET is_resolved = ?, resolution = ?, resolved_at = ?, resolved_by = ? "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (int(resolved), note if resolved else None, ts, by if resolved else None,
                 json.dumps(out.changed)),
            )
    return out


def resolve(
    conn: sqlite3.Connection, ids: Iterable[int], *, note: str | None = None,
    by: str | None = None, now: datetime | None = None,
) -> Outcome:
    """Mark error records resolved with a note; other kinds and resolved ones are skipped."""
    return _set_resolved(conn, ids, True, note, by, now)


def unresolve(conn: sqlite3.Connection, ids: Iterable[int]) -> Outcome:
    """Reopen resolved errors, clearing the note, who and when."""
    return _set_resolved(conn, ids, False, None, None, None)


def delete_ids(conn: sqlite3.Connection, ids: Iterable[int]) -> Outcome:
    wanted = _ids_json(ids)
    out = Outcome()
    with transaction(conn):
        found = {r[0] for r in conn.execute(
            "SELECT id FROM records WHERE id IN (SELECT value FROM json_each(?))", (wanted,))}
        for i in json.loads(wanted):
            (out.changed if i in found else out.missing).append(i)
        conn.execute("DELETE FROM records WHERE id IN (SELECT value FROM json_each(?))", (wanted,))
    return out


def delete_matching(conn: sqlite3.Connection, flt: Filter) -> int:
    """Delete every record the filter matches; returns how many."""
    where, params = where_sql(conn, flt)
    with transaction(conn):
        cur = conn.execute(f"DELETE FROM records WHERE {where}", params)
    return cur.rowcount


RETENTION_KEEPS = (
    "(type = 'error' AND is_resolved = 0)",
    "(type = 'system' AND requires_action = 1)",
)
MAX_RETENTION_DAYS = 365_000
"""A thousand years: the most ``--days`` / ``retention_days`` may say."""


def _prunable(days: float, now: datetime | None) -> tuple[str, list[object]]:
    """The WHERE clause of the records retention removes: older than ``days``,
    except unresolved errors and system records that require action."""
    if not 0 <= days <= MAX_RETENTION_DAYS:  # also false for NaN
        raise ValueError(f"days must be between 0 and {MAX_RETENTION_DAYS}, got {days!r}")
    cutoff = format_ts((now or utcnow()) - timedelta(days=days))
    older, params = bound_sql("created_at", "<", cutoff)
    return f"{older} AND NOT ({' OR '.join(RETENTION_KEEPS)})", params


def count_prunable(conn: sqlite3.Connection, days: float, *, now: datetime | None = None) -> int:
    """How many records :func:`prune` would delete now."""
    where, params = _prunable(days, now)
    return int(conn.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()[0])


def prune(
    conn: sqlite3.Connection, days: float, *, now: datetime | None = None, batch: int = 20_000,
) -> int:
    """Delete records older than ``days``, except unresolved errors and system
    records that require action.  Works in batches so writers are not held up."""
    where, params = _prunable(days, now)
    total = 0
    while True:
        with transaction(conn):
            cur = conn.execute(
                f"DELETE FROM records WHERE id IN (SELECT id FROM records WHERE {where} LIMIT ?)",
                (*params, batch),
            )
        total += cur.rowcount
        if cur.rowcount < batch:
            return total
