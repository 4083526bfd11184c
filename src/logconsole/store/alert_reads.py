"""What alert rules ask of a SQLite store: the matches of a rule's filter in an
id range, and which of given records match (the one place for that SQL)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from logconsole.store.query import Filter, range_where_sql, where_sql


def range_sql(where: str) -> str:
    """How many rows match ``where`` (from :func:`~logconsole.store.query.range_where_sql`
    on ``id BETWEEN ? AND ?``), and the latest.

    ``NOT INDEXED`` keeps SQLite on the rowid range: with ``type = 'error'`` it
    would otherwise walk that kind's index over every stored error."""
    return f"SELECT count(*), max(id) FROM records NOT INDEXED WHERE {where}"


def ids_sql(where: str) -> str:
    """Which of the ids given as a JSON list match ``where``."""
    return f"SELECT id FROM records WHERE id IN (SELECT value FROM json_each(?)) AND {where}"


def count_in_range(conn: sqlite3.Connection, flt: Filter, first: int, last: int) -> tuple[int, int | None]:
    where, bind = range_where_sql(conn, flt, "{col} BETWEEN ? AND ?")
    n, latest = conn.execute(range_sql(where), bind((first, last))).fetchone()
    return int(n), latest


def matching_ids(conn: sqlite3.Connection, flt: Filter, ids: Sequence[int]) -> set[int]:
    where, params = where_sql(conn, flt)
    return {row[0] for row in conn.execute(ids_sql(where), [json.dumps(list(ids)), *params])}


__all__ = ["count_in_range", "ids_sql", "matching_ids", "range_sql"]
