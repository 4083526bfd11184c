"""Error groups out: filters, sorts and keyset pages over ``error_groups``.

The same shape as :mod:`logconsole.store.query` for records: a
:class:`GroupFilter` says which groups, a :class:`GroupSort` their order, and
:func:`fetch_groups` returns one page; the last row's :func:`group_cursor`
passed as ``after`` gives the next page at the same cost however deep it is
(each sort has an index on ``(column, id)``).  ``logconsole groups`` and the
console's group list both page through here.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from logconsole.kinds import SEVERITIES
from logconsole.store.groups import STATUSES
from logconsole.store.query import Condition, Cursor, QueryError, dict_rows, keyset_pages, split_condition
from logconsole.timeutil import bound_sql, format_ts, parse_user_time

DEFAULT_STATUSES = ("open", "regressed", "resolved")
"""The default list: every group but the ignored ones."""
STATUS_WORDS = {"unresolved": ("open", "regressed"), "all": STATUSES}
"""Names for sets of statuses that ``--status`` accepts besides the statuses."""

SORTS = {"last": "last_seen", "first": "first_seen", "count": "count", "users": "users"}
"""``--sort`` names and the columns they sort by (each has an index with ``id``)."""

GROUP_FIELDS: dict[str, str] = {
    "id": "int", "fingerprint": "text", "error_type": "text", "message": "text", "culprit": "text",
    "count": "int", "first_seen": "time", "last_seen": "time", "latest_id": "int", "severity": "enum",
    "users": "int", "users_approx": "bool", "endpoints": "text", "status": "enum", "note": "text",
    "status_by": "text", "status_at": "time", "regressed_at": "time",
}
"""The columns of a group, as ``--where`` and the output formats know them."""
_ENUMS = {"severity": SEVERITIES, "status": STATUSES}
_SEARCHED = ("fingerprint", "error_type", "message", "culprit")


@dataclass(frozen=True, slots=True)
class GroupFilter:
    """Which groups: by status, by when last seen, by words, by fields."""

    statuses: tuple[str, ...] = DEFAULT_STATUSES
    since: str | None = None
    """Seen at or after this stored-form time (``last_seen >= since``)."""
    until: str | None = None
    """First seen before this time."""
    search: str | None = None
    """Words, each found (any case) in the fingerprint, type, message or culprit."""
    where: tuple[Condition, ...] = ()
    ids: tuple[int, ...] = ()

    def with_(self, **changes: Any) -> GroupFilter:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class GroupSort:
    column: str = "last_seen"
    descending: bool = True


LATEST_FIRST = GroupSort()


# ---------------------------------------------------------------- parsing


def parse_statuses(values: Iterable[str]) -> tuple[str, ...]:
    """``--status`` values (repeatable, comma-separated): statuses, ``unresolved`` or ``all``."""
    out: list[str] = []
    for value in values:
        for part in str(value).split(","):
            word = part.strip().lower()
            if not word:
                continue
            chosen = STATUS_WORDS.get(word) or ((word,) if word in STATUSES else None)
            if chosen is None:
                raise QueryError(
                    f"unknown status {part.strip()!r}; expected one of: {', '.join((*STATUSES, *STATUS_WORDS))}")
            out.extend(s for s in chosen if s not in out)
    return tuple(out) or DEFAULT_STATUSES


def parse_group_condition(text: str) -> Condition:
    """``--where`` on a group's fields (:data:`GROUP_FIELDS`): ``count>10``,
    ``severity=critical``, ``endpoints~/api/courses``, ``culprit=null``."""
    name, op, raw = split_condition(text, "severity=critical")
    kind = GROUP_FIELDS.get(name)
    if kind is None:
        raise QueryError(f"unknown group field {name!r}; known fields: {', '.join(GROUP_FIELDS)}")
    if raw.lower() in ("null", "none", ""):
        if op not in ("=", "!="):
            raise QueryError(f"--where {text!r}: only = and != compare with null")
        return Condition(name, op, None)
    if op == "~":
        return Condition(name, op, raw)
    value: Any = raw
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise QueryError(f"--where {text!r}: {name} must be an integer, got {raw!r}") from None
    elif kind == "bool":
        low = raw.lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise QueryError(f"--where {text!r}: {name} must be true or false, got {raw!r}")
        value = int(low in ("true", "1", "yes"))
    elif kind == "enum":
        value = raw.lower()
        if value not in _ENUMS[name]:
            raise QueryError(f"--where {text!r}: {name} must be one of {', '.join(_ENUMS[name])}, got {raw!r}")
        if op not in ("=", "!="):
            raise QueryError(f"--where {text!r}: {name} is compared with = or != only")
    elif kind == "time":
        try:
            value = format_ts(parse_user_time(raw))
        except ValueError as exc:
            raise QueryError(f"--where {text!r}: {exc}") from None
    return Condition(name, op, value)


def make_group_filter(
    *, statuses: Iterable[str] = (), since: str | None = None, until: str | None = None,
    search: str | None = None, where: Iterable[str] = (), ids: Iterable[int] = (), now: datetime | None = None,
) -> GroupFilter:
    """A :class:`GroupFilter` from what a user typed; :class:`QueryError` when it cannot be."""
    try:
        since_ts = format_ts(parse_user_time(since, now)) if since else None
        until_ts = format_ts(parse_user_time(until, now)) if until else None
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    return GroupFilter(
        statuses=parse_statuses(statuses), since=since_ts, until=until_ts,
        search=(search.strip() or None) if search else None,
        where=tuple(parse_group_condition(w) for w in where), ids=tuple(ids),
    )


def sort_of(name: str, *, ascending: bool = False) -> GroupSort:
    """The :class:`GroupSort` a ``--sort`` name means (most, latest first)."""
    try:
        return GroupSort(SORTS[name], descending=not ascending)
    except KeyError:
        raise QueryError(f"unknown sort {name!r}; expected one of: {', '.join(SORTS)}") from None


# ---------------------------------------------------------------- SQL


def where_sql(flt: GroupFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (without the word) and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if set(flt.statuses) != set(STATUSES):
        for s in flt.statuses:
            if s not in STATUSES:
                raise QueryError(f"unknown status {s!r}")
        clauses.append(f"status IN ({', '.join(repr(s) for s in flt.statuses)})")
    if flt.since:
        sql, values = bound_sql("last_seen", ">=", flt.since)
        clauses.append(sql)
        params.extend(values)
    if flt.until:
        sql, values = bound_sql("first_seen", "<", flt.until)
        clauses.append(sql)
        params.extend(values)
    if flt.ids:
        clauses.append("id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(flt.ids)))
    for word in (flt.search or "").split():
        pattern = "%" + re.sub(r"([%_\\])", r"\\\1", word) + "%"
        clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in _SEARCHED) + ")")
        params.extend([pattern] * len(_SEARCHED))
    for cond in flt.where:
        col = cond.column
        if col not in GROUP_FIELDS:
            raise QueryError(f"unknown group field {col!r}")
        if cond.value is None:
            clauses.append(f"{col} IS {'NOT ' if cond.op == '!=' else ''}NULL")
        elif cond.op == "~":
            clauses.append(f"{col} LIKE ? ESCAPE '\\'")
            params.append("%" + re.sub(r"([%_\\])", r"\\\1", str(cond.value)) + "%")
        elif cond.op == "!=":
            clauses.append(f"({col} IS NULL OR {col} != ?)")
            params.append(cond.value)
        else:
            clauses.append(f"{col} {cond.op} ?")
            params.append(cond.value)
    return (" AND ".join(clauses) or "1"), params


def group_keyset(sort: GroupSort, after: Cursor | None, *, mark: str = "?",
                 time_mark: str = "?") -> tuple[str, list[Any]]:
    """The condition for the groups after ``after`` in ``sort`` and its
    parameters; ``mark``/``time_mark`` are the store's placeholders (for a
    number, for a time)."""
    if after is None:
        return "", []
    op = "<" if sort.descending else ">"
    col = sort.column
    if col in ("count", "users"):  # never NULL
        return f"({col}, id) {op} ({mark}, {mark})", [after.value, after.id]
    # first_seen / last_seen are NULL only for a group whose records are all gone.
    if sort.descending:
        if after.value is None:
            return f"({col} IS NULL AND id < {mark})", [after.id]
        return f"(({col}, id) < ({time_mark}, {mark}) OR {col} IS NULL)", [after.value, after.id]
    if after.value is None:
        return f"(({col} IS NULL AND id > {mark}) OR {col} IS NOT NULL)", [after.id]
    return f"({col}, id) > ({time_mark}, {mark})", [after.value, after.id]


def select_sql(flt: GroupFilter, sort: GroupSort = LATEST_FIRST, *, limit: int | None = None,
               after: Cursor | None = None) -> tuple[str, list[Any]]:
    if sort.column not in SORTS.values():
        raise QueryError(f"groups cannot be sorted by {sort.column!r}")
    where, params = where_sql(flt)
    ks, ks_params = group_keyset(sort, after)
    if ks:
        where, params = f"{where} AND {ks}", params + ks_params
    direction = "DESC" if sort.descending else "ASC"
    sql = f"SELECT * FROM error_groups WHERE {where} ORDER BY {sort.column} {direction}, id {direction}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return sql, params


def fetch_groups(conn: sqlite3.Connection, flt: GroupFilter = GroupFilter(), sort: GroupSort = LATEST_FIRST, *,
                 limit: int = 50, after: Cursor | None = None) -> list[dict[str, Any]]:
    """One page of groups (stored columns; :func:`to_group` makes them output)."""
    sql, params = select_sql(flt, sort, limit=limit, after=after)
    return list(dict_rows(conn.execute(sql, params)))


def group_cursor(row: dict[str, Any], sort: GroupSort = LATEST_FIRST) -> Cursor:
    """Where a page ended, for the ``after`` of the next one."""
    return Cursor(row.get(sort.column), int(row["id"]))


def iter_groups(conn: sqlite3.Connection, flt: GroupFilter = GroupFilter(), sort: GroupSort = LATEST_FIRST, *,
                limit: int | None = None, page_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching group, a keyset page at a time."""
    return keyset_pages(
        lambda size, after: fetch_groups(conn, flt, sort, limit=size, after=after),
        lambda row: group_cursor(row, sort), limit=limit, page_size=page_size,
    )


