"""Error groups: one row per fingerprint, kept in step with the records it counts.

Every error record carries a ``fingerprint`` (:mod:`logconsole.fingerprint`,
at ingest) and the id of its group (``group_id``).  The ``error_groups`` table
holds, per fingerprint: how many records it has, when it was first and last
seen, its latest record, the worst severity seen, how many distinct users met
it (exact up to :data:`USERS_BOUND`, then ``users_approx = 1``), the endpoints
it was seen on (ids made ``{id}``, up to :data:`MAX_ENDPOINTS`), and its
status (``open``, ``resolved``, ``regressed``, ``ignored``) with the note, who
changed it and when.

Who keeps it in step:

- **Inserts**: every writer of records (:mod:`logconsole.store.writer`: the
  collector's batches, ``import``, ``demo``, the health sampler) calls
  :func:`before_insert` and :func:`after_insert` inside the transaction that
  inserts the rows, so a count is never out of step.  The work is per batch,
  not per row: one upsert for every group the batch touches, and the rows take
  their ``group_id`` from the unique index on the fingerprint as they are
  inserted.  (A trigger per error row was the other way; it costs about the
  same at 12 % errors, ``benchmarks/bench_group_upkeep.py``, but the endpoint
  templates and the bounded users are Python, shared with the backfill, and
  a trigger would need them registered on every connection that writes.)
- **Deletes**: a trigger on ``records`` (``records_group_ad``) takes one from
  its group's count for every error deleted, whoever deletes it, and marks the
  group ``stale``; :func:`refresh` (called by ``delete``, retention and the
  console's delete in the same transaction) then reads the group's first and
  last seen, latest record and users from the records left.  A group left
  without records is removed, unless it is resolved or ignored: that decision
  is kept, so the error coming back is a regression (or stays ignored).
- **Regression** (Sentry's rule): an occurrence newer than the resolution of a
  ``resolved`` group makes it ``regressed`` and sets ``regressed_at`` to that
  occurrence's time; the new record itself stays unresolved.
- **Existing databases** get fingerprints and groups from the ``groups``
  backfill (:func:`backfill`), which the upgrade runs in short batches.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from logconsole.fingerprint import app_frame, fingerprint, template_path
from logconsole.kinds import SEVERITIES

USERS_BOUND = 1000
"""Distinct users counted exactly per group; beyond, the count is marked approximate."""
MAX_ENDPOINTS = 20
"""Distinct endpoints (with ids as ``{id}``) kept per group."""
STATUSES = ("open", "resolved", "regressed", "ignored")

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def _rank_sql(expr: str) -> str:
    whens = " ".join(f"WHEN '{s}' THEN {r}" for s, r in SEVERITY_RANK.items())
    return f"(CASE {expr} {whens} ELSE -1 END)"


# ---------------------------------------------------------------- schema


def schema_sql() -> list[str]:
    """The tables, indexes and trigger of migration 4."""
    return [
        "CREATE TABLE IF NOT EXISTS error_groups (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  fingerprint TEXT NOT NULL UNIQUE,\n"
        "  error_type TEXT,\n"
        "  message TEXT,\n"
        "  culprit TEXT,\n"
        "  count INTEGER NOT NULL DEFAULT 0,\n"
        "  first_seen TEXT,\n"
        "  last_seen TEXT,\n"
        "  latest_id INTEGER,\n"
        "  severity TEXT,\n"
        "  users INTEGER NOT NULL DEFAULT 0,\n"
        "  users_approx INTEGER NOT NULL DEFAULT 0,\n"
        "  endpoints TEXT NOT NULL DEFAULT '[]',\n"
        "  status TEXT NOT NULL DEFAULT 'open',\n"
        "  note TEXT,\n"
        "  status_by TEXT,\n"
        "  status_at TEXT,\n"
        "  regressed_at TEXT,\n"
        "  stale INTEGER NOT NULL DEFAULT 0\n"
        ")",
        "CREATE TABLE IF NOT EXISTS error_group_users (\n"
        "  group_id INTEGER NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (group_id, user_id)\n"
        ") WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS idx_records_group ON records (group_id, created_at) WHERE group_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS idx_groups_last ON error_groups (last_seen, id)",
        "CREATE INDEX IF NOT EXISTS idx_groups_first ON error_groups (first_seen, id)",
        "CREATE INDEX IF NOT EXISTS idx_groups_count ON error_groups (count, id)",
        "CREATE INDEX IF NOT EXISTS idx_groups_users ON error_groups (users, id)",
        "CREATE INDEX IF NOT EXISTS idx_groups_stale ON error_groups (stale) WHERE stale = 1",
        "CREATE TRIGGER IF NOT EXISTS records_group_ad AFTER DELETE ON records WHEN old.group_id IS NOT NULL "
        "BEGIN UPDATE error_groups SET count = count - 1, stale = 1 WHERE id = old.group_id; END",
    ]


GROUP_ID_SQL = "(SELECT id FROM error_groups WHERE fingerprint = {fp})"
"""How an inserted row finds its group: ``{fp}`` is the SQL of its fingerprint value."""


# ---------------------------------------------------------------- a batch


@dataclass(slots=True)
class _Group:
    """What one batch adds to one group."""

    fingerprint: str
    error_type: str | None
    message: str | None
    stack: str | None
    count: int = 0
    first: str = ""
    last: str = ""
    latest_at: int = -1
    """Index in the batch of the latest occurrence."""
    severity: str | None = None
    endpoints: dict[str, None] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    open: bool = False
    resolved: tuple[Any, Any, Any] | None = None
    """``(note, by, at)`` of the batch's latest resolved occurrence (backfill only)."""


