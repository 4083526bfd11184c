"""The collector's OTLP/HTTP door: ``POST /v1/logs`` from any OpenTelemetry SDK.

An aiohttp server on the daemon's event loop.  A request's body is decoded and
mapped by :mod:`logconsole.otlp.inbound`; its records go through the same
ingest as every other door (validation, redaction, the collector's host name)
and into the pipeline all together.  What the door answers (the OTLP/HTTP
specification's codes; docs/protocol.md, "OpenTelemetry (OTLP/HTTP)"):

* 200 once the request's records are queued, like a socket line that was
  read: committed shortly, or spilled by a stop and stored by the next start.
  Records ingest refuses are counted in ``partial_success`` with the first
  reason; the others are stored;
* 400 for a body that is not a logs request, 413 past the size limit (as sent
  or once un-gzipped), 415 for another content type or encoding, 401 without
  the configured bearer token;
* 503 with ``Retry-After`` when the queue stays full for ``room_wait``
  seconds (the database refuses writes, or cannot keep up): nothing of that
  request is kept, the client sends it again;
* loopback addresses only, unless ``[otlp] token`` is configured: then every
  request must carry it (``Authorization: Bearer ...``, compared in constant time).

On stop the door stops accepting connections and finishes the requests in
flight (the pipeline takes their records without waiting for room).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from logconsole.collectors.pipeline import Pipeline
from logconsole.ingest import IngestError, Row, Trusted
from logconsole.otlp import inbound

log = logging.getLogger("logconsole.daemon")

LOGS_PATH = "/v1/logs"
DEFAULT_PORT = 4318
DEFAULT_ROOM_WAIT = 2.0
"""Seconds a request waits for room in a full queue before it is answered 503."""
RETRY_AFTER_BUSY = 1
RETRY_AFTER_REFUSING = 5
"""``Retry-After`` seconds: the writer is only behind, or the database refuses writes."""
YIELD_EVERY = 1024
"""Records mapped between two yields to the event loop (a large request must not stall other doors)."""

# gRPC status codes, carried in the ``google.rpc.Status`` of a failed answer.
_INVALID_ARGUMENT = 3
_RESOURCE_EXHAUSTED = 8
_UNAUTHENTICATED = 16
_UNAVAILABLE = 14


class OtlpError(RuntimeError):
    """The OTLP door cannot start; the message says why."""


@dataclass(frozen=True, slots=True)
class Listen:
    """Where the door listens: ``HOST:PORT`` (``[::1]:4318`` for IPv6)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """``HOST:PORT`` -> :class:`Listen`; ``ValueError`` saying what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT (such as 127.0.0.1:{DEFAULT_PORT}), got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"the port must be a number, got {port!r} in {text!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"the port must be between 0 and 65535, got {number}")
    return Listen(host, number)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) reaches only this machine."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_access(listen: Listen, token: str) -> None:
    """Refuse to listen beyond loopback without a token (:class:`OtlpError`)."""
    if not token and not is_loopback(listen.host):
        raise OtlpError(
            f"the OTLP address {listen} is not a loopback address: set a bearer token in the config "
            "([otlp] token = \"...\") so that only senders holding it are accepted"
        )


@dataclass(slots=True)
class OtlpCounters:
    """The door's figures (in the daemon's health records)."""

    requests: int = 0
    records: int = 0
    """Records queued."""
    rejected: int = 0
    """Records refused by ingest (counted in ``partial_success``)."""
    refused: int = 0
    """Requests answered 503 because the queue stayed full."""
    bad_requests: int = 0
    """Requests answered 400, 401, 413 or 415."""


class OtlpServer:
    """``POST /v1/logs`` on ``listen``, feeding ``pipeline``."""

    def __init__(
        self,
        pipeline: Pipeline,
        listen: Listen,
        *,
        token: str = "",
        max_request_bytes: int = inbound.DEFAULT_MAX_REQUEST_BYTES,
        room_wait: float = DEFAULT_ROOM_WAIT,
        stop_grace: float = 10.0,
    ) -> None:
        check_access(listen, token)
        self.pipeline = pipeline
        self.listen = listen
        self.max_request_bytes = max_request_bytes
        self.room_wait = room_wait
        self.stop_grace = stop_grace
        self.counters = OtlpCounters()
        self.url = ""
        """``http://HOST:PORT/v1/logs`` once listening (the port the system gave for port 0)."""
        self._token = token.encode()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; :class:`OtlpError` when the address cannot be had."""
        app = web.Application(client_max_size=self.max_request_bytes)
        app.router.add_post(LOGS_PATH, self._logs)
        runner = web.AppRunner(app, access_log=None, auto_decompress=False, handle_signals=False,
                               shutdown_timeout=self.stop_grace)
        await runner.setup()
        site = web.TCPSite(runner, self.listen.host, self.listen.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise OtlpError(f"cannot listen on {self.listen} for OTLP: {why}") from None
        self._runner = runner
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}{LOGS_PATH}"

    async def stop(self) -> None:
        """Stop accepting; finish the requests in flight (at most ``stop_grace`` seconds)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- one request ------------------------------------------------------------

    async def _logs(self, request: web.Request) -> web.Response:
        self.counters.requests += 1
        # Failures are answered in the request's encoding; a sender of neither
        # (curl, a browser) gets JSON, which it can read.
        content_type = request.headers.get("Content-Type")
        media = inbound.PROTOBUF if (content_type or "").lower().startswith(inbound.PROTOBUF) else inbound.JSON
        try:
            if self._token and not self._authorized(request):
                return self._failure(media, 401, _UNAUTHENTICATED, "a bearer token is required",
                                     {"WWW-Authenticate": "Bearer"})
            media = inbound.media_type(content_type)
            if (request.content_length or 0) > self.max_request_bytes:
                raise inbound.TooLarge(f"the body is larger than {self.max_request_bytes} bytes")
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise inbound.TooLarge(f"the body is larger than {self.max_request_bytes} bytes") from None
            body = inbound.inflate(body, request.headers.get("Content-Encoding"), self.max_request_bytes)
            if media == inbound.JSON:
                # The protobuf library reads JSON in Python, slowly: off the loop,
                # so the other doors keep being served meanwhile.
                parsed = await asyncio.to_thread(inbound.parse_request, body, media)
            else:
                parsed = inbound.parse_request(body, media)
        except inbound.Unsupported as exc:
            return self._failure(media, 415, _INVALID_ARGUMENT, str(exc))
        except inbound.TooLarge as exc:
            return self._failure(media, 413, _RESOURCE_EXHAUSTED, str(exc))
        except inbound.BodyError as exc:
            return self._failure(media, 400, _INVALID_ARGUMENT, str(exc))
        rows, rejected, first = await self._rows(parsed, request)
        if rows and not await self.pipeline.put_rows(rows, wait=self.room_wait):
            self.counters.refused += 1
            refusing = self.pipeline.condition
            reason = f"the collector cannot store records now ({refusing or 'its queue is full'}); try again later"
            retry = RETRY_AFTER_REFUSING if refusing else RETRY_AFTER_BUSY
            return self._failure(media, 503, _UNAVAILABLE, reason, {"Retry-After": str(retry)})
        self.counters.records += len(rows)
        self.counters.rejected += rejected
        self.pipeline.counters.rejected += rejected
        if rejected:
            log.debug("OTLP request from %s: %d of %d records rejected; first: %s",
                      request.remote, rejected, rejected + len(rows), first)
        return web.Response(body=inbound.response_body(media, rejected, first), content_type=media)

    async def _rows(self, parsed: Any, request: web.Request) -> tuple[list[Row], int, str]:
        """The request's records as rows; how many were rejected, and the first reason."""
        pipeline = self.pipeline
        vouched = Trusted({"_peer": request.remote}, pipeline.redactor) if request.remote else None
        rows: list[Row] = []
        rejected = 0
        first = ""
        for index, incoming in enumerate(inbound.log_records(parsed)):
            if index and not index % YIELD_EVERY:
                await asyncio.sleep(0)
            try:
                if incoming.raw is None:
                    raise IngestError(incoming.problem)
                rows.append(pipeline.normalize(incoming.raw, trusted=vouched))
            except IngestError as exc:
                rejected += 1
                if not first:
                    first = inbound.rejection(index, exc, incoming.origin)
        return rows, rejected, first

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)

    def _failure(self, media: str, status: int, code: int, message: str,
                 headers: dict[str, str] | None = None) -> web.Response:
        if status != 503:
            self.counters.bad_requests += 1
        return web.Response(status=status, body=inbound.status_body(media, code, message),
                            content_type=media, headers=headers)
