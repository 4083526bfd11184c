"""The OTLP/HTTP door with a real daemon: the official OpenTelemetry SDK and
exporter, raw HTTP requests for every answer, back-pressure and stops."""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collector_support import Collector, isolated_env, wait_for
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from logconsole.otlp.inbound import PROTOBUF

LOCAL = ("--otlp", "127.0.0.1:0")
FAST = ("--busy-timeout", "0.05", "--retry-max-delay", "0.2", "--sync-timeout", "1")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path, *LOCAL).start()
    try:
        yield c
    finally:
        assert c.stop() == 0, c.output()


def post(url: str, body: bytes, content_type: str = PROTOBUF, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """POST ``body``; the status, headers and body of the answer, whatever the status."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def logs_request(*messages: str, attrs: dict[str, Any] | None = None) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "test"
    sl = rl.scope_logs.add()
    for text in messages:
        r = sl.log_records.add(severity_number=9)
        r.body.string_value = text
        for k, v in (attrs or {}).items():
            kv = r.attributes.add(key=k)
            if isinstance(v, int):
                kv.value.int_value = v
            else:
                kv.value.string_value = v
    return req


def stored(c: Collector, marker: str, want: int) -> list[dict[str, Any]]:
    """The records whose message (an AI record's prompt) starts with ``marker``, once ``want`` are committed."""
    sql = "SELECT * FROM records WHERE message LIKE ? ORDER BY id"

    def enough() -> list[dict[str, Any]] | None:
        rows = c.rows(sql, (f"{marker}%",)) + c.rows(
            "SELECT * FROM records WHERE type = 'ai' AND prompt LIKE ? ORDER BY id",
            (f"{marker}%",))
        return sorted(rows, key=lambda r: r["id"]) if len(rows) >= want else None
    return wait_for(enough, 15, f"{want} records {marker!r}")


# -- the real SDK -------------------------------------------------------------


def test_the_opentelemetry_sdk_logs_into_logconsole(daemon: Collector) -> None:
    """An app using only the OpenTelemetry SDK: the logging bridge, a span, an
    exception, a GenAI record and an HTTP one, each stored as its kind."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    marker = f"sdk-{uuid.uuid4().hex[:8]}"
    resource = Resource.create({"service.name": "shop", "host.name": "web-7"})
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=daemon.otlp_url())))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(logger_provider=provider)
    log = logging.getLogger(f"shop.{marker}")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    tracer = TracerProvider(resource=resource).get_tracer("shop")
    try:
        with tracer.start_as_current_span("checkout") as span:
            log.info(f"{marker} order placed", extra={"order.id": 42, "password": "hunter2"})
            try:
                raise ValueError("card declined")
            except ValueError:
                log.exception(f"{marker} payment failed")
            ids = span.get_span_context()
        log.info(f"{marker} chat completion", extra={
            "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 30,
            "gen_ai.client.operation.duration": 0.8})
        log.warning(f"{marker} GET /orders/7", extra={
            "http.request.method": "GET", "http.route": "/orders/{id}", "http.response.status_code": 404})
        assert provider.force_flush(10_000)
    finally:
        log.removeHandler(handler)
        provider.shutdown()

    placed, failed, chat, http = rows = stored(daemon, marker, 4)
    assert {r["host"] for r in rows} == {"web-7"}
    trace_id, span_id = f"{ids.trace_id:032x}", f"{ids.span_id:016x}"

    assert (placed["type"], placed["level"], placed["message"]) == ("activity", "info", f"{marker} order placed")
    assert (placed["trace_id"], placed["span_id"]) == (trace_id, span_id)
    extra = json.loads(placed["extra"])
    assert extra["order.id"] == 42 and extra["password"] == "[REDACTED]"
    assert extra["service.name"] == "shop" and extra["otel.scope.name"] == f"shop.{marker}"
    assert extra["_peer"] == "127.0.0.1"
    assert "hunter2" not in json.dumps(rows)

    assert (failed["type"], failed["severity"], failed["error_type"]) == ("error", "medium", "ValueError")
    assert failed["message"] == f"{marker} payment failed"
    assert 'raise ValueError("card declined")' in failed["stack"] and "ValueError: card declined" in failed["stack"]
    assert (failed["trace_id"], failed["span_id"]) == (trace_id, span_id)
    assert failed["group_id"] is not None

    assert (chat["type"], chat["ai_model"], chat["tokens_used"], chat["status"]) == ("ai", "gpt-4o", 42, "success")
    assert chat["response_time_ms"] == 800
    assert chat["trace_id"] is None

    assert (http["type"], http["level"], http["method"], http["endpoint"], http["status_code"]) == (
        "activity", "warn", "GET", "/orders/{id}", 404)


def test_an_app_configured_only_by_the_environment(daemon: Collector, tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is all an OpenTelemetry app needs."""
    app = tmp_path / "app.py"
    app.write_text(
        "import logging, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler\n"
        "from opentelemetry.sdk._logs.export import BatchLogRecordProcessor\n"
        "from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter\n"
        "provider = LoggerProvider()\n"
        "provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))\n"
        "logging.getLogger().addHandler(LoggingHandler(logger_provider=provider))\n"
        "logging.getLogger('app').error('env-configured app failed')\n"
        "provider.shutdown()\n"
    )
    env = {**isolated_env(tmp_path), "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": daemon.otlp_url(),
           "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "gzip"}
    done = subprocess.run([sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (row,) = stored(daemon, "env-configured", 1)
    assert (row["type"], row["severity"]) == ("error", "medium")


# -- raw HTTP -------------------------------------------------------------------


def test_protobuf_json_and_gzip_bodies_are_stored(daemon: Collector) -> None:
    url = daemon.otlp_url()
    status, headers, body = post(url, logs_request("raw-pb a", "raw-pb b").SerializeToString())
    assert (status, headers["Content-Type"]) == (200, PROTOBUF)
    assert not ExportLogsServiceResponse.FromString(body).HasField("partial_success")

    zipped = gzip.compress(logs_request("raw-gz").SerializeToString())
    assert post(url, zipped, **{"Content-Encoding": "gzip"})[0] == 200

    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1764400000000000000", "severityNumber": 13, "body": {"stringValue": "raw-json"},
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}]}]}]}
    status, headers, body = post(url, json.dumps(document).encode(), "application/json")
    assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", {})
    status, _, _ = post(url, gzip.compress(json.dumps(document).replace("raw-json", "raw-json-gz").encode()),
                        "application/json", **{"Content-Encoding": "gzip"})
    assert status == 200

    rows = {r["message"]: r for r in stored(daemon, "raw-", 5)}
    assert set(rows) == {"raw-pb a", "raw-pb b", "raw-gz", "raw-json", "raw-json-gz"}
    assert (rows["raw-json"]["trace_id"], rows["raw-json"]["span_id"]) == (
        "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    assert (rows["raw-json"]["level"], rows["raw-json"]["created_at"]) == ("warn", "2025-11-29T07:06:40.000000Z")


def test_rejected_records_are_counted_in_partial_success(daemon: Collector) -> None:
    url = daemon.otlp_url()
    req = logs_request("partial ok 1", "partial bad", "partial ok 2")
    req.resource_logs[0].scope_logs[0].log_records[1].attributes.add(
        key="http.response.status_code").value.string_value = "teapot"
    status, _, body = post(url, req.SerializeToString())
    answer = ExportLogsServiceResponse.FromString(body).partial_success
    assert status == 200
    assert answer.rejected_log_records == 1
    assert answer.error_message == (
        "log record 1: field `status_code` must be an integer, got 'teapot' (attribute http.response.status_code)")
    assert [r["message"] for r in stored(daemon, "partial", 2)] == ["partial ok 1", "partial ok 2"]

    status, _, body = post(url, json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"body": {"stringValue": "x"}, "attributes": [{"key": "logconsole.type", "value": {"stringValue": "nope"}}]},
    ]}]}]}).encode(), "application/json")
    assert status == 200
    assert json.loads(body)["partialSuccess"]["rejectedLogRecords"] == "1"


