"""Recording every request of a web app: :class:`WSGIMiddleware` and
:class:`ASGIMiddleware`, with the rules of the original request interceptor
(categories by URL prefix, skipped paths, JSON bodies, error records for
exceptions and 4xx/5xx answers).  Standard library only."""

from __future__ import annotations

import collections
import io
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from logconsole.client.request_context import correlation, from_headers
from logconsole.client.log_client import LogClient, get_client

REQUEST_ID_HEADER = "X-Request-ID"
"""Echoed on every recorded response (unless the app set it), so a user's
report or a proxy's log leads to the request's records."""
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.lower().encode()
MAX_BODY = 10_000
"""Largest request body (bytes) the middleware records."""
DEFAULT_SKIP = ("/health", "/static", "/docs", "/favicon.ico")
DEFAULT_CATEGORIES: Mapping[str, str] = {
    "/api/auth": "security",
    "/api/payments": "payment",
    "/api/admin": "admin",
    "/api/ai": "ai",
    "/api/chat": "chat",
    "/api/users": "user",
    "/api/courses": "course",
}


def _under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it (``/api`` covers ``/api/x``, not ``/apix``)."""
    prefix = prefix.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


@dataclass(slots=True)
class _Request:
    """What the middleware records about one request (server-neutral)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    remote_addr: str | None
    started: float = field(default_factory=time.perf_counter)
    body: bytes | None = None
    body_size: int | None = None
    status: int | None = None
    response_size: int = 0
    content_type: str | None = None


class _RequestRecorder:
    """The request-interceptor rules, shared by the WSGI and ASGI middleware."""

    def __init__(
        self,
        client: LogClient | None,
        skip: Iterable[str],
        categories: Mapping[str, str] | None,
        max_body: int,
        trust_forwarded: bool,
    ) -> None:
        self._client = client
        self.skip = tuple(skip)
        rules = DEFAULT_CATEGORIES if categories is None else categories
        self.categories = sorted(rules.items(), key=lambda kv: len(kv[0]), reverse=True)
        self.max_body = max_body
        self.trust_forwarded = trust_forwarded

    @property
    def client(self) -> LogClient:
        return self._client or get_client()

    def skipped(self, path: str) -> bool:
        return any(_under(path, prefix) for prefix in self.skip)

    def category(self, path: str) -> str | None:
        """The category of the longest URL prefix rule ``path`` falls under."""
        for prefix, name in self.categories:
            if _under(path, prefix):
                return name
        return None

    def wants_body(self, headers: Mapping[str, str]) -> bool:
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            return False
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            return False
        return 0 < length <= self.max_body

    def ip(self, req: _Request) -> str | None:
        forwarded = req.headers.get("x-forwarded-for", "") if self.trust_forwarded else ""
        first = forwarded.split(",")[0].strip()
        return first or req.remote_addr

    def request_data(self, req: _Request) -> dict[str, Any] | None:
        data: dict[str, Any] = {}
        if req.query:
            if len(req.query) > self.max_body:
                data["query"] = {"truncated": True, "size": len(req.query)}
            else:
                parsed = urllib.parse.parse_qs(req.query, keep_blank_values=True)
                data["query"] = {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}
        if req.body is not None:
            try:
                data["body"] = json.loads(req.body)
            except ValueError:
                data["body"] = {"invalid_json": True, "size": len(req.body)}
        elif req.body_size:
            data["body"] = {"truncated": True, "size": req.body_size}
        return data or None

    def record(
        self, req: _Request, user_id: Any, exc: BaseException | None = None
    ) -> None:
        """Log the activity record of a finished request (and its error record)."""
        try:
            status = req.status if req.status is not None else 500
            duration = round((time.perf_counter() - req.started) * 1000, 1)
            common: dict[str, Any] = {
                "endpoint": req.path,
                "method": req.method,
                "status_code": status,
                "ip_address": self.ip(req),
                "user_agent": req.headers.get("user-agent"),
            }
            if user_id is not None:
                common["user_id"] = str(user_id)
            level = "error" if status >= 500 or exc is not None else "warn" if status >= 400 else "info"
            phrase = _phrase(status)
            activity = {
                **common,
                "level": level,
                "title": f"{req.method} {req.path}",
                "message": (
                    f"Request failed: {type(exc).__name__}" if exc is not None
                    else "Request completed successfully" if status < 400
                    else f"Request failed: {status} {phrase}"
                ),
                "duration_ms": duration,
                "request_data": self.request_data(req),
                "response_data": {"size": req.response_size, "content_type": req.content_type},
            }
            category = self.category(req.path)
            if category:
                activity["category"] = category
            client = self.client
            client.activity(**activity)
            if isinstance(exc, Exception):
                client.error(exc, severity="critical", **common)
            elif exc is None and status >= 400:
                client.error(
                    f"{req.method} {req.path} -> {status} {phrase}",
                    severity="critical" if status >= 500 else "high",
                    error_type=f"HTTP {status}",
                    **common,
                )
        except Exception:  # recording must never break the app
            pass


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _remote_user(environ: Mapping[str, Any]) -> Any:
    return environ.get("REMOTE_USER")