def count_groups(conn: sqlite3.Connection, flt: GroupFilter = GroupFilter()) -> int:
    where, params = where_sql(flt)
    return int(conn.execute(f"SELECT count(*) FROM error_groups WHERE {where}", params).fetchone()[0])


def get_group(conn: sqlite3.Connection, group_id: int) -> dict[str, Any] | None:
    return next(dict_rows(conn.execute("SELECT * FROM error_groups WHERE id = ?", (group_id,))), None)


def to_group(row: dict[str, Any]) -> dict[str, Any]:
    """A stored group as output: the columns of :data:`GROUP_FIELDS` in order,
    endpoints as a list, ``users_approx`` as a boolean."""
    out = {name: row.get(name) for name in GROUP_FIELDS}
    out["endpoints"] = json.loads(row.get("endpoints") or "[]")
    out["users_approx"] = bool(row.get("users_approx"))
    return out


def status_summary(conn: sqlite3.Connection, flt: GroupFilter = GroupFilter()) -> str:
    """The groups that need a look, in a few words: ``3 open · 1 regressed``,
    ``3 open``, ``1 regressed`` or ``none open`` (``flt``'s statuses are
    replaced by those two)."""
    where, params = where_sql(flt.with_(statuses=("open", "regressed")))
    by = dict(conn.execute(f"SELECT status, count(*) FROM error_groups WHERE {where} GROUP BY status", params))
    parts = [f"{by[s]:,} {s}" for s in ("open", "regressed") if by.get(s)]
    return " · ".join(parts) or "none open"


