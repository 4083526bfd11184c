"""Error groups kept in step with the records, in PostgreSQL.

The rules are :mod:`logconsole.store.groups`' (its docstring says them): what
a batch adds to each group is gathered by the same code (``_gather``,
fingerprints from :mod:`logconsole.fingerprint`); only the SQL is
PostgreSQL's.  Deletes are counted by a statement-level trigger
(:data:`logconsole.store.postgres.schema.GROUPS_SQL`) that marks groups
``stale``; :func:`refresh` then reads them again from the records left.

Concurrent writers: the upsert takes the groups' row locks in fingerprint
order, so two collectors' batches never deadlock on them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg

from logconsole.store.groups import (
    MAX_ENDPOINTS, USERS_BOUND, GroupEvent, Pending, _culprit, _gather, _rank_sql,
)

_UPSERT = (
    "INSERT INTO error_groups AS g (fingerprint, error_type, message, culprit, count, first_seen, last_seen, "
    "severity, endpoints) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::timestamptz[], "
    "%s::timestamptz[], %s::text[], %s::text[]) "
    "ON CONFLICT (fingerprint) DO UPDATE SET "
    "count = g.count + excluded.count, "
    "first_seen = least(g.first_seen, excluded.first_seen), "
    "last_seen = greatest(g.last_seen, excluded.last_seen), "
    f"severity = CASE WHEN {_rank_sql('excluded.severity')} > {_rank_sql('g.severity')} "
    "THEN excluded.severity ELSE g.severity END, "
    "endpoints = CASE WHEN excluded.endpoints = '[]' OR json_array_length(g.endpoints::json) >= "
    f"{MAX_ENDPOINTS} THEN g.endpoints ELSE (SELECT '[' || string_agg(to_json(v)::text, ',' ORDER BY v "
    "COLLATE \"C\") || ']' FROM (SELECT v FROM (SELECT json_array_elements_text(g.endpoints::json) AS v "
    "UNION SELECT json_array_elements_text(excluded.endpoints::json)) AS u ORDER BY v COLLATE \"C\" "
    f"LIMIT {MAX_ENDPOINTS}) AS e) END, "
    "status = CASE WHEN g.status = 'resolved' AND excluded.last_seen > coalesce(g.status_at, '-infinity') "
    "THEN 'regressed' ELSE g.status END, "
    "regressed_at = CASE WHEN g.status = 'resolved' AND excluded.last_seen > coalesce(g.status_at, '-infinity') "
    "THEN (CASE WHEN excluded.first_seen > coalesce(g.status_at, '-infinity') THEN excluded.first_seen "
    "ELSE excluded.last_seen END) ELSE g.regressed_at END "
    "RETURNING g.fingerprint, g.id, g.status, (xmax = 0) AS inserted"
)

_BEFORE = "SELECT fingerprint, status FROM error_groups WHERE fingerprint = ANY(%s) ORDER BY fingerprint FOR UPDATE"

_LATEST = (
    "UPDATE error_groups AS g SET latest_id = v.id FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[]) "
    "AS v(fp, id, last) WHERE g.fingerprint = v.fp AND g.last_seen = v.last"
)
_USERS = (
    "INSERT INTO error_group_users (group_id, user_id) SELECT g.id, v.u FROM unnest(%s::text[], %s::text[]) "
    "AS v(fp, u) JOIN error_groups AS g ON g.fingerprint = v.fp WHERE g.users_approx = 0 ON CONFLICT DO NOTHING"
)
_USERS_COUNT = (
    "UPDATE error_groups AS g SET users = u.n, users_approx = (u.n >= %s)::int FROM "
    "(SELECT group_id, count(*) AS n FROM error_group_users WHERE group_id = ANY(%s) GROUP BY group_id) AS u "
    "WHERE g.id = u.group_id AND g.users_approx = 0"
)


def before_insert(conn: psycopg.Connection, rows: Sequence[dict[str, Any]]) -> tuple[Pending | None, dict[str, int]]:
    """Add ``rows``' errors to their groups (creating the groups they lack),
    in the transaction that inserts them; the pending work for
    :func:`after_insert` and each fingerprint's group id."""
    gathered = _gather(rows)
    if not gathered:
        return None, {}
    ordered = sorted(gathered.values(), key=lambda g: g.fingerprint)
    fps = [g.fingerprint for g in ordered]
    before = dict(conn.execute(_BEFORE, (fps,)).fetchall())
    cols: list[list[Any]] = [fps, [g.error_type for g in ordered], [g.message for g in ordered],
                             [_culprit(g) for g in ordered], [g.count for g in ordered],
                             [g.first for g in ordered], [g.last for g in ordered], [g.severity for g in ordered],
                             [json.dumps(list(g.endpoints), ensure_ascii=False) for g in ordered]]
    ids: dict[str, int] = {}
    events = []
    for fp, group_id, status, inserted in conn.execute(_UPSERT, cols).fetchall():
        ids[fp] = int(group_id)
        if inserted and fp not in before:
            events.append(GroupEvent("new_group", int(group_id), fp))
        elif before.get(fp) == "resolved" and status == "regressed":
            events.append(GroupEvent("regression", int(group_id), fp))
    return Pending(gathered, events), ids


