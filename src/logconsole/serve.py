"""The console in a browser: textual-serve behind a token, an Origin check and a session limit.

textual-serve runs one console process per browser tab and relays its screen
over a websocket, but it checks nobody: any web page the user visits could
open that websocket and drive the console.  :class:`GuardedServer` keeps its
page, its static files and its message relay and puts one gate in front of
them:

- every request needs the session cookie, except the first visit, which
  brings the token printed at start (``/?token=...``) and swaps it for the
  cookie (HttpOnly, SameSite=Strict) and a redirect to ``/``;
- the websocket also needs an ``Origin`` equal to the served origin, so a
  page of another site (or of another port of this machine, which a
  SameSite cookie does not tell apart) cannot drive the console;
- at most ``max_sessions`` consoles run at once;
- the static files are served without directory listings, and the page
  loads nothing from outside the served origin (its own template, without
  the web font link of textual-serve's; a Content-Security-Policy says so
  to the browser too);
- the console process gets a short list of environment variables
  (:func:`app_environment`), not the server's whole environment.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

TEMPLATES = Path(__file__).with_name("serve_templates")
DEFAULT_PORT = 8765
DEFAULT_MAX_SESSIONS = 4
QUIT_SECONDS = 5.0

APP_ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TZ", "NO_COLOR", "PYTHONPATH",
    "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
    "LOGCONSOLE_DB", "LOGCONSOLE_CONFIG", "LOGCONSOLE_SOCKET",
})
"""What the console process inherits from the server's environment (with ``LC_*``):
where things are, the language, the login name that ``--allow-write`` records as
``resolved_by``.  Nothing else: tokens and passwords in the server's environment
stay there."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ServeError(Exception):
    """Why the console cannot be served (one line for the user)."""