TREND_HOURS = 24
"""Hours a group's trend covers, one count per hour, the current hour last."""


def hourly_counts(conn: sqlite3.Connection, group_ids: Iterable[int], now: datetime) -> dict[int, list[int]]:
    """Occurrences per hour over the last :data:`TREND_HOURS` hours for each of
    ``group_ids`` (oldest hour first): one query for a page of groups, walking
    only their recent rows on ``idx_records_group`` (group_id, created_at)."""
    ids = sorted({int(i) for i in group_ids})
    out = {i: [0] * TREND_HOURS for i in ids}
    if not ids:
        return out
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first = hour - timedelta(hours=TREND_HOURS - 1)
    index = {format_ts(first + timedelta(hours=k))[:13]: k for k in range(TREND_HOURS)}
    marks = ", ".join("?" * len(ids))
    sql = (f"SELECT group_id, substr(created_at, 1, 13), count(*) FROM records "
           f"WHERE group_id IN ({marks}) AND created_at >= ? GROUP BY group_id, substr(created_at, 1, 13)")
    for gid, prefix, n in conn.execute(sql, [*ids, format_ts(first)]):
        k = index.get(prefix)
        if k is not None:
            out[int(gid)][k] += int(n)
    return out


def has_groups_table(conn: sqlite3.Connection) -> bool:
    """Whether the database has groups (a read-only open of an older one has not)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'error_groups'").fetchone() is not None


__all__ = [
    "DEFAULT_STATUSES", "GROUP_FIELDS", "GroupFilter", "GroupSort", "LATEST_FIRST", "SORTS",
    "TREND_HOURS", "count_groups", "fetch_groups", "get_group", "group_cursor", "has_groups_table",
    "hourly_counts", "iter_groups", "status_summary",
    "make_group_filter", "parse_group_condition", "parse_statuses", "select_sql", "sort_of", "to_group",
    "where_sql",
]
