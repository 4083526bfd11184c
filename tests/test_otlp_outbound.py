"""Records as OpenTelemetry log records (:mod:`logconsole.otlp.outbound`): every
field of every kind arrives, under the names :mod:`logconsole.otlp.names` gives."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from cli_support import add
from logconsole import kinds as K
from logconsole.otlp import names as N
from logconsole.otlp.outbound import EXTRA_PREFIX, SCOPE_NAME, export_request, time_unix_nano
from logconsole.store.query import get, to_record
from otlp_support import plain

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def full_record(kind: str) -> dict[str, Any]:
    """A record of ``kind`` with a value in every field a sender may set."""
    spec = K.KINDS[kind]
    out: dict[str, Any] = {"type": kind, "created_at": "2026-11-29T10:11:12.345678Z"}
    for f in spec.fields:
        if f.name in ("fingerprint", "group_id"):
            continue  # the store's own
        if f.type == "enum":
            value: Any = f.values[-1]
        elif f.type == "int":
            value = 404 if f.name == "status_code" else 7
        elif f.type == "number":
            value = 12.5
        elif f.type == "bool":
            value = True
        elif f.type == "json":
            value = {"cpu_usage": 91.5, "nested": {"list": [1, "two", None, False]}}
        elif f.type == "time":
            value = "2026-11-29T11:00:00.000000Z"
        else:
            value = f"{f.name} value"
        out[f.name] = value
    out.update(trace_id=TRACE, span_id=SPAN, host="web-1", method="POST")
    out["extra"] = {"service.name": "shop", "tenant": "acme", "gen_ai.usage.input_tokens": 300}
    return out


def stored(conn: sqlite3.Connection, raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` through ingest into the store and back, as the forwarder reads it."""
    row = get(conn, add(conn, **raw))
    assert row is not None
    return to_record(row)


def only_record(records: list[dict[str, Any]], **kw: Any) -> tuple[dict[str, Any], Any]:
    request = export_request(records, **kw)
    (rl,) = request.resource_logs
    (sl,) = rl.scope_logs
    (lr,) = sl.log_records
    return {kv.key: plain(kv.value) for kv in rl.resource.attributes}, lr


def attributes(lr: Any) -> dict[str, Any]:
    keys = [kv.key for kv in lr.attributes]
    assert len(keys) == len(set(keys)), f"an attribute twice: {keys}"
    return {kv.key: plain(kv.value) for kv in lr.attributes}


@pytest.mark.parametrize("kind", K.KIND_NAMES)
def test_every_field_of_every_kind_arrives(conn: sqlite3.Connection, kind: str) -> None:
    record = stored(conn, full_record(kind))
    resource, lr = only_record([record])
    attrs = attributes(lr)
    spec = K.KINDS[kind]
    assert attrs[N.KIND_ATTRIBUTE] == kind
    assert attrs[N.ID_ATTRIBUTE] == record["id"]
    assert lr.time_unix_nano == lr.observed_time_unix_nano == time_unix_nano(record["created_at"])
    assert resource == {N.HOST_RESOURCE: "web-1", N.SERVICE_RESOURCE: "shop"}
    found_in_body = body_field = N.BODY_FIELDS[kind]
    for name in spec.field_names:
        value = record.get(name)
        assert value is not None or name == "group_id", f"{kind}.{name} was not filled in"
        if value is None:
            continue
        if name == body_field:
            assert plain(lr.body) == value
            found_in_body = name
        elif kind in ("activity", "error") and name == spec.level_field:
            assert lr.severity_text == value
        elif name == "host":
            assert resource[N.HOST_RESOURCE] == value
        elif name in ("trace_id", "span_id"):
            assert getattr(lr, name).hex() == value
        else:
            attribute = N.attribute_for(kind, name)
            assert attribute in attrs, f"{kind}.{name} is missing (expected as {attribute})"
            assert attrs[attribute] == value, f"{kind}.{name}"
    assert found_in_body == body_field
    assert attrs["tenant"] == "acme" and attrs[N.GENAI_INPUT_TOKENS] == 300
    assert N.SERVICE_RESOURCE not in attrs


