"""OTLP log requests in: bodies, encodings, and the mapping of log records to the five kinds."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from logconsole.ingest import IngestError, normalize
from logconsole.otlp import inbound as I
from logconsole.otlp import names as N

TRACE = bytes(range(1, 17))
SPAN = bytes(range(1, 9))
NANOS = 1_764_400_000_123_456_789
"""2025-11-29T07:06:40.123456789Z"""
WHEN = "2025-11-29T07:06:40.123456Z"


def any_value(value: Any) -> AnyValue:
    out = AnyValue()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, list):
        out.array_value.values.extend(any_value(v) for v in value)
    elif isinstance(value, dict):
        for k, v in value.items():
            out.kvlist_value.values.add(key=k, value=any_value(v))
    return out


def request(*records: dict[str, Any], resource: dict[str, Any] | None = None,
            scope: str = "") -> ExportLogsServiceRequest:
    """A logs request with one resource and scope; each record a dict of
    ``body``, ``severity``, ``text``, ``attrs``, ``trace``, ``span``, ``time``."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for k, v in (resource or {}).items():
        rl.resource.attributes.add(key=k, value=any_value(v))
    sl = rl.scope_logs.add()
    sl.scope.name = scope
    for spec in records:
        r = sl.log_records.add()
        if "body" in spec:
            r.body.CopyFrom(any_value(spec["body"]))
        r.severity_number = spec.get("severity", 0)
        r.severity_text = spec.get("text", "")
        r.time_unix_nano = spec.get("time", 0)
        r.trace_id = spec.get("trace", b"")
        r.span_id = spec.get("span", b"")
        for k, v in spec.get("attrs", {}).items():
            r.attributes.add(key=k, value=any_value(v))
    return req


def mapped(spec: dict[str, Any], **opts: Any) -> dict[str, Any]:
    (incoming,) = I.log_records(request(spec, **opts))
    assert incoming.raw is not None, incoming.problem
    return incoming.raw


def stored(spec: dict[str, Any], **opts: Any) -> dict[str, Any]:
    """The row ingest makes of one log record (``extra`` decoded)."""
    row = normalize(mapped(spec, **opts), now="2026-01-01T00:00:00.000000Z", host="collector")
    if row.get("extra"):
        row["extra"] = json.loads(row["extra"])
    return row


# ---------------------------------------------------------------- the kinds