@pytest.mark.parametrize(("content_type", "body", "headers", "status", "says"), [
    ("text/plain", b"hello", {}, 415, "content type 'text/plain' is not accepted"),
    (PROTOBUF, b"x", {"Content-Encoding": "br"}, 415, "content encoding 'br' is not accepted"),
    (PROTOBUF, b"\xff\xff\xff\xff", {}, 400, "not an OTLP logs request in protobuf"),
    ("application/json", b"{nope", {}, 400, "invalid JSON"),
    (PROTOBUF, b"not gzip", {"Content-Encoding": "gzip"}, 400, "the gzip body is damaged"),
])
def test_bad_requests_are_answered_with_the_reason(daemon: Collector, content_type: str, body: bytes,
                                                   headers: dict[str, str], status: int, says: str) -> None:
    got, answer_headers, answer = post(daemon.otlp_url(), body, content_type, **headers)
    assert got == status
    assert answer_headers["Content-Type"] == (PROTOBUF if content_type == PROTOBUF else "application/json")
    if answer_headers["Content-Type"] == "application/json":
        assert says in json.loads(answer)["message"]
    else:
        assert says.encode() in answer


def test_bodies_over_the_limit_are_413_even_gzipped(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[otlp]\nmax_request_bytes = 65536\n")
    c = Collector(tmp_path, *LOCAL, "--config", str(config)).start()
    try:
        url = c.otlp_url()
        big = logs_request("big " + "x" * 70_000).SerializeToString()
        status, _, body = post(url, big)
        assert status == 413 and b"larger than 65536 bytes" in body
        bomb = gzip.compress(b"\0" * (64 << 20))
        status, _, body = post(url, bomb, **{"Content-Encoding": "gzip"})
        assert status == 413 and b"once un-gzipped" in body
        assert post(url, logs_request("small").SerializeToString())[0] == 200
        stored(c, "small", 1)
    finally:
        assert c.stop() == 0


# -- who may send ---------------------------------------------------------------


def own_address() -> str | None:
    """A non-loopback address of this machine, if it has one."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_beyond_loopback_a_token_is_required_to_start(tmp_path: Path) -> None:
    c = Collector(tmp_path, "--otlp", "0.0.0.0:0").start(wait=False)
    assert c.proc is not None and c.proc.wait(30) == 1
    last = c.output().strip().splitlines()[-1]
    assert last == ('Error: the OTLP address 0.0.0.0:0 is not a loopback address: set a bearer token in the config '
                    '([otlp] token = "...") so that only senders holding it are accepted')


def test_with_a_token_every_request_must_carry_it(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[otlp]\nlisten = "0.0.0.0:0"\ntoken = "s3cret-token"\n')
    config.chmod(0o644)
    c = Collector(tmp_path, "--config", str(config)).start()
    try:
        assert f"{config} holds the OTLP token and others may read it: chmod 600 {config}" in c.output()
        port = c.otlp_url().rsplit(":", 1)[1].split("/")[0]
        hosts = ["127.0.0.1", *filter(None, [own_address()])]
        body = logs_request("token ok").SerializeToString()
        for host in hosts:
            url = f"http://{host}:{port}/v1/logs"
            status, headers, _ = post(url, body)
            assert (status, headers.get("WWW-Authenticate")) == (401, "Bearer")
            assert post(url, body, Authorization="Bearer wrong-token")[0] == 401
            assert post(url, body, Authorization="Basic s3cret-token")[0] == 401
            assert post(url, body, Authorization="Bearer s3cret-token")[0] == 200
        assert len(stored(c, "token ok", len(hosts))) == len(hosts)
    finally:
        assert c.stop() == 0


def test_an_address_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        c = Collector(tmp_path, "--otlp", f"127.0.0.1:{port}").start(wait=False)
        assert c.proc is not None and c.proc.wait(30) == 1
    last = c.output().strip().splitlines()[-1]
    assert last == (f"Error: cannot listen on 127.0.0.1:{port} for OTLP: address already in use; "
                    "the collector did not start")


def test_a_malformed_listen_address_is_refused(tmp_path: Path) -> None:
    c = Collector(tmp_path, "--otlp", "localhost").start(wait=False)
    assert c.proc is not None and c.proc.wait(30) == 2  # a usage error
    assert c.output().strip().splitlines()[-1] == (
        "Error: Invalid value for '--otlp': expected HOST:PORT (such as 127.0.0.1:4318), got 'localhost'")
    config = tmp_path / "config.toml"
    config.write_text('[otlp]\nlisten = "127.0.0.1:99999"\n')
    c = Collector(tmp_path, "--config", str(config)).start(wait=False)
    assert c.proc is not None and c.proc.wait(30) == 1
    assert c.output().strip().splitlines()[-1] == (
        f"Error: {config}: [otlp] listen: the port must be between 0 and 65535, got 99999")


# -- back-pressure and stops ----------------------------------------------------


def test_a_full_queue_answers_503_with_retry_after_and_loses_nothing_answered_200(tmp_path: Path) -> None:
    """While another process holds the write lock the queue fills; then requests
    are answered 503 with Retry-After (nothing of them kept).  Everything
    answered 200 is stored once the lock goes."""
    c = Collector(tmp_path, *LOCAL, *FAST).start()
    holder = sqlite3.connect(c.db, isolation_level=None)
    try:
        url = c.otlp_url()
        holder.execute("BEGIN IMMEDIATE")
        accepted: list[int] = []
        refused = None
        for n in range(80):  # the queue (10,000 records) fills first
            req = logs_request(*(f"full {n} {i}" for i in range(512)))
            status, headers, body = post(url, req.SerializeToString())
            if status == 503:
                refused = (n, headers, body)
                break
            assert status == 200
            accepted.append(n)
        assert refused is not None, "never refused"
        n, headers, body = refused
        assert headers["Retry-After"] == "5"
        assert b"database is locked by another process" in body
        assert len(accepted) * 512 >= 10_000  # the queue's capacity
        holder.execute("COMMIT")
        assert post(url, logs_request(*(f"full {n} {i}" for i in range(512))).SerializeToString())[0] == 200
        want = (len(accepted) + 1) * 512
        wait_for(lambda: c.rows("SELECT count(*) AS n FROM records WHERE message LIKE 'full %'")[0]["n"] >= want,
                 30, f"{want} records")
        rows = c.rows("SELECT count(*) AS n, count(DISTINCT message) AS d FROM records WHERE message LIKE 'full %'")
        assert rows == [{"n": want, "d": want}]
    finally:
        with contextlib.suppress(sqlite3.Error):
            holder.execute("ROLLBACK")
        holder.close()
        assert c.stop() == 0


def test_records_answered_200_survive_a_stop_while_the_database_refuses(tmp_path: Path) -> None:
    """A stop while the database refuses: the request waiting for room in the
    full queue is answered 200 too, and everything answered 200 is spilled and
    stored by the next start."""
    c = Collector(tmp_path, *LOCAL, *FAST).start()
    holder = sqlite3.connect(c.db, isolation_level=None)
    try:
        url = c.otlp_url()
        holder.execute("BEGIN IMMEDIATE")
        accepted = 0
        for n in range(80):
            status = post(url, logs_request(*(f"spill {n} {i}" for i in range(512))).SerializeToString())[0]
            if status == 503:
                break
            assert status == 200
            accepted += 1
        else:
            raise AssertionError("never refused")
        waiting: list[int] = []
        sender = threading.Thread(target=lambda: waiting.append(
            post(url, logs_request(*(f"spill last {i}" for i in range(512))).SerializeToString())[0]))
        sender.start()
        time.sleep(0.8)  # the request now waits for room (up to 2 s)
        assert c.proc is not None
        c.proc.send_signal(signal.SIGTERM)
        sender.join(30)
        assert waiting == [200]
        assert c.proc.wait(30) == 1
        assert "records could not be stored and were written to" in c.output()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    again = Collector(tmp_path, *LOCAL).start()
    try:
        assert len(stored(again, "spill", (accepted + 1) * 512)) == (accepted + 1) * 512
    finally:
        assert again.stop() == 0


def test_health_records_count_the_otlp_door(tmp_path: Path) -> None:
    c = Collector(tmp_path, *LOCAL, "--health-interval", "1").start()
    try:
        url = c.otlp_url()
        req = logs_request("counted a", "counted b", "counted c")
        req.resource_logs[0].scope_logs[0].log_records[2].trace_id = b"short"
        assert post(url, req.SerializeToString())[0] == 200
        assert post(url, b"junk")[0] == 400
        stored(c, "counted", 2)

        def counted() -> dict[str, Any] | None:
            for row in c.rows("SELECT metrics FROM records WHERE event_type = 'health_sample' ORDER BY id DESC"):
                collector = json.loads(row["metrics"] or "{}").get("collector", {})
                if collector.get("otlp_requests") == 2:
                    return collector
            return None
        figures = wait_for(counted, 15, "a health sample counting OTLP requests")
        assert (figures["otlp_records"], figures["otlp_rejected"], figures["otlp_refused"],
                figures["otlp_bad_requests"]) == (2, 1, 0, 1)
    finally:
        assert c.stop() == 0


@pytest.mark.parametrize(("text", "words"), [
    ("[otlp]\nmax_request_bytes = 10\n", "[otlp] max_request_bytes must be between 1024 and 1073741824, got 10"),
    ("[otlp]\ntoken = 5\n", "[otlp] token must be a str, got 5"),
    ("[otlp]\nlisten = 4318\n", "[otlp] listen must be a str, got 4318"),
])
def test_the_otlp_config_is_checked(tmp_path: Path, text: str, words: str) -> None:
    from logconsole.config import ConfigError, load_settings

    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert str(info.value) == f"{config}: {words}"


def test_the_otlp_config_is_read(tmp_path: Path) -> None:
    from logconsole.config import load_settings

    config = tmp_path / "config.toml"
    config.write_text('[otlp]\nlisten = "127.0.0.1:4318"\ntoken = "t"\nmax_request_bytes = 4096\n')
    settings = load_settings(config)
    assert (settings.otlp_listen, settings.otlp_token, settings.otlp_max_request_bytes) == ("127.0.0.1:4318", "t", 4096)


@pytest.mark.parametrize(("text", "host", "port", "loopback"), [
    ("127.0.0.1:4318", "127.0.0.1", 4318, True),
    ("localhost:4318", "localhost", 4318, True),
    ("[::1]:4318", "::1", 4318, True),
    ("0.0.0.0:4318", "0.0.0.0", 4318, False),
    ("[::]:0", "::", 0, False),
    ("192.0.2.7:4318", "192.0.2.7", 4318, False),
])
def test_listen_addresses(text: str, host: str, port: int, loopback: bool) -> None:
    from logconsole.collectors.otlp import is_loopback, parse_listen

    listen = parse_listen(text)
    assert (listen.host, listen.port, is_loopback(listen.host)) == (host, port, loopback)
    assert str(listen) == text


@pytest.mark.parametrize(("text", "says"), [
    ("4318", "expected HOST:PORT"), (":4318", "expected HOST:PORT"), ("host:http", "the port must be a number"),
    ("host:70000", "the port must be between 0 and 65535"),
])
def test_bad_listen_addresses(text: str, says: str) -> None:
    from logconsole.collectors.otlp import parse_listen

    with pytest.raises(ValueError, match=says):
        parse_listen(text)


def test_an_ipv6_loopback_door(tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    c = Collector(tmp_path, "--otlp", "[::1]:0").start()
    try:
        url = c.otlp_url()
        assert url.startswith("http://[::1]:")
        assert post(url, logs_request("over ipv6").SerializeToString())[0] == 200
        assert json.loads(stored(c, "over ipv6", 1)[0]["extra"])["_peer"] == "::1"
    finally:
        assert c.stop() == 0
