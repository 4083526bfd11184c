"""The record list's columns: which, how wide, and how each cell looks.

Columns derive from :attr:`logconsole.kinds.Kind.columns` and field widths.
Every cell built from a record is a plain :class:`rich.text.Text` of
:func:`logconsole.safe_text.visible` text: never markup, never a raw control
character.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text

from logconsole import kinds as K
from logconsole.safe_text import visible
from logconsole.timeutil import parse_ts

Align = Literal["left", "right"]

SHORT_LABELS: dict[str, str] = {name: f.short for name, f in K.ALL_FIELDS.items()}
"""Column headings by field name: each field's ``short`` name from :mod:`logconsole.kinds`."""

MIN_FLEX = 24
"""Cells the flexible column keeps before other columns shrink."""
MIN_SHRUNK = 8
"""Narrowest a shrinking column gets."""
TIME_WIDTH = {"relative": 7, "absolute": 19}
HOST_WIDTH = 10
"""The host column (shown when the records come from several hosts): narrow, and
like every text column it gives up cells to the message on a narrow terminal."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the list.  ``width`` 0 takes the remaining space."""

    name: str
    label: str
    width: int
    align: Align = "left"
    sortable: bool = True


def _column(kind: K.Kind, name: str) -> Column:
    """A field's column as ``kind`` declares it (``status`` is 7 wide for AI
    records, 8 for system ones), wide enough for its heading."""
    f = kind.by_name[name]
    width = max(f.width or 10, len(f.short))
    align: Align = "right" if f.type in ("int", "number") else "left"
    return Column(name, f.short, width, align)


def columns_for(kind: K.Kind | None, time_mode: str = "relative", *, host: bool = False) -> tuple[Column, ...]:
    """The columns of a tab: time, then the kind's columns (the last one flexible).

    The overview (``kind`` None) shows type, the record's level and a summary.
    ``host`` adds the host after the time (records from several hosts); it is
    not a sort key (no index orders by it).
    """
    time_col = Column("created_at", "time", TIME_WIDTH[time_mode])
    lead = (time_col, Column("host", "host", HOST_WIDTH, sortable=False)) if host else (time_col,)
    if kind is None:
        return (
            *lead,
            Column("type", "type", 8),
            Column("level", "level", 8, sortable=False),
            Column("summary", "summary", 0, sortable=False),
        )
    cols = [_column(kind, n) for n in kind.columns if not (host and n == "host")]
    last = cols[-1]
    cols[-1] = Column(last.name, last.label, 0, last.align, last.sortable)
    return (*lead, *cols)


def layout(columns: tuple[Column, ...], width: int) -> list[int]:
    """Widths that fill ``width``: fixed columns as declared, the flexible one the rest.

    Columns are separated by one space.  When the terminal is narrow, the
    widest text columns give up cells (down to :data:`MIN_SHRUNK`) so that the
    flexible column (the message, the summary) keeps :data:`MIN_FLEX` cells.
    """
    widths = [c.width for c in columns]
    used = sum(widths) + (len(columns) - 1)
    shrinkable = [i for i, c in enumerate(columns) if c.width and c.align == "left" and c.name != "created_at"]
    while used + MIN_FLEX > width:
        i = max(shrinkable, key=lambda j: widths[j], default=None)
        if i is None or widths[i] <= MIN_SHRUNK:
            break
        widths[i] -= 1
        used -= 1
    flex = max(MIN_SHRUNK, width - used)
    return [w or flex for w in widths]


# ---------------------------------------------------------------- values


def relative_time(stored: str, now: datetime) -> str:
    """``45s``, ``12m``, ``3h``, ``5d``, ``8mo``, ``2y`` before ``now`` (``now`` when in the future)."""
    try:
        seconds = (now - parse_ts(stored)).total_seconds()
    except ValueError:
        return "?"
    if seconds < 1:
        return "now"
    for limit, unit, size in ((60, "s", 1), (3600, "m", 60), (86400, "h", 3600),
                              (86400 * 60, "d", 86400), (86400 * 730, "mo", 86400 * 30)):
        if seconds < limit:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds // (86400 * 365))}y ago"


def absolute_time(stored: str) -> str:
    """``2026-11-20 10:15:00`` in local time."""
    try:
        return parse_ts(stored).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return visible(stored, newlines=False)


def format_number(value: Any) -> str:
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def record_level(row: dict[str, Any]) -> Any:
    """The value of the field that says how bad this record is, whatever its kind."""
    return K.level_of(row)


def cell_value(row: dict[str, Any], name: str, *, time_mode: str, now: datetime) -> str:
    """A cell's text (safe: control characters visible, one line)."""
    if name == "created_at":
        stored = row.get("created_at") or ""
        return relative_time(stored, now) if time_mode == "relative" else absolute_time(stored)
    if name == "summary":
        value: Any = K.summary(row)
    elif name == "level":
        value = record_level(row)
    else:
        value = row.get(name)
    if value is None:
        return ""
    if name in K.BOOL_COLUMNS:
        return ("✓" if name == "is_resolved" else "!") if value else ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return visible(value, newlines=False)


# ---------------------------------------------------------------- styles

ACTION_ROW = Style(bold=True)
"""System records that require action stand out from the rest of the list."""
_DIM = Style(dim=True)


@lru_cache(maxsize=256)
def parse_style(text: str) -> Style | None:
    """A field's style text (from :mod:`logconsole.kinds`) as a Rich style; None when plain."""
    return Style.parse(text) if text else None


def cell_style(row: dict[str, Any], name: str) -> Style | None:
    """The cell's style: its field's colour for the value (levels, HTTP codes,
    flags), dim for the time and type columns; None for plain."""
    if name in ("created_at", "type"):
        return _DIM
    return parse_style(K.style_of(row, name))


def fit(value: str, width: int, align: Align = "left") -> str:
    """``value`` padded or cut (with an ellipsis) to exactly ``width`` cells."""
    size = cell_len(value)
    if size > width:
        return set_cell_size(value, width - 1) + "…" if width > 1 else set_cell_size(value, width)
    pad = " " * (width - size)
    return pad + value if align == "right" else value + pad


def row_text(
    row: dict[str, Any],
    columns: tuple[Column, ...],
    widths: list[int],
    *,
    time_mode: str,
    now: datetime,
) -> Text:
    """One list line: the cells padded or cut to their widths, one space apart."""
    text = Text(no_wrap=True, end="")
    for i, (col, width) in enumerate(zip(columns, widths)):
        if i:
            text.append(" ")
        value = cell_value(row, col.name, time_mode=time_mode, now=now)
        text.append(fit(value, width, col.align), cell_style(row, col.name))
    if row.get("requires_action"):
        text.stylize(ACTION_ROW)
    return text


def header_text(columns: tuple[Column, ...], widths: list[int], sort_column: str, descending: bool) -> Text:
    """The header line, with an arrow on the sorted column."""
    text = Text(no_wrap=True, end="")
    for i, (col, width) in enumerate(zip(columns, widths)):
        if i:
            text.append(" ")
        label = col.label
        if col.name == sort_column:
            label = f"{label[: max(0, width - 1)]}{'▼' if descending else '▲'}"
        style = Style(bold=True, underline=col.name == sort_column)
        text.append(fit(label, width, col.align), style)
    return text


def column_at(columns: tuple[Column, ...], widths: list[int], x: int) -> Column | None:
    """The column under screen column ``x`` of a line laid out by :func:`layout`."""
    start = 0
    for col, width in zip(columns, widths):
        if start <= x < start + width + 1:
            return col
        start += width + 1
    return None
