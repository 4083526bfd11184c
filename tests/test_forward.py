"""Forwarding committed records to an OTLP/HTTP endpoint: the forwarder against a
loopback receiver (:mod:`otlp_support`), then a real collector process."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cli_support import add, assert_user_error, run
from collector_support import Client, Collector, wait_for
from logconsole.collectors.forward import Forwarder, public_endpoint, retry_after
from logconsole.config import ForwardSettings
from logconsole.otlp import names as N
from logconsole.store import forward_state
from logconsole.store.db import connect
from otlp_support import Receiver

FAST = dict(max_delay=0.2, poll=0.1, timeout=2.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def forwarder(db: Path, endpoint: str, **kw: Any) -> Forwarder:
    f = Forwarder(db, ForwardSettings(endpoint, **{**FAST, **kw}))
    f.start()
    return f


def state(db: Path) -> dict[str, Any]:
    """Where forwarding stands, as ``stats`` reads it (waiting for the forwarder's first write)."""
    def read() -> dict[str, Any] | None:
        conn = connect(db, readonly=True)
        try:
            return forward_state.summary(conn)
        finally:
            conn.close()
    return wait_for(read, what="the forward state")


def stored_ids(conn: sqlite3.Connection) -> set[int]:
    return {r[0] for r in conn.execute("SELECT id FROM records")}


# ---------------------------------------------------------------- the forwarder


def test_records_arrive_with_headers_gzip_and_protobuf(conn: sqlite3.Connection, db_path: Path,
                                                        receiver: Receiver) -> None:
    ids = {add(conn, type="error", message=f"boom {i}", severity="high") for i in range(25)}
    f = forwarder(db_path, receiver.endpoint, batch=10, start="start", headers=(("x-api-key", "s3cret"),))
    try:
        receiver.wait_for_ids(ids)
    finally:
        f.close()
    assert sorted(receiver.ids()) == sorted(ids) and receiver.duplicates() == 0
    first = receiver.requests[0]
    assert first["path"] == "/v1/logs"
    assert first["headers"]["content-type"] == "application/x-protobuf"
    assert first["headers"]["content-encoding"] == "gzip"
    assert first["headers"]["x-api-key"] == "s3cret"
    assert [r["records"] for r in receiver.requests] == [10, 10, 5]
    s = state(db_path)
    assert (s["cursor"], s["sent"], s["rejected"], s["lag_records"]) == (max(ids), 25, 0, 0)
    assert "s3cret" not in json.dumps(s)


def test_a_new_endpoint_starts_at_the_end_unless_from_start(conn: sqlite3.Connection, db_path: Path,
                                                            receiver: Receiver) -> None:
    old = add(conn, type="chat", message="before")
    f = forwarder(db_path, receiver.endpoint)
    try:
        wait_for(lambda: forward_state.load(conn) is not None, what="the cursor")
        new = add(conn, type="chat", message="after")  # written by another process: found by polling
        receiver.wait_for_ids({new})
    finally:
        f.close()
    assert receiver.ids() == [new]
    other = Receiver().start()
    try:
        f = forwarder(db_path, other.endpoint, start="start")
        try:
            other.wait_for_ids({old, new})
        finally:
            f.close()
    finally:
        other.stop()
    assert state(db_path)["endpoint"] == other.endpoint


def test_the_same_endpoint_resumes_at_its_cursor(conn: sqlite3.Connection, db_path: Path, receiver: Receiver) -> None:
    f = forwarder(db_path, receiver.endpoint)
    state(db_path)  # started (at the end: nothing yet)
    first = add(conn, type="chat", message="one")
    try:
        receiver.wait_for_ids({first})
    finally:
        f.close()
    later = {add(conn, type="chat", message=f"while stopped {i}") for i in range(3)}
    f = forwarder(db_path, receiver.endpoint)
    try:
        receiver.wait_for_ids(later)
    finally:
        f.close()
    assert sorted(receiver.ids()) == sorted({first} | later)


def test_a_refused_record_is_isolated_counted_and_skipped(conn: sqlite3.Connection, db_path: Path,
                                                          receiver: Receiver) -> None:
    ids = [add(conn, type="activity", message=f"m{i}") for i in range(16)]
    bad = ids[5]
    receiver.refuse_ids = {bad}
    f = forwarder(db_path, receiver.endpoint, batch=16, start="start")
    try:
        receiver.wait_for_ids(set(ids) - {bad})
        wait_for(lambda: state(db_path)["cursor"] == ids[-1], what="the cursor past the refused record")
    finally:
        f.close()
    assert bad not in receiver.ids() and receiver.duplicates() == 0
    s = state(db_path)
    assert (s["sent"], s["rejected"], s["lag_records"]) == (15, 1, 0)
    assert f"record {bad} refused" in s["last_error"] and "HTTP 400" in s["last_error"]


def test_partial_success_rejections_are_counted_not_resent(conn: sqlite3.Connection, db_path: Path,
                                                           receiver: Receiver) -> None:
    ids = {add(conn, type="activity", message=f"m{i}") for i in range(4)}
    receiver.answer_with(rejected=2, times=1)
    f = forwarder(db_path, receiver.endpoint, start="start")
    try:
        wait_for(lambda: state(db_path)["cursor"] == max(ids), what="the cursor")
        time.sleep(0.3)
    finally:
        f.close()
    assert len(receiver.requests) == 1
    s = state(db_path)
    assert (s["sent"], s["rejected"]) == (2, 2)
    assert "rejected 2 records: too old" in s["last_error"]


def test_a_request_larger_than_max_bytes_is_split(conn: sqlite3.Connection, db_path: Path,
                                                  receiver: Receiver) -> None:
    ids = {add(conn, type="activity", message="x" * 1000) for _ in range(20)}
    f = forwarder(db_path, receiver.endpoint, start="start", max_bytes=4096)
    try:
        receiver.wait_for_ids(ids)
    finally:
        f.close()
    assert len(receiver.requests) > 4 and all(r["records"] <= 4 for r in receiver.requests)
    assert receiver.duplicates() == 0


@pytest.mark.parametrize("status", [500, 503, 429, 408, 401, 404, 307])
def test_failed_answers_are_retried_and_reported(conn: sqlite3.Connection, db_path: Path,
                                                 receiver: Receiver, status: int) -> None:
    """Server errors, throttling and answers that say the endpoint or its credentials
    are wrong hold the records back (retried), they never skip them."""
    ids = {add(conn, type="activity", message=f"m{i}") for i in range(3)}
    receiver.answer_with(status=status, times=3)
    f = forwarder(db_path, receiver.endpoint, start="start")
    try:
        receiver.wait_for_ids(ids)
    finally:
        f.close()
    assert [r["status"] for r in receiver.requests] == [status] * 3 + [200]
    s = state(db_path)
    assert (s["sent"], s["rejected"], s["failing"]) == (3, 0, False)
    assert s["last_error"].startswith(f"HTTP {status}")


def test_retry_after_is_honoured_up_to_max_delay(conn: sqlite3.Connection, db_path: Path,
                                                 receiver: Receiver) -> None:
    new = add(conn, type="activity", message="m")
    receiver.answer_with(status=503, retry_after="1", times=1)
    f = forwarder(db_path, receiver.endpoint, start="start", max_delay=5.0)
    started = time.monotonic()
    try:
        receiver.wait_for_ids({new})
    finally:
        f.close()
    assert time.monotonic() - started >= 0.9
    receiver.answer_with(status=429, retry_after="3600", times=1)
    newer = add(conn, type="activity", message="m")
    f = forwarder(db_path, receiver.endpoint, max_delay=0.3)
    started = time.monotonic()
    try:
        receiver.wait_for_ids({newer}, timeout=5)
    finally:
        f.close()
    assert time.monotonic() - started < 3


def test_retry_after_forms() -> None:
    assert retry_after("2") == 2.0
    assert retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0) == 6.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_credentials_in_the_endpoint_are_basic_authorization(conn: sqlite3.Connection, db_path: Path,
                                                             receiver: Receiver) -> None:
    new = add(conn, type="chat", message="m")
    endpoint = receiver.endpoint.replace("http://", "http://ada:p%40ss@")
    f = forwarder(db_path, endpoint, start="start")
    try:
        receiver.wait_for_ids({new})
    finally:
        f.close()
    assert receiver.requests[0]["headers"]["authorization"] == "Basic YWRhOnBAc3M="  # ada:p@ss
    assert state(db_path)["endpoint"] == receiver.endpoint