def test_conventions_name_http_and_genai_fields(conn: sqlite3.Connection) -> None:
    _, lr = only_record([stored(conn, full_record("activity"))])
    attrs = attributes(lr)
    assert attrs["http.request.method"] == "POST"
    assert attrs["http.route"] == "endpoint value"
    assert attrs["http.response.status_code"] == 404
    _, lr = only_record([stored(conn, full_record("ai"))])
    attrs = attributes(lr)
    assert attrs["gen_ai.request.model"] == "ai_model value"
    assert attrs["logconsole.tokens_used"] == 7
    assert plain(lr.body) == "prompt value"
    _, lr = only_record([stored(conn, full_record("error"))])
    attrs = attributes(lr)
    assert attrs["exception.type"] == "error_type value"
    assert attrs["exception.message"] == plain(lr.body) == "message value"
    assert attrs["exception.stacktrace"] == "stack value"


@pytest.mark.parametrize(("raw", "number", "text"), [
    ({"type": "activity", "level": "debug"}, 5, "debug"),
    ({"type": "activity"}, 9, "info"),
    ({"type": "activity", "level": "warn"}, 13, "warn"),
    ({"type": "activity", "level": "error"}, 17, "error"),
    ({"type": "activity", "level": "critical"}, 21, "critical"),
    ({"type": "error", "message": "m", "severity": "low"}, 13, "low"),
    ({"type": "error", "message": "m"}, 17, "medium"),
    ({"type": "error", "message": "m", "severity": "high"}, 18, "high"),
    ({"type": "error", "message": "m", "severity": "critical"}, 21, "critical"),
    ({"type": "ai", "ai_model": "m"}, 9, "success"),
    ({"type": "ai", "ai_model": "m", "status": "error"}, 17, "error"),
    ({"type": "system", "status": "healthy"}, 9, "healthy"),
    ({"type": "system", "status": "warning"}, 13, "warning"),
    ({"type": "system", "status": "error"}, 17, "error"),
    ({"type": "system", "status": "critical"}, 21, "critical"),
    ({"type": "chat", "message": "m"}, 9, ""),
])
def test_severity_numbers(conn: sqlite3.Connection, raw: dict[str, Any], number: int, text: str) -> None:
    record = stored(conn, raw)
    _, lr = only_record([record])
    assert (lr.severity_number, lr.severity_text) == (number, text)
    if raw["type"] == "activity":
        assert N.level_of(number) == record["level"]
    if raw["type"] == "error":
        assert N.severity_of(number) == record["severity"]
    if raw["type"] in ("ai", "system"):
        assert attributes(lr)["logconsole.status"] == record["status"]


@pytest.mark.parametrize(("trace", "span"), [
    ("not-hex", "b7ad6b71692033"),             # wrong form, wrong length
    ("0" * 32, "0" * 16),                       # all zeros: not a valid id
    ("0AF7651916CD43DD8448EB211C80319CAA", "xyzxyzxyzxyzxyzx"),
])
def test_ids_that_are_not_otlp_ids_go_as_attributes(conn: sqlite3.Connection, trace: str, span: str) -> None:
    record = stored(conn, {"type": "activity", "trace_id": trace, "span_id": span})
    _, lr = only_record([record])
    assert lr.trace_id == b"" and lr.span_id == b""
    attrs = attributes(lr)
    assert attrs["logconsole.trace_id"] == record["trace_id"]
    assert attrs["logconsole.span_id"] == record["span_id"]


def test_ids_are_bytes_of_their_hex(conn: sqlite3.Connection) -> None:
    _, lr = only_record([stored(conn, {"type": "activity", "trace_id": TRACE.upper(), "span_id": SPAN})])
    assert lr.trace_id == bytes.fromhex(TRACE) and lr.span_id == bytes.fromhex(SPAN)
    assert "logconsole.trace_id" not in attributes(lr)


