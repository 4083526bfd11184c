"""Filters to SQL, keyset pages, full-text search, counts: the one path out.

The TUI, ``query``, ``export`` and ``delete`` all build their SQL here, so a
filter means the same thing on screen and in a script.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from logconsole import kinds as K
from logconsole.ingest import IngestError, coerce
from logconsole.store.schema import RANKS, sort_key_sql
from logconsole.timeutil import bound_sql, format_ts, parse_user_time


class QueryError(ValueError):
    """A filter a user wrote that cannot be run; the message says why."""


OPS = ("!=", ">=", "<=", "=", ">", "<", "~")
_OP_RE = re.compile(r"^\s*([A-Za-z_][\w.\-\[\]]*)\s*(!=|>=|<=|=|>|<|~)(.*)\Z", re.S)


@dataclass(frozen=True, slots=True)
class Condition:
    """``column op value``; ``path`` reaches into a JSON column (``metrics.cpu_usage``)."""

    column: str
    op: str
    value: Any
    path: str = ""

    def describe(self) -> str:
        name = f"{self.column}.{self.path}" if self.path else self.column
        value = "null" if self.value is None else self.value
        if self.column in K.BOOL_COLUMNS and value in (0, 1):
            value = "true" if value else "false"
        return f"{name}{self.op}{value}"


RELATED_FIELDS: tuple[str, ...] = ("request_id", "trace_id", "conversation_id", "user_id")
"""What records can be related by, in the order one is chosen for a record."""
RELATED_SHOWN = 8
"""Characters of a related id a description shows before an ellipsis."""


@dataclass(frozen=True, slots=True)
class Related:
    """The records sharing ``value`` in ``field`` with record ``record_id``;
    ``since``/``until`` (stored-form times) bound a join on ``user_id`` to the
    hour either side of the record.  Built by :func:`logconsole.store.related.related_to`."""

    field: str
    value: str
    record_id: int = 0
    since: str | None = None
    until: str | None = None

    def describe(self) -> str:
        """``request_id=ab12cd34…``: what the records were joined on."""
        shown = self.value if len(self.value) <= RELATED_SHOWN + 1 else self.value[:RELATED_SHOWN] + "…"
        window = " ±1h" if self.since or self.until else ""
        return f"{self.field}={shown}{window}"


@dataclass(frozen=True, slots=True)
class Filter:
    """What to show.  ``since``/``until`` are stored-form times (inclusive/exclusive)."""

    types: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    search: str | None = None
    where: tuple[Condition, ...] = ()
    ids: tuple[int, ...] = ()
    prefix_search: bool = False
    """Treat the last search word as a prefix (search as you type)."""
    related: Related | None = None
    """Only the records related to one record (its request, trace, conversation or user)."""

    def with_(self, **changes: Any) -> Filter:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Sort:
    column: str = "created_at"
    descending: bool = True

    def flipped(self) -> Sort:
        return Sort(self.column, not self.descending)


NEWEST = Sort()
OLDEST = Sort(descending=False)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the sort column's value and the id of the last row
    (for ``type``, the pair of its type and time)."""

    value: Any
    id: int


# ---------------------------------------------------------------- parsing