def test_public_endpoint_hides_credentials() -> None:
    assert public_endpoint("https://user:pw@collector:4318/v1/logs?api_key=k#x") == "https://collector:4318/v1/logs"


def test_a_deleted_record_is_not_forwarded(conn: sqlite3.Connection, db_path: Path, receiver: Receiver) -> None:
    ids = [add(conn, type="chat", message=f"m{i}") for i in range(3)]
    conn.execute("DELETE FROM records WHERE id = ?", (ids[1],))
    f = forwarder(db_path, receiver.endpoint, start="start")
    try:
        receiver.wait_for_ids({ids[0], ids[2]})
    finally:
        f.close()
    assert sorted(receiver.ids()) == [ids[0], ids[2]]


# ---------------------------------------------------------------- the writer keeps the cursor


async def test_the_cursor_is_the_writers_next_transaction_even_behind_a_full_queue(db_path: Path) -> None:
    """In the collector the cursor is committed by the writer (a second connection
    waits behind a busy writer for seconds): it skips a full queue and is a short
    transaction of its own, ahead of the records queued before it."""
    import asyncio

    from logconsole.collectors.pipeline import Pipeline
    from logconsole.ingest import Redactor

    p = Pipeline(db_path, redactor=Redactor(), capacity=10)
    for i in range(10):
        await p.put_raw({"type": "activity", "message": str(i)})
    events: list[str] = []
    p.on_commit = lambda ids, _: events.append(f"{len(ids)} records")

    async def write_cursor() -> None:
        await p.write_meta(forward_state.meta_values(forward_state.ForwardState("http://c", 7)))
        events.append("cursor")

    write = asyncio.create_task(write_cursor())
    await asyncio.sleep(0.05)
    assert p.queue_depth == 11 and not write.done()  # queued past the bound, not waiting for room
    await p.start()
    try:
        await asyncio.wait_for(write, 5)
        await p.sync()
    finally:
        await p.close()
    assert events == ["cursor", "10 records"]
    conn = connect(db_path, readonly=True)
    try:
        loaded = forward_state.load(conn)
    finally:
        conn.close()
    assert loaded is not None and (loaded.endpoint, loaded.cursor) == ("http://c", 7)


