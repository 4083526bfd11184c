"""The group list: the record list's machinery fed by error groups.

:class:`GroupView` is a :class:`~logconsole.screens.log_view.LogView` whose
pages come from :mod:`logconsole.store.group_query` (keyset pages over
``error_groups``) instead of records, and whose rows render as groups: last
seen, count, users, worst severity, status, error type, a trend of the last
24 hours and the normalised message.  Page cache, cursor, marks, read-ahead and
the repaint-only-what-changed rule are the list's own, so the group list is as
quiet over SSH as the record list.

The trend costs one query per page (:func:`~logconsole.store.group_query.hourly_counts`
for the page's group ids), never one per row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import work

from logconsole.fingerprint import message_template
from logconsole.safe_text import visible
from logconsole.screens import columns as C
from logconsole.screens.data import PAGE_SIZE, STORE_ERRORS, Neighbours, max_id, store_error_text
from logconsole.screens.log_view import LogView
from logconsole.store import group_query as G
from logconsole.store.interface import Store

SPARKS = "▁▂▃▄▅▆▇█"
TREND_WIDTH = 12
"""Characters of the trend at full width (each sums two of the 24 hours); a
narrow terminal gets fewer, each summing more hours."""

GROUP_SORT_LABELS = {"last_seen": "last seen", "first_seen": "first seen", "count": "count", "users": "users"}

STATUS_STYLES = {
    "open": Style(color="yellow"),
    "regressed": Style(color="red", bold=True),
    "resolved": Style(color="green"),
    "ignored": Style(dim=True),
}


def group_columns(time_mode: str = "relative") -> tuple[C.Column, ...]:
    """The group list's columns (the message takes the remaining width)."""
    return (
        C.Column("last_seen", "seen", C.TIME_WIDTH[time_mode]),
        C.Column("count", "count", 6, "right"),
        C.Column("users", "users", 5, "right"),
        C.Column("severity", "sev", 8, sortable=False),
        C.Column("status", "status", 9, sortable=False),
        C.Column("error_type", "error", 14, sortable=False),
        C.Column("trend", "24h", TREND_WIDTH, sortable=False),
        C.Column("message", "message", 0, sortable=False),
    )


def sparkline(hours: list[int], width: int = TREND_WIDTH) -> str:
    """``hours`` (oldest first) as at most ``width`` bars, each the sum of as
    many hours as it takes, scaled to the busiest; blank where there were none."""
    if not hours or width < 1:
        return ""
    step = -(-len(hours) // width)
    buckets = [sum(hours[max(0, end - step):end]) for end in range(len(hours), 0, -step)][::-1]
    top = max(buckets)
    if not top:
        return " " * len(buckets)
    return "".join(" " if n == 0 else SPARKS[min(len(SPARKS) - 1, (n * len(SPARKS) - 1) // top)] for n in buckets)


def group_cell(row: dict[str, Any], name: str, *, time_mode: str, now: datetime) -> str:
    """A cell's text (safe: control characters visible, one line); the message
    as its template (``timed out after {n} ms``), the text the group stands for."""
    value = row.get("template", row.get(name)) if name == "message" else row.get(name)
    if name == "last_seen":
        stored = value or ""
        return C.relative_time(stored, now) if time_mode == "relative" else C.absolute_time(stored)
    if name == "users" and row.get("users_approx"):
        return f"~{value}"
    if value is None:
        return ""
    return visible(value, newlines=False) if isinstance(value, str) else C.format_number(value)


def group_cell_style(row: dict[str, Any], name: str) -> Style | None:
    if name == "last_seen":
        return Style(dim=True)
    if name == "status":
        return STATUS_STYLES.get(str(row.get("status")))
    if name == "severity":
        return C.cell_style({"type": "error", "severity": row.get("severity")}, "severity")
    if name == "trend":
        return Style(color="cyan")
    return None


def group_text(row: dict[str, Any], columns: tuple[C.Column, ...], widths: list[int], *,
               time_mode: str, now: datetime) -> Text:
    text = Text(no_wrap=True, end="")
    for i, (col, width) in enumerate(zip(columns, widths)):
        if i:
            text.append(" ")
        if col.name == "trend":
            value = sparkline(row.get("trend") or [], width)
        else:
            value = group_cell(row, col.name, time_mode=time_mode, now=now)
        text.append(C.fit(value, width, col.align), group_cell_style(row, col.name))
    return text


class GroupView(LogView):
    """Error groups matching a :class:`~logconsole.store.group_query.GroupFilter`, page by page."""

    TIME_FIELD: ClassVar[str] = "last_seen"

    def row_text(self, row: dict[str, Any], widths: list[int]) -> Text:
        return group_text(row, self.columns, widths, time_mode=self.time_mode, now=self._now)

    @work(thread=True, exclusive=True, group="count")
    def _count(self, generation: int, flt: G.GroupFilter, top: int) -> None:  # type: ignore[override]
        """Count the groups (an index walk of ``error_groups``, never of records)."""
        try:
            with self.pool.store() as store:
                total = store.group_count(flt)
        except STORE_ERRORS as exc:
            if generation == self.generation:
                self.post_message(self.Failed(f"cannot count groups: {store_error_text(exc)}"))
            return
        self.post_message(self.Counted(generation, total, top))

    @work(thread=True, group="pages")
    def _load(  # type: ignore[override]
        self, generation: int, flt: G.GroupFilter, sort: G.GroupSort, page: int, total: int | None,
        neighbours: Neighbours, snapshot_id: int,
    ) -> None:
        """A page of groups (a keyset continuation from a cached neighbour when
        there is one), each with its trend, and the newest record id."""
        try:
            with self.pool.store() as store, store.snapshot():
                rows = fetch_group_page(store, flt, sort, page, neighbours)
                trends = store.group_hourly_counts((r["id"] for r in rows), self.clock())
                top = max_id(store)
        except STORE_ERRORS as exc:
            self.post_message(self.Failed(f"cannot read groups: {store_error_text(exc)}"))
            return
        for row in rows:
            row["trend"] = trends.get(int(row["id"]), [])
            row["template"] = message_template(str(row.get("message") or ""))
        self.post_message(self.PageLoaded(generation, page, rows, top))


def fetch_group_page(store: Store, flt: G.GroupFilter, sort: G.GroupSort, page: int,
                     neighbours: Neighbours = Neighbours()) -> list[dict[str, Any]]:
    """Groups ``page * PAGE_SIZE`` .. ``+ PAGE_SIZE``: after the previous page's
    last row when it is cached (cost independent of depth), else by offset."""
    if page == 0 or neighbours.before is not None:
        after = G.group_cursor(neighbours.before, sort) if neighbours.before is not None else None
        return store.group_page(flt, sort, limit=PAGE_SIZE, after=after)
    return store.group_page(flt, sort, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
