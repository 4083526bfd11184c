"""Records as a terminal table (``logconsole query``), fitted to the width.

One kind shows that kind's default columns (:attr:`logconsole.kinds.Kind.columns`);
several kinds show a level column and a one-line summary.  Every cell that
came from a record goes through :func:`logconsole.safe_text.visible` and into
a :class:`rich.text.Text` (never markup), so a record cannot paint the
terminal, and long values end in an ellipsis instead of wrapping.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from logconsole import kinds as K
from logconsole.safe_text import visible
from logconsole.timeutil import parse_ts

MAX_CELL = 400
"""Characters kept of a value before the table fits it to its column."""

_NUMERIC = ("int", "number")
_FIXED = {"id", "created_at", "type", "level"}
_SUMMARY = "summary"
_MIN_FLEX = 8
_READABLE = 10
_READABLE_LAST = 24


def level_of(row: dict[str, Any]) -> str | None:
    """The value of a row's level field (``level``, ``severity`` or ``status``...)."""
    value = K.level_of(row)
    return None if value is None else str(value)


def default_columns(types: Sequence[str]) -> list[str]:
    """The columns shown for ``types``: one kind's own, or a summary across kinds."""
    if len(types) == 1:
        return ["id", "created_at", *K.KINDS[types[0]].columns]
    return ["id", "created_at", "type", "level", _SUMMARY]


def short_time(stored: str | None) -> str:
    """A stored time as local ``Nov 20 09:15:00`` (the year too when it is not this one)."""
    if not stored:
        return ""
    try:
        local = parse_ts(stored).astimezone()
    except ValueError:
        return str(stored)
    if local.year != datetime.now().astimezone().year:
        return f"{local:%Y-%m-%d %H:%M:%S}"
    return f"{local:%b %d %H:%M:%S}"


def cell_text(name: str, value: Any) -> str:
    """A stored value as one line of plain text."""
    if value is None:
        return ""
    if name == "created_at":
        return short_time(value)
    field = K.ALL_FIELDS.get(name)
    if field is not None and field.type == "bool":
        return "yes" if value else "no"
    if field is not None and field.type == "time":
        return short_time(value)
    if isinstance(value, float):
        return f"{value:,.1f}" if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, int) and name != "id" and name != "status_code":
        return f"{value:,}"
    if field is not None and field.type == "json" and isinstance(value, str):
        try:
            value = json.dumps(json.loads(value), ensure_ascii=False, separators=(", ", ": "))
        except ValueError:
            pass
    text = str(value)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL]
    return visible(text, newlines=False)


def _header(name: str) -> str:
    """A column's heading: the field's short name (``code``, ``ms``, ``resolved``)."""
    field = K.ALL_FIELDS.get(name)
    return field.short if field is not None else name


def _is_fixed(name: str) -> bool:
    """Columns that keep their natural width; text columns share what is left."""
    if name in _FIXED:
        return True
    field = K.ALL_FIELDS.get(name)
    return field is not None and (field.type in (*_NUMERIC, "bool", "enum", "time") or field.upper)


def fit_widths(columns: Sequence[str], natural: Sequence[int], width: int) -> list[int]:
    """Widths for ``columns`` so the table fits ``width`` characters; 0 hides a column.

    Fixed columns (ids, times, levels, numbers) keep their natural width; the
    text columns share the rest, a narrow one taking only what it needs and
    handing the remainder to the wider ones (water-filling).  The last text
    column (the message, title, prompt or summary) counts double, and when
    the terminal is too narrow for every text column to be readable, the
    ones before it are hidden, nearest first.
    """
    out = list(natural)
    flex = [i for i, name in enumerate(columns) if not _is_fixed(name)]
    if not flex:
        return out
    fixed_width = sum(n for i, n in enumerate(natural) if i not in flex)

    def room() -> int:
        shown = len(columns) - sum(1 for w in out if w == 0)
        return width - 3 * (shown - 1) - fixed_width

    def needs() -> int:
        return sum(min(natural[i], _READABLE) for i in flex[:-1]) + min(natural[flex[-1]], _READABLE_LAST)

    while len(flex) > 1 and needs() > room():
        out[flex.pop(-2)] = 0
    available = room()
    if sum(natural[i] for i in flex) <= available:
        return out
    weight = {i: 1.0 for i in flex}
    weight[flex[-1]] = 2.0
    remaining = list(flex)
    while remaining:
        total = sum(weight[i] for i in remaining)
        floor = min(_MIN_FLEX, max(1, available // len(remaining)))
        shares = {i: max(int(available * weight[i] / total), floor) for i in remaining}
        fits = [i for i in remaining if natural[i] <= shares[i]]
        if not fits:
            spare = available - sum(shares.values())
            widest = max(remaining, key=lambda i: shares[i])
            shares[widest] = max(floor, shares[widest] + spare)
            for i in remaining:
                out[i] = shares[i]
            break
        for i in fits:
            out[i] = natural[i]
            available -= natural[i]
            remaining.remove(i)
    return out


def record_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, width: int = 80,
) -> Table:
    """A table of stored ``rows`` showing ``columns`` (see :func:`default_columns`),
    no wider than ``width``."""
    body = [[_cell(row, name) for name in columns] for row in rows]
    headers = [_header(name) for name in columns]
    natural = [
        max([len(headers[c]), *(t.cell_len for t in (r[c] for r in body))])
        for c in range(len(columns))
    ]
    widths = fit_widths(columns, natural, width)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, header_style="bold")
    shown = [c for c, w in enumerate(widths) if w > 0]
    for c in shown:
        name, header, w = columns[c], headers[c], widths[c]
        field = K.ALL_FIELDS.get(name)
        numeric = field is not None and field.type in _NUMERIC
        table.add_column(
            header, justify="right" if numeric else "left",
            no_wrap=True, overflow="ellipsis", width=w,
        )
    for cells in body:
        table.add_row(*(cells[c] for c in shown))
    return table


def _cell(row: dict[str, Any], name: str) -> Text:
    if name == _SUMMARY:
        return Text(visible(K.summary(row)[:MAX_CELL], newlines=False))
    if name == "level":
        return Text(visible(level_of(row) or "", newlines=False), style=K.style_of(row, name))
    text = Text(cell_text(name, row.get(name)))
    if name in ("created_at", "id"):
        text.stylize("dim")
    else:
        text.stylize(K.style_of(row, name))
    return text


__all__ = [
    "cell_text", "default_columns", "fit_widths", "level_of", "record_table",
    "short_time",
]
