"""Every key of the console and what it does, in a scrollable table.

| key | does |
| --- | --- |
| ``escape``, ``q``, ``?`` | close |
| arrows, ``pageup``/``pagedown`` | scroll |
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from logconsole.screens.dialog import Dialog, plain


class HelpScreen(Dialog[None]):
    """Lists ``bindings`` as (key, what it does) pairs, in the order given."""

    DEFAULT_CSS = """
    HelpScreen > .dialog {
        width: 72;
    }
    HelpScreen DataTable {
        height: auto;
        max-height: 18;
    }
    HelpScreen #help-hint {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
    ]

    def __init__(self, bindings: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self.bindings = list(bindings)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = plain("Keys")
            table: DataTable[Text] = DataTable(
                cursor_type="row", zebra_stripes=True, id="help-table"
            )
            table.add_column(plain("Key"), key="key")
            table.add_column(plain("Does"), key="does")
            for key, does in self.bindings:
                table.add_row(Text(key, style="bold"), plain(does))
            yield table
            yield Static(plain("escape, q or ? closes"), id="help-hint")

    def on_mount(self) -> None:
        self.query_one("#help-table", DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)
