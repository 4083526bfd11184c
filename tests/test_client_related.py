"""Correlation ids in the client: one request's records, whatever their kind,
found as one related set, through real web servers and a real collector."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from collector_support import Collector
from web_support import fetch_with_headers, fetch, serving_asgi, serving_wsgi

from logconsole.client import ASGIMiddleware, CorrelationFilter, LogClient, LogHandler, WSGIMiddleware, correlation
from logconsole.client import request_context as rc
from logconsole.store.db import connect
from logconsole.store.query import OLDEST, Filter, fetch_page
from logconsole.store.related import related_to

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{SPAN}-01"


@pytest.mark.parametrize(("header", "expected"), [
    (TRACEPARENT, (TRACE, SPAN)),
    (f"  00-{TRACE.upper()}-{SPAN}-00 ", (TRACE, SPAN)),
    (f"00-{'0' * 32}-{SPAN}-01", None),
    (f"00-{TRACE}-{'0' * 16}-01", None),
    (f"ff-{TRACE}-{SPAN}-01", None),
    (f"00-{TRACE[:-1]}-{SPAN}-01", None),
    ("garbage", None),
    ("", None),
    (None, None),
])
def test_traceparent(header: str | None, expected: tuple[str, str] | None) -> None:
    assert rc.parse_traceparent(header) == expected


def test_request_ids_from_headers() -> None:
    assert rc.from_headers({"x-request-id": "abc-123"}) == {"request_id": "abc-123"}
    made = rc.from_headers({"x-request-id": "has space", "traceparent": TRACEPARENT})
    assert len(made["request_id"]) == 32 and made["request_id"] != "has space"
    assert (made["trace_id"], made["span_id"]) == (TRACE, SPAN)
    assert len(rc.from_headers({"x-request-id": "x" * 201})["request_id"]) == 32


def test_correlation_nests_and_explicit_fields_win() -> None:
    record: dict[str, Any] = {}
    rc.apply(record)
    assert record == {}
    with correlation(request_id="r1"), correlation(trace_id="t1") as ids:
        assert ids == {"request_id": "r1", "trace_id": "t1"}
        record = {"requestId": "mine"}
        rc.apply(record)
        assert record == {"requestId": "mine", "trace_id": "t1"}
    assert rc.current() == {}


def test_threads_and_tasks_keep_their_own_ids() -> None:
    seen: dict[str, Any] = {}

    def in_thread() -> None:
        seen["thread"] = dict(rc.current())

    async def task(name: str) -> None:
        with correlation(request_id=name):
            await asyncio.sleep(0.01)
            seen[name] = rc.current()["request_id"]

    async def both() -> None:
        await asyncio.gather(task("a"), task("b"))

    with correlation(request_id="outer"):
        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
        asyncio.run(both())
    assert seen == {"thread": {}, "a": "a", "b": "b"}


# -- one request, three kinds, a real collector ---------------------------------

log = logging.getLogger("shop.checkout")


def checkout(client: LogClient) -> None:
    """What the app does while serving a checkout: an AI call and a logged error."""
    with client.time_ai_call("gpt-4", prompt="fraud check") as call:
        call.response = "ok"
    try:
        raise LookupError("card vault unavailable")
    except LookupError:
        log.exception("checkout failed")


def wsgi_app(client: LogClient) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body() -> Iterator[bytes]:  # runs after the middleware's call has returned
            checkout(client)
            yield b"done"
        return body()
    return app


def asgi_app(client: LogClient) -> Callable[..., Any]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(0.05)  # let a second request's task interleave
        checkout(client)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
    return app


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Collector]:
    d = Collector(tmp_path, "--retention-days", "0")
    d.start()
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(10)


@pytest.fixture
def client(daemon: Collector) -> Iterator[LogClient]:
    with LogClient(daemon.sock) as c:
        handler = LogHandler(c)
        log.addHandler(handler)
        log.propagate = False
        try:
            yield c
        finally:
            log.removeHandler(handler)
            log.propagate = True


def related_sets(db: Path) -> dict[str, list[tuple[str, int]]]:
    """For every record: the (type, id) of the records related to it."""
    conn = connect(db)
    try:
        out = {}
        for (rid,) in conn.execute("SELECT id FROM records WHERE type != 'system' ORDER BY id").fetchall():
            rows = fetch_page(conn, Filter(related=related_to(conn, rid)), OLDEST, limit=50)
            out[str(rid)] = [(r["type"], r["id"]) for r in rows]
        return out
    finally:
        conn.close()


def rows(db: Path) -> list[dict[str, Any]]:
    conn = connect(db)
    try:
        # The collector's own health samples are system records of no request.
        cur = conn.execute("SELECT id, type, request_id, trace_id, span_id FROM records "
                           "WHERE type != 'system' ORDER BY id")
        return [dict(zip([d[0] for d in cur.description], r)) for r in cur]
    finally:
        conn.close()


def assert_one_set_per_request(db: Path, requests: int) -> list[dict[str, Any]]:
    stored = rows(db)
    assert len(stored) == 3 * requests
    sets = related_sets(db)
    by_request: dict[str, set[str]] = {}
    for row in stored:
        by_request.setdefault(row["request_id"], set()).add(row["type"])
    assert len(by_request) == requests and all(kinds == {"activity", "ai", "error"} for kinds in by_request.values())
    for row in stored:
        members = sets[str(row["id"])]
        assert sorted(t for t, _ in members) == ["activity", "ai", "error"]
        assert {r["request_id"] for r in stored if r["id"] in {i for _, i in members}} == {row["request_id"]}
    return stored


def test_a_wsgi_request_is_one_related_set(daemon: Collector, client: LogClient) -> None:
    app = WSGIMiddleware(wsgi_app(client), client)
    with serving_wsgi(app) as url:
        assert fetch(f"{url}/api/checkout", headers={"X-Request-ID": "req-from-proxy",
                                                     "traceparent": TRACEPARENT}) == (200, b"done")
        assert fetch(f"{url}/api/checkout") == (200, b"done")
    assert client.flush(timeout=10)
    stored = assert_one_set_per_request(daemon.db, 2)
    first = [r for r in stored if r["request_id"] == "req-from-proxy"]
    assert len(first) == 3 and all((r["trace_id"], r["span_id"]) == (TRACE, SPAN) for r in first)


def test_concurrent_asgi_requests_are_each_one_related_set(daemon: Collector, client: LogClient) -> None:
    app = ASGIMiddleware(asgi_app(client), client)
    with serving_asgi(app) as url:
        results: list[tuple[int, bytes]] = []
        threads = [threading.Thread(target=lambda: results.append(fetch(f"{url}/api/checkout")))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [(200, b"done")] * 3
    assert client.flush(timeout=10)
    assert_one_set_per_request(daemon.db, 3)


def test_the_request_id_is_echoed_on_the_response(daemon: Collector, client: LogClient) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        given = [("X-Request-ID", "set-by-app")] if environ["PATH_INFO"] == "/own" else []
        start_response("200 OK", [("Content-Type", "text/plain"), *given])
        return [b"ok"]

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with serving_wsgi(WSGIMiddleware(app, client)) as url:
        assert fetch_with_headers(f"{url}/a", headers={"X-Request-ID": "from-proxy"})[2]["X-Request-ID"] == "from-proxy"
        made = fetch_with_headers(f"{url}/a")[2].get_all("X-Request-ID")
        assert made is not None and len(made) == 1 and len(made[0]) == 32
        assert fetch_with_headers(f"{url}/own")[2].get_all("X-Request-ID") == ["set-by-app"]
    with serving_asgi(ASGIMiddleware(asgi, client)) as url:
        assert fetch_with_headers(f"{url}/a", headers={"X-Request-ID": "from-proxy"})[2]["X-Request-ID"] == "from-proxy"
    assert client.flush(timeout=10)
    ids = {r["request_id"] for r in rows(daemon.db)}
    assert "from-proxy" in ids and made[0] in ids


def test_a_handler_behind_a_queue_keeps_the_request_ids(daemon: Collector, client: LogClient) -> None:
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    front = logging.handlers.QueueHandler(records)
    front.addFilter(CorrelationFilter())
    listener = logging.handlers.QueueListener(records, LogHandler(client))
    queued = logging.getLogger("shop.queued")
    queued.addHandler(front)
    queued.propagate = False
    listener.start()
    try:
        with correlation(request_id="req-queued", trace_id=TRACE, span_id=SPAN):
            queued.warning("slow payment provider")
            queued.error("payment declined", extra={"request_id": "given-by-caller"})
        queued.warning("outside any request")
    finally:
        listener.stop()
        queued.removeHandler(front)
    assert client.flush(timeout=10)
    got = {r["id"]: r for r in rows(daemon.db)}
    assert [(r["type"], r["request_id"], r["trace_id"], r["span_id"]) for r in got.values()] == [
        ("activity", "req-queued", TRACE, SPAN),
        ("error", "given-by-caller", TRACE, SPAN),
        ("activity", None, None, None),
    ]


def test_records_outside_a_request_carry_no_ids(daemon: Collector, client: LogClient) -> None:
    client.activity("cron run")
    with client.context(request_id="job-7"):
        client.chat("queued", sender_id="u1")
    assert client.flush(timeout=10)
    assert [(r["type"], r["request_id"]) for r in rows(daemon.db)] == [("activity", None), ("chat", "job-7")]
    assert json.dumps(rc.current()) == "{}"
