"""``logconsole tui`` (being built)."""

from __future__ import annotations

import click

from logconsole.cli_options import CONTEXT_SETTINGS


@click.command(context_settings=CONTEXT_SETTINGS)
def tui() -> None:
    """Open the console."""
    raise click.ClickException("the console is not built yet")


COMMANDS: list[click.Command] = [tui]