# ---------------------------------------------------------------- a real collector


def config(tmp_path: Path, endpoint: str, **keys: Any) -> Path:
    values = {"max_delay": 0.2, "poll": 0.2, "timeout": 2, **keys}
    lines = ["[forward]", f"endpoint = {json.dumps(endpoint)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def send(collector: Collector, records: list[dict[str, Any]]) -> None:
    with Client(collector.sock) as c:
        c.send_records(*records)
        answer, _ = c.sync()
        assert answer["ok"], answer


def db_ids(collector: Collector) -> set[int]:
    return {r["id"] for r in collector.rows("SELECT id FROM records")}


def test_the_collector_forwards_what_it_commits(tmp_path: Path, receiver: Receiver) -> None:
    cfg = config(tmp_path, receiver.endpoint)
    cfg.write_text(cfg.read_text() + 'headers = { "x-api-key" = "s3cret-key" }\n')
    collector = Collector(tmp_path, "--config", str(cfg)).start()
    try:
        send(collector, [
            {"type": "error", "severity": "critical", "message": "card vault down", "endpoint": "/api/pay",
             "method": "post", "status_code": 502, "trace_id": "0af7651916cd43dd8448eb211c80319c",
             "span_id": "b7ad6b7169203331", "extra": {"service.name": "shop"}},
            {"type": "ai", "ai_model": "gpt-4", "prompt": "Summarise", "tokens_used": 412, "status": "error"},
        ])
        ids = db_ids(collector)
        receiver.wait_for_ids(ids)
    finally:
        assert collector.stop() == 0
    assert all(r["headers"]["x-api-key"] == "s3cret-key" for r in receiver.requests)
    assert "s3cret" not in collector.output() and "forwarding to" in collector.output()
    assert "s3cret" not in run(collector.db, "stats", "--json", "--config", str(cfg)).output
    got = receiver.by_id()
    error = next(r for r in got.values() if r.attributes[N.KIND_ATTRIBUTE] == "error")
    assert error.resource["service.name"] == "shop" and error.resource["host.name"]
    assert error.record.body.string_value == "card vault down"
    assert error.record.severity_number == 21
    assert error.record.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert error.attributes["http.route"] == "/api/pay"
    assert error.attributes["http.request.method"] == "POST"
    assert error.attributes["http.response.status_code"] == 502
    ai = next(r for r in got.values() if r.attributes[N.KIND_ATTRIBUTE] == "ai")
    assert ai.attributes["gen_ai.request.model"] == "gpt-4" and ai.attributes["logconsole.tokens_used"] == 412
    assert ai.record.severity_number == 17
    assert receiver.duplicates() == 0


def test_nothing_is_lost_across_outages_and_restarts(tmp_path: Path) -> None:
    """The receiver refuses connections, then answers 503, and the collector is
    restarted while it is down: once it is back every record is there, and a
    record came twice only within the last unacknowledged batch."""
    batch = 20
    receiver = Receiver().start()
    cfg = config(tmp_path, receiver.endpoint, batch=batch)
    collector = Collector(tmp_path, "--config", str(cfg)).start()
    try:
        send(collector, [{"type": "activity", "message": f"up {i}"} for i in range(50)])
        receiver.wait_for_ids(db_ids(collector))
        receiver.stop()  # down: connections refused
        send(collector, [{"type": "activity", "message": f"down {i}"} for i in range(70)])
        # (a connection made while the receiver was closing may be reset instead)
        wait_for(lambda: state(collector.db)["last_error"] == "connection refused", what="the failure in the state")
        s = state(collector.db)
        waiting = db_ids(collector) - set(receiver.ids())  # the 70, and an alert the start-up sample may have raised
        assert len(waiting) >= 70 and s["lag_records"] == len(waiting) and s["failing"]
        result = run(collector.db, "stats")
        assert "connection refused" in result.output and f"lag {len(waiting)} records" in result.output
        assert collector.stop() == 0
        collector = Collector(tmp_path, "--config", str(cfg)).start()
        send(collector, [{"type": "chat", "message": f"after restart {i}"} for i in range(30)])
        receiver.answer_with(status=503, times=2)
        receiver.start()  # back, first answering 503
        receiver.wait_for_ids(db_ids(collector), timeout=20)
        wait_for(lambda: state(collector.db)["lag_records"] == 0, what="no lag")
    finally:
        collector.stop()
        receiver.stop()
    ids = receiver.ids()
    assert set(ids) == db_ids(collector)
    assert receiver.duplicates() <= batch
    assert 503 in [r["status"] for r in receiver.requests]
    s = state(collector.db)
    assert s["sent"] == len(ids) and s["failing"] is False


def test_a_hanging_endpoint_does_not_slow_ingest(tmp_path: Path, receiver: Receiver) -> None:
    receiver.answer_with(hang=True)
    collector = Collector(tmp_path, "--config", str(config(tmp_path, receiver.endpoint, timeout=30))).start()
    try:
        wait_for(lambda: receiver.requests, what="a request to hang")
        with Client(collector.sock) as c:
            for i in range(20):
                started = time.monotonic()
                c.send_records({"type": "activity", "message": f"m{i}"})
                answer, _ = c.sync()
                assert answer["ok"] and time.monotonic() - started < 1.0
        receiver.answer_normally()
        receiver.wait_for_ids(db_ids(collector), timeout=20)
    finally:
        assert collector.stop() == 0


def test_imported_records_are_forwarded(tmp_path: Path, receiver: Receiver) -> None:
    collector = Collector(tmp_path, "--config", str(config(tmp_path, receiver.endpoint))).start()
    try:
        wait_for(lambda: receiver.ids(), what="the start-up health record")
        source = tmp_path / "in.jsonl"
        source.write_text("".join(json.dumps({"type": "chat", "message": f"imported {i}"}) + "\n" for i in range(5)))
        result = run(collector.db, "import", str(source))
        assert result.exit_code == 0, result.output
        receiver.wait_for_ids(db_ids(collector))
    finally:
        collector.stop()


def test_stats_shows_forwarding(tmp_path: Path, receiver: Receiver) -> None:
    collector = Collector(tmp_path, "--config", str(config(tmp_path, receiver.endpoint))).start()
    try:
        send(collector, [{"type": "chat", "message": "hi"}])
        receiver.wait_for_ids(db_ids(collector))
        wait_for(lambda: state(collector.db)["lag_records"] == 0, what="no lag")
    finally:
        collector.stop()
    result = run(collector.db, "stats")
    assert f"forward     {receiver.endpoint}" in result.output
    assert "lag 0 records" in result.output
    data = json.loads(run(collector.db, "stats", "--json").output)["forward"]
    assert data["endpoint"] == receiver.endpoint and data["sent"] == len(db_ids(collector))
    assert data["lag_records"] == 0 and data["lag_seconds"] == 0


@pytest.mark.parametrize(("text", "words"), [
    ('endpoint = "collector:4318"', ["[forward] endpoint", "http://"]),
    ('endpoint = "http://c/v1/logs"\nbatch = 0', ["[forward] batch", "between 1 and 100000"]),
    ('endpoint = "http://c/v1/logs"\nheaders = { "x-api-key" = 5 }', ["[forward] headers", "x-api-key"]),
    ('endpoint = "http://c/v1/logs"\nfrom = "now"', ["[forward] from"]),
    ('endpoint = "http://c/v1/logs"\nbatches = 5', ["no key 'batches'"]),
    ('headers = { "a" = "b" }', ["endpoint is required"]),
])
def test_a_bad_forward_section_is_one_line(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[forward]\n{text}\n")
    assert_user_error(run(tmp_path / "logs.db", "stats", "--config", str(path)), *words)


def test_settings_defaults() -> None:
    cfg = ForwardSettings("http://c/v1/logs")
    assert (cfg.batch, cfg.max_bytes, cfg.max_delay, cfg.start) == (1000, 1 << 20, 60.0, "end")
    assert replace(cfg, batch=5).batch == 5


# ---------------------------------------------------------------- the documentation

ROOT = Path(__file__).resolve().parents[1]


def forwarding_section() -> str:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    start = text.index("## Forwarding to OpenTelemetry")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_the_documented_config_is_read_as_written(tmp_path: Path) -> None:
    import re

    from logconsole.config import load_settings

    (block,) = re.findall(r"```toml\n(.*?)```", forwarding_section(), re.S)
    path = tmp_path / "config.toml"
    path.write_text(block)
    cfg = load_settings(path).forward
    assert cfg is not None and cfg.endpoint == "http://collector:4318/v1/logs"
    assert dict(cfg.headers) == {"x-api-key": "..."}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("printf '[forward]"))
    path.write_text(line.split("'")[1].encode().decode("unicode_escape"))
    assert load_settings(path).forward == ForwardSettings("http://collector:4318/v1/logs")


def test_the_documented_defaults_are_the_defaults() -> None:
    import re

    section = forwarding_section()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M))
    cfg = ForwardSettings("http://c")
    for key, attr in (("batch", "batch"), ("max_bytes", "max_bytes"), ("timeout", "timeout"),
                      ("max_delay", "max_delay"), ("poll", "poll")):
        assert float(rows[key].strip()) == getattr(cfg, attr), key
    assert rows["from"].strip() == f'`"{cfg.start}"`'


