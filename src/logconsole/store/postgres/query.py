"""Filters to PostgreSQL SQL, keyset pages, search and counts: the one place
a :class:`~logconsole.store.query.Filter` becomes PostgreSQL's SQL.

Meanings follow the SQLite store (:mod:`logconsole.store.query`): the same
filters, the same sorts (NULLs first ascending, last descending, as SQLite
sorts them; ties broken by ``id``), the same cursors (the keyset conditions
are SQLite's own, :func:`logconsole.store.query._keyset`).

**Search** (:func:`tsquery_text`) reads what a user typed as SQLite's FTS5
does where the two can agree: words must all appear (any order, any field),
``"quoted words"`` and a chunk like ``error-prone`` are phrases, ``OR``
between terms, ``NOT`` or a leading ``-`` excludes, ``pay*`` is a prefix;
words are split as the index splits text (letters and digits), lower-cased.
Differences: ``field:word`` searches the word in every field; accents count
(``cafe`` does not find ``café``); parentheses are ignored.

**Newest matches first** (:func:`fetch_page`): the plan is chosen from the
planner's estimate of the match count, as the SQLite store chooses from the
full-text index's count.  A common word is found soonest by walking the time
index and testing each record; a rare word by collecting its matches from
the GIN index first (a materialized CTE) and sorting those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import psycopg

from logconsole import kinds as K
from logconsole.store.postgres.schema import SELECT_LIST, time_text
from logconsole.store.query import (
    NEWEST, Cursor, Filter, QueryError, Sort, _keyset, _sort_expr, check_related, check_types,
)


def _pg(sql: str) -> str:
    """SQLite-style ``?`` placeholders (from :mod:`logconsole.store.query`) as psycopg's ``%s``."""
    return sql.replace("?", "%s")


# ---------------------------------------------------------------- search

_TERM = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"[^\W_]+")


def _lexeme(word: str) -> str:
    return "'" + word.replace("'", "''").replace("\\", "\\\\") + "'"


def tsquery_text(text: str, *, prefix: bool = False) -> str | None:
    """The ``to_tsquery`` input for what a user typed (see the module's doc), or
    ``None`` when there is nothing to search for."""
    parts: list[str] = []
    pending_op = "&"
    negate = False
    terms = list(_TERM.finditer(text.strip()))
    for index, m in enumerate(terms):
        quoted, chunk = m.group(1), m.group(2)
        last = index == len(terms) - 1
        if chunk is not None and chunk in ("OR", "AND", "NOT"):
            if chunk == "OR":
                pending_op = "|"
            elif chunk == "NOT":
                negate = True
            continue
        star = False
        if chunk is not None:
            if ":" in chunk and not chunk.startswith(":"):
                chunk = chunk.split(":", 1)[1] or chunk  # field:word searches the word everywhere
            star = chunk.endswith("*") or (prefix and last and chunk[-1:].isalnum())
            words = _WORD.findall(chunk)
        else:
            words = _WORD.findall(quoted or "")
        if not words:
            continue
        lexemes = [_lexeme(w.lower()) for w in words]
        if star:
            lexemes[-1] += ":*"
        term = " <-> ".join(lexemes)
        if len(lexemes) > 1:
            term = f"({term})"
        if negate:
            term = f"!{term}"
        if parts:
            parts.append(pending_op)
        parts.append(term)
        pending_op, negate = "&", False
    return " ".join(parts) or None


# ---------------------------------------------------------------- filters

_TIME_COLUMNS = frozenset(n for n, f in K.ALL_FIELDS.items() if f.type == "time")


def _column(name: str) -> str:
    if name not in K.ALL_FIELDS:
        raise QueryError(f"unknown column {name!r}")
    return name


def _text_of(col: str) -> str:
    """A column as the text SQLite would compare for ``~``."""
    if col in _TIME_COLUMNS:
        return time_text(col)
    if col in K.BOOL_COLUMNS:
        return f"{col}::int::text"
    return f"{col}::text"


