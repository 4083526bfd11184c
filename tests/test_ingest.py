"""The one ingest step: aliases, validation messages, enums, times, extra, truncation."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logconsole.ingest import MAX_JSON_CHARS, IngestError, Redactor, Trusted, normalize, parse_line
from logconsole.store.db import connect
from logconsole.store.query import get, to_record
from logconsole.store.writer import insert_row, insert_rows

NOW = datetime(2026, 11, 20, 9, 15, tzinfo=timezone.utc)
NOW_TEXT = "2026-11-20T09:15:00.000000Z"
REQUIRED: dict[str, dict[str, str]] = {
    "activity": {}, "error": {"message": "m"}, "ai": {"ai_model": "m"}, "chat": {"message": "m"}, "system": {},
}


def norm(raw: dict[str, Any], **opts: Any) -> dict[str, Any]:
    return normalize(raw, now=NOW, **opts)


def reason(raw: Any, **opts: Any) -> tuple[str, str | None]:
    with pytest.raises(IngestError) as info:
        normalize(raw, now=NOW, **opts)
    return info.value.reason, info.value.field


# ---------------------------------------------------------------- aliases


@pytest.mark.parametrize(
    ("kind", "alias", "value", "column", "stored"),
    [
        ("activity", "userId", "u1", "user_id", "u1"),
        ("activity", "userName", "Ana", "user_name", "Ana"),
        ("activity", "userEmail", "a@x.org", "user_email", "a@x.org"),
        ("activity", "ipAddress", "10.0.0.1", "ip_address", "10.0.0.1"),
        ("activity", "userAgent", "curl/8", "user_agent", "curl/8"),
        ("activity", "statusCode", "404", "status_code", 404),
        ("activity", "duration", 12.5, "duration_ms", 12.5),
        ("activity", "durationMs", 7, "duration_ms", 7),
        ("activity", "requestData", {"q": 1}, "request_data", '{"q":1}'),
        ("activity", "responseData", [1, 2], "response_data", "[1,2]"),
        ("error", "errorType", "TypeError", "error_type", "TypeError"),
        ("error", "isResolved", True, "is_resolved", 1),
        ("error", "resolvedBy", "ops", "resolved_by", "ops"),
        ("error", "resolvedAt", "2026-11-20T10:00:00Z", "resolved_at", "2026-11-20T10:00:00.000000Z"),
        ("ai", "aiModel", "gpt-4o", "ai_model", "gpt-4o"),
        ("ai", "model", "gpt-4o", "ai_model", "gpt-4o"),
        ("ai", "tokensUsed", 812, "tokens_used", 812),
        ("ai", "tokens", 812, "tokens_used", 812),
        ("ai", "responseTime", 950, "response_time_ms", 950),
        ("ai", "latency_ms", 950, "response_time_ms", 950),
        ("ai", "conversationId", "c9", "conversation_id", "c9"),
        ("ai", "errorMessage", "overloaded", "error_message", "overloaded"),
        ("chat", "chatType", "support", "chat_type", "support"),
        ("chat", "senderId", "u1", "sender_id", "u1"),
        ("chat", "senderName", "Ana", "sender_name", "Ana"),
        ("chat", "receiverId", "u2", "receiver_id", "u2"),
        ("chat", "receiverName", "Bo", "receiver_name", "Bo"),
        ("chat", "isRead", "yes", "is_read", 1),
        ("system", "eventType", "health_check", "event_type", "health_check"),
        ("system", "requiresAction", 1, "requires_action", 1),
        ("system", "systemMetrics", {"cpuUsage": 91.5}, "metrics", '{"cpu_usage":91.5}'),
        ("system", "system_metrics", {"disk_usage": 3}, "metrics", '{"disk_usage":3}'),
    ],
)
def test_camel_case_and_aliases_reach_their_column(
    kind: str, alias: str, value: Any, column: str, stored: Any,
) -> None:
    raw = {"type": kind, **REQUIRED[kind], alias: value}
    row = norm(raw)
    assert row[column] == stored
    assert alias not in json.loads(row.get("extra") or "{}")


@pytest.mark.parametrize("alias", ["createdAt", "created_at", "timestamp", "time"])
def test_created_at_aliases(alias: str) -> None:
    assert norm({"type": "activity", alias: "2026-01-02T03:04:05Z"})["created_at"] == "2026-01-02T03:04:05.000000Z"


def test_type_accepts_case_plural_and_collection_names() -> None:
    assert norm({"type": " ERRORS ", "message": "m"})["type"] == "error"
    assert norm({"type": "ActivityLogs"})["type"] == "activity"
    assert norm({"type": "health"})["type"] == "system"
    assert norm({"message": "m"}, kind="chat")["type"] == "chat"
    assert norm({"type": "ai", "model": "x"}, kind="chat")["type"] == "ai"  # the record's own type wins


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("raw", "message", "field"),
    [
        ({"message": "m"}, "field `type` is required: one of activity, error, ai, chat, system", "type"),
        ({"type": ""}, "field `type` is required: one of activity, error, ai, chat, system", "type"),
        ({"type": "metric"}, "field `type` must be one of activity, error, ai, chat, system, got 'metric'", "type"),
        ({"type": 5}, "field `type` must be one of activity, error, ai, chat, system, got 5", "type"),
        ({"type": "error"}, "field `message` is required for error records", "message"),
        ({"type": "error", "message": None}, "field `message` is required for error records", "message"),
        ({"type": "chat", "message": ""}, "field `message` must not be empty", "message"),
        ({"type": "ai"}, "field `ai_model` is required for ai records", "ai_model"),
        ({"type": "error", "message": "m", "severity": "urgent"},
         "field `severity` must be one of low, medium, high, critical, got 'urgent'", "severity"),
        ({"type": "error", "message": "m", "severity": 3},
         "field `severity` must be one of low, medium, high, critical, got 3", "severity"),
        ({"type": "activity", "level": "loud"},
         "field `level` must be one of debug, info, warn, error, critical, got 'loud'", "level"),
        ({"type": "system", "status": "on fire"},
         "field `status` must be one of healthy, warning, error, critical, got 'on fire'", "status"),
        ({"type": "ai", "model": "m", "status": "healthy"},
         "field `status` must be one of success, error, got 'healthy'", "status"),
        ({"type": "activity", "status_code": "abc"}, "field `status_code` must be an integer, got 'abc'", "status_code"),
        ({"type": "activity", "statusCode": 404.5}, "field `status_code` must be an integer, got 404.5", "status_code"),
        ({"type": "activity", "status_code": True}, "field `status_code` must be an integer, got True", "status_code"),
        ({"type": "activity", "status_code": 2**63},
         f"field `status_code` must be an integer that fits in 64 bits, got {2**63}", "status_code"),
        ({"type": "ai", "model": "m", "tokens": [1]}, "field `tokens_used` must be an integer, got [1]", "tokens_used"),
        ({"type": "activity", "duration": "slow"}, "field `duration_ms` must be a number, got 'slow'", "duration_ms"),
        ({"type": "activity", "duration": "nan"}, "field `duration_ms` must be a number, got 'nan'", "duration_ms"),
        ({"type": "activity", "duration": float("inf")},
         "field `duration_ms` must be a finite number, got inf", "duration_ms"),
        ({"type": "activity", "duration": False}, "field `duration_ms` must be a number, got False", "duration_ms"),
        ({"type": "error", "message": "m", "is_resolved": "maybe"},
         "field `is_resolved` must be true or false, got 'maybe'", "is_resolved"),
        ({"type": "chat", "message": "m", "isRead": 2}, "field `is_read` must be true or false, got 2", "is_read"),
        ({"type": "error", "message": "m", "created_at": "next tuesday"},
         "field `created_at`: expected an ISO 8601 time or epoch seconds, got 'next tuesday'", "created_at"),
        ({"type": "error", "message": "m", "created_at": True},
         "field `created_at`: expected an ISO 8601 time or epoch seconds, got True", "created_at"),
        ({"type": "error", "message": "m", "created_at": {"$date": 1}},
         "field `created_at`: expected an ISO 8601 time or epoch seconds, got {'$date': 1}", "created_at"),
        ({"type": "error", "message": "m", "created_at": "9999-12-31T23:00:00-05:00"},
         "field `created_at`: time '9999-12-31T23:00:00-05:00' is out of range", "created_at"),
        ({"type": "error", "message": "m", "resolved_at": "soon"},
         "field `resolved_at`: expected an ISO 8601 time or epoch seconds, got 'soon'", "resolved_at"),
        ({"type": "error", "message": ["a", "b"]}, "field `message` must be a string, got ['a', 'b']", "message"),
        ({"type": "activity", "title": {"a": 1}}, "field `title` must be a string, got {'a': 1}", "title"),
        ({"type": "activity", "title": False}, "field `title` must be a string, got False", "title"),
    ],
)
def test_every_validation_error_names_field_and_reason(raw: dict[str, Any], message: str, field: str) -> None:
    assert reason(raw) == (message, field)


def test_long_values_are_shortened_in_messages() -> None:
    message, _ = reason({"type": "activity", "status_code": "x" * 500})
    assert message.startswith("field `status_code` must be an integer, got 'xxx")
    assert message.endswith("...") and len(message) < 120


def test_a_record_must_be_an_object() -> None:
    assert reason([1, 2]) == ("a record must be a JSON object, got list", None)
    assert reason("text") == ("a record must be a JSON object, got str", None)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"type": "error",', "invalid JSON: Expecting property name enclosed in double quotes at column 18"),
        ("not json", "invalid JSON: Expecting value at column 1"),
        (b'{"type": "chat", "message": "\xff"}', "invalid UTF-8"),
        ("[" * 5000, "invalid JSON: nested too deeply"),
        ("[1]", "a record must be a JSON object, got list"),
    ],
)
def test_parse_line_reasons(line: str | bytes, message: str) -> None:
    with pytest.raises(IngestError) as info:
        parse_line(line)
    assert info.value.reason == message


def test_deeply_nested_json_is_refused_with_a_reason() -> None:
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"a": deep}
    assert reason({"type": "activity", "request_data": deep}) == (
        "field `request_data`: JSON nested deeper than 200 levels", "request_data")
    assert reason({"type": "activity", "custom": deep}) == (
        "unknown fields: JSON nested deeper than 200 levels", "extra")


# ---------------------------------------------------------------- enums, defaults, coercion


@pytest.mark.parametrize(
    ("raw", "column", "stored"),
    [
        ({"type": "error", "message": "m", "severity": "CRITICAL"}, "severity", "critical"),
        ({"type": "error", "message": "m", "severity": " High "}, "severity", "high"),
        ({"type": "error", "message": "m", "severity": "crit"}, "severity", "critical"),
        ({"type": "error", "message": "m", "severity": "Fatal"}, "severity", "critical"),
        ({"type": "error", "message": "m", "severity": "med"}, "severity", "medium"),
        ({"type": "activity", "level": "WARNING"}, "level", "warn"),
        ({"type": "activity", "level": "err"}, "level", "error"),
        ({"type": "activity", "level": "notice"}, "level", "info"),
        ({"type": "activity", "level": "Trace"}, "level", "debug"),
        ({"type": "activity", "level": "fatal"}, "level", "critical"),
        ({"type": "system", "status": "OK"}, "status", "healthy"),
        ({"type": "system", "status": "Warn"}, "status", "warning"),
        ({"type": "system", "status": "CRIT"}, "status", "critical"),
        ({"type": "ai", "model": "m", "status": "Error"}, "status", "error"),
        ({"type": "activity", "method": "post"}, "method", "POST"),
        ({"type": "error", "message": "m", "is_resolved": "yes"}, "is_resolved", 1),
        ({"type": "error", "message": "m", "is_resolved": "False"}, "is_resolved", 0),
        ({"type": "error", "message": "m", "is_resolved": 0}, "is_resolved", 0),
        ({"type": "activity", "status_code": 201.0}, "status_code", 201),
        ({"type": "activity", "status_code": " 418 "}, "status_code", 418),
        ({"type": "activity", "duration": "12.5"}, "duration_ms", 12.5),
        ({"type": "activity", "duration": "12"}, "duration_ms", 12),
        ({"type": "activity", "duration": 10**30}, "duration_ms", 1e30),
        ({"type": "activity", "title": 42}, "title", "42"),
    ],
)
def test_enum_case_synonyms_and_coercion(raw: dict[str, Any], column: str, stored: Any) -> None:
    assert norm(raw)[column] == stored


@pytest.mark.parametrize(
    ("raw", "defaults"),
    [
        ({"type": "activity"}, {"level": "info"}),
        ({"type": "error", "message": "m"}, {"severity": "medium", "is_resolved": 0}),
        ({"type": "ai", "model": "m"}, {"status": "success"}),
        ({"type": "chat", "message": "m"}, {"is_read": 0}),
        ({"type": "system"}, {"status": "healthy", "requires_action": 0}),
    ],
)
def test_defaults(raw: dict[str, Any], defaults: dict[str, Any]) -> None:
    row = norm(raw)
    for column, value in defaults.items():
        assert row[column] == value


def test_empty_and_null_values_fall_back_to_defaults() -> None:
    row = norm({"type": "error", "message": "m", "severity": "", "is_resolved": None, "status_code": ""})
    assert row["severity"] == "medium" and row["is_resolved"] == 0 and "status_code" not in row
    assert norm({"type": "activity", "title": ""})["title"] == ""  # empty text is a value


# ---------------------------------------------------------------- created_at


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-11-20T09:15:00Z", NOW_TEXT),
        ("2026-11-20T09:15:00.000000Z", NOW_TEXT),
        ("2026-11-20T10:15:00+01:00", NOW_TEXT),
        ("2026-11-20T04:15:00-05:00", NOW_TEXT),
        ("2026-11-20T09:15:00", NOW_TEXT),  # naive means UTC
        ("2026-11-20 09:15:00.123456", "2026-11-20T09:15:00.123456Z"),
        ("2026-11-20", "2026-11-20T00:00:00.000000Z"),
        (1795166100, NOW_TEXT),  # epoch seconds
        (1795166100.25, "2026-11-20T09:15:00.250000Z"),
        ("1795166100", NOW_TEXT),
        (1795166100123, "2026-11-20T09:15:00.123000Z"),  # epoch milliseconds
        ("1795166100123", "2026-11-20T09:15:00.123000Z"),
    ],
)
def test_created_at_forms(given: Any, stored: str) -> None:
    row = normalize({"type": "activity", "created_at": given}, now=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert row["created_at"] == stored


def test_created_at_defaults_to_now() -> None:
    assert norm({"type": "activity"})["created_at"] == NOW_TEXT
    assert normalize({"type": "activity"}, now=NOW_TEXT)["created_at"] == NOW_TEXT
    before = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    stamped = normalize({"type": "activity", "created_at": ""})["created_at"]
    after = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.999Z")
    assert before <= stamped <= after


# ---------------------------------------------------------------- extra, ids, trusted


def test_unknown_fields_are_kept_under_extra() -> None:
    row = norm({
        "type": "chat", "message": "hi", "room": "lobby", "clientVersion": "1.2",
        "severity": "high",  # a field of another kind is kept too
        "extra": {"region": "eu"},
        "id": 99,  # the store assigns ids
    })
    assert json.loads(row["extra"]) == {
        "room": "lobby", "clientVersion": "1.2", "severity": "high", "region": "eu",
    }
    assert "id" not in row and "severity" not in row


def test_extra_that_is_not_an_object_is_kept_as_a_value() -> None:
    assert json.loads(norm({"type": "activity", "extra": [1, 2]})["extra"]) == {"extra": [1, 2]}


def test_trusted_fields_override_what_the_record_claims() -> None:
    row = norm({"type": "activity", "pid": 1, "extra": {"uid": 0}}, trusted={"pid": 4242, "uid": 1000})
    assert json.loads(row["extra"]) == {"pid": 4242, "uid": 1000}


_PEER = {"_pid": 4242, "_uid": 1000, "_gid": 1000, "_comm": "wörker"}


@pytest.mark.parametrize("raw", [
    {"type": "activity", "title": "t"},
    {"type": "activity", "room": "lobby", "apiKey": "abc", "extra": {"nested": {"password": "x"}}},
    {"type": "error", "message": "m", "_pid": 1, "extra": {"_comm": "init", "region": "eu"}},
    {"type": "chat", "message": "hi", "blob": "y" * (MAX_JSON_CHARS + 1)},
])
@pytest.mark.parametrize("words", [(), ("comm",)])
def test_trusted_fields_prepared_once_store_what_plain_ones_do(raw: dict[str, Any], words: tuple[str, ...]) -> None:
    redactor = Redactor(words)
    now = "2026-01-02T03:04:05.000Z"
    plain = normalize(raw, now=now, redactor=redactor, trusted=_PEER)
    prepared = Trusted(_PEER, redactor)
    assert normalize(raw, now=now, redactor=redactor, trusted=prepared) == plain
    # Prepared with another redactor, they are prepared again with this one.
    assert normalize(raw, now=now, redactor=redactor, trusted=Trusted(_PEER)) == plain
    extra = json.loads(plain["extra"])
    assert {k: extra[k] for k in _PEER} == ({**_PEER, "_comm": "[REDACTED]"} if words else _PEER)
    assert not Trusted({}) and normalize(raw, now=now, trusted=Trusted({})) == normalize(raw, now=now)


def test_no_extra_column_when_nothing_unknown() -> None:
    assert "extra" not in norm({"type": "activity", "title": "t"})


# ---------------------------------------------------------------- truncation


def test_json_values_up_to_the_limit_are_kept_and_larger_ones_truncated() -> None:
    # '{"b":"' + k characters + '"}' is k + 8 characters of JSON text.
    fits = "x" * (MAX_JSON_CHARS - 8)
    row = norm({"type": "activity", "request_data": {"b": fits}})
    assert json.loads(row["request_data"]) == {"b": fits}
    row = norm({"type": "activity", "request_data": {"b": fits + "y"}})
    assert json.loads(row["request_data"]) == {"truncated": True, "size": MAX_JSON_CHARS + 1}


def test_truncated_size_counts_characters_not_bytes() -> None:
    row = norm({"type": "activity", "response_data": ["é" * 20_000]})
    assert json.loads(row["response_data"]) == {"truncated": True, "size": 20_004}


def test_truncation_applies_after_redaction_and_per_unknown_field() -> None:
    row = norm({
        "type": "system",
        "metrics": {"cpu_usage": 5, "password": "p" * 50_000},
        "blob": "z" * 20_000,
        "small": "ok",
    })
    assert json.loads(row["metrics"]) == {"cpu_usage": 5, "password": "[REDACTED]"}
    assert json.loads(row["extra"]) == {"blob": {"truncated": True, "size": 20_002}, "small": "ok"}


# ---------------------------------------------------------------- storable


def test_lone_surrogates_do_not_fail_the_insert(conn: sqlite3.Connection) -> None:
    row = parse_line('{"type": "chat", "message": "a\\ud800b", "note\\udfff": "c\\udc00"}')
    record = to_record(get(conn, insert_row(conn, row)) or {})
    assert record["message"] == "a?b"
    assert record["extra"] == {"note?": "c?"}


def test_unicode_is_stored_as_given(conn: sqlite3.Connection) -> None:
    row = norm({"type": "chat", "message": "café ☕ 👋 日本語", "extra": {"ключ": "значение"}})
    record = to_record(get(conn, insert_row(conn, row)) or {})
    assert record["message"] == "café ☕ 👋 日本語" and record["extra"] == {"ключ": "значение"}


# ---------------------------------------------------------------- never anything but IngestError

_KEYS = st.one_of(
    st.sampled_from([
        "type", "message", "severity", "level", "status", "created_at", "createdAt", "timestamp",
        "userId", "statusCode", "duration", "tokensUsed", "isResolved", "requires_action",
        "request_data", "metrics", "systemMetrics", "extra", "id", "model", "aiModel", "password",
        "resolved_at", "is_read", "method", "title",
    ]),
    st.text(max_size=12),
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.sampled_from(["error", "ai", "chat", "system", "activity", "CRITICAL", "1e400",
                                           "2026-11-20T09:15:00Z", "9999-12-31T23:59:59-12:00", "\ud800"]),
)
_JSONISH = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def fuzz_conn(tmp_path_factory: pytest.TempPathFactory) -> Any:
    c = connect(tmp_path_factory.mktemp("fuzz") / "fuzz.db")
    yield c
    c.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.dictionaries(_KEYS, _JSONISH, max_size=8), kind=st.sampled_from([None, "error", "chat", "system"]))
def test_ingest_raises_only_ingest_error_and_its_rows_store(
    fuzz_conn: sqlite3.Connection, raw: dict[str, Any], kind: str | None,
) -> None:
    try:
        row = normalize(raw, kind=kind, now=NOW)
    except IngestError as exc:
        assert exc.reason
        return
    assert insert_rows(fuzz_conn, [row]) == 1
    line = json.dumps(raw, default=str)
    try:
        parse_line(line, kind=kind, now=NOW)
    except IngestError:
        pass


@settings(max_examples=200, deadline=None)
@given(line=st.one_of(st.text(max_size=80), st.binary(max_size=80),
                      st.builds(lambda r: json.dumps(r, default=str), st.dictionaries(_KEYS, _JSONISH, max_size=6))))
def test_parse_line_raises_only_ingest_error(line: str | bytes) -> None:
    try:
        row = parse_line(line, kind="activity", now=NOW)
    except IngestError as exc:
        assert exc.reason
    else:
        assert row["type"] in ("activity", "error", "ai", "chat", "system")


def test_a_record_without_text_is_summarised_by_what_it_has() -> None:
    from logconsole.kinds import summary

    assert summary({"type": "ai", "ai_model": "gpt-4", "prompt": None}) == "gpt-4"
    assert summary({"type": "ai", "ai_model": "gpt-4", "prompt": "Summarise"}) == "Summarise"
    assert summary({"type": "error", "message": "boom"}) == "boom"


def test_json_errors_read_once_whatever_the_wording() -> None:
    with pytest.raises(IngestError) as info:
        parse_line('{"bad json')
    assert str(info.value) == "invalid JSON: Unterminated string starting at column 2"
