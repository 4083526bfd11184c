"""The console: a Textual app over the store.

The keys are listed in :mod:`logconsole.screens.main_screen` (and on screen
with ``?``); every one of them is also a command in the palette (``ctrl+p`` or
``:``).  ``[keys]`` in the config rebinds any of them by binding id
(:mod:`logconsole.screens.keys`).  The app owns the connection pool, the
clock, the theme, the keymap and the palette; the main screen owns the view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from logconsole.config import Settings
from logconsole.screens.data import ConnectionPool, store_location
from logconsole.screens.keys import check_keymap, keys_in_force
from logconsole.screens.main_screen import MainScreen
from logconsole.store.url import StoreURL
from logconsole.timeutil import utcnow


class LogConsoleApp(App[None]):
    """The log console.

    ``now`` fixes the clock (relative times, quick ranges): tests and snapshots
    pass one so that what is drawn never depends on when they run.
    """

    CSS_PATH = "app.tcss"
    TITLE = "logconsole"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", show=False, id="app.quit"),
    ]

    def __init__(
        self,
        db_path: Path | str | StoreURL,
        *,
        read_only: bool = False,
        now: datetime | None = None,
        ansi: bool = False,
        poll_interval: float = 1.0,
        cursor_blink: bool = True,
        startup_message: str | None = None,
        settings: Settings | None = None,
        opened_at: datetime | None = None,
    ) -> None:
        super().__init__()
        self.opened_at = opened_at or utcnow()
        """When the console opened (before it started a collector): retention runs
        finished earlier are not news (:mod:`logconsole.screens.retention_notice`)."""
        self.location = store_location(db_path)
        """The database: a SQLite file or a PostgreSQL URL."""
        self.db_path = self.location.path
        self.read_only = read_only
        self.fixed_now = now
        self.clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
        self.pool = ConnectionPool(self.location, readonly=read_only)
        self.poll_interval = poll_interval
        self.cursor_blink = cursor_blink
        self.startup_message = startup_message
        self.settings = settings or Settings()
        self.keymap = check_keymap(self.settings.keys, self.settings.source or "config")
        """The ``[keys]`` in force: binding id -> keys."""
        self.set_keymap(self.keymap)
        if ansi:
            self.theme = next(t for t in ANSI_THEMES if t in self.available_themes)

    def on_mount(self) -> None:
        self.push_screen(MainScreen(
            self.pool, read_only=self.read_only, clock=self.clock, fixed_now=self.fixed_now,
            poll_interval=self.poll_interval, cursor_blink=self.cursor_blink, settings=self.settings,
        ))
        if self.startup_message:
            self.notify(self.startup_message, timeout=6, markup=False)

    def on_unmount(self) -> None:
        self.pool.close()

    def on_key(self, event: events.Key) -> None:
        """Hand over keys typed right after ``/``.

        Keys arriving in one burst (a fast typist, a paste without bracketed
        paste, ``tmux send-keys``) are all routed to the list before ``/``
        moves the focus to the search box; they bubble up here with the box
        focused, which would have consumed them, so they go to the box in order.
        """
        focused = self.focused
        if focused is not None and focused.check_consume_key(event.key, event.character):
            event.stop()
            focused.post_message(events.Key(event.key, event.character))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every console action (with its key), then Textual's own."""
        if isinstance(screen, MainScreen):
            for key, description, action in _actions(screen):
                yield SystemCommand(description, f"key: {key}", partial(screen.run_action, action))
        yield from super().get_system_commands(screen)


def _actions(screen: MainScreen) -> list[tuple[str, str, str]]:
    """(keys in force, description, action) for every action of the main screen
    and the list's mark and detail."""
    from logconsole.screens.log_view import LogView

    keymap = getattr(screen.app, "keymap", {})
    list_actions = [b for b in LogView.BINDINGS if isinstance(b, Binding) and b.id in PALETTE_LIST_IDS]
    out = []
    for b in (*screen.BINDINGS, *list_actions):
        if not isinstance(b, Binding) or not b.description or b.action == "app.command_palette":
            continue
        action = f"focused.{b.action}" if b in list_actions else b.action
        out.append((keys_in_force(b, keymap), b.description, action))
    return out


ANSI_THEMES = ("ansi-dark", "textual-ansi")
"""The terminal's own colours: Textual's theme for them is ``ansi-dark`` from
8.2.5 on and ``textual-ansi`` before (the pyproject allows 8.2 to 9)."""

PALETTE_LIST_IDS = frozenset({"list.mark", "list.select"})
"""The list's own actions worth a palette entry (moving the cursor is not)."""
