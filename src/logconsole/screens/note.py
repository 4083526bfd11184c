"""The note that goes with resolving errors ("Resolve 3 errors").

| key | does |
| --- | --- |
| ``enter`` | resolves with the note typed (a note is required) |
| ``escape`` | cancels |

A resolution without a note tells the next engineer nothing, so an empty note
is refused with a message instead of being stored.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from logconsole.screens.dialog import Dialog, ErrorLine, plain

NOTE_REQUIRED = "A note is required: say what fixed it or why it can be ignored."


def resolve_title(count: int) -> str:
    return f"Resolve {count:,} error{'' if count == 1 else 's'}"


class NoteScreen(Dialog[str | None]):
    """Asks for a resolution note; dismisses with the note (stripped) or ``None``."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="note.cancel"),
    ]

    def __init__(self, count: int, title: str | None = None) -> None:
        super().__init__()
        self.count = count
        self.title_text = title or resolve_title(count)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = plain(self.title_text)
            yield Static(plain("Resolution note:"))
            yield Input(placeholder="e.g. fixed by deploy 2026-11-27, retry added", id="note-input")
            yield ErrorLine(id="note-error")
            with Horizontal(classes="dialog--buttons"):
                yield Button("Resolve", variant="primary", id="note-ok")
                yield Button("Cancel", id="note-cancel")

    def on_mount(self) -> None:
        self.query_one("#note-input", Input).focus()

    @on(Input.Submitted, "#note-input")
    @on(Button.Pressed, "#note-ok")
    def submit(self) -> None:
        note = self.query_one("#note-input", Input).value.strip()
        if not note:
            self.query_one("#note-error", ErrorLine).show(NOTE_REQUIRED)
            self.query_one("#note-input", Input).focus()
            return
        self.dismiss(note)

    @on(Input.Changed, "#note-input")
    def _typing(self) -> None:
        self.query_one("#note-error", ErrorLine).clear()

    @on(Button.Pressed, "#note-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