def app_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` that the console process may see (see :data:`APP_ENV_NAMES`)."""
    return {k: v for k, v in environ.items() if k in APP_ENV_NAMES or k.startswith("LC_")}


def app_command(db_path: Path, config_path: Path | None, *, read_only: bool) -> str:
    """The shell command of one console process: ``logconsole tui`` on the same database,
    read-only unless told otherwise, never starting a collector of its own."""
    argv = [sys.executable, "-m", "logconsole", "tui", "--db", os.fspath(db_path), "--no-collector"]
    if read_only:
        argv.append("--read-only")
    if config_path is not None:
        argv += ["--config", os.fspath(config_path)]
    return "exec " + shlex.join(argv)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` as a browser writes it in ``Origin`` (no default port)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def check_public_url(url: str) -> str:
    """``url`` without a trailing ``/``, or a :class:`ServeError` saying what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServeError(f"--public-url {url!r} is not an http:// or https:// URL with a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ServeError(f"--public-url {url!r}: the console is served at the root; give no path")
    return url.rstrip("/")


class GuardedAppService(AppService):
    """A console process whose environment is :func:`app_environment` of ours, plus what
    textual-serve sets for its driver (the size, the colour system)."""

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        """Overridden because textual-serve starts from a copy of the whole ``os.environ``."""
        full = super()._build_environment(width=width, height=height)
        ours = os.environ
        return {**app_environment(ours), **{k: v for k, v in full.items() if ours.get(k) != v}}

    async def stop(self) -> None:
        """textual-serve's stop (the console is asked to quit), then the process is waited
        for, and killed if it has not ended within :data:`QUIT_SECONDS`: no console outlives
        its session, none is left unreaped."""
        await super().stop()
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            await asyncio.wait_for(process.wait(), QUIT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()


class GuardedServer(Server):
    """textual-serve's page and relay, behind the token, the Origin check and the session limit."""

    def __init__(self, command: str, *, public_url: str, max_sessions: int = DEFAULT_MAX_SESSIONS,
                 token: str | None = None, say: Callable[[str], None] | None = None) -> None:
        parts = urlsplit(public_url)
        super().__init__(command, host=parts.hostname or "", port=parts.port or 0, title="logconsole",
                         public_url=public_url, templates_path=TEMPLATES)
        self.token = token or secrets.token_urlsafe(32)
        self.origin = origin_of(public_url)
        self.max_sessions = max_sessions
        # Cookies do not tell ports apart: two servers on one host keep a cookie each.
        self.cookie_name = f"logconsole-serve-{urlsplit(self.origin).port or parts.scheme}"
        self.sessions: set[web.WebSocketResponse] = set()
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))

    @property
    def url(self) -> str:
        """The address to open: the served URL with the token."""
        return f"{self.public_url}/?token={self.token}"

    async def make_app(self) -> web.Application:
        """The aiohttp application: the page, the websocket and the static files, all behind
        :meth:`guard`; static directories are not listed."""
        app = web.Application(middlewares=[self.guard])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path),
                             context_processors=[self._page_context])
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get("/ws", self.handle_websocket, name="websocket"),
            web.static("/static", self.statics_path, show_index=False, name="static"),
        ])
        app.on_shutdown.append(self._close_sessions)
        return app

    async def _page_context(self, request: web.Request) -> dict[str, Any]:
        return {"max_sessions": self.max_sessions}

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Let a request through when it carries the cookie; swap a right token for the cookie."""
        if self._has(request.cookies.get(self.cookie_name)):
            response = await handler(request)
        elif request.path == "/" and "token" in request.query:
            if not self._has(request.query["token"]):
                return self._refuse(request, 403, "wrong token: open the URL that `logconsole serve` printed")
            response = web.Response(status=303, headers={"Location": self._without_token(request)})
            response.set_cookie(self.cookie_name, self.token, path="/", httponly=True, samesite="Strict",
                                secure=self.public_url.startswith("https:"))
        else:
            return self._refuse(request, 403, "no session: open the URL that `logconsole serve` printed")
        if not response.prepared:
            self._harden(response)
        return response

    def _has(self, secret: str | None) -> bool:
        return secret is not None and hmac.compare_digest(secret.encode(), self.token.encode())

    @staticmethod
    def _without_token(request: web.Request) -> str:
        query = request.rel_url.query.copy()
        query.popall("token")
        return str(request.rel_url.with_query(query))

    def _harden(self, response: web.StreamResponse) -> None:
        """Headers that keep the page to itself: nothing loaded from elsewhere, never framed,
        the token never sent on in a Referer."""
        websocket = "ws" + self.origin.removeprefix("http")
        response.headers.setdefault("Content-Security-Policy", (
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data:; font-src 'self'; connect-src 'self' {websocket}; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"))
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")

    def _refuse(self, request: web.Request, status: int, why: str) -> web.Response:
        self.say(f"refused {request.method} {request.path} from {request.remote}: {why}")
        response = web.Response(status=status, text=why + "\n")
        self._harden(response)
        return response

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """The console's websocket: refused for a foreign ``Origin`` or when ``max_sessions``
        consoles run already; otherwise textual-serve's relay with :class:`GuardedAppService`.

        Overridden (rather than extended) because textual-serve's handler builds its own
        ``AppService``, which would hand the console our whole environment.
        """
        origin = request.headers.get("Origin")
        if origin is None or origin.lower() != self.origin:
            return self._refuse(request, 403, f"origin {origin or '(none)'} is not {self.origin}")
        if len(self.sessions) >= self.max_sessions:
            return self._refuse(request, 503, f"{self.max_sessions} sessions are open (--max-sessions)")
        websocket = web.WebSocketResponse(heartbeat=15)
        self.sessions.add(websocket)
        app_service: AppService | None = None
        try:
            await websocket.prepare(request)
            app_service = GuardedAppService(
                self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                close=websocket.close, download_manager=self.download_manager, debug=self.debug,
            )
            await app_service.start(to_int(request.query.get("width", "80"), 80),
                                    to_int(request.query.get("height", "24"), 24))
            await self._process_messages(websocket, app_service)
        except asyncio.CancelledError:
            await websocket.close()
        finally:
            self.sessions.discard(websocket)
            if app_service is not None:
                await app_service.stop()
        return websocket

    async def _close_sessions(self, app: web.Application) -> None:
        """On shutdown: close every websocket, which quits its console process."""
        for websocket in list(self.sessions):
            await websocket.close(code=1001, message=b"server shutting down")


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
        if exc.errno == 98:  # EADDRINUSE
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

    db_path: Path
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
        host, port = sock.getsockname()[:2]
        if options.public_url is not None:
            public_url = check_public_url(options.public_url)
        elif is_wildcard(sock):
            raise ServeError(f"--host {options.host} listens on every address: say which one browsers "
                             "use with --public-url (e.g. http://192.0.2.7:8765)")
        else:
            public_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        warning = None if is_loopback(sock) else (
            f"warning: {options.host} can be reached from other machines; the token keeps others out, "
            "but the traffic is not encrypted (use an SSH tunnel or a reverse proxy with TLS)")
        command = app_command(options.db_path, options.config_path, read_only=not options.allow_write)
        server = GuardedServer(command, public_url=public_url, max_sessions=options.max_sessions,
                               token=options.token, say=say)
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
