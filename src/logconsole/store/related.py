"""Related records: from one record to every record of its request, trace,
conversation or user.

:func:`related_to` picks what to join on and returns a
:class:`~logconsole.store.query.Related` condition; put it in a
:class:`~logconsole.store.query.Filter` (``flt.with_(related=...)``) and every
path out of the store takes it: pages, counts, exports and follow.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from logconsole.store.query import RELATED_FIELDS, QueryError, Related, get
from logconsole.timeutil import format_ts, parse_ts

USER_WINDOW = timedelta(hours=1)
"""A join on ``user_id`` takes the user's records this long either side of the record."""


def related_to(conn: sqlite3.Connection, record_id: int, by: str | None = None) -> Related:
    """What record ``record_id`` is related by (:func:`related_of`);
    :class:`QueryError` when there is no such record."""
    if by is not None and by not in RELATED_FIELDS:
        raise QueryError(f"--by {by!r}: expected one of: {', '.join(RELATED_FIELDS)}")
    row = get(conn, record_id)
    if row is None:
        raise QueryError(f"no record with id {record_id}")
    return related_of(row, by)


def related_of(row: Mapping[str, Any], by: str | None = None) -> Related:
    """What the stored row ``row`` is related by: ``by`` when given, else the
    first of its request id, trace id, conversation id and user id it has.

    :class:`QueryError` when it has no value in ``by`` (or in any of them).
    """
    if by is not None and by not in RELATED_FIELDS:
        raise QueryError(f"--by {by!r}: expected one of: {', '.join(RELATED_FIELDS)}")
    record_id = int(row["id"])
    fields = (by,) if by is not None else RELATED_FIELDS
    for name in fields:
        value = row.get(name)
        if value is None or value == "":
            continue
        if name != "user_id":
            return Related(name, str(value), record_id)
        at = parse_ts(row["created_at"])
        return Related(name, str(value), record_id,
                       since=format_ts(at - USER_WINDOW), until=format_ts(at + USER_WINDOW))
    wanted = by if by is not None else " or ".join(RELATED_FIELDS)
    raise QueryError(f"record {record_id} ({row['type']}) has no {wanted} to relate it by")


__all__ = ["USER_WINDOW", "related_of", "related_to"]
