"""``logconsole serve``: the console in a browser, one console process per tab."""

from __future__ import annotations

from pathlib import Path

import click

from logconsole.cli_options import CONTEXT_SETTINGS, config_option, db_option
from logconsole.commands.command_helpers import say
from logconsole.commands.tui_command import check_console


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--host", metavar="ADDRESS", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but this machine's own (loopback) gets a warning.")
@click.option("--port", metavar="N", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port; the printed URL says which).")
@click.option("--public-url", metavar="URL", default=None,
              help="The address browsers use, when it is not http://HOST:PORT "
              "(a reverse proxy, or --host 0.0.0.0); the websocket's Origin must match it.")
@click.option("--max-sessions", metavar="N", type=click.IntRange(1, 1000), default=4, show_default=True,
              help="Consoles running at once (one per browser tab); further sessions are refused.")
@click.option("--allow-write", is_flag=True,
              help="Let the browser resolve and delete (default: read-only).")
@db_option
@config_option
def serve(host: str, port: int, public_url: str | None, max_sessions: int, allow_write: bool,
          db_path: Path | None, config_path: Path | None) -> None:
    """Serve the console to a browser: open the URL it prints.

    The URL carries a random token, swapped for a cookie on the first visit;
    without it every request is refused, and the websocket also wants the
    page's own Origin. Each browser tab runs its own console, read-only
    unless --allow-write; none starts a collector. Stop with Ctrl+C.

    \b
    Examples:
        logconsole serve
        logconsole serve --db ./logs.db --port 9000 --max-sessions 2
        ssh -t -L 8765:127.0.0.1:8765 HOST logconsole serve   # HOST's logs, here
    """
    from logconsole.serve import ServeError, ServeOptions, serve_forever

    path, _ = check_console(db_path, config_path, read_only=not allow_write)
    location = path.resolve() if isinstance(path, Path) else path
    options = ServeOptions(db_path=location, config_path=config_path.resolve() if config_path else None,
                           host=host, port=port, public_url=public_url, max_sessions=max_sessions,
                           allow_write=allow_write)
    try:
        serve_forever(options, say)
    except ServeError as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS: list[click.Command] = [serve]
