"""Streaming export: JSON, JSON lines, CSV, in constant memory.

Rows are read in keyset pages (:func:`logconsole.store.query.iter_rows`) and
written as they come.  CSV cells hold nested JSON as JSON text, and text that a
spreadsheet would run as a formula is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from logconsole.kinds import BOOL_COLUMNS
from logconsole.store.group_query import GROUP_FIELDS, LATEST_FIRST, GroupFilter, GroupSort, iter_groups, to_group
from logconsole.store.query import NEWEST, Filter, Sort, iter_rows, record_fields, to_record

FORMATS = ("jsonl", "json", "csv")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell that no spreadsheet will run as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _json_line(row: dict[str, Any]) -> str:
    return json.dumps(to_record(row), ensure_ascii=False)


def _csv_values(row: dict[str, Any], header: list[str]) -> list[Any]:
    out = []
    for name in header:
        value = row.get(name)
        if value is not None and name in BOOL_COLUMNS:
            value = bool(value)
        out.append(csv_cell(value))
    return out


def write(
    rows: Iterable[dict[str, Any]],
    out: TextIO,
    fmt: str,
    *,
    types: tuple[str, ...] = (),
    progress: Callable[[int], None] | None = None,
    header: bool = True,
) -> int:
    """Write stored ``rows`` to ``out`` as ``fmt``; returns how many.

    ``header=False`` leaves out the CSV header (a follower's later pages)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    n = 0
    if fmt == "csv":
        fields = record_fields(types)
        # RFC 4180 line ends: the csv module then quotes any cell holding a CR or LF.
        writer = csv.writer(out, lineterminator="\r\n")
        if header:
            writer.writerow(fields)
        for row in rows:
            writer.writerow(_csv_values(row, fields))
            n += 1
            if progress and n % 1000 == 0:
                progress(n)
    elif fmt == "jsonl":
        for row in rows:
            out.write(_json_line(row))
            out.write("\n")
            n += 1
            if progress and n % 1000 == 0:
                progress(n)
    else:
        out.write("[")
        for row in rows:
            out.write(",\n" if n else "\n")
            out.write(_json_line(row))
            n += 1
            if progress and n % 1000 == 0:
                progress(n)
        out.write("\n]\n" if n else "]\n")
    if progress:
        progress(n)
    return n


def export(
    conn: sqlite3.Connection,
    flt: Filter,
    out: TextIO,
    fmt: str = "jsonl",
    *,
    sort: Sort = NEWEST,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Export what ``flt`` matches; the one export path for the CLI and the TUI."""
    return write(iter_rows(conn, flt, sort, limit=limit), out, fmt, types=flt.types, progress=progress)


def write_groups(
    groups: Iterable[dict[str, Any]], out: TextIO, fmt: str, *, progress: Callable[[int], None] | None = None,
) -> int:
    """Write output groups (:func:`~logconsole.store.group_query.to_group`) as
    ``jsonl``, ``json`` or ``csv``; returns how many."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    n = 0
    writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(GROUP_FIELDS)
    elif fmt == "json":
        out.write("[")
    for g in groups:
        if writer is not None:
            writer.writerow([csv_cell(g[name]) for name in GROUP_FIELDS])
        elif fmt == "jsonl":
            out.write(json.dumps(g, ensure_ascii=False) + "\n")
        else:
            out.write((",\n" if n else "\n") + json.dumps(g, ensure_ascii=False))
        n += 1
        if progress and n % 1000 == 0:
            progress(n)
    if fmt == "json":
        out.write("\n]\n" if n else "]\n")
    out.flush()
    if progress:
        progress(n)
    return n


def export_groups(
    conn: sqlite3.Connection,
    flt: GroupFilter,
    out: TextIO,
    fmt: str = "jsonl",
    *,
    sort: GroupSort = LATEST_FIRST,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Export the error groups ``flt`` matches, as ``logconsole groups --format`` prints them."""
    return write_groups((to_group(g) for g in iter_groups(conn, flt, sort)), out, fmt, progress=progress)