class _Middleware:
    """What the WSGI and ASGI middleware share: their options and the recorder.

    ``user`` maps the request (a WSGI environ, an ASGI scope) to a user id; by
    default :attr:`default_user` of the subclass.
    """

    default_user: Callable[[Mapping[str, Any]], Any]

    def __init__(
        self,
        app: Any,
        client: LogClient | None = None,
        *,
        skip: Iterable[str] = DEFAULT_SKIP,
        categories: Mapping[str, str] | None = None,
        user: Callable[[Mapping[str, Any]], Any] | None = None,
        max_body: int = MAX_BODY,
        trust_forwarded: bool = True,
    ) -> None:
        self.app = app
        self.user = user or self.default_user
        self.recorder = _RequestRecorder(client, skip, categories, max_body, trust_forwarded)

    def _user(self, request: Mapping[str, Any]) -> Any:
        """The user id of ``request``; None when the ``user`` function fails."""
        try:
            return self.user(request)
        except Exception:
            return None


class WSGIMiddleware(_Middleware):
    """Records every request of a WSGI app: an activity record, and an error
    record for exceptions (re-raised) and 4xx/5xx answers.

    ``user`` maps the WSGI environ to a user id (default ``REMOTE_USER``);
    ``categories`` maps URL prefixes to a category (longest prefix wins);
    requests under ``skip`` are not recorded.  A JSON request body of at most
    ``max_body`` bytes is recorded (the app still reads it as usual).
    """

    default_user = staticmethod(_remote_user)

    def __call__(self, environ: MutableMapping[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = _wsgi_path(environ)
        if self.recorder.skipped(path):
            return self.app(environ, start_response)
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if environ.get("CONTENT_LENGTH"):
            headers["content-length"] = environ["CONTENT_LENGTH"]
        req = _Request(
            method=environ.get("REQUEST_METHOD", "GET"),
            path=path,
            query=environ.get("QUERY_STRING", ""),
            headers=headers,
            remote_addr=environ.get("REMOTE_ADDR"),
        )
        req.body_size = _int_or_none(headers.get("content-length"))
        if self.recorder.wants_body(headers):
            try:
                body = environ["wsgi.input"].read(req.body_size)
            except Exception:
                body = None
            if body is not None:
                req.body = body
                environ["wsgi.input"] = io.BytesIO(body)  # the app reads the same bytes

        ids = from_headers(headers)

        def recording_start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                req.status = int(status.split(" ", 1)[0])
            except ValueError:
                req.status = None
            for name, value in response_headers:
                if name.lower() == "content-type":
                    req.content_type = value
            if not any(name.lower() == REQUEST_ID_HEADER.lower() for name, _ in response_headers):
                response_headers = [*response_headers, (REQUEST_ID_HEADER, ids["request_id"])]
            if exc_info is not None:
                return start_response(status, response_headers, exc_info)
            return start_response(status, response_headers)

        with correlation(**ids):
            try:
                body_iter = self.app(environ, recording_start_response)
            except BaseException as exc:
                self.recorder.record(req, self._user(environ), exc)
                raise
        return _RecordingBody(body_iter, lambda exc: self.recorder.record(req, self._user(environ), exc), req, ids)


def _wsgi_path(environ: Mapping[str, Any]) -> str:
    """The request's path as the client sent it: ``SCRIPT_NAME`` + ``PATH_INFO``,
    back from WSGI's latin-1 to UTF-8 text."""
    raw = f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}" or "/"
    try:
        return raw.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return raw


class _RecordingBody:
    """The app's response iterable, counting bytes and recording once it is closed.

    The server reads it after the middleware's call has returned, so each step
    of the app's iterable (a generator's body runs there) and its ``close``
    run with the request's correlation ids in force again.
    """

    def __init__(self, inner: Iterable[bytes], done: Callable[[BaseException | None], None], req: _Request,
                 ids: Mapping[str, str]) -> None:
        self.inner = inner
        self.done = done
        self.req = req
        self.ids = ids
        self.recorded = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            with correlation(**self.ids):
                chunks = iter(self.inner)
            while True:
                with correlation(**self.ids):
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                self.req.response_size += len(chunk)
                yield chunk
        except BaseException as exc:
            self._finish(exc)
            raise

    def close(self) -> None:
        with correlation(**self.ids):
            try:
                close = getattr(self.inner, "close", None)
                if close is not None:
                    close()
            finally:
                self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        if not self.recorded:
            self.recorded = True
            with correlation(**self.ids):
                self.done(exc)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _scope_user(scope: Mapping[str, Any]) -> Any:
    """``scope["user"]`` as an id: its ``identity``/``username``/``id``, or a string."""
    user = scope.get("user")
    if user is None or isinstance(user, (str, int)):
        return user
    for attr in ("identity", "username", "id"):
        value = getattr(user, attr, None)
        if value:
            return value
    return None


class ASGIMiddleware(_Middleware):
    """The ASGI twin of :class:`WSGIMiddleware` (HTTP requests only; other
    scopes such as ``lifespan`` and ``websocket`` pass straight through).

    ``user`` maps the scope to a user id (default: ``scope["user"]``, as set by
    authentication middleware); it is asked after the app has run.
    """

    default_user = staticmethod(_scope_user)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") or "/"
        if scope.get("type") != "http" or self.recorder.skipped(path):
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for name, value in scope.get("headers") or ():
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        client = scope.get("client")
        req = _Request(
            method=scope.get("method", "GET"),
            path=path,
            query=(scope.get("query_string") or b"").decode("latin-1"),
            headers=headers,
            remote_addr=client[0] if client else None,
        )
        req.body_size = _int_or_none(headers.get("content-length"))
        app_receive = receive
        if self.recorder.wants_body(headers):
            req.body, app_receive = await _buffer_body(receive, self.recorder.max_body)

        ids = from_headers(headers)

        async def recording_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                req.status = int(message.get("status", 200))
                sent = list(message.get("headers") or ())
                for name, value in sent:
                    if name.lower() == b"content-type":
                        req.content_type = value.decode("latin-1")
                if not any(name.lower() == _REQUEST_ID_BYTES for name, _ in sent):
                    message = {**message, "headers": [*sent, (_REQUEST_ID_BYTES, ids["request_id"].encode("latin-1"))]}
            elif kind == "http.response.body":
                req.response_size += len(message.get("body", b""))
            await send(message)

        # Set in this task's context: tasks the app starts copy it, other requests never see it.
        with correlation(**ids):
            try:
                await self.app(scope, app_receive, recording_send)
            except BaseException as exc:
                self.recorder.record(req, self._user(scope), exc)
                raise
            self.recorder.record(req, self._user(scope))


async def _buffer_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """Read the request body (up to ``limit`` bytes) and a ``receive`` replaying it.

    The app then receives the same messages, and after them whatever the
    server sends next (``http.disconnect``).
    """
    messages: list[Message] = []
    body = bytearray()
    more = True
    while more:
        message = await receive()
        messages.append(message)
        if message.get("type") != "http.request":
            break
        body += message.get("body", b"")
        more = bool(message.get("more_body", False))
        if len(body) > limit:
            break
    replay = collections.deque(messages)

    async def replaying_receive() -> Message:
        if replay:
            return replay.popleft()
        return await receive()

    complete = not more and messages and messages[-1].get("type") == "http.request"
    return (bytes(body) if complete else None), replaying_receive