def fingerprint_missing(rows: Iterable[dict[str, Any]]) -> None:
    """Give each error row without a fingerprint its default one (rows made by
    a release before fingerprints: a spill file replayed after an upgrade)."""
    for row in rows:
        if row.get("type") == "error" and row.get("fingerprint") is None:
            row["fingerprint"] = fingerprint(row)


def _gather(rows: Sequence[dict[str, Any]]) -> dict[str, _Group]:
    groups: dict[str, _Group] = {}
    for i, row in enumerate(rows):
        fp = row.get("fingerprint")
        if fp is None or row.get("type") != "error":
            continue
        g = groups.get(fp)
        at = row["created_at"]
        if g is None:
            g = groups[fp] = _Group(fp, row.get("error_type"), row.get("message"), row.get("stack"), first=at, last=at)
        g.count += 1
        if at < g.first:
            g.first = at
        if at >= g.last:
            g.last, g.latest_at = at, i
        sev = row.get("severity")
        if sev is not None and SEVERITY_RANK.get(sev, -1) > SEVERITY_RANK.get(g.severity or "", -1):
            g.severity = sev
        endpoint = row.get("endpoint")
        if endpoint and len(g.endpoints) < MAX_ENDPOINTS:
            g.endpoints[template_path(str(endpoint))] = None
        user = row.get("user_id")
        if user is not None and len(g.users) <= USERS_BOUND:
            g.users.add(str(user))
        if row.get("is_resolved"):
            if g.resolved is None or (row.get("resolved_at") or "") >= (g.resolved[2] or ""):
                g.resolved = (row.get("resolution"), row.get("resolved_by"), row.get("resolved_at"))
        else:
            g.open = True
    return groups


def _culprit(g: _Group) -> str | None:
    frame = app_frame(g.stack) if isinstance(g.stack, str) and g.stack else None
    return str(frame) if frame is not None else None


def _upsert_sql(backfill: bool) -> str:
    if backfill:
        # History, not news: a group some of whose stored errors are open is open.
        status = "CASE WHEN status = 'resolved' AND excluded.status = 'open' THEN 'open' ELSE status END"
        regressed = "regressed_at"
        reopened = "status = 'resolved' AND excluded.status = 'open'"
        note = f"CASE WHEN {reopened} THEN NULL ELSE note END"
        by = f"CASE WHEN {reopened} THEN NULL ELSE status_by END"
        at = f"CASE WHEN {reopened} THEN NULL ELSE status_at END"
    else:
        newer = "status = 'resolved' AND excluded.last_seen > coalesce(status_at, '')"
        status = f"CASE WHEN {newer} THEN 'regressed' ELSE status END"
        regressed = (f"CASE WHEN {newer} THEN (CASE WHEN excluded.first_seen > coalesce(status_at, '') "
                     "THEN excluded.first_seen ELSE excluded.last_seen END) ELSE regressed_at END")
        note, by, at = "note", "status_by", "status_at"
    return (
        "INSERT INTO error_groups (fingerprint, error_type, message, culprit, count, first_seen, last_seen, "
        "severity, endpoints, status, note, status_by, status_at) "
        "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5, "
        "j.value ->> 6, j.value ->> 7, j.value ->> 8, j.value ->> 9, j.value ->> 10, j.value ->> 11, "
        "j.value ->> 12 FROM json_each(?) AS j WHERE true "
        "ON CONFLICT (fingerprint) DO UPDATE SET "
        "count = count + excluded.count, "
        "first_seen = CASE WHEN first_seen IS NULL OR excluded.first_seen < first_seen "
        "THEN excluded.first_seen ELSE first_seen END, "
        "last_seen = CASE WHEN last_seen IS NULL OR excluded.last_seen > last_seen "
        "THEN excluded.last_seen ELSE last_seen END, "
        f"severity = CASE WHEN {_rank_sql('excluded.severity')} > {_rank_sql('severity')} "
        "THEN excluded.severity ELSE severity END, "
        "endpoints = CASE WHEN excluded.endpoints = '[]' OR json_array_length(endpoints) >= "
        f"{MAX_ENDPOINTS} THEN endpoints ELSE (SELECT json_group_array(value) FROM (SELECT value FROM "
        "json_each(error_groups.endpoints) UNION SELECT value FROM json_each(excluded.endpoints) "
        f"LIMIT {MAX_ENDPOINTS})) END, "
        f"note = {note}, status_by = {by}, status_at = {at}, status = {status}, regressed_at = {regressed}"
    )