EXCEPTION = {"exception.type": "ValueError", "exception.message": "card declined",
             "exception.stacktrace": "Traceback...\nValueError: card declined"}

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("exception attributes make an error; the body is its message",
     {"body": "payment failed", "severity": 17, "attrs": EXCEPTION},
     {"type": "error", "severity": "medium", "error_type": "ValueError", "message": "payment failed",
      "stack": "Traceback...\nValueError: card declined"}),
    ("exception below ERROR is a low error",
     {"body": "retrying", "severity": 13, "attrs": EXCEPTION},
     {"type": "error", "severity": "low", "error_type": "ValueError"}),
    ("exception without a body: its message",
     {"attrs": EXCEPTION}, {"type": "error", "severity": "medium", "message": "card declined"}),
    ("exception type alone is the message",
     {"attrs": {"exception.type": "KeyError"}}, {"type": "error", "message": "KeyError", "error_type": "KeyError"}),
    ("ERROR without exception is an error",
     {"body": "boom", "severity": 17}, {"type": "error", "severity": "medium", "message": "boom"}),
    ("ERROR2..4 are high", {"body": "boom", "severity": 19}, {"type": "error", "severity": "high"}),
    ("FATAL is critical", {"body": "down", "severity": 21}, {"type": "error", "severity": "critical"}),
    ("severity text alone counts", {"body": "boom", "text": "fatal"}, {"type": "error", "severity": "critical"}),
    ("WARN is a warn activity", {"body": "disk low", "severity": 13},
     {"type": "activity", "level": "warn", "message": "disk low"}),
    ("DEBUG", {"body": "x", "severity": 5}, {"type": "activity", "level": "debug"}),
    ("TRACE is debug", {"body": "x", "severity": 1}, {"type": "activity", "level": "debug"}),
    ("unspecified is info", {"body": "x"}, {"type": "activity", "level": "info"}),
    ("severity text WARNING", {"body": "x", "text": "WARNING"}, {"type": "activity", "level": "warn"}),
    ("GenAI record",
     {"body": "chat completion", "severity": 9,
      "attrs": {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 30,
                "gen_ai.client.operation.duration": 1.25, "gen_ai.conversation.id": "c-9", "user.id": "u1"}},
     {"type": "ai", "ai_model": "gpt-4o", "tokens_used": 42, "response_time_ms": 1250.0, "status": "success",
      "conversation_id": "c-9", "user_id": "u1"}),
    ("GenAI response model", {"attrs": {"gen_ai.response.model": "claude"}}, {"type": "ai", "ai_model": "claude"}),
    ("failed GenAI call", {"attrs": {"gen_ai.request.model": "m", "error.type": "timeout", "error.message": "slow"}},
     {"type": "ai", "status": "error", "error_message": "slow"}),
    ("GenAI messages are the prompt and response",
     {"attrs": {"gen_ai.request.model": "m", "gen_ai.input.messages": [{"role": "user", "content": "hi"}],
                "gen_ai.output.messages": "hello"}},
     {"type": "ai", "prompt": '[{"role":"user","content":"hi"}]', "response": "hello"}),
    ("HTTP server record",
     {"body": "GET /orders/7", "attrs": {"http.request.method": "get", "http.route": "/orders/{id}",
                                         "http.response.status_code": 404, "http.server.request.duration": 0.012,
                                         "client.address": "10.0.0.9", "user_agent.original": "curl/8"}},
     {"type": "activity", "level": "info", "method": "GET", "endpoint": "/orders/{id}", "status_code": 404,
      "duration_ms": 12.0, "ip_address": "10.0.0.9", "user_agent": "curl/8", "message": "GET /orders/7"}),
    ("url.path when there is no route", {"attrs": {"http.request.method": "POST", "url.path": "/login"}},
     {"type": "activity", "endpoint": "/login", "method": "POST"}),
    ("older HTTP names", {"attrs": {"http.method": "PUT", "http.target": "/a", "http.status_code": "201"}},
     {"type": "activity", "method": "PUT", "endpoint": "/a", "status_code": 201}),
    ("HTTP error with exception keeps the request fields",
     {"body": "boom", "severity": 17, "attrs": {**EXCEPTION, "http.route": "/pay", "http.response.status_code": 500}},
     {"type": "error", "endpoint": "/pay", "status_code": 500}),
    ("a structured body is JSON text", {"body": {"event": "login", "ok": True}},
     {"type": "activity", "message": '{"event":"login","ok":true}'}),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_log_records_map_to_kinds(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    row = stored(spec)
    assert {k: row.get(k) for k in expected} == expected


def test_time_ids_resource_and_scope_are_kept() -> None:
    row = stored({"body": "hi", "time": NANOS, "trace": TRACE, "span": SPAN, "attrs": {"order.id": 7}},
                 resource={"service.name": "shop", "host.name": "web-7", "deployment.environment": "prod"},
                 scope="shop.orders")
    assert row["created_at"] == WHEN
    assert row["trace_id"] == TRACE.hex() == "0102030405060708090a0b0c0d0e0f10"
    assert row["span_id"] == "0102030405060708"
    assert row["host"] == "web-7"
    assert row["extra"] == {"service.name": "shop", "deployment.environment": "prod",
                            "otel.scope.name": "shop.orders", "order.id": 7}


def test_without_host_name_the_collector_host_is_stamped() -> None:
    assert stored({"body": "hi"}, resource={"service.name": "shop"})["host"] == "collector"


def test_all_zero_ids_mean_none() -> None:
    row = stored({"body": "hi", "trace": bytes(16), "span": bytes(8)})
    assert row.get("trace_id") is None and row.get("span_id") is None


def test_observed_time_when_there_is_no_time() -> None:
    req = request({"body": "hi"})
    req.resource_logs[0].scope_logs[0].log_records[0].observed_time_unix_nano = NANOS
    (incoming,) = I.log_records(req)
    assert incoming.raw is not None and incoming.raw["created_at"] == WHEN


def test_an_id_of_the_wrong_length_is_a_rejection_naming_it() -> None:
    (incoming,) = I.log_records(request({"body": "hi", "trace": b"\x01\x02\x03"}))
    assert incoming.raw is None
    assert incoming.problem == "trace_id must be 16 bytes, got 3"


def test_attribute_values_of_every_type_reach_extra() -> None:
    row = stored({"attrs": {"s": "x", "i": 3, "f": 1.5, "b": True, "raw": b"\x00\xff", "list": [1, "a"],
                            "map": {"k": [True]}, "nan": float("nan")}})
    assert row["extra"] == {"s": "x", "i": 3, "f": 1.5, "b": True, "raw": base64.b64encode(b"\x00\xff").decode(),
                            "list": [1, "a"], "map": {"k": [True]}, "nan": "nan"}


def test_attributes_that_look_like_fields_stay_in_extra() -> None:
    row = stored({"body": "hi", "attrs": {"user_id": "not-a-field-here", "level": "debug"}})
    assert row.get("user_id") is None and row["level"] == "info"
    assert row["extra"] == {"user_id": "not-a-field-here", "level": "debug"}


def test_secrets_in_attributes_are_redacted() -> None:
    row = stored({"body": "login password=hunter2", "attrs": {"password": "hunter2", "db": {"apiKey": "k"}}},
                 resource={"auth.token": "t"})
    assert row["extra"]["password"] == "[REDACTED]"
    assert row["extra"]["db"] == {"apiKey": "[REDACTED]"}
    assert row["extra"]["auth.token"] == "[REDACTED]"
    assert "hunter2" not in row["message"]


# ---------------------------------------------------------------- logconsole's own attributes


def test_explicit_type_and_fields_win_over_the_conventions() -> None:
    row = stored({"body": "from the body", "severity": 17, "trace": TRACE, "time": NANOS,
                  "attrs": {"logconsole.type": "chat", "logconsole.message": "hello", "logconsole.sender_name": "ann",
                            "logconsole.is_read": True, "logconsole.id": 991, "logconsole.host": "origin",
                            "logconsole.created_at": "2026-01-02T03:04:05.000006Z", "exception.type": "X"}},
                 resource={"host.name": "forwarder"})
    assert row["type"] == "chat"
    assert (row["message"], row["sender_name"], row["is_read"]) == ("hello", "ann", 1)
    assert row["host"] == "origin"
    assert row["created_at"] == "2026-01-02T03:04:05.000006Z"
    assert row["trace_id"] == TRACE.hex()
    assert "id" not in row and "logconsole.id" not in (row.get("extra") or {})
    assert row["extra"] == {"exception.type": "X"}


def test_a_forwarded_error_comes_back_with_its_fields() -> None:
    """What a forwarding logconsole sends (names.attribute_for) is read back as it was."""
    record = {"severity": "high", "error_type": "KeyError", "message": "no user", "stack": "Traceback...",
              "endpoint": "/u", "method": "GET", "status_code": 500, "user_id": "u1", "is_resolved": True,
              "resolution": "fixed", "fingerprint": "KeyError: no user", "request_id": "r-1"}
    attrs = {N.attribute_for("error", k): v for k, v in record.items()}
    attrs[N.KIND_ATTRIBUTE] = "error"
    row = stored({"body": "no user", "severity": N.SEVERITY_NUMBERS["high"], "attrs": attrs})
    expected = {**record, "is_resolved": 1}
    assert {k: row.get(k) for k in expected} == expected
    assert row.get("extra") is None


def test_a_forwarded_ai_record_comes_back_with_its_fields() -> None:
    record = {"ai_model": "m", "prompt": "p", "response": "r", "tokens_used": 5, "response_time_ms": 12.5,
              "conversation_id": "c", "status": "error", "error_message": "e", "user_name": "ann"}
    attrs = {N.attribute_for("ai", k): v for k, v in record.items()}
    attrs[N.KIND_ATTRIBUTE] = "ai"
    row = stored({"attrs": attrs})
    assert {k: row.get(k) for k in record} == record


def test_an_unknown_explicit_type_is_refused_naming_the_attribute() -> None:
    (incoming,) = I.log_records(request({"body": "x", "attrs": {"logconsole.type": "bogus"}}))
    assert incoming.raw is not None
    with pytest.raises(IngestError) as info:
        normalize(incoming.raw)
    assert I.rejection(4, info.value, incoming.origin) == (
        "log record 4: field `type` must be one of activity, error, ai, chat, system, got 'bogus' "
        "(attribute logconsole.type)"
    )


def test_a_rejection_names_the_convention_attribute() -> None:
    (incoming,) = I.log_records(request({"attrs": {"http.response.status_code": "teapot"}}))
    assert incoming.raw is not None
    with pytest.raises(IngestError) as info:
        normalize(incoming.raw)
    assert I.rejection(0, info.value, incoming.origin) == (
        "log record 0: field `status_code` must be an integer, got 'teapot' (attribute http.response.status_code)"
    )


def test_records_are_numbered_across_resources_and_scopes() -> None:
    req = request({"body": "a"}, {"body": "b"})
    req.resource_logs.add().scope_logs.add().log_records.add().body.string_value = "c"
    assert [i.raw["message"] for i in I.log_records(req) if i.raw] == ["a", "b", "c"]


# ---------------------------------------------------------------- bodies


def test_protobuf_body_round_trip() -> None:
    req = request({"body": "hi", "trace": TRACE})
    parsed = I.parse_request(req.SerializeToString(), I.PROTOBUF)
    assert parsed == req


def otlp_json(req: ExportLogsServiceRequest) -> dict[str, Any]:
    """The OTLP JSON encoding: protobuf JSON with hex trace and span ids."""
    value = json_format.MessageToDict(req)
    for rl in value["resourceLogs"]:
        for sl in rl["scopeLogs"]:
            for r in sl["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in r:
                        r[key] = base64.b64decode(r[key]).hex()
    return value


def test_json_body_reads_hex_ids() -> None:
    req = request({"body": "hi", "trace": TRACE, "span": SPAN, "severity": 13, "time": NANOS})
    body = json.dumps(otlp_json(req)).encode()
    assert b"0102030405060708090a0b0c0d0e0f10" in body
    assert I.parse_request(body, I.JSON) == req


def test_json_body_as_the_spec_example_writes_it() -> None:
    """Enum as a number, 64-bit integers as strings, an unknown field, upper-case hex."""
    body = json.dumps({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeLogs": [{"scope": {"name": "lib"}, "logRecords": [{
            "timeUnixNano": str(NANOS), "severityNumber": 10, "severityText": "Information",
            "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
            "body": {"stringValue": "Example log record"}, "futureField": 1,
            "attributes": [{"key": "int.attribute", "value": {"intValue": "10"}}]}]}]}]}).encode()
    (incoming,) = I.log_records(I.parse_request(body, I.JSON))
    raw = incoming.raw
    assert raw is not None
    assert (raw["trace_id"], raw["span_id"]) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    assert (raw["created_at"], raw["level"], raw["message"]) == (WHEN, "info", "Example log record")
    assert raw["extra"] == {"service.name": "svc", "otel.scope.name": "lib", "int.attribute": 10}


