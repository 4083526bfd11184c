"""The Python client, its logging handler and web middleware, over real sockets.

``LineServer`` is a small collector on a real Unix stream socket speaking the
wire protocol (records, rejections, syncs); the end-to-end tests at the bottom
run the real ``logconsole daemon`` process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from collector_support import Collector
from web_support import fetch, serving_asgi, serving_wsgi, wait_for
from hypothesis import given
from hypothesis import strategies as st

from logconsole.client import (
    ASGIMiddleware,
    LogClient,
    LogHandler,
    WSGIMiddleware,
    encode_record,
)
from logconsole.client.log_client import _lines_within
from logconsole.ingest import normalize


class LineServer:
    """A collector in miniature on a real Unix socket: stores records, answers
    rejections and syncs like the daemon does."""

    def __init__(
        self,
        path: Path,
        reject: Callable[[dict[str, Any]], str | None] = lambda rec: None,
        answer_delay: float = 0.0,
        refuse: int = 0,
    ) -> None:
        self.path = path
        self.refuse = refuse
        """How many connections to refuse first, as the daemon does when it is full."""
        self.reject = reject
        self.answer_delay = answer_delay
        self.records: list[dict[str, Any]] = []
        self.syncs = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> LineServer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(os.fspath(self.path))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection (like a daemon going away)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._conns.clear()
        self.path.unlink(missing_ok=True)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            refuse, self.refuse = self.refuse > 0, max(0, self.refuse - 1)
        if refuse:
            conn.recv(65536)  # the client has sent its batch: none of it is stored
            conn.sendall(b'{"ok": false, "error": "too many connections"}\n')
            conn.close()
            return
        try:
            reader = conn.makefile("rb")
            for n, line in enumerate(reader, start=1):
                message = json.loads(line)
                if message.get("op") == "sync":
                    time.sleep(self.answer_delay)
                    with self._lock:
                        self.syncs += 1
                    conn.sendall(json.dumps({"ok": True, "op": "sync", "line": n}).encode() + b"\n")
                    continue
                reason = self.reject(message)
                if reason:
                    conn.sendall(json.dumps({"ok": False, "line": n, "error": reason}).encode() + b"\n")
                    continue
                with self._lock:
                    self.records.append(message)
        except (OSError, ValueError):
            pass

    def messages(self) -> list[Any]:
        with self._lock:
            return [r.get("message") for r in self.records]


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "c.sock"


@pytest.fixture
def server(sock_path: Path) -> Iterator[LineServer]:
    s = LineServer(sock_path).start()
    yield s
    s.stop()


@pytest.fixture
def client(sock_path: Path) -> Iterator[LogClient]:
    c = LogClient(sock_path)
    yield c
    c.close(timeout=1.0)


# -- records -----------------------------------------------------------------


def test_a_method_per_kind_and_the_original_names(server: LineServer, client: LogClient) -> None:
    client.activity("signed in", category="user", user_id=7)
    client.error("boom", severity="high", endpoint="/x")
    client.ai("gpt-4", prompt="p", tokens_used=3)
    client.chat("hi", sender_id="a", chat_type="support")
    client.system("disk check", status="warning", metrics={"disk_usage": 81})
    client.createActivityLog({"title": "T", "userId": "u1"})
    client.create_error_log({"message": "m", "errorType": "E"}, severity="low")
    client.createAiLog({"aiModel": "m2", "responseTime": 12})
    client.createChatLog({"message": "c", "senderName": "ana"})
    client.createSystemLog({"eventType": "deploy", "requiresAction": True})
    assert client.flush() is True
    records = server.records
    assert [r["type"] for r in records] == ["activity", "error", "ai", "chat", "system"] * 2
    assert records[0] == {**records[0], "message": "signed in", "category": "user", "user_id": 7}
    assert records[1]["severity"] == "high"
    assert records[5]["userId"] == "u1"
    assert client.committed == 10 and client.dropped == client.rejected == 0
    for record in records:  # everything the client writes passes the real ingest step
        row = normalize(record)
        assert row["created_at"].endswith("Z")
    assert normalize(records[7])["response_time_ms"] == 12


def test_defaults_and_created_at(server: LineServer, sock_path: Path) -> None:
    with LogClient(sock_path, defaults={"app": "shop", "category": "payment"}) as c:
        c.activity("paid")
        c.activity("refund", category="admin", created_at="2026-01-02T03:04:05Z")
        assert c.flush()
    first, second = server.records
    assert (first["app"], first["category"]) == ("shop", "payment")
    assert second["category"] == "admin" and second["created_at"] == "2026-01-02T03:04:05Z"
    stamped = dt.datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - stamped).total_seconds()) < 60


def test_error_from_an_exception_carries_type_and_stack(server: LineServer, client: LogClient) -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        client.error(exc, severity="critical")
    assert client.flush()
    record = server.records[0]
    assert record["error_type"] == "KeyError"
    assert record["message"] == "'missing'"
    assert 'KeyError' in record["stack"] and '{}["missing"]' in record["stack"]


def test_values_json_cannot_encode_and_oversized_records_never_raise(server: LineServer, client: LogClient) -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)

    class Weird:
        def __str__(self) -> str:
            return "weird!"

    client.activity(
        "odd values",
        request_data={"when": dt.datetime(2026, 1, 2, 3, 4, 5), "amount": decimal.Decimal("9.99"),
                      "tags": {"a"}, 5: "int key", "obj": Weird()},
    )
    client.activity("cycle", request_data={"loop": cyclic})
    client.activity("huge " + "x" * (2 << 20))
    assert client.flush()
    odd, cycle, huge = server.records
    assert odd["request_data"]["when"] == "2026-01-02 03:04:05"
    assert odd["request_data"]["amount"] == "9.99"
    assert odd["request_data"]["5"] == "int key" and odd["request_data"]["obj"] == "weird!"
    assert cycle["message"] == "cycle"
    assert len(huge["message"]) < 70_000 and huge["message"].endswith("characters]")
    assert encode_record({"message": "x" * (3 << 20), "data": ["y" * 100_000] * 20}) is None


def test_time_ai_call_measures_and_records_failures(server: LineServer, client: LogClient) -> None:
    with client.time_ai_call("gpt-4", prompt="Summarise", user_id="u1") as call:
        time.sleep(0.05)
        call.response = "A summary."
        call.tokens_used = 42
    with pytest.raises(TimeoutError):
        with client.time_ai_call("gpt-4", prompt="Translate"):
            raise TimeoutError("upstream timed out")

    async def async_call() -> None:
        async with client.time_ai_call("claude", prompt="Async") as call:
            call.response = "ok"

    asyncio.run(async_call())
    assert client.flush()
    ok, failed, async_ok = server.records
    assert ok["ai_model"] == "gpt-4" and ok["status"] == "success"
    assert (ok["response"], ok["tokens_used"], ok["user_id"]) == ("A summary.", 42, "u1")
    assert 45 <= ok["response_time_ms"] < 2000
    assert failed["status"] == "error" and failed["error_message"] == "TimeoutError: upstream timed out"
    assert failed["prompt"] == "Translate" and "response_time_ms" in failed
    assert async_ok["ai_model"] == "claude" and async_ok["response"] == "ok"


def test_refused_records_are_counted_and_flush_says_so(sock_path: Path) -> None:
    server = LineServer(sock_path, reject=lambda r: "field `message` is required" if r.get("message") == "bad" else None).start()
    try:
        with LogClient(sock_path) as c:
            c.activity("good")
            c.activity("bad")
            c.activity("good too")
            assert c.flush() is False
            assert c.rejected == 1 and c.committed == 2
            assert "message` is required" in c.last_error
            c.activity("later")
            assert c.flush() is True  # the trouble was reported once
        assert server.messages() == ["good", "good too", "later"]
    finally:
        server.stop()


# -- an absent, slow or restarted collector -----------------------------------


def test_no_collector_never_raises_and_counts_drops_then_delivers(sock_path: Path) -> None:
    with LogClient(sock_path, buffer_size=100) as c:
        started = time.monotonic()
        for i in range(1000):
            c.activity(f"r{i}")
        assert time.monotonic() - started < 1.0  # the app is never held up
        assert c.dropped == 900
        assert c.flush(timeout=0.3) is False
        assert "no collector at" in c.last_error
        server = LineServer(sock_path).start()
        try:
            wait_for(lambda: len(server.records) == 100, what="the buffered records")
            assert server.messages() == [f"r{i}" for i in range(100)]
            assert c.flush() is False  # 900 were dropped since the last flush
            c.activity("after")
            assert c.flush() is True
        finally:
            server.stop()


def test_reconnects_after_the_collector_restarts(sock_path: Path) -> None:
    first = LineServer(sock_path).start()
    with LogClient(sock_path) as c:
        for i in range(10):
            c.activity(f"a{i}")
        assert c.flush()
        first.stop()
        for i in range(10):
            c.activity(f"b{i}")
        time.sleep(0.2)  # the client finds no collector and backs off
        second = LineServer(sock_path).start()
        try:
            assert c.flush(timeout=10) is True
            assert first.messages() == [f"a{i}" for i in range(10)]
            assert second.messages() == [f"b{i}" for i in range(10)]
            assert c.unconfirmed == 0 and c.dropped == 0
        finally:
            second.stop()


def test_a_refused_connection_is_sent_again(sock_path: Path) -> None:
    server = LineServer(sock_path, refuse=2).start()
    try:
        with LogClient(sock_path) as c:
            for i in range(5):
                c.activity(f"r{i}")
            assert c.flush(timeout=5) is True
            assert server.messages() == [f"r{i}" for i in range(5)]
            assert server.connections == 3
            assert c.unconfirmed == 0
    finally:
        server.stop()


@pytest.mark.parametrize(("sent", "carried"), [(0, 0), (2, 0), (3, 1), (4, 1), (6, 2), (7, 2)])
def test_lines_carried_by_a_broken_send(sent: int, carried: int) -> None:
    """Lines the collector may have stored are not sent again (a missing newline does not save them)."""
    assert _lines_within([b"abc\n", b"de\n"], sent) == carried


def test_a_slow_collector_does_not_hold_up_the_app(sock_path: Path) -> None:
    server = LineServer(sock_path, answer_delay=0.3).start()
    try:
        with LogClient(sock_path) as c:
            started = time.monotonic()
            for i in range(2000):
                c.activity(f"r{i}")
            assert time.monotonic() - started < 1.0
            assert c.flush(timeout=10) is True
            assert len(server.records) == 2000
            assert server.syncs < 20  # batched: one sync per batch, not per record
    finally:
        server.stop()


def test_close_is_idempotent_and_later_records_are_dropped(server: LineServer, sock_path: Path) -> None:
    c = LogClient(sock_path)
    assert c._thread is None  # nothing runs until something is logged
    c.activity("one")
    assert c.close() is True
    assert server.messages() == ["one"]
    assert c.close() is False
    c.activity("too late")
    assert c.dropped == 1
    assert c.flush(timeout=0.1) is False


def test_default_socket_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOGCONSOLE_SOCKET", str(tmp_path / "env.sock"))
    assert LogClient().socket_path == tmp_path / "env.sock"
    monkeypatch.delenv("LOGCONSOLE_SOCKET")
    assert LogClient().socket_path == tmp_path / "run" / "logconsole" / "logconsole.sock"


def test_a_forked_child_logs_through_its_own_sender(server: LineServer, client: LogClient) -> None:
    client.activity("parent before")
    assert client.flush()
    pid = os.fork()
    if pid == 0:  # the child: a pre-fork web server's worker
        try:
            client.activity("from child")
            os._exit(0 if client.flush(timeout=5) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.activity("parent after")
    assert client.flush()
    assert server.messages() == ["parent before", "from child", "parent after"]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.datetimes() | st.decimals() | st.binary(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=8) | st.integers() | st.tuples(st.integers()), children, max_size=4),
    max_leaves=20,
)


@given(JSONISH)
def test_encode_record_never_raises_and_yields_a_json_line(value: Any) -> None:
    data = encode_record({"type": "activity", "value": value})
    assert data is not None and data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data, parse_constant=reject_constant)["type"] == "activity"


def reject_constant(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


# -- logging -----------------------------------------------------------------


def test_logging_handler(server: LineServer, client: LogClient) -> None:
    logger = logging.getLogger("shop.orders")
    logger.setLevel(logging.DEBUG)
    handler = LogHandler(client, category="shop")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.debug("cache miss")
        logger.info("order %s placed", 17, extra={"order_id": 17})
        logger.warning("stock low")
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("total failed")
        logger.critical("db gone")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert client.flush()
    debug, info, warn, err, crit = server.records
    assert (debug["type"], debug["level"]) == ("activity", "debug")
    assert (info["level"], info["message"], info["category"], info["title"]) == ("info", "order 17 placed", "shop", "shop.orders")
    assert info["extra"]["order_id"] == 17 and info["extra"]["logger"] == "shop.orders"
    assert info["extra"]["module"] == "test_client" and isinstance(info["extra"]["line"], int)
    assert warn["level"] == "warn"
    assert (err["type"], err["severity"], err["error_type"]) == ("error", "high", "ZeroDivisionError")
    assert "1 / 0" in err["stack"] and err["message"] == "total failed"
    assert (crit["type"], crit["severity"]) == ("error", "critical")
    for record in server.records:
        normalize(record)


def test_logging_handler_level_filters(server: LineServer, client: LogClient) -> None:
    logger = logging.getLogger("shop.level")
    logger.setLevel(logging.DEBUG)
    handler = LogHandler(client, level=logging.WARNING)
    logger.addHandler(handler)
    try:
        logger.info("not sent")
        logger.warning("sent")
    finally:
        logger.removeHandler(handler)
    assert client.flush()
    assert server.messages() == ["sent"]


# -- WSGI --------------------------------------------------------------------


def demo_wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    path = environ["PATH_INFO"]
    if path == "/api/boom":
        raise RuntimeError("kaboom")
    if path == "/api/missing":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"nope"]
    if path == "/api/payments/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (chunk for chunk in (b"ab", b"cd", b"ef"))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b"{}"
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


@pytest.fixture
def wsgi_url(client: LogClient) -> Iterator[str]:
    app = WSGIMiddleware(
        demo_wsgi_app, client,
        categories={"/api": "api", "/api/auth": "security", "/api/payments": "payment"},
        user=lambda environ: environ.get("HTTP_X_USER"),
    )
    with serving_wsgi(app) as url:
        yield url


def by_type(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] == kind]


def test_wsgi_records_requests(server: LineServer, client: LogClient, wsgi_url: str) -> None:
    body = json.dumps({"email": "a@example.com", "password": "hunter2"}).encode()
    status, answer = fetch(f"{wsgi_url}/api/auth/login?next=%2Fhome", body,
                           {"Content-Type": "application/json", "X-User": "u42",
                            "X-Forwarded-For": "203.0.113.9, 10.0.0.1", "User-Agent": "tester/1"})
    assert status == 200 and answer == body  # the app read the same body
    assert fetch(f"{wsgi_url}/api/payments/stream")[1] == b"abcdef"
    assert fetch(f"{wsgi_url}/api/items?page=2&tag=a&tag=b")[0] == 200
    assert fetch(f"{wsgi_url}/health")[0] == 200
    assert fetch(f"{wsgi_url}/health/deep")[0] == 200
    assert fetch(f"{wsgi_url}/healthy/caf%C3%A9")[0] == 200
    assert fetch(f"{wsgi_url}/static/app.js")[0] == 200
    assert client.flush()
    login, stream, items, cafe = server.records
    assert cafe["endpoint"] == "/healthy/café" and "category" not in cafe  # /health is not /healthy
    assert login["type"] == "activity"
    assert (login["method"], login["endpoint"], login["status_code"]) == ("POST", "/api/auth/login", 200)
    assert (login["category"], login["level"], login["user_id"]) == ("security", "info", "u42")
    assert (login["ip_address"], login["user_agent"]) == ("203.0.113.9", "tester/1")
    assert login["title"] == "POST /api/auth/login"
    assert login["request_data"] == {"query": {"next": "/home"}, "body": {"email": "a@example.com", "password": "hunter2"}}
    assert login["response_data"]["size"] == len(body)
    assert login["duration_ms"] >= 0
    assert stream["category"] == "payment" and stream["response_data"]["size"] == 6
    assert items["category"] == "api" and items["ip_address"] == "127.0.0.1"
    assert items["request_data"] == {"query": {"page": "2", "tag": ["a", "b"]}}
    # Redaction is the collector's job: the stored row hides the password.
    stored = normalize(login)
    assert json.loads(stored["request_data"])["body"]["password"] == "[REDACTED]"


def test_wsgi_errors_and_large_bodies(server: LineServer, client: LogClient, wsgi_url: str) -> None:
    assert fetch(f"{wsgi_url}/api/missing")[0] == 404
    assert fetch(f"{wsgi_url}/api/boom")[0] == 500
    big = json.dumps({"blob": "x" * 20_000}).encode()
    assert fetch(f"{wsgi_url}/api/upload", big, {"Content-Type": "application/json"}) == (200, big)
    assert client.flush()
    activities = by_type(server.records, "activity")
    errors = by_type(server.records, "error")
    missing, boom, upload = activities
    assert (missing["status_code"], missing["level"]) == (404, "warn")
    assert (boom["status_code"], boom["level"]) == (500, "error")
    assert upload["request_data"] == {"body": {"truncated": True, "size": len(big)}}
    not_found, crashed = errors
    assert (not_found["severity"], not_found["status_code"], not_found["error_type"]) == ("high", 404, "HTTP 404")
    assert not_found["message"] == "GET /api/missing -> 404 Not Found"
    assert (crashed["severity"], crashed["error_type"], crashed["message"]) == ("critical", "RuntimeError", "kaboom")
    assert "kaboom" in crashed["stack"] and crashed["endpoint"] == "/api/boom"


def test_wsgi_defaults_remote_user_and_untrusted_forwarding(server: LineServer, client: LogClient) -> None:
    recorded = WSGIMiddleware(demo_wsgi_app, client, trust_forwarded=False)

    def authenticated(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["REMOTE_USER"] = "alice"  # what a server's authentication sets
        return recorded(environ, start_response)

    with serving_wsgi(authenticated) as url:
        assert fetch(f"{url}/api/users/7", headers={"X-Forwarded-For": "198.51.100.1"})[0] == 200
        assert fetch(f"{url}/favicon.ico")[0] == 200
        assert fetch(f"{url}/api/courses/3/lessons")[0] == 200
    assert client.flush()
    user, course = server.records
    assert (user["user_id"], user["ip_address"], user["category"]) == ("alice", "127.0.0.1", "user")
    assert course["category"] == "course"


# -- ASGI (a real server: uvicorn) ---------------------------------------------


async def demo_asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/api/boom":
        raise ValueError("async kaboom")
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    status = 503 if path == "/api/down" else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body or b"{}"})


@pytest.fixture
def asgi_url(client: LogClient) -> Iterator[str]:
    with serving_asgi(ASGIMiddleware(demo_asgi_app, client, categories={"/api/chat": "chat"})) as url:
        yield url


def test_asgi_records_requests(server: LineServer, client: LogClient, asgi_url: str) -> None:
    body = json.dumps({"text": "hello"}).encode()
    assert fetch(f"{asgi_url}/api/chat/send?room=1", body, {"Content-Type": "application/json"}) == (200, body)
    assert fetch(f"{asgi_url}/api/down")[0] == 503
    assert fetch(f"{asgi_url}/api/boom")[0] == 500
    assert fetch(f"{asgi_url}/docs/index.html")[0] == 200
    assert client.flush()
    send, down, boom = by_type(server.records, "activity")
    assert (send["method"], send["endpoint"], send["category"], send["status_code"]) == ("POST", "/api/chat/send", "chat", 200)
    assert send["request_data"] == {"query": {"room": "1"}, "body": {"text": "hello"}}
    assert send["ip_address"] == "127.0.0.1" and send["response_data"]["size"] == len(body)
    assert (down["status_code"], down["level"]) == (503, "error")
    assert boom["level"] == "error"
    down_err, boom_err = by_type(server.records, "error")
    assert (down_err["severity"], down_err["status_code"]) == ("critical", 503)
    assert (boom_err["error_type"], boom_err["message"], boom_err["severity"]) == ("ValueError", "async kaboom", "critical")


# -- end to end: the real daemon ----------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Collector]:
    d = Collector(tmp_path, "--retention-days", "0")
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.proc.send_signal(signal.SIGCONT)
        d.proc.kill()
        d.proc.wait(10)


def stored(daemon: Collector, kind: str = "activity") -> list[str]:
    return [r["message"] for r in daemon.rows("SELECT message FROM records WHERE type = ? ORDER BY id", (kind,))]


def test_e2e_daemon_down_then_started(daemon: Collector) -> None:
    with LogClient(daemon.sock, buffer_size=50) as c:
        for i in range(80):
            c.activity(f"r{i}")
        assert c.dropped == 30
        daemon.start()
        assert c.flush(timeout=10) is False  # delivered, but 30 were dropped on the way
        assert stored(daemon) == [f"r{i}" for i in range(50)]
        c.error("after start", severity="low")
        assert c.flush(timeout=10) is True
        assert stored(daemon, "error") == ["after start"]
    assert daemon.stop() == 0


def test_e2e_daemon_restarted(daemon: Collector) -> None:
    daemon.start()
    with LogClient(daemon.sock) as c:
        for i in range(20):
            c.activity(f"a{i}")
        assert c.flush(timeout=10)
        assert daemon.stop() == 0
        for i in range(20):
            c.activity(f"b{i}")
        daemon.start()
        assert c.flush(timeout=10) is True
    assert daemon.stop() == 0
    assert stored(daemon) == [f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)]


def test_e2e_daemon_paused_does_not_block_the_app(daemon: Collector) -> None:
    daemon.start()
    assert daemon.proc is not None
    with LogClient(daemon.sock) as c:
        c.activity("warm up")
        assert c.flush(timeout=10)
        daemon.proc.send_signal(signal.SIGSTOP)  # a collector that stopped answering
        try:
            started = time.monotonic()
            for i in range(5000):
                c.activity(f"p{i}", request_data={"i": i})
            assert time.monotonic() - started < 2.0
            assert c.flush(timeout=0.5) is False
        finally:
            daemon.proc.send_signal(signal.SIGCONT)
        assert c.flush(timeout=15) is True
        assert c.dropped == 0
    assert daemon.stop() == 0
    assert stored(daemon) == ["warm up"] + [f"p{i}" for i in range(5000)]


def test_logging_handler_keeps_the_microseconds_of_the_log_record() -> None:
    record = logging.LogRecord("shop", logging.INFO, __file__, 1, "paid", None, None)
    record.created = 1795166100.123456
    fields = LogHandler(category="shop").fields(record)
    assert fields["created_at"] == "2026-11-20T09:15:00.123456Z"
    assert normalize(fields)["created_at"] == "2026-11-20T09:15:00.123456Z"