_UPSERT = {False: _upsert_sql(False), True: _upsert_sql(True)}

_LATEST_SQL = (
    "UPDATE error_groups SET latest_id = j.value ->> 1 FROM json_each(?) AS j "
    "WHERE error_groups.fingerprint = j.value ->> 0 AND error_groups.last_seen = j.value ->> 2"
)
_USERS_SQL = (
    "INSERT OR IGNORE INTO error_group_users (group_id, user_id) "
    "SELECT g.id, j.value ->> 1 FROM json_each(?) AS j "
    "JOIN error_groups AS g ON g.fingerprint = j.value ->> 0 WHERE g.users_approx = 0"
)
_USERS_COUNT_SQL = (
    "UPDATE error_groups SET users = u.n, users_approx = u.n >= ? FROM "
    "(SELECT group_id, count(*) AS n FROM error_group_users WHERE group_id IN "
    "(SELECT id FROM error_groups WHERE fingerprint IN (SELECT value FROM json_each(?))) GROUP BY group_id) AS u "
    "WHERE error_groups.id = u.group_id AND error_groups.users_approx = 0"
)


@dataclass(slots=True)
class GroupEvent:
    """News a batch made about a group: ``new_group`` (its first error) or
    ``regression`` (an error newer than the group's resolution)."""

    kind: str
    group_id: int
    fingerprint: str
    record_id: int = 0
    """The batch's latest error of the group (set by :func:`after_insert`)."""


@dataclass(slots=True)
class Pending:
    """What :func:`before_insert` gathered for :func:`after_insert`."""

    groups: dict[str, _Group]
    events: list[GroupEvent] = field(default_factory=list)


_STATUS_SQL = "SELECT fingerprint, status FROM error_groups WHERE fingerprint IN (SELECT value FROM json_each(?))"


def before_insert(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]], *, backfill: bool = False) -> Pending | None:
    """Add ``rows``' errors to their groups (creating the groups they lack);
    call inside the transaction that inserts them, before the insert, so each
    row finds its group by fingerprint (:data:`GROUP_ID_SQL`).

    ``backfill`` derives a new group's status from its stored errors (resolved
    when all of them are), instead of treating the rows as news.
    """
    groups = _gather(rows)
    if not groups:
        return None
    entries = []
    for g in groups.values():
        status, note, by, at = "open", None, None, None
        if backfill and not g.open and g.resolved is not None:
            status, (note, by, at) = "resolved", g.resolved
        entries.append((
            g.fingerprint, g.error_type, g.message, _culprit(g), g.count, g.first, g.last, g.severity,
            json.dumps(list(g.endpoints), ensure_ascii=False), status, note, by, at,
        ))
    payload = json.dumps(entries, ensure_ascii=False)
    if backfill:
        conn.execute(_UPSERT[True], (payload,))
        return Pending(groups)
    # What the batch changed, for alerts: the statuses before, and after (RETURNING).
    before = dict(conn.execute(_STATUS_SQL, (json.dumps(list(groups), ensure_ascii=False),)).fetchall())
    events = []
    for fp, group_id, status in conn.execute(_UPSERT[False] + " RETURNING fingerprint, id, status", (payload,)).fetchall():
        if fp not in before:
            events.append(GroupEvent("new_group", int(group_id), fp))
        elif before[fp] == "resolved" and status == "regressed":
            events.append(GroupEvent("regression", int(group_id), fp))
    return Pending(groups, events)


