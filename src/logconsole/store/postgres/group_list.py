"""The error-group list in PostgreSQL's SQL: what the console's group view
reads (pages in every sort, counts, the status headline, hourly trends) and
the group actions it runs (resolve, reopen, ignore with a note).

Meanings follow :mod:`logconsole.store.group_query` and the group actions of
:mod:`logconsole.store.actions`: the same :class:`~logconsole.store.group_query.GroupFilter`,
the same sorts and cursors (NULL times last descending, first ascending), the
same statuses.  Rows come out in the row form, times as stored text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from logconsole.store.actions import GroupOutcome
from logconsole.store.group_query import (
    GROUP_FIELDS, LATEST_FIRST, SORTS, TREND_HOURS, GroupFilter, GroupSort,
)
from logconsole.store.groups import STATUSES
from logconsole.store.postgres.query import dict_rows
from logconsole.store.postgres.schema import GROUP_TIME_COLUMNS, time_text
from logconsole.store.query import Cursor, QueryError
from logconsole.store.sqlite.store import GROUP_COLUMNS
from logconsole.timeutil import format_ts, utcnow

SELECT = ", ".join(f"{time_text(c)} AS {c}" if c in GROUP_TIME_COLUMNS else c for c in GROUP_COLUMNS)
"""Every column of ``error_groups`` in the row form."""
_SEARCHED = ("fingerprint", "error_type", "message", "culprit")
_TIME_FIELDS = frozenset(n for n, t in GROUP_FIELDS.items() if t == "time")


def _like(value: object) -> str:
    return "%" + re.sub(r"([%_\\])", r"\\\1", str(value)) + "%"


def where_sql(flt: GroupFilter) -> tuple[str, list[Any]]:
    """The WHERE clause of ``flt`` (without the word) and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if set(flt.statuses) != set(STATUSES):
        for s in flt.statuses:
            if s not in STATUSES:
                raise QueryError(f"unknown status {s!r}")
        clauses.append("status = ANY(%s)")
        params.append(list(flt.statuses))
    if flt.since:
        clauses.append("last_seen >= %s::timestamptz")
        params.append(flt.since)
    if flt.until:
        clauses.append("first_seen < %s::timestamptz")
        params.append(flt.until)
    if flt.ids:
        clauses.append("id = ANY(%s::bigint[])")
        params.append([int(i) for i in flt.ids])
    for word in (flt.search or "").split():
        # SQLite's LIKE ignores the case of ASCII letters only; ILIKE of every letter is near enough.
        clauses.append("(" + " OR ".join(f"{c} ILIKE %s ESCAPE '\\'" for c in _SEARCHED) + ")")
        params.extend([_like(word)] * len(_SEARCHED))
    for cond in flt.where:
        col = cond.column
        if col not in GROUP_FIELDS:
            raise QueryError(f"unknown group field {col!r}")
        cast = "::timestamptz" if col in _TIME_FIELDS else ""
        if cond.value is None:
            clauses.append(f"{col} IS {'NOT ' if cond.op == '!=' else ''}NULL")
        elif cond.op == "~":
            text = time_text(col) if col in _TIME_FIELDS else f"{col}::text"
            clauses.append(f"{text} ILIKE %s ESCAPE '\\'")
            params.append(_like(cond.value))
        elif cond.op == "!=":
            clauses.append(f"{col} IS DISTINCT FROM %s{cast}")
            params.append(cond.value)
        else:
            clauses.append(f"{col} {cond.op} %s{cast}")
            params.append(cond.value)
    return (" AND ".join(clauses) or "true"), params


def _keyset(sort: GroupSort, after: Cursor | None) -> tuple[str, list[Any]]:
    if after is None:
        return "", []
    op = "<" if sort.descending else ">"
    col = sort.column
    if col in ("count", "users"):
        return f"({col}, id) {op} (%s, %s)", [after.value, after.id]
    ts = "%s::timestamptz"
    if sort.descending:
        if after.value is None:
            return f"({col} IS NULL AND id < %s)", [after.id]
        return f"(({col}, id) < ({ts}, %s) OR {col} IS NULL)", [after.value, after.id]
    if after.value is None:
        return f"(({col} IS NULL AND id > %s) OR {col} IS NOT NULL)", [after.id]
    return f"({col}, id) > ({ts}, %s)", [after.value, after.id]


