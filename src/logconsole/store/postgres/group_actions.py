"""Resolving, reopening and ignoring a whole error group in PostgreSQL, by
the rules of :mod:`logconsole.store.actions` (which runs them on SQLite):
the group's status, note, who and when, and its records, in one transaction."""

from __future__ import annotations

from datetime import datetime

import psycopg

from logconsole.store.actions import GroupOutcome
from logconsole.timeutil import format_ts, utcnow


def _group_action(conn: psycopg.Connection, group_id: int, status: str, note: str | None, by: str | None,
                  ts: str, records_sql: str | None, records_params: tuple[object, ...] = ()) -> GroupOutcome | None:
    with conn.transaction():
        row = conn.execute("SELECT status FROM error_groups WHERE id = %s FOR UPDATE", (group_id,)).fetchone()
        if row is None:
            return None
        changed = 0
        if records_sql is not None:
            changed = conn.execute(records_sql, (*records_params, group_id)).rowcount  # type: ignore[arg-type]
        conn.execute(
            "UPDATE error_groups SET status = %s, note = %s, status_by = %s, status_at = %s::timestamptz "
            "WHERE id = %s", (status, note, by, ts, group_id))
    return GroupOutcome(group_id, row[0], status, changed)


def resolve_group(conn: psycopg.Connection, group_id: int, *, note: str | None = None, by: str | None = None,
                  now: datetime | None = None) -> GroupOutcome | None:
    """:func:`logconsole.store.actions.resolve_group` on PostgreSQL."""
    ts = format_ts(now or utcnow())
    return _group_action(
        conn, group_id, "resolved", note, by, ts,
        "UPDATE records SET is_resolved = true, resolution = %s, resolved_at = %s::timestamptz, resolved_by = %s "
        "WHERE group_id = %s AND type = 'error' AND is_resolved = false", (note, ts, by))


def unresolve_group(conn: psycopg.Connection, group_id: int, *, by: str | None = None,
                    now: datetime | None = None) -> GroupOutcome | None:
    """:func:`logconsole.store.actions.unresolve_group` on PostgreSQL."""
    return _group_action(
        conn, group_id, "open", None, by, format_ts(now or utcnow()),
        "UPDATE records SET is_resolved = false, resolution = NULL, resolved_at = NULL, resolved_by = NULL "
        "WHERE group_id = %s AND type = 'error' AND is_resolved = true AND resolved_at = "
        "(SELECT status_at FROM error_groups WHERE id = %s AND status IN ('resolved', 'regressed'))",
        (group_id,))


def ignore_group(conn: psycopg.Connection, group_id: int, *, note: str | None = None, by: str | None = None,
                 now: datetime | None = None) -> GroupOutcome | None:
    """:func:`logconsole.store.actions.ignore_group` on PostgreSQL."""
    return _group_action(conn, group_id, "ignored", note, by, format_ts(now or utcnow()), None)


__all__ = ["ignore_group", "resolve_group", "unresolve_group"]