@pytest.mark.parametrize(("body", "media", "says"), [
    (b"\xff\xff\xff", I.PROTOBUF, "not an OTLP logs request in protobuf"),
    (b"{not json", I.JSON, "invalid JSON"),
    (b"[1]", I.JSON, "an OTLP logs request is a JSON object, got list"),
    (b'{"resourceLogs": 5}', I.JSON, "not an OTLP logs request in JSON"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz"}]}]}]}', I.JSON,
     "resourceLogs[0].scopeLogs[0].logRecords[0].traceId must be hex, got 'xyz'"),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}', I.JSON,
     "not an OTLP logs request in JSON"),
])
def test_malformed_bodies_say_what_is_wrong(body: bytes, media: str, says: str) -> None:
    with pytest.raises(I.BodyError) as info:
        I.parse_request(body, media)
    assert says in str(info.value)


def test_deeply_nested_bodies_are_malformed_not_a_crash() -> None:
    deep: Any = "x"
    for _ in range(250):
        deep = {"arrayValue": {"values": [deep]}}
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": deep}]}]}]})
    with pytest.raises(I.BodyError):
        I.parse_request(body.encode(), I.JSON)
    (shallow,) = I.log_records(I.parse_request(nested_protobuf(3), I.PROTOBUF))
    assert shallow.raw is not None and shallow.raw["message"] == '[[["x"]]]'
    with pytest.raises(I.BodyError):
        I.parse_request(nested_protobuf(500), I.PROTOBUF)