def where_sql(flt: Filter) -> tuple[str, list[Any]]:
    """The WHERE clause of ``flt`` (without the word) and its parameters; ``true`` when empty."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.types and len(flt.types) < len(K.KINDS):
        check_types(flt.types)
        clauses.append("type = " + (f"'{flt.types[0]}'" if len(flt.types) == 1
                                    else f"ANY(ARRAY[{', '.join(repr(t) for t in flt.types)}])"))
    if flt.since:
        clauses.append("created_at >= %s::timestamptz")
        params.append(flt.since)
    if flt.until:
        clauses.append("created_at < %s::timestamptz")
        params.append(flt.until)
    if flt.ids:
        clauses.append("id = ANY(%s::bigint[])")
        params.append([int(i) for i in flt.ids])
    if flt.related is not None:
        rel = flt.related
        check_related(rel)
        clauses.append(f"{rel.field} = %s")
        params.append(rel.value)
        if rel.since:
            clauses.append("created_at >= %s::timestamptz")
            params.append(rel.since)
        if rel.until:
            clauses.append("created_at < %s::timestamptz")
            params.append(rel.until)
    for cond in flt.where:
        col = _column(cond.column)
        if cond.path:
            path = cond.path.split(".")
            if cond.value is None:
                clauses.append(f"({col} #> %s) IS {'NOT ' if cond.op == '!=' else ''}NULL")
                params.append(path)
                continue
            if cond.op == "~":
                clauses.append(f"({col} #>> %s) ILIKE %s ESCAPE '\\'")
                params += [path, _contains(cond.value)]
                continue
            if isinstance(cond.value, bool):
                expr, value = f"({col} #>> %s)", "true" if cond.value else "false"
            elif isinstance(cond.value, (int, float)):
                expr = (f"(CASE WHEN json_typeof({col} #> %s) = 'number' "
                        f"THEN ({col} #>> %s)::double precision END)")
                params.append(path)
                value = cond.value
            else:
                expr, value = f"({col} #>> %s)", str(cond.value)
            params.append(path)
            op = "IS DISTINCT FROM" if cond.op == "!=" else cond.op
            clauses.append(f"{expr} {op} %s")
            params.append(value)
            continue
        if cond.value is None:
            clauses.append(f"{col} IS {'NOT ' if cond.op == '!=' else ''}NULL")
            continue
        if cond.op == "~":
            clauses.append(f"{_text_of(col)} ILIKE %s ESCAPE '\\'")
            params.append(_contains(cond.value))
            continue
        value = cond.value
        expr = col
        if col in K.BOOL_COLUMNS:
            if cond.op in ("=", "!="):
                value = bool(value)
            else:
                expr = f"{col}::int"
        elif col in _TIME_COLUMNS:
            expr = f"{col}"
            value = str(value)
        op = "IS DISTINCT FROM" if cond.op == "!=" else cond.op
        cast = "::timestamptz" if col in _TIME_COLUMNS else ""
        clauses.append(f"{expr} {op} %s{cast}")
        params.append(value)
    if flt.search:
        q = tsquery_text(flt.search, prefix=flt.prefix_search)
        if q is None:
            clauses.append("false")
        else:
            clauses.append("search @@ to_tsquery('simple', %s)")
            params.append(q)
    return (" AND ".join(clauses) or "true"), params


def _contains(value: object) -> str:
    return "%" + re.sub(r"([%_\\])", r"\\\1", str(value)) + "%"


# ---------------------------------------------------------------- pages


def order_sql(sort: Sort, table: str = "records") -> str:
    """``ORDER BY`` of a sort, NULLs where SQLite puts them, ``id`` breaking ties.

    Bare columns are qualified with ``table``: a bare name in ``ORDER BY``
    means the output column of that name, and the row form's ``created_at``
    is text (:data:`~logconsole.store.postgres.schema.SELECT_LIST`), which no
    index gives in order."""
    d = "DESC" if sort.descending else "ASC"
    t = f"{table}."
    if sort.column == "type":
        return f"{t}type {d}, {t}created_at {d}, {t}id {d}"
    col = _sort_expr(sort.column)
    if col == "id":
        return f"{t}id {d}"
    if col == "created_at":
        return f"{t}created_at {d}, {t}id {d}"
    key = col if col.startswith("(") else f"{t}{col}"
    return f"{key} {d} {'NULLS LAST' if sort.descending else 'NULLS FIRST'}, {t}id {d}"


def _keyset_sql(sort: Sort, after: Cursor | None) -> tuple[str, list[Any]]:
    """SQLite's keyset condition, its time bound cast to ``timestamptz``."""
    sql, params = _keyset(sort, after)
    sql = _pg(sql)
    if after is not None and sort.column == "type":
        sql = sql.replace("(%s, %s, %s)", "(%s, %s::timestamptz, %s)")
    elif after is not None and sort.column == "created_at":
        sql = sql.replace("(%s, %s)", "(%s::timestamptz, %s)")
    return sql, params


def dict_rows(cur: psycopg.Cursor[Any]) -> Iterator[dict[str, Any]]:
    assert cur.description is not None
    names = [d.name for d in cur.description]
    for values in cur:
        yield dict(zip(names, values))


WALK_RATIO = 20
"""As in SQLite: walk the time index when ``wanted * records <= WALK_RATIO * matches**2``."""
WALK_MIN_BUDGET = 2_000
"""The fewest records a bounded walk reads before it gives up (:func:`fetch_page`)."""
_POSITIVE = re.compile(r"(?<![!\w])('(?:[^']|'')*'(?::\*)?)")


def estimated_rows(conn: psycopg.Connection, sql: str, params: list[Any]) -> float:
    """The planner's estimate of the rows ``sql`` returns (no rows are read)."""
    plan = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()[0]  # type: ignore[index]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])


