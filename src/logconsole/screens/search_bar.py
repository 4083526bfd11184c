"""The search box: full-text search applied as you type and on ``enter``.

``/`` (an app key) opens and focuses it.  Typing applies the search after a
short pause (the last word as a prefix, so ``time`` finds ``timeout``; it
waits for three letters of a word, or ``enter``);
``enter`` applies it as written and returns to the list; ``escape`` restores
the search that was active before and returns to the list.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input

DEBOUNCE_SECONDS = 0.15
"""Typing pause after which the search runs."""

MIN_PREFIX = 3
"""While typing, a last word shorter than this waits for more (or ``enter``): a
one-letter prefix matches half of a large database and answers nothing."""


class SearchBar(Input):
    """An input that posts :class:`SearchBar.Changed` / :class:`SearchBar.Done`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel search", id="search.cancel"),
    ]

    class Applied(Message):
        """Search for ``text`` (``prefix``: while typing, the last word is a prefix)."""

        def __init__(self, text: str, prefix: bool) -> None:
            super().__init__()
            self.text = text
            self.prefix = prefix

    class Closed(Message):
        """The user is done with the box (``enter`` or ``escape``)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="search (enter: apply, escape: cancel)", id=id)
        self.previous = ""
        self._timer: Timer | None = None

    def open(self, current: str) -> None:
        """Show and focus the box, remembering ``current`` to restore on escape."""
        self.previous = current
        self.value = current
        self.cursor_position = len(current)
        self.display = True
        # Focus now, not after a refresh: keys typed right after "/" belong to the box.
        self.screen.set_focus(self)

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.display = bool(self.value)
        self.post_message(self.Closed())

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if not self.has_focus:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_SECONDS, self._apply_typed)

    def _apply_typed(self) -> None:
        self._timer = None
        words = self.value.split()
        if words and len(words[-1]) < MIN_PREFIX and not self.value[-1:].isspace():
            return
        self.post_message(self.Applied(self.value, prefix=True))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.post_message(self.Applied(self.value, prefix=False))
        self._close()

    def action_cancel(self) -> None:
        self.value = self.previous
        self.post_message(self.Applied(self.previous, prefix=False))
        self._close()
