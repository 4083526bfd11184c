"""textual-serve's page and relay, behind the token, the Origin check and the session limit."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from logconsole.safe_text import visible
from logconsole.serve.console import GuardedAppService

TEMPLATES = Path(__file__).with_name("templates")
"""Our page: textual-serve's, less the web font link, with no inline script."""

DEFAULT_MAX_SESSIONS = 4

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


class GuardedServer(Server):
    """textual-serve's page and relay, behind the token, the Origin check and the session limit."""

    def __init__(self, command: str, *, public_url: str, max_sessions: int = DEFAULT_MAX_SESSIONS,
                 token: str | None = None, say: Callable[[str], None] | None = None,
                 app_env: Mapping[str, str] | None = None) -> None:
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
        self.app_env = dict(app_env or {})
        """Set in every console process's environment (a PostgreSQL URL, kept off the command line)."""

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
        """A short plain answer; the server's output says why (the request's own text, which
        whoever connects chose, with its control characters made visible)."""
        self.say(visible(f"refused {request.method} {request.path} from {request.remote}: {why}",
                         newlines=False))
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
            app_service.extra_env = self.app_env
            await app_service.start(to_int(request.query.get("width", "80"), 80),
                                    to_int(request.query.get("height", "24"), 24))
            await self._process_messages(websocket, app_service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as exc:  # a message the relay cannot read: this session ends, the server goes on
            self.say(visible(f"session ended by an error: {type(exc).__name__}: {exc}", newlines=False))
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
