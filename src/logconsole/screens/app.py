"""The console: a Textual app over the store.

The keys are listed in :mod:`logconsole.screens.main_screen` (and on screen
with ``?``); every one of them is also a command in the palette (``ctrl+p`` or
``:``).  The app owns the connection pool, the clock, the theme and the
palette; the main screen owns the view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from logconsole.config import Settings
from logconsole.screens.data import ConnectionPool
from logconsole.screens.main_screen import MainScreen
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
        db_path: Path,
        *,
        read_only: bool = False,
        now: datetime | None = None,
        ansi: bool = False,
        poll_interval: float = 1.0,
        cursor_blink: bool = True,
        startup_message: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.read_only = read_only
        self.fixed_now = now
        self.clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
        self.pool = ConnectionPool(self.db_path, readonly=read_only)
        self.poll_interval = poll_interval
        self.cursor_blink = cursor_blink
        self.startup_message = startup_message
        self.settings = settings or Settings()
        if ansi:
            self.theme = "ansi-dark"

    def on_mount(self) -> None:
        self.push_screen(MainScreen(
            self.pool, read_only=self.read_only, clock=self.clock, fixed_now=self.fixed_now,
            poll_interval=self.poll_interval, cursor_blink=self.cursor_blink, settings=self.settings,
        ))
        if self.startup_message:
            self.notify(self.startup_message, timeout=6, markup=False)

    def on_unmount(self) -> None:
        self.pool.close()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every console action (with its key), then Textual's own."""
        if isinstance(screen, MainScreen):
            for key, description, action in _actions(screen):
                yield SystemCommand(description, f"key: {key}", partial(screen.run_action, action))
        yield from super().get_system_commands(screen)


def _actions(screen: MainScreen) -> list[tuple[str, str, str]]:
    """(key, description, action) for every binding of the main screen and its list."""
    from logconsole.screens.log_view import LogView
    from logconsole.screens.main_screen import _key_names

    out = []
    for source, prefix in ((screen.BINDINGS, ""), (LogView.BINDINGS, "focused.")):
        for b in source:
            if not isinstance(b, Binding) or not b.description or b.action.startswith("app.command_palette"):
                continue
            action = b.action if b.action.startswith("app.") else prefix + b.action if prefix else b.action
            out.append((_key_names(b.key), b.description, action))
    return out