def parse_types(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        for part in str(v).split(","):
            if part.strip():
                try:
                    name = K.resolve_kind(part).name
                except ValueError as exc:
                    raise QueryError(str(exc)) from None
                if name not in out:
                    out.append(name)
    return tuple(out)


def split_condition(text: str, example: str = "severity=critical") -> tuple[str, str, str]:
    """``(name, op, value text)`` of a ``--where`` condition, or :class:`QueryError`."""
    m = _OP_RE.match(text)
    if not m:
        raise QueryError(f"cannot read --where {text!r}: expected FIELD=VALUE, e.g. {example}")
    return m.group(1), m.group(2), m.group(3).strip()


def parse_condition(text: str, types: Sequence[str] = ()) -> Condition:
    """``field=value`` (also ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``~`` for contains).

    The value is coerced like ingest would (``is_resolved=false`` -> 0,
    ``severity=CRITICAL`` -> ``critical``); ``null`` means no value.
    A dotted name reaches into a JSON column: ``metrics.cpu_usage>90``.
    """
    name, op, raw = split_condition(text)
    kinds = tuple(K.KINDS[t] for t in types)
    head, _, path = name.partition(".")
    try:
        fld = K.field_for(kinds or None, head)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    if path:
        if fld.type != "json":
            raise QueryError(f"--where {text!r}: {fld.name} is not a JSON field, so it has no {path!r}")
        return Condition(fld.name, op, _json_scalar(raw), path)
    if raw.lower() in ("null", "none", ""):
        if op not in ("=", "!="):
            raise QueryError(f"--where {text!r}: only = and != compare with null")
        return Condition(fld.name, op, None)
    if op == "~":
        return Condition(fld.name, op, raw)
    candidates = [k.by_name[fld.name] for k in (kinds or K.KINDS.values()) if fld.name in k.by_name] or [fld]
    errors = []
    for cand in candidates:
        try:
            value = coerce(cand, raw)
        except IngestError as exc:
            errors.append(exc.reason)
            continue
        if cand.type == "enum" and op not in ("=", "!="):
            raise QueryError(f"--where {text!r}: {cand.name} is compared with = or != only")
        return Condition(cand.name, op, value)
    raise QueryError(f"--where {text!r}: {errors[0].replace('field ', '', 1)}")


def _json_scalar(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, (int, float, str, bool)) else raw


def make_filter(
    *,
    types: Iterable[str] = (),
    since: str | None = None,
    until: str | None = None,
    search: str | None = None,
    where: Iterable[str] = (),
    ids: Iterable[int] = (),
    now: datetime | None = None,
) -> Filter:
    """A :class:`Filter` from what a user typed; :class:`QueryError` when it cannot be."""
    type_names = parse_types(types)
    try:
        since_ts = format_ts(parse_user_time(since, now)) if since else None
        until_ts = format_ts(parse_user_time(until, now)) if until else None
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    if since_ts and until_ts and since_ts >= until_ts:
        raise QueryError(f"--since ({since}) is not before --until ({until})")
    conds = tuple(parse_condition(w, type_names) for w in where)
    return Filter(
        types=type_names, since=since_ts, until=until_ts,
        search=(search.strip() or None) if search else None, where=conds, ids=tuple(ids),
    )


# ---------------------------------------------------------------- full-text


def _plain_fts(text: str, prefix: bool) -> str | None:
    """Words as FTS5 phrases: each whitespace-separated chunk's words form a phrase."""
    phrases = []
    for chunk in text.split():
        words = re.findall(r"\w+", chunk)
        if words:
            phrases.append('"' + " ".join(words) + '"')
    if not phrases:
        return None
    if prefix and text[-1:].isalnum():
        phrases[-1] += "*"
    return " ".join(phrases)


def fts_expression(conn: sqlite3.Connection, text: str, *, prefix: bool = False) -> str | None:
    """The FTS5 query for what a user typed.

    Valid FTS5 syntax (``"exact phrase"``, ``OR``, ``NOT``, ``pay*``,
    ``message:timeout``) is used as written; anything else is searched as plain
    words, so a stray quote or ``error-prone`` never fails.  ``None`` when there
    is nothing to search for.
    """
    text = text.strip()
    if not text:
        return None
    if prefix:
        return _plain_fts(text, True)
    try:
        conn.execute(
            "SELECT 1 FROM records_fts WHERE records_fts MATCH ? LIMIT 1", (text,)
        ).fetchall()
    except sqlite3.OperationalError:
        return _plain_fts(text, False)
    return text


# ---------------------------------------------------------------- SQL


def _column(name: str) -> str:
    if name not in K.ALL_FIELDS:
        raise QueryError(f"unknown column {name!r}")
    return name


def check_types(types: Sequence[str]) -> None:
    """:class:`QueryError` for a kind name that is not one (each store's SQL writes them in)."""
    for t in types:
        if t not in K.KINDS:
            raise QueryError(f"unknown type {t!r}; expected one of: {', '.join(K.KIND_NAMES)}")


def check_related(rel: Related) -> None:
    """:class:`QueryError` for a relation on a field records are not related by."""
    if rel.field not in RELATED_FIELDS:
        raise QueryError(f"cannot relate records by {rel.field!r}; expected one of: {', '.join(RELATED_FIELDS)}")


def where_sql(
    conn: sqlite3.Connection, flt: Filter, *, search_walks: bool = False, kind_walks: bool = False,
) -> tuple[str, list[Any]]:
    """The WHERE clause (without the word) and its parameters; ``1`` when empty.

    ``search_walks`` tests search matches for membership only (``+id IN``), so
    SQLite walks an index in the page's order instead of looking every match up.
    ``kind_walks`` tells SQLite that a single kind is ``likely`` (most rows are
    of it), so for a page sorted by a column it walks that kind's sort index
    (or the rowids) in order: without statistics it takes ``type = ?`` for a
    rare value and would rather sort every record of the kind.
    """
    clauses: list[str] = []
    params: list[Any] = []
    if flt.types and len(flt.types) < len(K.KINDS):
        # Kind names are written into the SQL, not bound: SQLite then sees that
        # `type = 'error'` is the partial index's own condition, and answers
        # counts from the index alone instead of reading every row.
        check_types(flt.types)
        if len(flt.types) == 1:
            term = f"type = '{flt.types[0]}'"
            clauses.append(f"likely({term})" if kind_walks else term)
        else:
            quoted = ", ".join(f"'{t}'" for t in flt.types)
            clauses.append(f"type IN ({quoted})")
    for op, bound in ((">=", flt.since), ("<", flt.until)):
        if bound:
            sql, values = bound_sql("created_at", op, bound)
            clauses.append(sql)
            params.extend(values)
    if flt.ids:
        clauses.append("id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(flt.ids)))
    if flt.related is not None:
        rel = flt.related
        check_related(rel)
        clauses.append(f"{rel.field} = ?")
        params.append(rel.value)
        for op, bound in ((">=", rel.since), ("<", rel.until)):
            if bound:
                sql, values = bound_sql("created_at", op, bound)
                clauses.append(sql)
                params.extend(values)
    for cond in flt.where:
        col = _column(cond.column)
        expr = f"json_extract({col}, ?)" if cond.path else col
        if cond.path:
            params.append("$." + cond.path)
        if cond.value is None:
            clauses.append(f"{expr} IS {'NOT ' if cond.op == '!=' else ''}NULL")
        elif cond.op == "~":
            clauses.append(f"{expr} LIKE ? ESCAPE '\\'")
            params.append("%" + re.sub(r"([%_\\])", r"\\\1", str(cond.value)) + "%")
        elif cond.op == "!=":
            clauses.append(f"({expr} IS NULL OR {expr} != ?)")
            if cond.path:
                params.append("$." + cond.path)
            params.append(cond.value)
        else:
            clauses.append(f"{expr} {cond.op} ?")
            params.append(cond.value)
    if flt.search:
        expr = fts_expression(conn, flt.search, prefix=flt.prefix_search)
        if expr is None:
            clauses.append("0")
        else:
            member = "+id" if search_walks else "id"
            clauses.append(f"{member} IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
            params.append(expr)
    return (" AND ".join(clauses) or "1"), params


def range_where_sql(
    conn: sqlite3.Connection, flt: Filter, bound: str,
) -> tuple[str, Callable[[Sequence[Any]], list[Any]]]:
    """The WHERE clause of ``flt`` for the rows of an id range only, and a
    function giving its parameters from the range's bounds.

    ``bound`` is a condition on ``{col}`` with ``?`` for the bounds
    (``"{col} > ?"``, ``"{col} BETWEEN ? AND ?"``).  A search asks the
    full-text index for the range's matches only (``rowid`` bounds inside the
    ``MATCH``), so the cost follows the range, never every match of the word.
    Query the table ``NOT INDEXED`` so SQLite walks the rowid range.
    """
    rest, params = where_sql(conn, flt.with_(search=None))
    expr = fts_expression(conn, flt.search, prefix=flt.prefix_search) if flt.search else None
    sql = f"{bound.format(col='id')} AND {rest}"
    if flt.search and expr is None:
        sql += " AND 0"
    elif expr is not None:
        sql += f" AND id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ? AND {bound.format(col='rowid')})"

    def bind(bounds: Sequence[Any]) -> list[Any]:
        return [*bounds, *params, *((expr, *bounds) if expr is not None else ())]

    return sql, bind


def _sort_expr(column: str) -> str:
    return sort_key_sql(_column(column))


def _keyset(sort: Sort, after: Cursor | None) -> tuple[str, list[Any]]:
    if after is None:
        return "", []
    op = "<" if sort.descending else ">"
    if sort.column == "type":
        return f"(type, created_at, id) {op} (?, ?, ?)", [*after.value, after.id]
    col = _sort_expr(sort.column)
    if col in ("created_at", "id"):  # never NULL: a row-value comparison uses the index
        if col == "id":
            return f"id {op} ?", [after.id]
        return f"({col}, id) {op} (?, ?)", [after.value, after.id]
    # SQLite sorts NULL first ascending and last descending.
    if sort.descending:
        if after.value is None:
            return f"({col} IS NULL AND id < ?)", [after.id]
        return (
            f"({col} < ? OR ({col} = ? AND id < ?) OR {col} IS NULL)",
            [after.value, after.value, after.id],
        )
    if after.value is None:
        return f"(({col} IS NULL AND id > ?) OR {col} IS NOT NULL)", [after.id]
    return f"({col} > ? OR ({col} = ? AND id > ?))", [after.value, after.value, after.id]


def _order(sort: Sort) -> str:
    """``ORDER BY`` of a sort: its key, then ``id`` to break ties.

    ``type`` has five values; its ties go newest first (by time, then id), the
    order of the ``(type, created_at, id)`` index.  Every other column a
    console tab sorts by has a sort index of its own (:func:`schema.sort_indexes`)
    on exactly this key, with the rowid after it.
    """
    direction = "DESC" if sort.descending else "ASC"
    if sort.column == "type":
        return f"type {direction}, created_at {direction}, id {direction}"
    col = _sort_expr(sort.column)
    if col == "id":
        return f"id {direction}"
    return f"{col} {direction}, id {direction}"


_WINDOW_WORTH_WALKING = 2_000
"""A time range holding at least this many records of the kind is paged by
walking the sort index; a smaller one is read by time and sorted."""


def _walks_sort_index(conn: sqlite3.Connection, flt: Filter, sort: Sort) -> bool:
    """Whether a page sorted by a column should walk the kind's sort index.

    Walking reads index entries in order until a page passes the filters:
    at a million records any sort's first page takes a millisecond, unless
    a narrow time range lets few entries pass (the last hour of one kind:
    300-500 ms), where reading the range by time and sorting it costs less
    than one.  A bounded count of the range tells which (under a millisecond).
    """
    if flt.search or sort.column in ("created_at", "type") or len(flt.types) != 1:
        return False
    if not (flt.since or flt.until):
        return True
    where, params = where_sql(conn, Filter(types=flt.types, since=flt.since, until=flt.until))
    probe = f"SELECT count(*) FROM (SELECT 1 FROM records WHERE {where} LIMIT ?)"
    return int(conn.execute(probe, [*params, _WINDOW_WORTH_WALKING]).fetchone()[0]) >= _WINDOW_WORTH_WALKING


def select_sql(
    conn: sqlite3.Connection,
    flt: Filter,
    sort: Sort = NEWEST,
    *,
    limit: int | None = None,
    after: Cursor | None = None,
    offset: int = 0,
    columns: str = "*",
    search_walks: bool = False,
) -> tuple[str, list[Any]]:
    where, params = where_sql(conn, flt, search_walks=search_walks, kind_walks=_walks_sort_index(conn, flt, sort))
    ks, ks_params = _keyset(sort, after)
    if ks:
        where = f"{where} AND {ks}"
        params = params + ks_params
    sql = f"SELECT {columns} FROM records WHERE {where} ORDER BY {_order(sort)}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
        if offset:
            sql += " OFFSET ?"
            params.append(int(offset))
    elif offset:
        sql += " LIMIT -1 OFFSET ?"
        params.append(int(offset))
    return sql, params


def dict_rows(cur: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    """A cursor's rows as dicts of column name to value."""
    names = [d[0] for d in cur.description]
    for values in cur:
        yield dict(zip(names, values))


def fetch_page(
    conn: sqlite3.Connection,
    flt: Filter,
    sort: Sort = NEWEST,
    *,
    limit: int = 100,
    after: Cursor | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """One page of stored rows (raw columns).  Pass the last row's :func:`cursor_of`
    as ``after`` for the next page: its cost does not grow with depth."""
    if flt.search and sort.column == "created_at" and 0 < limit and limit + offset <= _SEARCH_MAX_LIMIT:
        rows = _search_page(conn, flt, sort, limit + offset, after)
        if rows is not None:
            return rows[offset:]
    walks = bool(flt.search) and sort.column in ("created_at", "id") and _matches_are_common(
        conn, flt, limit + offset)
    sql, params = select_sql(conn, flt, sort, limit=limit, after=after, offset=offset, search_walks=walks)
    return list(dict_rows(conn.execute(sql, params)))


def _matches_are_common(conn: sqlite3.Connection, flt: Filter, wanted: int) -> bool:
    """Whether walking the time index, testing each record against the set of
    matches, finds ``wanted`` rows sooner than looking every match up would.

    Walking reads about ``wanted * records / matches`` index entries, each some
    twenty times cheaper than a row lookup: a word in a fifth of the records
    pages in 25 ms instead of 700, while a rare word is still looked up.
    """
    expr = fts_expression(conn, flt.search or "", prefix=flt.prefix_search)
    if expr is None:
        return False
    matches = conn.execute("SELECT count(*) FROM records_fts WHERE records_fts MATCH ?", (expr,)).fetchone()[0]
    records = conn.execute("SELECT max(id) FROM records").fetchone()[0] or 0
    return matches > 0 and wanted * records <= 20 * matches * matches


# A time-ordered page of search results.  The general plan looks up every match
# to sort it by time: a word in a fifth of a million records means 200,000 row
# reads for a page of 50.  Records mostly arrive in time order, so the newest
# matches are among the highest rowids, which FTS5 yields in order without
# sorting.  _search_page takes ``n`` matches by rowid, starting from the page's
# cursor (the *near* bound: rows that arrived after the cursor's row mostly sort
# before it), sorts that small set by time, and then *proves* the page right:
# no record outside the candidates' rowid range sorts inside the page's time
# span.  The proof walks the time index over that span only.  When it fails
# (records stored out of time order) the range widens on the side at fault,
# and past a budget the general plan answers, so the result is always exact.
_SEARCH_MAX_LIMIT = 2_000
_SEARCH_FIRST_SET = 1_024
_SEARCH_MAX_SET = 32_768
_SEARCH_MAX_TRIES = 12


def _search_page(
    conn: sqlite3.Connection, flt: Filter, sort: Sort, limit: int, after: Cursor | None,
) -> list[dict[str, Any]] | None:
    """The page :func:`fetch_page` would return, or ``None`` when the general
    plan should answer (the candidate set grew past its budget)."""
    expr = fts_expression(conn, flt.search or "", prefix=flt.prefix_search)
    if expr is None:
        return []
    rest, rest_params = where_sql(conn, flt.with_(search=None))
    ks, ks_params = _keyset(sort, after)
    if ks:
        rest, rest_params = f"{rest} AND {ks}", rest_params + ks_params
    desc = sort.descending
    order = "DESC" if desc else "ASC"
    # Newest first, candidates run from `near` down to `edge`; oldest first, up.
    within_near, beyond_near = ("<=", ">") if desc else (">=", "<")
    within_far, beyond_far = (">=", "<") if desc else ("<=", ">")
    near = _near_start(conn, flt, desc, after)
    n = max(_SEARCH_FIRST_SET, 4 * limit)
    for _ in range(_SEARCH_MAX_TRIES):
        if n > _SEARCH_MAX_SET:
            return None
        near_sql, near_params = (f"rowid {within_near} ?", [near]) if near is not None else ("1", [])
        edge_row = conn.execute(
            f"SELECT rowid FROM records_fts WHERE records_fts MATCH ? AND {near_sql} "
            f"ORDER BY rowid {order} LIMIT 1 OFFSET ?", [expr, *near_params, n - 1],
        ).fetchone()
        edge = edge_row[0] if edge_row else None
        far_sql, far_params = (f"rowid {within_far} ?", [edge]) if edge is not None else ("1", [])
        sql = (
            "SELECT r.* FROM (SELECT rowid AS fts_id FROM records_fts "
            f"WHERE records_fts MATCH ? AND {near_sql} AND {far_sql}) AS m "
            f"CROSS JOIN records AS r ON r.id = m.fts_id WHERE {rest} "
            f"ORDER BY r.created_at {order}, r.id {order} LIMIT ?"
        )
        rows = list(dict_rows(conn.execute(sql, [expr, *near_params, *far_params, *rest_params, limit])))
        if len(rows) < limit:  # the end of the results, if nothing was left out
            if edge is not None:
                n *= 4
                continue
            if near is None:
                return rows  # every match was a candidate
            # Every match on this side of `near` was a candidate; what of the others?
            beyond = conn.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM records_fts WHERE records_fts MATCH ? "
                f"AND rowid {beyond_near} ? LIMIT ?)", (expr, near, _SEARCH_FIRST_SET * 4),
            ).fetchone()[0]
            if beyond == 0:
                return rows
            if beyond < _SEARCH_FIRST_SET * 4:  # few: take every match
                near, n = None, n + beyond
                continue
            # Many (they mostly sort before the cursor): move `near` past every
            # record after the cursor that passes the filters; few remain at the end.
            extreme = _span_extreme(conn, rest, rest_params, None, desc)
            if extreme is None or (extreme <= near if desc else extreme >= near):
                return rows
            near = extreme
            continue
        last = rows[-1]
        if edge is not None and _in_span_outside(conn, rest, rest_params, last, desc, f"id {beyond_far} ?", edge):
            n *= 4
            continue
        if near is not None and _in_span_outside(conn, rest, rest_params, last, desc, f"id {beyond_near} ?", near):
            near = _span_extreme(conn, rest, rest_params, last, desc)  # not None: a record was just found
            continue
        return rows
    return None


def _near_start(conn: sqlite3.Connection, flt: Filter, desc: bool, after: Cursor | None) -> int | None:
    """Where candidates start: the cursor's row or, when ``--until`` (newest
    first) or ``--since`` (oldest first) cuts deeper, the first row inside it.
    Only a starting guess: the proof in :func:`_search_page` corrects it."""
    near = after.id if after is not None else None
    bound = flt.until if desc else flt.since
    if bound is None or (after is not None and (after.value < bound if desc else after.value >= bound)):
        return near
    if desc:
        sql = "SELECT id FROM records WHERE created_at < ? ORDER BY created_at DESC, id DESC LIMIT 1"
    else:
        sql = "SELECT id FROM records WHERE created_at >= ? ORDER BY created_at, id LIMIT 1"
    row = conn.execute(sql, (bound,)).fetchone()
    return int(row[0]) if row else near


def _span(last: dict[str, Any], desc: bool) -> tuple[str, list[Any]]:
    """Rows that sort before ``last`` (after the cursor, which ``rest`` holds)."""
    op = ">" if desc else "<"
    return f"(created_at, id) {op} (?, ?)", [last["created_at"], last["id"]]


def _in_span_outside(
    conn: sqlite3.Connection, rest: str, params: list[Any], last: dict[str, Any], desc: bool,
    outside: str, bound: int,
) -> bool:
    """Whether a record outside the candidates (matching or not: a superset)
    passes the other filters and sorts inside the page; walks the time index
    over the page's span only."""
    span, span_params = _span(last, desc)
    sql = f"SELECT 1 FROM records INDEXED BY idx_records_time WHERE {span} AND {outside} AND {rest} LIMIT 1"
    return conn.execute(sql, [*span_params, bound, *params]).fetchone() is not None


def _span_extreme(
    conn: sqlite3.Connection, rest: str, params: list[Any], last: dict[str, Any] | None, desc: bool,
) -> int | None:
    """The farthest id on the near side among records in the page's span (all
    records after the cursor when ``last`` is ``None``): the near bound that
    leaves none of them out."""
    span, span_params = _span(last, desc) if last is not None else ("1", [])
    agg = "max" if desc else "min"
    sql = f"SELECT {agg}(id) FROM records INDEXED BY idx_records_time WHERE {span} AND {rest}"
    found = conn.execute(sql, [*span_params, *params]).fetchone()[0]
    return None if found is None else int(found)


def cursor_of(row: dict[str, Any], sort: Sort = NEWEST) -> Cursor:
    if sort.column == "type":
        return Cursor((row["type"], row["created_at"]), int(row["id"]))
    value = row.get(sort.column)
    table = RANKS.get(sort.column)
    if table is not None:
        value = table.get(value)  # type: ignore[arg-type]
    return Cursor(value, int(row["id"]))


def iter_rows(
    conn: sqlite3.Connection,
    flt: Filter,
    sort: Sort = NEWEST,
    *,
    limit: int | None = None,
    page_size: int = 5000,
) -> Iterator[dict[str, Any]]:
    """Every matching row, read in keyset pages so memory stays flat and no
    long read transaction holds the WAL back."""
    return keyset_pages(
        lambda size, after: fetch_page(conn, flt, sort, limit=size, after=after),
        lambda row: cursor_of(row, sort), limit=limit, page_size=page_size,
    )


def keyset_pages(
    fetch: Callable[[int, Cursor | None], list[dict[str, Any]]],
    cursor: Callable[[dict[str, Any]], Cursor],
    *,
    limit: int | None = None,
    page_size: int = 5000,
) -> Iterator[dict[str, Any]]:
    """Every row ``fetch(size, after)`` pages through, up to ``limit``: each
    page starts after the ``cursor`` of the last row of the one before."""
    remaining = limit
    after: Cursor | None = None
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        page = fetch(size, after)
        yield from page
        if len(page) < size:
            return
        if remaining is not None:
            remaining -= len(page)
        after = cursor(page[-1])


_COUNT_EACH_MATCH = 20_000
"""Up to this many matches, a search's count looks each match up; beyond, it
lets SQLite pick an index and test membership."""


def count(conn: sqlite3.Connection, flt: Filter) -> int:
    if flt.search:
        expr = fts_expression(conn, flt.search, prefix=flt.prefix_search)
        if expr is None:
            return 0
        # The full-text index counts its matches without reading a record
        # (6 ms instead of 300 for a word in 200,000 records).
        matches = int(conn.execute(
            "SELECT count(*) FROM records_fts WHERE records_fts MATCH ?", (expr,)).fetchone()[0])
        if flt == Filter(search=flt.search, prefix_search=flt.prefix_search) or matches == 0:
            return matches
        if matches <= _COUNT_EACH_MATCH:
            # A rare word with a type filter: 29 lookups, not a scan of every activity.
            rest, params = where_sql(conn, flt.with_(search=None))
            sql = (
                "SELECT count(*) FROM (SELECT rowid AS fts_id FROM records_fts WHERE records_fts MATCH ?) AS m "
                f"CROSS JOIN records AS r ON r.id = m.fts_id WHERE {rest}"
            )
            return int(conn.execute(sql, [expr, *params]).fetchone()[0])
    where, params = where_sql(conn, flt)
    return int(conn.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()[0])


def ids_matching(conn: sqlite3.Connection, flt: Filter) -> list[int]:
    where, params = where_sql(conn, flt)
    return [r[0] for r in conn.execute(f"SELECT id FROM records WHERE {where}", params)]


def get(conn: sqlite3.Connection, record_id: int) -> dict[str, Any] | None:
    cur = conn.execute("SELECT * FROM records WHERE id = ?", (record_id,))
    return next(dict_rows(cur), None)


def counts_by(conn: sqlite3.Connection, column: str, flt: Filter = Filter()) -> dict[Any, int]:
    """``{value: count}`` of one column among matching rows."""
    col = _column(column)
    where, params = where_sql(conn, flt)
    sql = f"SELECT {col}, count(*) FROM records WHERE {where} GROUP BY {col}"
    return {value: n for value, n in conn.execute(sql, params)}


# ---------------------------------------------------------------- rows out


def to_record(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as a record: its kind's fields in order, JSON decoded,
    booleans as booleans, ``extra`` only when there is some."""
    kind = K.KINDS.get(row.get("type"))  # type: ignore[arg-type]
    out: dict[str, Any] = {"id": row["id"], "type": row["type"], "created_at": row["created_at"]}
    names = kind.field_names if kind else ()
    for name in names:
        value = row.get(name)
        if value is not None:
            if name in K.JSON_COLUMNS:
                value = json.loads(value)
            elif name in K.BOOL_COLUMNS:
                value = bool(value)
        out[name] = value
    extra = row.get("extra")
    if extra:
        out["extra"] = json.loads(extra)
    return out


def record_fields(types: Sequence[str]) -> list[str]:
    """The field names records of ``types`` can have, in a stable order (export headers)."""
    names: dict[str, None] = {"id": None, "type": None, "created_at": None}
    for t in types or K.KIND_NAMES:
        for name in K.KINDS[t].field_names:
            names[name] = None
    names["extra"] = None
    return list(names)


__all__ = [
    "Condition", "Cursor", "Filter", "QueryError", "RELATED_FIELDS", "Related", "Sort", "NEWEST", "OLDEST",
    "count", "counts_by", "cursor_of", "fetch_page", "fts_expression", "get",
    "dict_rows", "ids_matching", "iter_rows", "keyset_pages", "make_filter", "parse_condition", "parse_types",
    "record_fields", "select_sql", "to_record", "where_sql",
]