def test_the_documented_mapping_is_the_mapping() -> None:
    """Each row of the mapping table naming one attribute for a field is what
    the encoder writes for each kind listed."""
    import re

    from logconsole import kinds as K

    rows = re.findall(r"^\| `(\w+)` \| `([\w.]+)` \| ([\w, ]+) \|$", forwarding_section(), re.M)
    assert len(rows) >= 12
    for field, attribute, kinds in rows:
        for kind in (k.strip() for k in kinds.split(",")):
            assert field in K.KINDS[kind].field_names, (field, kind)
            assert N.attribute_for(kind, field) == attribute, (field, kind)


def test_a_json_column_that_is_not_json_is_forwarded_as_text(conn: sqlite3.Connection, db_path: Path,
                                                              receiver: Receiver) -> None:
    """A damaged or hand-edited row neither stops forwarding nor loses its text."""
    bad = add(conn, type="activity", message="m", request_data={"a": 1}, extra={"k": 1})
    conn.execute("UPDATE records SET request_data = '{not json', extra = '[oops' WHERE id = ?", (bad,))
    good = add(conn, type="activity", message="after")
    f = forwarder(db_path, receiver.endpoint, start="start")
    try:
        receiver.wait_for_ids({bad, good})
    finally:
        f.close()
    attrs = receiver.by_id()[bad].attributes
    assert attrs["logconsole.request_data"] == "{not json" and attrs["logconsole.extra"] == "[oops"
