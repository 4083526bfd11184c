"""Changing what is stored: resolve, unresolve, delete (retention is :mod:`.retention`),
for records and for error groups.

Record and group decisions are kept apart on purpose: resolving, reopening or
deleting records one by one never changes their group's status (resolving the
last open occurrence leaves the group ``open``; the group is resolved by
:func:`resolve_group`).  A group's status is a decision about the error, taken
on the group; its counts follow the records (:mod:`.groups`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from logconsole.store import groups
from logconsole.store.query import Filter, where_sql
from logconsole.store.retention import RETENTION_KEEPS, prune
from logconsole.store.transaction import transaction
from logconsole.timeutil import format_ts, utcnow

__all__ = [
    "GroupOutcome", "Outcome", "RETENTION_KEEPS", "delete_ids", "delete_matching", "ignore_group", "prune",
    "resolve", "resolve_group", "unresolve", "unresolve_group",
]


@dataclass(slots=True)
class Outcome:
    """What an action did to the ids it was given."""

    changed: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    """Ids with no record."""
    skipped: list[int] = field(default_factory=list)
    """Ids whose record the action does not apply to (not an error, already so)."""

    @classmethod
    def of(cls, wanted: Iterable[int], applies: Mapping[int, bool]) -> Outcome:
        """Each wanted id sorted out by ``applies`` (id -> whether the action
        changes its record; an id absent from it has no record)."""
        out = cls()
        for i in wanted:
            if i not in applies:
                out.missing.append(i)
            elif applies[i]:
                out.changed.append(i)
            else:
                out.skipped.append(i)
        return out


def _ids_json(ids: Iterable[int]) -> str:
    return json.dumps(sorted({int(i) for i in ids}))


def _set_resolved(
    conn: sqlite3.Connection, ids: Iterable[int], resolved: bool,
    note: str | None, by: str | None, now: datetime | None,
) -> Outcome:
    wanted = _ids_json(ids)
    with transaction(conn):
        found = dict(conn.execute(
            "SELECT id, type = 'error' AND is_resolved IS NOT ? FROM records "
            "WHERE id IN (SELECT value FROM json_each(?))", (int(resolved), wanted),
        ).fetchall())
        out = Outcome.of(json.loads(wanted), found)
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
        groups.refresh(conn)
    return out


def delete_matching(conn: sqlite3.Connection, flt: Filter) -> int:
    """Delete every record the filter matches; returns how many."""
    where, params = where_sql(conn, flt)
    with transaction(conn):
        cur = conn.execute(f"DELETE FROM records WHERE {where}", params)
        groups.refresh(conn)
    return cur.rowcount


# ---------------------------------------------------------------- groups


@dataclass(slots=True)
class GroupOutcome:
    """What a group action did: the group's status before and after, and how
    many of its records changed with it."""

    group_id: int
    before: str
    after: str
    records: int


def _group_action(
    conn: sqlite3.Connection, group_id: int, status: str, note: str | None, by: str | None,
    ts: str, records_sql: str | None, records_params: tuple[object, ...] = (),
) -> GroupOutcome | None:
    """Set a group's status (with note, who and when ``ts``) and update its
    records with ``records_sql`` in one transaction; ``None`` when there is no
    such group."""
    with transaction(conn):
        row = conn.execute("SELECT status FROM error_groups WHERE id = ?", (group_id,)).fetchone()
        if row is None:
            return None
        changed = 0
        if records_sql is not None:
            changed = conn.execute(records_sql, (*records_params, group_id)).rowcount
        conn.execute(
            "UPDATE error_groups SET status = ?, note = ?, status_by = ?, status_at = ? WHERE id = ?",
            (status, note, by, ts, group_id))
    return GroupOutcome(group_id, row[0], status, changed)


def resolve_group(
    conn: sqlite3.Connection, group_id: int, *, note: str | None = None, by: str | None = None,
    now: datetime | None = None,
) -> GroupOutcome | None:
    """Resolve a group and, in the same transaction, its unresolved records
    (with the same note, who and when).  An occurrence newer than this makes
    the group ``regressed``."""
    ts = format_ts(now or utcnow())
    return _group_action(
        conn, group_id, "resolved", note, by, ts,
        "UPDATE records SET is_resolved = 1, resolution = ?, resolved_at = ?, resolved_by = ? "
        "WHERE group_id = ? AND type = 'error' AND is_resolved = 0", (note, ts, by))


def unresolve_group(
    conn: sqlite3.Connection, group_id: int, *, by: str | None = None, now: datetime | None = None,
) -> GroupOutcome | None:
    """Reopen a group (resolved, regressed or ignored), and the records its
    resolution resolved (records resolved one by one stay resolved)."""
    return _group_action(
        conn, group_id, "open", None, by, format_ts(now or utcnow()),
        "UPDATE records SET is_resolved = 0, resolution = NULL, resolved_at = NULL, resolved_by = NULL "
        "WHERE group_id = ?1 AND type = 'error' AND is_resolved = 1 AND resolved_at = "
        "(SELECT status_at FROM error_groups WHERE id = ?1 AND status IN ('resolved', 'regressed'))")


def ignore_group(
    conn: sqlite3.Connection, group_id: int, *, note: str | None = None, by: str | None = None,
    now: datetime | None = None,
) -> GroupOutcome | None:
    """Hide a group from the default group list; its records stay as they are
    and it keeps counting new ones (``unresolve_group`` shows it again)."""
    return _group_action(conn, group_id, "ignored", note, by, format_ts(now or utcnow()), None)
