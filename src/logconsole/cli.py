"""The ``logconsole`` command: a click group; the bare command opens the console."""

from __future__ import annotations

import os

import click
from click.core import ParameterSource

from logconsole import __version__
from logconsole.cli_options import CONTEXT_SETTINGS
from logconsole.commands import collector_commands, serve_command, store_commands, tui_command


@click.group(invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="logconsole")
@tui_command.console_options
@click.pass_context
def cli(ctx: click.Context, **console: object) -> None:
    """logconsole: collect, search and export application logs.

    Without a command, opens the console (same as `logconsole tui`; the
    options below are the console's).

    \b
    Example:
        logconsole query --type error --since 2h --where severity=critical
    """
    if ctx.invoked_subcommand is None:
        tui_command.run_console(**console)  # type: ignore[arg-type]
        return
    # `logconsole --db X query`: paths given before the command hold for it.
    for param, var in _PATH_ENV.items():
        if ctx.get_parameter_source(param) == ParameterSource.COMMANDLINE and console.get(param):
            value = console[param]  # a path, or a store URL (its conninfo)
            os.environ[var] = getattr(value, "conninfo", None) or os.fspath(value)  # type: ignore[arg-type]


_PATH_ENV = {"db_path": "LOGCONSOLE_DB", "socket_path": "LOGCONSOLE_SOCKET", "config_path": "LOGCONSOLE_CONFIG"}


for module in (store_commands, collector_commands, tui_command, serve_command):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli(prog_name="logconsole")
