"""``logconsole tui``: open the console (also the bare ``logconsole``)."""

from __future__ import annotations

from pathlib import Path

import click

from logconsole.cli_options import (
    CONTEXT_SETTINGS, config_option, db_option, db_path_or_default, open_db, settings_from,
    socket_option, socket_path_or_default,
)


def _start_collector(db_path: Path, socket_path: Path, config_path: Path | None) -> str | None:
    """Start a background collector when none is listening; what happened, in words."""
    from logconsole.screens import optional

    ensure = optional.find("collectors.spawn", "ensure_collector")
    if ensure is None:
        return None
    try:
        message = ensure(db_path, socket_path, config_path)
    except Exception as exc:  # the console is still useful without a collector
        return f"could not start a collector: {exc}"
    return str(message) if message else None


@click.command(context_settings=CONTEXT_SETTINGS)
@db_option
@socket_option
@config_option
@click.option("--read-only", is_flag=True, help="View only: no resolving, deleting or demo records.")
@click.option("--no-collector", is_flag=True, help="Do not start a background collector.")
@click.option("--no-mouse", is_flag=True, help="Ignore the mouse (keyboard only).")
@click.option("--ansi", is_flag=True, help="ANSI colours, for terminals without true colour.")
def tui(db_path: Path | None, socket_path: Path | None, config_path: Path | None,
        read_only: bool, no_collector: bool, no_mouse: bool, ansi: bool) -> None:
    """Open the console: a tab per record type, search, filters, live arrivals.

    Starts a collector in the background when none is running (--no-collector
    to skip). NO_COLOR is respected. Press ? inside for every key.

    \b
    Example:
        logconsole tui --db ./logs.db --read-only
    """
    settings = settings_from(config_path)
    path = db_path_or_default(db_path)
    open_db(path, readonly=read_only).close()  # a clear error now, not inside the console
    message = None
    if not no_collector and not read_only:
        message = _start_collector(path, socket_path_or_default(socket_path), config_path)

    from logconsole.screens.app import LogConsoleApp

    app = LogConsoleApp(path, read_only=read_only, ansi=ansi, startup_message=message,
                         settings=settings)
    app.run(mouse=not no_mouse)


COMMANDS: list[click.Command] = [tui]