def nested_protobuf(depth: int) -> bytes:
    """A logs request whose one body nests ``depth`` arrays (built by hand: the
    protobuf library refuses to build it)."""
    def field(number: int, payload: bytes) -> bytes:
        return I._varint(number << 3 | 2) + I._varint(len(payload)) + payload

    value = field(1, b"x")  # AnyValue.string_value
    for _ in range(depth):
        value = field(5, field(1, value))  # AnyValue.array_value.values
    return field(1, field(2, field(2, field(5, value))))


@pytest.mark.parametrize(("header", "media"), [
    ("application/x-protobuf", I.PROTOBUF), ("application/json; charset=utf-8", I.JSON),
    ("Application/JSON", I.JSON),
])
def test_media_types(header: str, media: str) -> None:
    assert I.media_type(header) == media


@pytest.mark.parametrize("header", [None, "", "text/plain", "application/grpc", "application/protobuf"])
def test_other_media_types_are_unsupported(header: str | None) -> None:
    with pytest.raises(I.Unsupported):
        I.media_type(header)


def test_gzip_bodies_are_inflated_within_the_limit() -> None:
    data = b"x" * 5000
    assert I.inflate(gzip.compress(data), "gzip", 5000) == data
    assert I.inflate(data, None, 5000) == data
    assert I.inflate(data, "identity", 5000) == data


