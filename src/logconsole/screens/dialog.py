"""The frame every dialog shares: a centred box with a title, a body and buttons.

Dialogs are :class:`~textual.screen.ModalScreen` subclasses so the console
stays visible (dimmed) behind them.  Text handed to a dialog is shown as plain
text, never parsed as markup, whether it came from the console or a record.
"""

from __future__ import annotations

from rich.text import Text
from textual.screen import ModalScreen, ScreenResultType
from textual.widgets import Static


class Dialog(ModalScreen[ScreenResultType]):
    """A modal dialog: compose its content inside a ``Vertical(classes="dialog")``."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
    }
    Dialog > .dialog {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    Dialog .dialog--body {
        height: auto;
        margin-bottom: 1;
    }
    Dialog .dialog--error {
        height: auto;
        color: $error;
    }
    Dialog .dialog--error.-empty {
        display: none;
    }
    Dialog .dialog--buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }
    Dialog .dialog--buttons Button {
        margin-left: 1;
    }
    """


def plain(text: str) -> Text:
    """``text`` as a renderable that is never read as markup."""
    return Text(text)


class ErrorLine(Static):
    """An inline error message; hidden while empty."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", markup=False, id=id, classes="dialog--error -empty")

    def show(self, message: str) -> None:
        self.update(Text(message))
        self.set_class(not message, "-empty")

    def clear(self) -> None:
        self.show("")
