"""Listening, starting and stopping: what ``logconsole serve`` runs."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import signal
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from logconsole.serve.console import app_command, app_database_env
from logconsole.serve.guard import DEFAULT_MAX_SESSIONS, GuardedServer
from logconsole.store.url import StoreURL

# textual-serve's templates keep their context under a string key, which aiohttp
# warns about on the first page served: a line for the maintainers, not the user.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning)

DEFAULT_PORT = 8765


class ServeError(Exception):
    """Why the console cannot be served (one line for the user)."""


def check_public_url(url: str) -> str:
    """``url`` without a trailing ``/``, or a :class:`ServeError` saying what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServeError(f"--public-url {url!r} is not an http:// or https:// URL with a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ServeError(f"--public-url {url!r}: the console is served at the root; give no path")
    return url.rstrip("/")


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: any free port), or a one-line
    :class:`ServeError` (port in use, no such host, no permission)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is in use; choose another with --port") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def is_loopback(sock: socket.socket) -> bool:
    """Whether ``sock`` listens on this machine only."""
    return ipaddress.ip_address(sock.getsockname()[0].split("%")[0]).is_loopback


def is_wildcard(sock: socket.socket) -> bool:
    return ipaddress.ip_address(sock.getsockname()[0].split("%")[0]).is_unspecified


@dataclass(slots=True)
class ServeOptions:
    """What ``logconsole serve`` was asked for."""

    db_path: Path | StoreURL
    config_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_url: str | None = None
    max_sessions: int = DEFAULT_MAX_SESSIONS
    allow_write: bool = False
    token: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class Serving:
    """A running server: its guard (with the URL and token) and the aiohttp runner."""

    server: GuardedServer
    runner: web.AppRunner
    warning: str | None

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start(options: ServeOptions, say: Callable[[str], None] | None = None) -> Serving:
    """Listen and serve; the caller prints ``serving.server.url`` and later awaits ``stop()``."""
    sock = listen(options.host, options.port)
    try:
        port = sock.getsockname()[1]
        if options.public_url is not None:
            public_url = check_public_url(options.public_url)
        elif is_wildcard(sock):
            raise ServeError(f"--host {options.host} listens on every address: say which one browsers "
                             "use with --public-url (e.g. http://192.0.2.7:8765)")
        else:
            host = options.host  # as given: the browser's Origin names the host as the user typed it
            public_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        warning = None if is_loopback(sock) else (
            f"warning: {options.host} can be reached from other machines; the token keeps others out, "
            "but the traffic is not encrypted (use an SSH tunnel or a reverse proxy with TLS)")
        command = app_command(options.db_path, options.config_path, read_only=not options.allow_write)
        server = GuardedServer(command, public_url=public_url, max_sessions=options.max_sessions,
                               token=options.token, say=say, app_env=app_database_env(options.db_path))
        runner = web.AppRunner(await server.make_app(), access_log=None, handle_signals=False,
                               shutdown_timeout=5)
        await runner.setup()
        await web.SockSite(runner, sock).start()
    except BaseException:
        sock.close()
        raise
    return Serving(server, runner, warning)


def serve_forever(options: ServeOptions, say: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM; ``say`` prints the URL (and any warning) once listening."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # before the URL: a script may stop us once it has it
            loop.add_signal_handler(sig, stop.set)
        serving = await start(options, say=say)
        if serving.warning:
            say(serving.warning)
        mode = "read and write" if options.allow_write else "read-only"
        say(f"logconsole serve: {options.db_path} ({mode}), at most {options.max_sessions} sessions; "
            "Ctrl+C stops")
        print(serving.server.url, flush=True)
        try:
            await stop.wait()
        finally:
            await serving.stop()

    asyncio.run(main())