def test_extra_values_keep_their_json_types(conn: sqlite3.Connection) -> None:
    extra = {
        "text": "a", "int": -3, "big": 2 ** 70, "float": 0.25, "yes": True, "no": False, "null": None,
        "list": [1, [2, {"x": None}], "s"], "object": {"a": {"b": [True]}}, "empty_list": [], "empty_object": {},
    }
    record = stored(conn, {"type": "chat", "message": "m", "extra": extra})
    _, lr = only_record([record])
    attrs = attributes(lr)
    expected = {**extra, "big": str(2 ** 70)}
    for key, value in expected.items():
        assert key in attrs and attrs[key] == value, key
    values = {kv.key: kv.value for kv in lr.attributes}
    assert values["int"].WhichOneof("value") == "int_value"
    assert values["float"].WhichOneof("value") == "double_value"
    assert values["empty_list"].WhichOneof("value") == "array_value"
    assert values["empty_object"].WhichOneof("value") == "kvlist_value"
    assert values["null"].WhichOneof("value") is None


def test_an_extra_member_named_like_a_field_attribute_keeps_both(conn: sqlite3.Connection) -> None:
    record = stored(conn, {"type": "activity", "endpoint": "/a", "extra": {
        "http.route": "/b", "logconsole.type": "spoof", "logconsole.id": 1}})
    _, lr = only_record([record])
    attrs = attributes(lr)
    assert attrs["http.route"] == "/a" and attrs[EXTRA_PREFIX + "http.route"] == "/b"
    assert attrs[N.KIND_ATTRIBUTE] == "activity" and attrs[EXTRA_PREFIX + "logconsole.type"] == "spoof"
    assert attrs[N.ID_ATTRIBUTE] == record["id"] and attrs[EXTRA_PREFIX + "logconsole.id"] == 1


def test_records_are_grouped_by_host_and_service_in_order(conn: sqlite3.Connection) -> None:
    records = [
        stored(conn, {"type": "activity", "host": "a"}),
        stored(conn, {"type": "activity", "host": "b"}),
        stored(conn, {"type": "activity", "host": "a", "extra": {"service.name": "api"}}),
        stored(conn, {"type": "activity", "host": "a"}),
    ]
    request = export_request(records, service_name="default-svc")
    groups = [({kv.key: plain(kv.value) for kv in rl.resource.attributes},
               [attributes(lr)[N.ID_ATTRIBUTE] for sl in rl.scope_logs for lr in sl.log_records],
               [sl.scope.name for sl in rl.scope_logs])
              for rl in request.resource_logs]
    ids = [r["id"] for r in records]
    assert groups == [
        ({"host.name": "a", "service.name": "default-svc"}, [ids[0], ids[3]], [SCOPE_NAME]),
        ({"host.name": "b", "service.name": "default-svc"}, [ids[1]], [SCOPE_NAME]),
        ({"host.name": "a", "service.name": "api"}, [ids[2]], [SCOPE_NAME]),
    ]


def test_without_a_service_the_resource_names_none(conn: sqlite3.Connection) -> None:
    resource, _ = only_record([stored(conn, {"type": "activity", "host": "a"})])
    assert resource == {"host.name": "a"}


def test_time_is_exact_to_the_microsecond() -> None:
    assert time_unix_nano("1970-01-01T00:00:01.000001Z") == 1_000_001_000
    assert time_unix_nano("2026-11-29T10:11:12.345678Z") == 1795947072345678000


def test_json_fields_are_structured_not_text(conn: sqlite3.Connection) -> None:
    record = stored(conn, {"type": "activity", "request_data": {"items": [1, 2]}, "response_data": [{"ok": True}]})
    _, lr = only_record([record])
    attrs = attributes(lr)
    assert attrs["logconsole.request_data"] == {"items": [1, 2]}
    assert attrs["logconsole.response_data"] == [{"ok": True}]
    assert json.dumps(attrs["logconsole.request_data"]) == json.dumps(record["request_data"])