def fetch_page(conn: psycopg.Connection, flt: GroupFilter, sort: GroupSort = LATEST_FIRST, *, limit: int | None,
               after: Cursor | None = None, offset: int = 0, columns: str = SELECT) -> list[dict[str, Any]]:
    """One page of groups in the row form."""
    if sort.column not in SORTS.values():
        raise QueryError(f"groups cannot be sorted by {sort.column!r}")
    where, params = where_sql(flt)
    ks, ks_params = _keyset(sort, after)
    if ks:
        where, params = f"{where} AND {ks}", params + ks_params
    if sort.descending:
        order = f"{sort.column} DESC NULLS LAST, id DESC"
    else:
        order = f"{sort.column} ASC NULLS FIRST, id ASC"
    sql = f"SELECT {columns} FROM error_groups WHERE {where} ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    if offset:
        sql += " OFFSET %s"
        params.append(int(offset))
    return list(dict_rows(conn.execute(sql, params)))  # type: ignore[arg-type]


def count(conn: psycopg.Connection, flt: GroupFilter) -> int:
    where, params = where_sql(flt)
    return int(conn.execute(f"SELECT count(*) FROM error_groups WHERE {where}", params).fetchone()[0])  # type: ignore[arg-type,index]


def status_summary(conn: psycopg.Connection, flt: GroupFilter) -> str:
    """``3 open · 1 regressed`` (:func:`logconsole.store.group_query.status_summary`)."""
    where, params = where_sql(flt.with_(statuses=("open", "regressed")))
    by = dict(conn.execute(  # type: ignore[arg-type]
        f"SELECT status, count(*) FROM error_groups WHERE {where} GROUP BY status", params).fetchall())
    parts = [f"{by[s]:,} {s}" for s in ("open", "regressed") if by.get(s)]
    return " · ".join(parts) or "none open"


def hourly_counts(conn: psycopg.Connection, group_ids: Iterable[int], now: datetime) -> dict[int, list[int]]:
    """Occurrences per hour over the last :data:`~logconsole.store.group_query.TREND_HOURS` hours."""
    ids = sorted({int(i) for i in group_ids})
    out = {i: [0] * TREND_HOURS for i in ids}
    if not ids:
        return out
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first = hour - timedelta(hours=TREND_HOURS - 1)
    rows = conn.execute(
        "SELECT group_id, floor(extract(epoch FROM created_at - %s::timestamptz) / 3600)::int AS k, count(*) "
        "FROM records WHERE group_id = ANY(%s::bigint[]) AND created_at >= %s::timestamptz GROUP BY 1, 2",
        (format_ts(first), ids, format_ts(first)))
    for gid, k, n in rows:
        if 0 <= k < TREND_HOURS:
            out[int(gid)][k] += int(n)
    return out


_RECORDS_SQL = {
    "resolve": ("UPDATE records SET is_resolved = true, resolution = %s, resolved_at = %s::timestamptz, "
                "resolved_by = %s WHERE group_id = %s AND type = 'error' AND is_resolved = false"),
    "reopen": ("UPDATE records SET is_resolved = false, resolution = NULL, resolved_at = NULL, resolved_by = NULL "
               "WHERE group_id = %s AND type = 'error' AND is_resolved = true AND resolved_at = "
               "(SELECT status_at FROM error_groups WHERE id = %s AND status IN ('resolved', 'regressed'))"),
}
_STATUS_OF = {"resolve": "resolved", "reopen": "open", "ignore": "ignored"}


def group_action(conn: psycopg.Connection, action: str, group_id: int, *, note: str | None = None,
                 by: str | None = None, now: datetime | None = None) -> GroupOutcome | None:
    """:func:`logconsole.store.actions.resolve_group`, ``unresolve_group`` and
    ``ignore_group`` in one: the group's status with its records, one transaction."""
    if action not in _STATUS_OF:
        raise ValueError(f"unknown group action {action!r}")
    status = _STATUS_OF[action]
    if action == "reopen":
        note = None
    ts = format_ts(now or utcnow())
    with conn.transaction():
        row = conn.execute("SELECT status FROM error_groups WHERE id = %s FOR UPDATE", (group_id,)).fetchone()
        if row is None:
            return None
        changed = 0
        if action == "resolve":
            changed = conn.execute(_RECORDS_SQL[action], (note, ts, by, group_id)).rowcount
        elif action == "reopen":
            changed = conn.execute(_RECORDS_SQL[action], (group_id, group_id)).rowcount
        conn.execute("UPDATE error_groups SET status = %s, note = %s, status_by = %s, status_at = %s::timestamptz "
                     "WHERE id = %s", (status, note, by, ts, group_id))
    return GroupOutcome(group_id, str(row[0]), status, changed)


__all__ = ["SELECT", "count", "fetch_page", "group_action", "hourly_counts", "status_summary", "where_sql"]
