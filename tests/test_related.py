"""Related records: one record to every record of its request, trace,
conversation or user, across kinds, oldest first, on a real database file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from logconsole.store.query import OLDEST, Filter, QueryError, count, cursor_of, fetch_page, iter_rows
from logconsole.store.related import related_to
from tests.store_support import add, ago

REQ = "5f0c1e2d3b4a59687766554433221100"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def request_records(conn: sqlite3.Connection) -> dict[str, int]:
    """One request's activity, AI call and error (stored out of time order),
    and records that share something else with them."""
    return {
        "error": add(conn, type="error", message="payment failed", request_id=REQ, trace_id=TRACE,
                     user_id="u1", created_at=ago(minutes=10)),
        "activity": add(conn, type="activity", title="POST /api/pay", requestId=REQ, traceId=TRACE,
                        spanId="00f067aa0ba902b7", user_id="u1", created_at=ago(minutes=10, seconds=2)),
        "ai": add(conn, type="ai", ai_model="gpt-4", request_id=REQ, trace_id=TRACE, user_id="u1",
                  conversation_id="c9", created_at=ago(minutes=10, seconds=1)),
        "other_request": add(conn, type="activity", title="GET /", request_id="other", trace_id=TRACE,
                             user_id="u1", created_at=ago(minutes=5)),
        "chat": add(conn, type="chat", message="hi", conversation_id="c9", created_at=ago(minutes=3)),
        "user_near": add(conn, type="activity", title="login", user_id="u7", created_at=ago(minutes=50)),
        "user_at": add(conn, type="ai", ai_model="m", user_id="u7", created_at=ago(minutes=20)),
        "user_far": add(conn, type="activity", title="old", user_id="u7", created_at=ago(hours=2)),
        "alone": add(conn, type="system", message="boot", created_at=ago(minutes=1)),
    }


def related_ids(conn: sqlite3.Connection, record_id: int, by: str | None = None) -> list[int]:
    flt = Filter(related=related_to(conn, record_id, by))
    return [r["id"] for r in fetch_page(conn, flt, OLDEST, limit=100)]


def test_camel_case_correlation_fields_are_stored(conn: sqlite3.Connection,
                                                  request_records: dict[str, int]) -> None:
    row = conn.execute("SELECT request_id, trace_id, span_id FROM records WHERE id = ?",
                       (request_records["activity"],)).fetchone()
    assert tuple(row) == (REQ, TRACE, "00f067aa0ba902b7")


@pytest.mark.parametrize("start", ["activity", "ai", "error"])
def test_a_request_is_one_related_set_from_any_of_its_records(
        conn: sqlite3.Connection, request_records: dict[str, int], start: str) -> None:
    r = request_records
    assert related_to(conn, r[start]).field == "request_id"
    assert related_ids(conn, r[start]) == [r["activity"], r["ai"], r["error"]]


def test_trace_then_conversation_then_user_within_an_hour(
        conn: sqlite3.Connection, request_records: dict[str, int]) -> None:
    r = request_records
    assert related_ids(conn, r["other_request"], "trace_id") == [
        r["activity"], r["ai"], r["error"], r["other_request"]]
    chat = related_to(conn, r["chat"])
    assert (chat.field, chat.value) == ("conversation_id", "c9")
    assert related_ids(conn, r["chat"]) == [r["ai"], r["chat"]]
    user = related_to(conn, r["user_at"])
    assert user.field == "user_id" and user.describe() == "user_id=u7 ±1h"
    assert related_ids(conn, r["user_at"]) == [r["user_near"], r["user_at"]]


def test_by_overrides_the_choice(conn: sqlite3.Connection, request_records: dict[str, int]) -> None:
    r = request_records
    assert related_ids(conn, r["ai"], "conversation_id") == [r["ai"], r["chat"]]


def test_the_description_says_what_was_joined_on(conn: sqlite3.Connection,
                                                 request_records: dict[str, int]) -> None:
    assert related_to(conn, request_records["error"]).describe() == "request_id=5f0c1e2d…"


@pytest.mark.parametrize(("record", "by", "message"), [
    ("alone", None, "has no request_id or trace_id or conversation_id or user_id"),
    ("chat", "request_id", "has no request_id to relate it by"),
    (None, None, "no record with id 999"),
])
def test_nothing_to_relate_by_is_a_clear_error(conn: sqlite3.Connection, request_records: dict[str, int],
                                               record: str | None, by: str | None, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        related_to(conn, request_records[record] if record else 999, by)


def test_an_unknown_by_is_a_clear_error(conn: sqlite3.Connection, request_records: dict[str, int]) -> None:
    with pytest.raises(QueryError, match="--by 'level': expected one of: request_id, trace_id"):
        related_to(conn, request_records["ai"], "level")


def test_pages_counts_and_iteration_agree(conn: sqlite3.Connection, request_records: dict[str, int]) -> None:
    flt = Filter(related=related_to(conn, request_records["ai"]))
    first = fetch_page(conn, flt, OLDEST, limit=2)
    rest = fetch_page(conn, flt, OLDEST, limit=2, after=cursor_of(first[-1], OLDEST))
    assert [r["id"] for r in first + rest] == [r["id"] for r in iter_rows(conn, flt, OLDEST)]
    assert count(conn, flt) == 3
    assert count(conn, flt.with_(types=("error",))) == 1


@pytest.mark.parametrize(("field", "index"), [
    ("request_id", "idx_records_request"), ("trace_id", "idx_records_trace"),
    ("conversation_id", "idx_records_conversation"), ("user_id", "idx_records_user_time"),
])
def test_the_join_reads_its_index_in_the_page_order(conn: sqlite3.Connection, request_records: dict[str, int],
                                                    field: str, index: str) -> None:
    from logconsole.store.query import select_sql

    rel = related_to(conn, request_records["ai"], field)
    sql, params = select_sql(conn, Filter(related=rel), OLDEST, limit=50)
    plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert index in plan and "TEMP B-TREE" not in plan, plan


def test_follow_takes_the_related_condition(conn: sqlite3.Connection, db_path: Path,
                                             request_records: dict[str, int]) -> None:
    from logconsole.store.follow import Follower

    follower = Follower(db_path, Filter(related=related_to(conn, request_records["ai"])), interval=0.01)
    try:
        assert [r["id"] for r in follower.start(10)] == sorted(  # follow goes in arrival order
            [request_records["activity"], request_records["ai"], request_records["error"]])
        later = add(conn, type="chat", message="retry", request_id=REQ, created_at=ago(minutes=2))
        add(conn, type="chat", message="another request", request_id="other", created_at=ago(minutes=2))
        assert [r["id"] for r in follower.poll()] == [later]
    finally:
        follower.close()
