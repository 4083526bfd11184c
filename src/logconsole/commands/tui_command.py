"""``logconsole tui``: open the console (also the bare ``logconsole``, with the same options)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from logconsole.cli_options import (
    CONTEXT_SETTINGS,
    config_option,
    db_option,
    db_path_or_default,
    open_db,
    settings_from,
    socket_option,
    socket_path_or_default,
)
from logconsole.store.url import StoreURL

if TYPE_CHECKING:
    from logconsole.config import Settings

F = TypeVar("F", bound=Callable[..., Any])


def console_options(f: F) -> F:
    """The console's options, declared once for ``logconsole tui`` and bare ``logconsole``."""
    decorators = [
        db_option,
        socket_option,
        config_option,
        click.option("--read-only", is_flag=True,
                     help="View only: no resolving, deleting or demo records; no collector started."),
        click.option("--no-collector", is_flag=True, help="Do not start a background collector."),
        click.option("--no-mouse", is_flag=True, help="Ignore the mouse (keyboard only)."),
        click.option("--ansi", is_flag=True, help="ANSI colours, for terminals without true colour."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def check_console(db_path: Path | StoreURL | None, config_path: Path | None, *,
                  read_only: bool) -> tuple[Path | StoreURL, Settings]:
    """The database (a file, or a PostgreSQL URL) and settings the console would open
    with, or a one-line error now (a bad key map, a missing or damaged database, a
    server that cannot be reached) rather than inside the console."""
    settings = settings_from(config_path)
    from logconsole.config import ConfigError
    from logconsole.screens.keys import check_keymap

    try:
        check_keymap(settings.keys, settings.source or "config")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if isinstance(db_path, StoreURL):
        from logconsole.store.db import StoreError
        from logconsole.store.interface import open_store

        try:
            open_store(db_path, readonly=read_only).close()
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        return db_path, settings
    path = db_path_or_default(db_path)
    open_db(path, readonly=read_only).close()
    return path, settings


NO_COLLECTOR_FOR_POSTGRESQL = (
    "No collector started here: with a PostgreSQL database the collectors run on the hosts "
    "(`logconsole daemon` with LOGCONSOLE_DB set on each)")
"""What the console says instead of starting a collector for a PostgreSQL database."""


def run_console(
    db_path: Path | StoreURL | None = None, socket_path: Path | None = None, config_path: Path | None = None,
    read_only: bool = False, no_collector: bool = False, no_mouse: bool = False, ansi: bool = False,
) -> None:
    """Open the console with what the options said."""
    from logconsole.timeutil import utcnow

    opened_at = utcnow()  # before the collector starts: its first retention run is news
    path, settings = check_console(db_path, config_path, read_only=read_only)
    message = None
    if isinstance(path, StoreURL):
        message = None if no_collector or read_only else NO_COLLECTOR_FOR_POSTGRESQL
    elif not no_collector and not read_only:
        from logconsole.collectors.spawn import ensure_collector

        message = ensure_collector(path, socket_path_or_default(socket_path), config_path)

    from logconsole.screens.app import LogConsoleApp

    app = LogConsoleApp(path, read_only=read_only, ansi=ansi, startup_message=message, settings=settings,
                        opened_at=opened_at)
    app.run(mouse=not no_mouse)


@click.command(context_settings=CONTEXT_SETTINGS)
@console_options
def tui(**options: Any) -> None:
    """Open the console: a tab per record type, search, filters, live arrivals.

    Starts a collector in the background when none is running (--no-collector
    to skip). NO_COLOR is respected. Press ? inside for every key.

    \b
    Example:
        logconsole tui --db ./logs.db --read-only
    """
    run_console(**options)


COMMANDS: list[click.Command] = [tui]