def estimated_matches(conn: psycopg.Connection, q: str) -> float:
    """How many records the ``to_tsquery`` text ``q`` matches, as the planner
    guesses it; for words that must all appear, at least the rarest word's
    guess: the planner multiplies the words' frequencies as if they were
    independent, which ``payment declined`` (10,818 records in a million,
    guessed at a few hundred) is not."""
    match = "SELECT 1 FROM records WHERE search @@ to_tsquery('simple', %s)"
    combined = estimated_rows(conn, match, [q])
    if "|" in q:
        return combined
    words = _POSITIVE.findall(q)
    if len(words) < 2:
        return combined
    return max(combined, min(estimated_rows(conn, match, [w]) for w in words))


def walk_budget(conn: psycopg.Connection, flt: Filter, wanted: int) -> int | None:
    """How many records a walk of the time index may read to find ``wanted``
    matches (four times what the estimates expect), or ``None`` when the
    matches are rare enough to collect them first."""
    q = tsquery_text(flt.search or "", prefix=flt.prefix_search)
    if q is None:
        return None
    matches = estimated_matches(conn, q)
    records = estimated_rows(conn, "SELECT 1 FROM records", [])
    if matches <= 0 or wanted * records > WALK_RATIO * matches * matches:
        return None
    return max(WALK_MIN_BUDGET, int(4 * wanted * records / matches))


def matches_are_common(conn: psycopg.Connection, flt: Filter, wanted: int) -> bool:
    """Whether a newest-first search page walks the time index (:func:`walk_budget`)."""
    return walk_budget(conn, flt, wanted) is not None


def fetch_page(conn: psycopg.Connection, flt: Filter, sort: Sort = NEWEST, *, limit: int = 100,
               after: Cursor | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """One page of rows in the row form; ``after`` the last row's cursor for the next.

    A search sorted by time or id walks the index in the page's order, testing
    each record, when the estimates say matches are common; the walk reads a
    bounded number of records (a subquery's ``LIMIT``), so when the estimate
    was wrong it stops early and the matches are collected first instead: the
    page is always exact (the newest matches among the newest records are the
    newest matches).
    """
    where, params = where_sql(flt)
    ks, ks_params = _keyset_sql(sort, after)
    if ks:
        where, params = f"{where} AND {ks}", params + ks_params
    tail = " LIMIT %s" if limit is not None else ""
    tail_params: list[Any] = [int(limit)] if limit is not None else []
    if offset:
        tail += " OFFSET %s"
        tail_params.append(int(offset))
    if flt.search and sort.column in ("created_at", "id") and limit is not None:
        budget = walk_budget(conn, flt, limit + offset)
        if budget is not None:
            rest, rest_params = where_sql(flt.with_(search=None))
            if ks:
                rest, rest_params = f"{rest} AND {ks}", rest_params + ks_params
            q_clause, q_params = where_sql(Filter(search=flt.search, prefix_search=flt.prefix_search))
            sql = (f"SELECT {SELECT_LIST} FROM (SELECT * FROM records WHERE {rest} ORDER BY {order_sql(sort)} "
                   f"LIMIT %s) AS records WHERE {q_clause} ORDER BY {order_sql(sort)}{tail}")
            rows = list(dict_rows(conn.execute(sql, [*rest_params, budget, *q_params, *tail_params])))  # type: ignore[arg-type]
            if len(rows) == limit:
                return rows
        sql = (f"WITH m AS MATERIALIZED (SELECT * FROM records WHERE {where}) "
               f"SELECT {SELECT_LIST} FROM m ORDER BY {order_sql(sort, 'm')}{tail}")
        return list(dict_rows(conn.execute(sql, params + tail_params)))  # type: ignore[arg-type]
    sql = f"SELECT {SELECT_LIST} FROM records WHERE {where} ORDER BY {order_sql(sort)}{tail}"
    return list(dict_rows(conn.execute(sql, params + tail_params)))  # type: ignore[arg-type]


def count(conn: psycopg.Connection, flt: Filter) -> int:
    where, params = where_sql(flt)
    return int(conn.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()[0])  # type: ignore[arg-type,index]


def counts_by(conn: psycopg.Connection, column: str, flt: Filter) -> dict[Any, int]:
    col = _column(column)
    where, params = where_sql(flt)
    expr = _text_of(col) if col in _TIME_COLUMNS else (f"{col}::int" if col in K.BOOL_COLUMNS else col)
    sql = f"SELECT {expr}, count(*) FROM records WHERE {where} GROUP BY 1"
    return {value: int(n) for value, n in conn.execute(sql, params)}  # type: ignore[arg-type]


def get(conn: psycopg.Connection, record_id: int) -> dict[str, Any] | None:
    cur = conn.execute(f"SELECT {SELECT_LIST} FROM records WHERE id = %s", (int(record_id),))  # type: ignore[arg-type]
    return next(dict_rows(cur), None)


__all__ = ["count", "counts_by", "estimated_rows", "fetch_page", "get", "order_sql", "tsquery_text", "where_sql"]