def after_insert(conn: psycopg.Connection, pending: Pending | None, ids: Sequence[int]) -> None:
    """Latest records and users, now that the rows have ids (``ids[i]`` is row ``i``'s)."""
    if pending is None:
        return
    for event in pending.events:
        event.record_id = ids[pending.groups[event.fingerprint].latest_at]
    gs = list(pending.groups.values())
    conn.execute(_LATEST, ([g.fingerprint for g in gs], [ids[g.latest_at] for g in gs], [g.last for g in gs]))
    pairs = [(g.fingerprint, u) for g in gs for u in g.users]
    if pairs:
        conn.execute(_USERS, ([p[0] for p in pairs], [p[1] for p in pairs]))
        touched = conn.execute("SELECT id FROM error_groups WHERE fingerprint = ANY(%s)",
                               ([g.fingerprint for g in gs if g.users],)).fetchall()
        conn.execute(_USERS_COUNT, (USERS_BOUND, [r[0] for r in touched]))


def refresh(conn: psycopg.Connection) -> int:
    """Bring the groups that lost records up to date (call in the deleting transaction)."""
    stale = [r[0] for r in conn.execute("SELECT id FROM error_groups WHERE stale = 1 ORDER BY id FOR UPDATE")]
    for gid in stale:
        n = conn.execute("SELECT count(*) FROM records WHERE group_id = %s", (gid,)).fetchone()[0]  # type: ignore[index]
        conn.execute("DELETE FROM error_group_users WHERE group_id = %s", (gid,))
        if n == 0:
            conn.execute("DELETE FROM error_groups WHERE id = %s AND status NOT IN ('resolved', 'ignored')", (gid,))
            conn.execute("UPDATE error_groups SET count = 0, users = 0, users_approx = 0, latest_id = NULL, "
                         "stale = 0 WHERE id = %s", (gid,))
            continue
        first = conn.execute("SELECT min(created_at) FROM records WHERE group_id = %s", (gid,)).fetchone()[0]  # type: ignore[index]
        latest = conn.execute("SELECT id, created_at FROM records WHERE group_id = %s "
                              "ORDER BY created_at DESC, id DESC LIMIT 1", (gid,)).fetchone()
        assert latest is not None
        conn.execute("INSERT INTO error_group_users (group_id, user_id) SELECT %s, u FROM (SELECT DISTINCT user_id "
                     "AS u FROM records WHERE group_id = %s AND user_id IS NOT NULL LIMIT %s) AS d",
                     (gid, gid, USERS_BOUND))
        users = conn.execute("SELECT count(*) FROM error_group_users WHERE group_id = %s", (gid,)).fetchone()[0]  # type: ignore[index]
        conn.execute("UPDATE error_groups SET count = %s, first_seen = %s, last_seen = %s, latest_id = %s, "
                     "users = %s, users_approx = %s, stale = 0 WHERE id = %s",
                     (n, first, latest[1], latest[0], users, int(users >= USERS_BOUND), gid))
    return len(stale)


__all__ = ["after_insert", "before_insert", "refresh"]
