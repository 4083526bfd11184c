"""The detail pane: every field of one record, readable and safe.

JSON fields are pretty-printed and highlighted, stack traces highlighted, long
text wrapped; the pane scrolls.  Every string from the record passes
:func:`logconsole.safe_text.visible` and is rendered as plain text or through
a syntax highlighter, never as markup.

Keys (when the pane has focus): ``escape`` back to the list, ``y`` copy the
record as JSON, ``enter`` or ``z`` the pane fills the screen (again: back
beside the list), arrows and page keys scroll.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from logconsole import kinds as K
from logconsole.safe_text import visible
from logconsole.screens.columns import absolute_time, relative_time
from logconsole.store.query import to_record

SYNTAX_THEME = "ansi_dark"
"""Colours from the terminal's own palette: right in true-colour and ANSI terminals."""


def record_json(row: dict[str, Any]) -> str:
    """The record as indented JSON (what ``y`` copies and ``export`` writes)."""
    return json.dumps(to_record(row), ensure_ascii=False, indent=2)


def json_block(value: Any) -> RenderableType:
    """Parsed JSON, indented and highlighted.  ``json.dumps`` escapes C0 controls
    inside strings; :func:`visible` catches the rest (C1, bidi overrides)."""
    text = visible(json.dumps(value, ensure_ascii=False, indent=2))
    return Syntax(text, "json", theme=SYNTAX_THEME, word_wrap=True, background_color="default")


def stack_block(stack: str) -> RenderableType:
    """A stack trace: Python tracebacks through the traceback lexer, others with
    file:line locations picked out."""
    shown = visible(stack)
    if shown.lstrip().startswith("Traceback"):
        return Syntax(shown, "pytb", theme=SYNTAX_THEME, word_wrap=True, background_color="default")
    text = Text(shown)
    text.highlight_regex(r"[\w./\\-]+\.\w+:\d+(?::\d+)?", "cyan")
    text.highlight_regex(r"(?m)^\s*at\s", "dim")
    return text


def _value(name: str, value: Any, style: str = "") -> RenderableType:
    if name in K.JSON_COLUMNS:
        try:
            return json_block(json.loads(value) if isinstance(value, str) else value)
        except ValueError:
            return Text(visible(value))
    if name == "stack":
        return stack_block(str(value))
    if name in K.BOOL_COLUMNS:
        return Text("yes" if value else "no", style)
    if style:
        return Text(visible(value), style)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return Text(visible(value))


def render_record(row: dict[str, Any], now: datetime) -> RenderableType:
    """The pane's content for a stored row."""
    kind = K.KINDS.get(row.get("type"))  # type: ignore[arg-type]
    created = str(row.get("created_at") or "")
    title = Text.assemble(
        (f"#{row.get('id')} ", "bold"),
        (kind.label if kind else visible(row.get("type")), "bold"),
        "  ",
        (f"{absolute_time(created)} ({relative_time(created, now)})", "dim"),
    )
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    names = kind.field_names if kind else ()
    skip = {"resolution", "resolved_at", "resolved_by", "is_resolved", "stack"}
    for name in (*names, "extra"):
        if name in skip or name not in row:
            continue
        value = row.get(name)
        if value is None or value == "":
            continue
        grid.add_row(K.ALL_FIELDS[name].label, _value(name, value, K.style_of(row, name)))
    parts: list[RenderableType] = [title, grid]
    if row.get("type") == "error":
        parts.append(_resolution(row, now))
    if row.get("stack"):
        parts.extend([Text("stack", style="bold"), stack_block(str(row["stack"]))])
    return Group(*parts)


def _resolution(row: dict[str, Any], now: datetime) -> RenderableType:
    if not row.get("is_resolved"):
        return Text("unresolved", style="bold red")
    when = str(row.get("resolved_at") or "")
    text = Text("resolved", style="bold green")
    if row.get("resolved_by"):
        text.append(" by ")
        text.append(visible(row["resolved_by"], newlines=False), "bold")
    if when:
        text.append(f" at {absolute_time(when)} ({relative_time(when, now)})")
    if row.get("resolution"):
        text.append("\nnote: ", "bold")
        text.append(visible(row["resolution"]))
    return text


class DetailPane(VerticalScroll, can_focus=True):
    """A scrollable pane showing the record under the list's cursor.

    Below the list of a small terminal it has a handful of lines, so it can
    fill the screen (:meth:`textual.screen.Screen.maximize`); ``escape`` brings
    the list back.
    """

    ALLOW_MAXIMIZE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "screen.close_detail", "Close", id="detail.close"),
        Binding("y", "screen.copy_record", "Copy JSON", id="detail.copy"),
        Binding("enter,z", "screen.toggle_full_detail", "Full screen", id="detail.full"),
        Binding("escape,enter,z", "screen.minimize", "Back to the list", id="detail.back"),
        Binding("tab,shift+tab", "screen.focus_list", "List", show=False, id="detail.list"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.row: dict[str, Any] | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Text("no record"), id="detail-body")

    def show_row(self, row: dict[str, Any] | None, now: datetime, *, loading: bool = False) -> None:
        """Show ``row``; None shows ``loading…`` while its page is read, else ``no record``."""
        self.row = row
        body = self.query_one("#detail-body", Static)
        if row is None:
            body.update(Text("loading…" if loading else "no record", style="dim"))
        else:
            body.update(render_record(row, now))
        self.scroll_home(animate=False)
