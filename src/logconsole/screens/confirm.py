"""A yes/no question before a destructive action (``Delete 1,234 records?``).

| key | does |
| --- | --- |
| ``y`` | confirms |
| ``n``, ``escape`` | cancels |
| ``tab``, arrows | move between the buttons |

The *No* button has focus, so an ``enter`` pressed out of habit never deletes.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from logconsole.screens.dialog import Dialog, plain


class ConfirmScreen(Dialog[bool]):
    """Asks ``body`` under ``title``; dismisses with ``True`` only when confirmed."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel"),
        Binding("left,right,up,down", "app.focus_next", "Move", show=False, id="confirm.move"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = plain(self.title_text)
            yield Static(plain(self.body), classes="dialog--body", id="confirm-body")
            with Horizontal(classes="dialog--buttons"):
                yield Button(plain("Yes [y]"), variant="error", id="confirm-yes")
                yield Button(plain("No [n]"), id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)
