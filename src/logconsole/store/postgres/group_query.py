"""Error groups out of PostgreSQL: :mod:`logconsole.store.group_query`'s
filters and sorts compiled to PostgreSQL's SQL, in this one place, for the
``groups`` command and the console's group list (pages in every sort, counts,
the status headline, hourly trends).

A :class:`~logconsole.store.group_query.GroupFilter` means here what it means
on SQLite: statuses, ``since`` on ``last_seen``, ``until`` on ``first_seen``,
words found in any case in the fingerprint, type, message or culprit, and
``--where`` conditions on the group's fields.  Times cross in the stored
27-character form; NULL times sort as SQLite sorts them (first ascending,
last descending).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from logconsole.store.group_query import (
    GROUP_FIELDS, LATEST_FIRST, SORTS, TREND_HOURS, GroupFilter, GroupSort, group_cursor, group_keyset,
)
from logconsole.store.groups import STATUSES
from logconsole.store.postgres.query import dict_rows
from logconsole.store.postgres.schema import GROUP_TIME_COLUMNS, time_text
from logconsole.store.query import Cursor, QueryError, keyset_pages
from logconsole.store.sqlite.store import GROUP_COLUMNS
from logconsole.timeutil import format_ts

GROUP_SELECT = ", ".join(f"{time_text(c)} AS {c}" if c in GROUP_TIME_COLUMNS else c for c in GROUP_COLUMNS)
"""Every column of ``error_groups`` in the row form (times as stored-form text)."""
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


def fetch_groups(conn: psycopg.Connection, flt: GroupFilter = GroupFilter(), sort: GroupSort = LATEST_FIRST, *,
                 limit: int | None = 50, after: Cursor | None = None, offset: int = 0,
                 columns: str = GROUP_SELECT) -> list[dict[str, Any]]:
    """One page of groups in the row form (:func:`~logconsole.store.group_query.to_group` makes them output);
    ``offset`` jumps into the middle of a list (the console's scroll bar)."""
    if sort.column not in SORTS.values():
        raise QueryError(f"groups cannot be sorted by {sort.column!r}")
    where, params = where_sql(flt)
    ks, ks_params = group_keyset(sort, after, mark="%s", time_mark="%s::timestamptz")
    if ks:
        where, params = f"{where} AND {ks}", params + ks_params
    d = "DESC" if sort.descending else "ASC"
    nulls = "" if sort.column in ("count", "users") else (" NULLS LAST" if sort.descending else " NULLS FIRST")
    sql = f"SELECT {columns} FROM error_groups WHERE {where} ORDER BY {sort.column} {d}{nulls}, id {d}"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    if offset:
        sql += " OFFSET %s"
        params.append(int(offset))
    return list(dict_rows(conn.execute(sql, params)))  # type: ignore[arg-type]


def iter_groups(conn: psycopg.Connection, flt: GroupFilter = GroupFilter(), sort: GroupSort = LATEST_FIRST, *,
                limit: int | None = None, page_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching group, a keyset page at a time."""
    return keyset_pages(
        lambda size, after: fetch_groups(conn, flt, sort, limit=size, after=after),
        lambda row: group_cursor(row, sort), limit=limit, page_size=page_size,
    )


def count_groups(conn: psycopg.Connection, flt: GroupFilter = GroupFilter()) -> int:
    where, params = where_sql(flt)
    return int(conn.execute(f"SELECT count(*) FROM error_groups WHERE {where}", params).fetchone()[0])  # type: ignore[arg-type,index]


def latest_of_groups(conn: psycopg.Connection, *, regressed: bool) -> list[tuple[int, int]]:
    """``(group id, latest record id)`` of every group (or of the regressed
    ones), latest first: the groups an alert rule on new groups or
    regressions would see."""
    where, order = ("status = 'regressed'", "regressed_at") if regressed else ("true", "first_seen")
    return [(int(g), int(r)) for g, r in conn.execute(
        f"SELECT id, latest_id FROM error_groups WHERE {where} AND latest_id IS NOT NULL "  # type: ignore[arg-type]
        f"ORDER BY {order} DESC NULLS LAST")]


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


__all__ = ["GROUP_SELECT", "count_groups", "fetch_groups", "hourly_counts", "iter_groups", "latest_of_groups",
           "status_summary", "where_sql"]
