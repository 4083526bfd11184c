"""Export formats, parsed back; spreadsheet formula injection; streaming order."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from typing import Any

import pytest

from logconsole.store.export import FORMATS, csv_cell, export
from logconsole.store.query import NEWEST, OLDEST, Filter, fetch_page, make_filter, record_fields, to_record
from tests.store_support import add, ago


@pytest.fixture
def stored(conn: sqlite3.Connection) -> list[int]:
    return [
        add(conn, type="activity", title="Login", level="info", status_code=200, duration_ms=-5,
            request_data={"user": {"name": "Zoë"}, "tags": ["a", "b"], "password": "p"},
            created_at=ago(days=3)),
        add(conn, type="error", message="=HYPERLINK(\"http://evil\")", severity="critical",
            stack="line 1\nline 2, with comma", is_resolved=False, created_at=ago(days=2)),
        add(conn, type="ai", model="gpt-4o", prompt="+SUM(A1:A9)", tokens_used=512, response_time_ms=830.5,
            created_at=ago(days=1)),
        add(conn, type="chat", message="@admin see this", sender_name="-Bob", is_read=True,
            created_at=ago(hours=5), extra={"room": "lobby"}),
        add(conn, type="system", message="\tcpu high", event_type="\rhealth", requires_action=True,
            metrics={"cpu_usage": 97.5}, created_at=ago(hours=1)),
    ]


def run(conn: sqlite3.Connection, fmt: str, flt: Filter = Filter(), **kw: Any) -> str:
    out = io.StringIO()
    export(conn, flt, out, fmt, **kw)
    return out.getvalue()


def expected_records(conn: sqlite3.Connection, flt: Filter = Filter(), sort: Any = NEWEST) -> list[dict[str, Any]]:
    return [to_record(r) for r in fetch_page(conn, flt, sort, limit=1000)]


def test_jsonl_parses_back_to_the_records(conn: sqlite3.Connection, stored: list[int]) -> None:
    lines = run(conn, "jsonl").splitlines()
    records = [json.loads(line) for line in lines]
    assert records == expected_records(conn)
    assert [r["id"] for r in records] == stored[::-1]  # newest first
    first = records[-1]
    assert first["request_data"] == {"user": {"name": "Zoë"}, "tags": ["a", "b"], "password": "[REDACTED]"}
    assert first["created_at"].endswith("Z") and first["created_at"][10] == "T"
    assert records[1]["is_read"] is True and records[0]["requires_action"] is True
    assert records[1]["extra"] == {"room": "lobby"} and "extra" not in records[0]


def test_json_is_one_array_of_the_same_records(conn: sqlite3.Connection, stored: list[int]) -> None:
    text = run(conn, "json")
    assert json.loads(text) == [json.loads(line) for line in run(conn, "jsonl").splitlines()]


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_exports_are_still_valid(conn: sqlite3.Connection, fmt: str) -> None:
    text = run(conn, fmt, make_filter(types=["chat"]))
    if fmt == "json":
        assert json.loads(text) == []
    elif fmt == "jsonl":
        assert text == ""
    else:
        assert list(csv.reader(io.StringIO(text))) == [record_fields(("chat",))]


def test_csv_parses_back_with_nested_json_as_json_text(conn: sqlite3.Connection, stored: list[int]) -> None:
    rows = list(csv.DictReader(io.StringIO(run(conn, "csv", sort=OLDEST))))
    assert list(rows[0]) == record_fields(())
    assert [int(r["id"]) for r in rows] == stored
    activity, error, ai, chat, system = rows
    assert json.loads(activity["request_data"]) == {
        "user": {"name": "Zoë"}, "tags": ["a", "b"], "password": "[REDACTED]"}
    assert json.loads(system["metrics"]) == {"cpu_usage": 97.5}
    assert json.loads(chat["extra"]) == {"room": "lobby"}
    assert error["stack"] == "line 1\nline 2, with comma"
    assert (chat["is_read"], system["requires_action"], error["is_resolved"]) == ("true", "true", "false")
    assert activity["duration_ms"] == "-5.0"  # a number, not a formula
    assert ai["tokens_used"] == "512" and ai["response_time_ms"] == "830.5"
    assert activity["message"] == "" and activity["severity"] == ""  # missing values are empty cells
    assert activity["created_at"].endswith("Z")


def test_csv_neutralises_formulas(conn: sqlite3.Connection, stored: list[int]) -> None:
    rows = {r["type"]: r for r in csv.DictReader(io.StringIO(run(conn, "csv")))}
    assert rows["error"]["message"] == "'=HYPERLINK(\"http://evil\")"
    assert rows["ai"]["prompt"] == "'+SUM(A1:A9)"
    assert rows["chat"]["message"] == "'@admin see this"
    assert rows["chat"]["sender_name"] == "'-Bob"
    assert rows["system"]["message"] == "'\tcpu high"
    assert rows["system"]["event_type"] == "'\rhealth"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
        ("a=b", "a=b"), ("", ""), (None, ""), (True, "true"), (False, "false"), (-3, -3), (1.5, 1.5),
        ({"a": "=b"}, '{"a": "=b"}'), (["x"], '["x"]'),
    ],
)
def test_csv_cell(value: Any, cell: Any) -> None:
    assert csv_cell(value) == cell


def test_csv_header_follows_the_types(conn: sqlite3.Connection, stored: list[int]) -> None:
    text = run(conn, "csv", make_filter(types=["error"]))
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[:3] == ["id", "type", "created_at"] and header[-1] == "extra"
    assert "severity" in header and "ai_model" not in header
    assert len(rows) == 1


def test_filters_sort_limit_and_progress(conn: sqlite3.Connection, stored: list[int]) -> None:
    seen: list[int] = []
    text = run(conn, "jsonl", make_filter(types=["activity", "ai", "chat"]), sort=OLDEST, limit=2,
               progress=seen.append)
    assert [json.loads(line)["id"] for line in text.splitlines()] == stored[:3:2]
    assert seen[-1] == 2


def test_large_exports_stream_in_pages(conn: sqlite3.Connection) -> None:
    from tests.store_support import add_many
    add_many(conn, ({"type": "chat", "message": f"m{i}", "created_at": ago(minutes=i % 50)} for i in range(12_000)))
    counts: list[int] = []
    lines = run(conn, "jsonl", progress=counts.append).splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)) == 12_000
    assert counts[0] == 1000 and counts[-1] == 12_000


def test_unknown_format(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'; expected one of jsonl, json, csv"):
        run(conn, "xml")