def after_insert(conn: sqlite3.Connection, pending: Pending | None, ids: Sequence[int]) -> None:
    """Finish what :func:`before_insert` began, now that the rows have ids
    (``ids[i]`` is the id of the batch's row ``i``): latest records and users."""
    if pending is None:
        return
    for event in pending.events:
        event.record_id = ids[pending.groups[event.fingerprint].latest_at]
    groups = pending.groups.values()
    conn.execute(_LATEST_SQL, (json.dumps([(g.fingerprint, ids[g.latest_at], g.last) for g in groups]),))
    pairs = [(g.fingerprint, u) for g in groups for u in g.users]
    if pairs:
        conn.execute(_USERS_SQL, (json.dumps(pairs, ensure_ascii=False),))
        touched = [g.fingerprint for g in groups if g.users]
        conn.execute(_USERS_COUNT_SQL, (USERS_BOUND, json.dumps(touched, ensure_ascii=False)))


# ---------------------------------------------------------------- deletes


def refresh(conn: sqlite3.Connection) -> int:
    """Bring the groups that lost records (marked ``stale`` by the delete
    trigger) up to date from the records left; call in the transaction that
    deleted them.  Returns how many groups it looked at."""
    stale = [r[0] for r in conn.execute("SELECT id FROM error_groups WHERE stale = 1")]
    for gid in stale:
        n = conn.execute("SELECT count(*) FROM records WHERE group_id = ?", (gid,)).fetchone()[0]
        if n == 0:
            conn.execute("DELETE FROM error_groups WHERE id = ? AND status NOT IN ('resolved', 'ignored')", (gid,))
            conn.execute(
                "UPDATE error_groups SET count = 0, users = 0, users_approx = 0, latest_id = NULL, stale = 0 "
                "WHERE id = ?", (gid,))
            conn.execute("DELETE FROM error_group_users WHERE group_id = ?", (gid,))
            continue
        first = conn.execute("SELECT min(created_at) FROM records WHERE group_id = ?", (gid,)).fetchone()[0]
        latest = conn.execute(
            "SELECT id, created_at FROM records WHERE group_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
            (gid,)).fetchone()
        conn.execute("DELETE FROM error_group_users WHERE group_id = ?", (gid,))
        conn.execute(
            "INSERT INTO error_group_users (group_id, user_id) SELECT DISTINCT ?, user_id FROM records "
            "WHERE group_id = ? AND user_id IS NOT NULL LIMIT ?", (gid, gid, USERS_BOUND))
        users = conn.execute("SELECT count(*) FROM error_group_users WHERE group_id = ?", (gid,)).fetchone()[0]
        conn.execute(
            "UPDATE error_groups SET count = ?, first_seen = ?, last_seen = ?, latest_id = ?, users = ?, "
            "users_approx = ?, stale = 0 WHERE id = ?",
            (n, first, latest[1], latest[0], users, int(users >= USERS_BOUND), gid))
    return len(stale)


# ---------------------------------------------------------------- existing records


_BACKFILL_COLUMNS = (
    "id", "type", "created_at", "severity", "error_type", "message", "stack", "endpoint", "user_id",
    "is_resolved", "resolution", "resolved_by", "resolved_at", "fingerprint",
)


def backfill(conn: sqlite3.Connection, after_id: int, up_to_id: int) -> None:
    """Fingerprint and group the errors with ``after_id < id <= up_to_id`` that
    have no group yet (a :class:`~logconsole.store.migrations.Backfill`: rows the
    writer grouped meanwhile are left alone, so it is harmless to repeat)."""
    cur = conn.execute(
        f"SELECT {', '.join(_BACKFILL_COLUMNS)} FROM records "
        "WHERE id > ? AND id <= ? AND type = 'error' AND group_id IS NULL ORDER BY id", (after_id, up_to_id))
    rows = [dict(zip(_BACKFILL_COLUMNS, r)) for r in cur]
    if not rows:
        return
    for row in rows:
        if not row["fingerprint"]:
            row["fingerprint"] = fingerprint(row)
    pending = before_insert(conn, rows, backfill=True)
    conn.execute(
        "UPDATE records SET fingerprint = j.value ->> 1, group_id = "
        f"{GROUP_ID_SQL.format(fp='j.value ->> 1')} FROM json_each(?) AS j WHERE records.id = j.value ->> 0",
        (json.dumps([(r["id"], r["fingerprint"]) for r in rows], ensure_ascii=False),))
    after_insert(conn, pending, [r["id"] for r in rows])


__all__ = [
    "GROUP_ID_SQL", "MAX_ENDPOINTS", "Pending", "STATUSES", "USERS_BOUND", "after_insert", "backfill",
    "before_insert", "fingerprint_missing", "refresh", "schema_sql",
]
