"""A loopback OTLP/HTTP logs receiver for tests: a real HTTP server on
127.0.0.1 in a thread, decoding each request with opentelemetry-proto.

It answers 200 with an empty ``ExportLogsServiceResponse`` unless told
otherwise (:meth:`Receiver.answer_with`: a status, a ``Retry-After``, a
partial success, or hanging without an answer), and can be stopped and
started again on the same port (connections are then refused).
"""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from logconsole.otlp import names as N


def plain(value: AnyValue) -> Any:
    """An ``AnyValue`` as the JSON value it holds."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "kvlist_value":
        return {kv.key: plain(kv.value) for kv in value.kvlist_value.values}
    if which == "array_value":
        return [plain(v) for v in value.array_value.values]
    return getattr(value, which)


@dataclass(slots=True)
class Received:
    """One log record as it arrived: its resource and scope too."""

    resource: dict[str, Any]
    scope: str
    record: LogRecord

    @property
    def attributes(self) -> dict[str, Any]:
        return {kv.key: plain(kv.value) for kv in self.record.attributes}

    @property
    def id(self) -> int:
        return int(self.attributes[N.ID_ATTRIBUTE])


@dataclass(slots=True)
class Answer:
    status: int = 200
    retry_after: str | None = None
    rejected: int = 0
    hang: bool = False
    times: int | None = None
    """How many requests get this answer before the default returns (None: until changed)."""


@dataclass
class Receiver:
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every request: its path, headers and how it was answered."""
    records: list[Received] = field(default_factory=list)
    """Every record of every request answered 2xx, in arrival order."""
    refuse_ids: set[int] = field(default_factory=set)
    """Requests holding a record with one of these ids are answered 400."""
    _answers: list[Answer] = field(default_factory=list)
    _server: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/logs"

    def start(self) -> Receiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler, bind_and_activate=False)
        server.daemon_threads = True
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.server_bind()
        server.server_activate()
        self.port = server.server_address[1]
        self._server = server
        self._release.clear()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: from now on connections are refused."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer_with(self, **kwargs: Any) -> None:
        """Answer the next requests so (see :class:`Answer`); replaces earlier instructions."""
        with self._lock:
            self._answers = [Answer(**kwargs)]

    def answer_normally(self) -> None:
        with self._lock:
            self._answers = []
        self._release.set()

    def _next_answer(self) -> Answer:
        with self._lock:
            if not self._answers:
                return Answer()
            answer = self._answers[0]
            if answer.times is not None:
                answer.times -= 1
                if answer.times <= 0:
                    self._answers.pop(0)
            return answer

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        answer = self._next_answer()
        entry = {"path": h.path, "headers": {k.lower(): v for k, v in h.headers.items()}, "status": answer.status}
        if answer.hang:
            entry["status"] = None
            with self._lock:
                self.requests.append(entry)
            self._release.wait(30)
            return
        if h.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportLogsServiceRequest()
        request.ParseFromString(body)
        entry["records"] = sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
        entry["bytes"] = len(body)
        if self.refuse_ids and any(kv.key == N.ID_ATTRIBUTE and kv.value.int_value in self.refuse_ids
                                   for r in request.resource_logs for s in r.scope_logs
                                   for lr in s.log_records for kv in lr.attributes):
            answer = Answer(400)
            entry["status"] = 400
        with self._lock:
            self.requests.append(entry)
            if 200 <= answer.status < 300:
                for rl in request.resource_logs:
                    resource = {kv.key: plain(kv.value) for kv in rl.resource.attributes}
                    for sl in rl.scope_logs:
                        self.records.extend(Received(resource, sl.scope.name, lr) for lr in sl.log_records)
        payload = b""
        if 200 <= answer.status < 300:
            response = ExportLogsServiceResponse()
            if answer.rejected:
                response.partial_success.rejected_log_records = answer.rejected
                response.partial_success.error_message = "too old"
            payload = response.SerializeToString()
        else:
            payload = b"refused for the test"
        h.send_response(answer.status)
        h.send_header("Content-Type", "application/x-protobuf")
        h.send_header("Content-Length", str(len(payload)))
        if answer.retry_after is not None:
            h.send_header("Retry-After", answer.retry_after)
        h.end_headers()
        h.wfile.write(payload)

    # -- looking at what came -------------------------------------------------

    def ids(self) -> list[int]:
        with self._lock:
            return [r.id for r in self.records]

    def by_id(self) -> dict[int, Received]:
        with self._lock:
            return {r.id: r for r in self.records}

    def duplicates(self) -> int:
        return sum(n - 1 for n in Counter(self.ids()).values() if n > 1)

    def wait_for_ids(self, wanted: set[int], timeout: float = 15.0,
                     wait: Callable[..., Any] | None = None) -> None:
        from collector_support import wait_for

        (wait or wait_for)(lambda: wanted <= set(self.ids()), timeout, f"ids {sorted(wanted - set(self.ids()))[:10]}...")


__all__ = ["Answer", "Receiver", "Received", "plain"]
