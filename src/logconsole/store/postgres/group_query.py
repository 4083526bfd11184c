"""Error groups out of PostgreSQL: :mod:`logconsole.store.group_query`'s
filters and sorts compiled to PostgreSQL's SQL, in this one place.

A :class:`~logconsole.store.group_query.GroupFilter` means here what it means
on SQLite: statuses, ``since`` on ``last_seen``, ``until`` on ``first_seen``,
words found in any case in the fingerprint, type, message or culprit, and
``--where`` conditions on the group's fields.  Times cross in the stored
27-character form; NULL times sort as SQLite sorts them (first ascending,
last descending).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg

from logconsole.store.group_query import GROUP_FIELDS, LATEST_FIRST, SORTS, GroupFilter, GroupSort, group_cursor
from logconsole.store.groups import STATUSES
from logconsole.store.postgres.query import dict_rows
from logconsole.store.postgres.schema import GROUP_TIME_COLUMNS, time_text
from logconsole.store.query import Cursor, QueryError, keyset_pages
from logconsole.store.sqlite.store import GROUP_COLUMNS

GROUP_SELECT = ", ".join(f"{time_text(c)} AS {c}" if c in GROUP_TIME_COLUMNS else c for c in GROUP_COLUMNS)
"""Every column of ``error_groups`` in the row form (times as stored-form text)."""
_SEARCHED = ("fingerprint", "error_type", "message", "culprit")


def _like(value: object) -> str:
    return "%" + re.sub(r"([%_\\])", r"\\\1", str(value)) + "%"


def _param(col: str) -> str:
    return "%s::timestamptz" if col in GROUP_TIME_COLUMNS else "%s"


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
        clauses.append("id = ANY(%s)")
        params.append([int(i) for i in flt.ids])
    for word in (flt.search or "").split():
        clauses.append("(" + " OR ".join(f"{c} ILIKE %s" for c in _SEARCHED) + ")")
        params.extend([_like(word)] * len(_SEARCHED))
    for cond in flt.where:
        col = cond.column
        if col not in GROUP_FIELDS:
            raise QueryError(f"unknown group field {col!r}")
        if cond.value is None:
            clauses.append(f"{col} IS {'NOT ' if cond.op == '!=' else ''}NULL")
        elif cond.op == "~":
            text = time_text(col) if col in GROUP_TIME_COLUMNS else f"{col}::text"
            clauses.append(f"{text} LIKE %s")
            params.append(_like(cond.value))
        elif cond.op == "!=":
            clauses.append(f"({col} IS NULL OR {col} != {_param(col)})")
            params.append(cond.value)
        else:
            clauses.append(f"{col} {cond.op} {_param(col)}")
            params.append(cond.value)
    return (" AND ".join(clauses) or "true"), params


def _keyset(sort: GroupSort, after: Cursor | None) -> tuple[str, list[Any]]:
    if after is None:
        return "", []
    op = "<" if sort.descending else ">"
    col = sort.column
    if col in ("count", "users"):  # never NULL
        return f"({col}, id) {op} (%s, %s)", [after.value, after.id]
    if sort.descending:
        if after.value is None:
            return f"({col} IS NULL AND id < %s)", [after.id]
        return f"(({col}, id) < (%s::timestamptz, %s) OR {col} IS NULL)", [after.value, after.id]
    if after.value is None:
        return f"(({col} IS NULL AND id > %s) OR {col} IS NOT NULL)", [after.id]
    return f"({col}, id) > (%s::timestamptz, %s)", [after.value, after.id]


def fetch_groups(conn: psycopg.Connection, flt: GroupFilter = GroupFilter(), sort: GroupSort = LATEST_FIRST, *,
                 limit: int | None = 50, after: Cursor | None = None) -> list[dict[str, Any]]:
    """One page of groups in the row form (:func:`~logconsole.store.group_query.to_group` makes them output)."""
    if sort.column not in SORTS.values():
        raise QueryError(f"groups cannot be sorted by {sort.column!r}")
    where, params = where_sql(flt)
    ks, ks_params = _keyset(sort, after)
    if ks:
        where, params = f"{where} AND {ks}", params + ks_params
    d = "DESC" if sort.descending else "ASC"
    nulls = "" if sort.column in ("count", "users") else (" NULLS LAST" if sort.descending else " NULLS FIRST")
    sql = f"SELECT {GROUP_SELECT} FROM error_groups WHERE {where} ORDER BY {sort.column} {d}{nulls}, id {d}"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
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


__all__ = ["GROUP_SELECT", "count_groups", "fetch_groups", "iter_groups", "latest_of_groups", "where_sql"]