def test_a_gzip_bomb_is_too_large_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"\0" * (50 << 20))
    assert len(bomb) < 100_000
    with pytest.raises(I.TooLarge, match="once un-gzipped"):
        I.inflate(bomb, "gzip", 1 << 20)


def test_bodies_over_the_limit_damaged_gzip_and_other_encodings() -> None:
    with pytest.raises(I.TooLarge):
        I.inflate(b"x" * 101, None, 100)
    with pytest.raises(I.BodyError, match="damaged"):
        I.inflate(b"not gzip at all", "gzip", 100)
    with pytest.raises(I.BodyError, match="cut short"):
        I.inflate(gzip.compress(b"x" * 1000)[:-12], "gzip", 10_000)
    with pytest.raises(I.Unsupported, match="br"):
        I.inflate(b"x", "br", 100)


# ---------------------------------------------------------------- answers


def test_answers_in_both_encodings() -> None:
    ok = ExportLogsServiceResponse.FromString(I.response_body(I.PROTOBUF))
    assert not ok.HasField("partial_success")
    partial = ExportLogsServiceResponse.FromString(I.response_body(I.PROTOBUF, 2, "log record 1: bad"))
    assert (partial.partial_success.rejected_log_records, partial.partial_success.error_message) == (2, "log record 1: bad")
    assert json.loads(I.response_body(I.JSON, 2, "why")) == {
        "partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "why"}}
    assert json.loads(I.response_body(I.JSON)) == {}
    assert json.loads(I.status_body(I.JSON, 3, "bad body")) == {"code": 3, "message": "bad body"}


def test_the_protobuf_status_is_a_google_rpc_status() -> None:
    status = pytest.importorskip("google.rpc.status_pb2")
    message = "é" * 200
    parsed = status.Status.FromString(I.status_body(I.PROTOBUF, 14, message))
    assert (parsed.code, parsed.message) == (14, message)


# ---------------------------------------------------------------- the documents


ROOT = Path(__file__).resolve().parents[1]


def otlp_section() -> str:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    start = text.index("## OpenTelemetry (OTLP/HTTP)")
    return text[start:text.index("\n## ", start + 1)]


def test_the_protocol_doc_names_every_attribute_the_receiver_reads() -> None:
    section = otlp_section()
    read = {a for table in N.CONVENTIONS.values() for a in table.values()}
    read |= {a for others in N.ALSO_ACCEPTED.values() for a in others}
    read |= {a for others in N.DURATIONS_IN_SECONDS.values() for a in others}
    read |= {*N.GENAI_MODELS, N.GENAI_INPUT_TOKENS, N.GENAI_OUTPUT_TOKENS, N.ERROR_TYPE, N.KIND_ATTRIBUTE,
             N.ID_ATTRIBUTE, N.HOST_RESOURCE, N.SCOPE_NAME, N.SCOPE_VERSION, N.EVENT_NAME}
    missing = sorted(a for a in read if f"`{a}`" not in section)
    assert missing == []


def test_the_protocol_doc_states_the_answers_and_limits_as_built() -> None:
    from logconsole.collectors import otlp

    section = otlp_section()
    for status in (200, 400, 401, 413, 415, 503):
        assert f"\n| {status} |" in section
    assert I.DEFAULT_MAX_REQUEST_BYTES == 20 << 20 and "20 MiB" in section
    assert f"max_request_bytes = {I.DEFAULT_MAX_REQUEST_BYTES}" in section
    assert otlp.DEFAULT_ROOM_WAIT == 2 and "full for 2 seconds" in section
    assert f"`Retry-After: {otlp.RETRY_AFTER_REFUSING}` while the database refuses" in section
    assert f"`{otlp.RETRY_AFTER_BUSY}` when the writer is only behind" in section
    assert "`_peer`" in section


def test_the_readme_and_the_cli_doc_show_the_door() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = readme[readme.index("## A quick tour"):readme.index("From Python")]
    assert "logconsole daemon --otlp 127.0.0.1:4318" in tour
    assert "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://127.0.0.1:4318/v1/logs" in tour
    assert "logconsole daemon --otlp HOST:PORT" in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    from click.testing import CliRunner

    from logconsole.cli import cli

    out = CliRunner().invoke(cli, ["daemon", "--help"], terminal_width=200)
    assert "--otlp HOST:PORT" in out.output and "logconsole daemon --otlp 127.0.0.1:4318" in out.output
