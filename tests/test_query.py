"""Filters, full-text search and keyset paging on a real database file."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logconsole.store import query as Q
from logconsole.store.query import (
    NEWEST, OLDEST, Filter, QueryError, Sort, count, counts_by, cursor_of, fetch_page, ids_matching,
    iter_rows, make_filter, select_sql,
)
from logconsole.store.db import connect
from tests.store_support import NOW, add, add_many, ago


def ids(conn: sqlite3.Connection, flt: Filter, sort: Sort = OLDEST) -> list[int]:
    return [r["id"] for r in fetch_page(conn, flt, sort, limit=10_000)]


def find(conn: sqlite3.Connection, **kw: Any) -> list[int]:
    return ids(conn, make_filter(now=NOW, **kw))


@pytest.fixture
def sample(conn: sqlite3.Connection) -> dict[str, int]:
    """A few records of every kind with known times and values, by name."""
    made = {
        "login": add(conn, type="activity", title="User logged in", message="Ana signed in from Lisbon",
                     level="info", category="user", user_id="u1", status_code=200, created_at=ago(hours=1)),
        "pay": add(conn, type="activity", title="Payment declined", message="card ending 4242 declined",
                   level="warn", category="payment", status_code=402, duration_ms=120, created_at=ago(days=3),
                   request_data={"amount": 12, "items": [{"sku": "A1"}]}),
        "crit": add(conn, type="error", severity="critical", message="Connection pool closed",
                    error_type="MongoNetworkError", endpoint="/api/pay", created_at=ago(minutes=30)),
        "fixed": add(conn, type="error", severity="low", message="Request timeout after 30 s",
                     is_resolved=True, resolution="retried", created_at=ago(days=10)),
        "ai": add(conn, type="ai", model="gpt-4o", prompt="Summarize the café menu", status="success",
                  tokens_used=900, created_at=ago(hours=5)),
        "ai_err": add(conn, type="ai", model="llama-3", prompt="Explain error-prone code", status="error",
                      error_message="model overloaded", created_at=ago(days=1)),
        "chat": add(conn, type="chat", message="See you tomorrow 👋 naïve Zoë", sender_name="Zoë",
                    created_at=ago(days=2)),
        "hot": add(conn, type="system", status="critical", message="cpu 97%", requires_action=True,
                   metrics={"cpu_usage": 97.5, "memory_usage": 40}, created_at=ago(minutes=5)),
        "calm": add(conn, type="system", status="healthy", message="cpu 12%",
                    metrics={"cpu_usage": 12, "memory_usage": 35}, created_at=ago(days=40)),
    }
    return made


# ---------------------------------------------------------------- filters


def test_type_filter(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    assert find(conn, types=["error"]) == [sample["fixed"], sample["crit"]]
    assert set(find(conn, types=["ai", "system"])) == {sample["ai"], sample["ai_err"], sample["hot"], sample["calm"]}
    assert set(find(conn, types=["errors,health"])) == {sample["crit"], sample["fixed"], sample["hot"], sample["calm"]}
    assert len(find(conn, types=[])) == len(sample)
    with pytest.raises(QueryError, match="unknown type 'metric'; expected one of: activity, error, ai, chat, system"):
        make_filter(types=["metric"])
    with pytest.raises(QueryError, match="unknown type \"x' OR 1\""):  # kind names are written into SQL
        ids(conn, Filter(types=("error", "x' OR 1")))


def test_since_and_until(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    assert set(find(conn, since="2h")) == {sample["login"], sample["crit"], sample["hot"]}
    assert set(find(conn, since="90m", types=["error"])) == {sample["crit"]}
    assert set(find(conn, until="7d")) == {sample["fixed"], sample["calm"]}
    assert set(find(conn, since="11d", until="2d")) == {sample["fixed"], sample["pay"]}
    assert set(find(conn, since=ago(days=3), until=ago(days=2))) == {sample["pay"]}  # since inclusive, until not
    assert set(find(conn, since="2026-11-19T12:00:00Z")) == {
        sample["login"], sample["crit"], sample["ai"], sample["ai_err"], sample["hot"]}


def test_today_starts_at_local_midnight(conn: sqlite3.Connection) -> None:
    now_id = add(conn, type="activity", created_at=NOW.isoformat())
    add(conn, type="activity", created_at=ago(days=2))
    assert find(conn, since="today") == [now_id]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"since": "next tuesday"}, "cannot read time 'next tuesday'"),
        ({"since": "1d", "until": "2d"}, "--since (1d) is not before --until (2d)"),
    ],
)
def test_bad_times_are_clear(kw: dict[str, str], message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_filter(now=NOW, **kw)


def test_where_coerces_like_ingest(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    assert find(conn, where=["is_resolved=false"]) == [sample["crit"]]
    assert find(conn, where=["isResolved=yes"]) == [sample["fixed"]]
    assert find(conn, where=["severity=CRITICAL"]) == [sample["crit"]]
    assert find(conn, where=["severity=crit"]) == [sample["crit"]]
    assert find(conn, where=["status_code=402"]) == [sample["pay"]]
    assert set(find(conn, where=["status_code>=200", "status_code<300"])) == {sample["login"]}
    assert find(conn, where=["duration>100"]) == [sample["pay"]]
    assert find(conn, where=["level=WARNING"]) == [sample["pay"]]
    assert find(conn, where=["requires_action=1"]) == [sample["hot"]]
    assert find(conn, where=["model=gpt-4o"]) == [sample["ai"]]


def test_status_means_the_kind_whose_values_fit(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    # Without a type, `healthy` can only be a system status and `success` only an AI one.
    assert find(conn, where=["status=healthy"]) == [sample["calm"]]
    assert find(conn, where=["status=Success"]) == [sample["ai"]]
    assert set(find(conn, where=["status=error"])) == {sample["ai_err"]}
    with pytest.raises(QueryError, match="must be one of success, error, got 'healthy'"):
        make_filter(types=["ai"], where=["status=healthy"])


def test_not_equal_includes_records_without_the_field(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    assert set(find(conn, where=["severity!=critical"])) == set(sample.values()) - {sample["crit"]}


def test_null_conditions(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    assert find(conn, types=["error"], where=["resolution=null"]) == [sample["crit"]]
    assert find(conn, types=["error"], where=["resolution!=none"]) == [sample["fixed"]]
    assert find(conn, where=["user_id!=null"]) == [sample["login"]]
    with pytest.raises(QueryError, match="only = and != compare with null"):
        make_filter(where=["status_code>null"])


def test_contains(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    assert find(conn, where=["message~Pool"]) == [sample["crit"]]  # LIKE is case-insensitive for ASCII
    assert find(conn, where=["message~97%"]) == [sample["hot"]]  # % is literal
    assert find(conn, where=["message~9_%"]) == []  # so is _
    assert find(conn, where=["endpoint~/api/"]) == [sample["crit"]]


def test_json_path(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    assert find(conn, where=["metrics.cpu_usage>90"]) == [sample["hot"]]
    assert find(conn, where=["metrics.memory_usage=35"]) == [sample["calm"]]
    assert find(conn, where=["request_data.amount=12"]) == [sample["pay"]]
    assert find(conn, where=["request_data.items[0].sku=A1"]) == [sample["pay"]]
    with pytest.raises(QueryError, match="severity is not a JSON field, so it has no 'x'"):
        make_filter(where=["severity.x=1"])


@pytest.mark.parametrize(
    ("types", "where", "message"),
    [
        ((), "colour=red", "unknown field 'colour' for any type; known fields: "),
        (("error",), "ai_model=x", "unknown field 'ai_model' for error; known fields: created_at, endpoint, "),
        ((), "severity", "cannot read --where 'severity': expected FIELD=VALUE, e.g. severity=critical"),
        ((), "=3", "cannot read --where '=3'"),
        ((), "status_code=abc", "--where 'status_code=abc': `status_code` must be an integer, got 'abc'"),
        ((), "is_resolved=perhaps", "`is_resolved` must be true or false, got 'perhaps'"),
        ((), "severity>high", "severity is compared with = or != only"),
        ((), "created_at>tomorrow", "`created_at`: expected an ISO 8601 time or epoch seconds, got 'tomorrow'"),
    ],
)
def test_where_errors_are_clear(types: tuple[str, ...], where: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        make_filter(types=types, where=[where])
    assert message in str(info.value)


def test_unknown_field_lists_the_known_ones() -> None:
    with pytest.raises(QueryError) as info:
        make_filter(types=["system"], where=["cpu=1"])
    known = str(info.value).split("known fields: ")[1].split(", ")
    assert known == sorted(["created_at", "event_type", "extra", "id", "message", "metrics", "requires_action",
                            "status", "type", "request_id", "trace_id", "span_id", "host"])


def test_ids_filter_and_counts(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    flt = Filter(ids=(sample["crit"], sample["ai"], 10_000))
    assert set(ids_matching(conn, flt)) == {sample["crit"], sample["ai"]}
    assert count(conn, Filter()) == len(sample)
    assert count(conn, make_filter(types=["error"], where=["is_resolved=false"])) == 1
    assert counts_by(conn, "type") == {"activity": 2, "error": 2, "ai": 2, "chat": 1, "system": 2}
    assert counts_by(conn, "severity", make_filter(types=["error"])) == {"critical": 1, "low": 1}
    with pytest.raises(QueryError, match="unknown column 'nope'"):
        counts_by(conn, "nope")


# ---------------------------------------------------------------- full-text search


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pool", ["crit"]),
        ("POOL", ["crit"]),
        ('"connection pool"', ["crit"]),
        ('"pool connection"', []),
        ('"connection pool', ["crit"]),  # unbalanced quote: plain words
        ("timeout OR overloaded", ["fixed", "ai_err"]),
        ("timeout AND overloaded", []),
        ("card AND declined", ["pay"]),
        ("declined NOT card", []),
        ("cpu NOT 97", ["calm"]),
        ("pay*", ["pay", "crit"]),  # "Payment", and the endpoint /api/pay
        ("message:timeout", ["fixed"]),
        ("title:declined", ["pay"]),
        ("nosuchcolumn:x", []),  # not a column: searched as plain words
        ("error-prone", ["ai_err"]),
        ("cafe", ["ai"]),  # diacritics folded both ways
        ("café", ["ai"]),
        ("CAFÉ", ["ai"]),
        ("naive zoe", ["chat"]),
        ("zoë", ["chat"]),
        ("mongonetworkerror", ["crit"]),  # error_type is indexed
        ("gpt", ["ai"]),  # ai_model tokenised on '-'
        ("Ana Lisbon", ["login"]),
        ("a*b(c", []),
        ("NOT", []),
        ("AND OR", []),
        ('"', []),
        ("*", []),
        ("(", []),
        ("👋", []),  # symbols are separators, never an error
        ("👋 tomorrow", ["chat"]),
        ("   ", None),
        ("", None),
    ],
)
def test_search_edge_cases(
    conn: sqlite3.Connection, sample: dict[str, int], text: str, expected: list[str] | None,
) -> None:
    flt = make_filter(search=text)
    found = ids(conn, flt)
    if expected is None:  # an empty search is no search
        assert flt.search is None and len(found) == len(sample)
    else:
        assert sorted(found) == sorted(sample[name] for name in expected)
        assert count(conn, flt) == len(expected)


def test_search_combines_with_other_filters(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    assert find(conn, search="cpu", where=["requires_action=true"]) == [sample["hot"]]
    assert find(conn, search="cpu", since="1h") == [sample["hot"]]
    assert find(conn, search="declined", types=["error"]) == []
    assert count(conn, make_filter(search="cpu", types=["system"], now=NOW)) == 2
    assert count(conn, make_filter(search="cpu", since="1h", now=NOW)) == 1
    assert count(conn, make_filter(search="declined", types=["error"])) == 0
    assert count(conn, make_filter(search="!!!", types=["error"])) == 0  # nothing to search for


def test_search_as_you_type_treats_the_last_word_as_a_prefix(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    flt = make_filter(search="connection po").with_(prefix_search=True)
    assert ids(conn, flt) == [sample["crit"]]
    assert ids(conn, make_filter(search='"tim').with_(prefix_search=True)) == [sample["fixed"]]


def test_deleted_and_changed_text_leaves_the_index(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
    conn.execute("UPDATE records SET message = 'replaced words' WHERE id = ?", (sample["crit"],))
    assert find(conn, search="pool") == []
    assert find(conn, search="replaced") == [sample["crit"]]


# ---------------------------------------------------------------- keyset paging


def _varied_records(n: int, seed: int) -> list[dict[str, Any]]:
    """Records in shuffled time order, with repeated times and missing values."""
    rnd = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta"]
    out = []
    for i in range(n):
        kind = rnd.choice(["activity", "error", "ai"])
        rec: dict[str, Any] = {
            "type": kind,
            "created_at": ago(minutes=rnd.randint(0, 60)),  # many records share a time
            "message": f"{rnd.choice(words)} record {i}",
        }
        if kind == "error":
            rec["severity"] = rnd.choice(["low", "high", "critical"])
        if kind == "ai":
            rec.update(model="m", prompt=f"{rnd.choice(words)} prompt")
        if rnd.random() < 0.6:
            rec["status_code"] = rnd.choice([200, 404, 500])
        if rnd.random() < 0.5:
            rec["duration_ms"] = rnd.choice([1.5, 20, 300])
        out.append(rec)
    return out


def _all_pages(conn: sqlite3.Connection, flt: Filter, sort: Sort, size: int) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        page = fetch_page(conn, flt, sort, limit=size, after=after)
        seen.extend(r["id"] for r in page)
        if len(page) < size:
            return seen
        after = cursor_of(page[-1], sort)


def _offset_order(conn: sqlite3.Connection, flt: Filter, sort: Sort) -> list[int]:
    sql, params = select_sql(conn, flt, sort, columns="id")
    return [r[0] for r in conn.execute(sql, params)]


@pytest.mark.parametrize("column", ["created_at", "id", "type", "status_code", "severity", "level", "status", "duration_ms"])
@pytest.mark.parametrize("descending", [True, False])
def test_keyset_pages_cover_everything_once_in_order(
    conn: sqlite3.Connection, column: str, descending: bool,
) -> None:
    add_many(conn, _varied_records(230, seed=3))
    sort = Sort(column, descending)
    for flt in (Filter(), make_filter(types=["error", "activity"]), make_filter(search="alpha OR gamma")):
        expected = _offset_order(conn, flt, sort)
        walked = _all_pages(conn, flt, sort, size=7)
        assert walked == expected
        assert len(set(walked)) == len(walked) == count(conn, flt)
        # OFFSET pages agree too
        by_offset = [r["id"] for off in range(0, len(expected), 9)
                     for r in fetch_page(conn, flt, sort, limit=9, offset=off)]
        assert by_offset == expected


def _console_sorts() -> list[tuple[str | None, str]]:
    """Every (tab, column) the console lets a user sort by."""
    from logconsole import kinds as K
    from logconsole.screens.columns import columns_for

    out = []
    for kind in (None, *K.KINDS.values()):
        for column in [c.name for c in columns_for(kind) if c.sortable] + ["id"]:
            out.append((kind.name if kind else None, column))
    return out


@pytest.mark.parametrize(("tab", "column"), _console_sorts())
def test_every_console_sort_pages_from_an_index_without_sorting(
    conn: sqlite3.Connection, tab: str | None, column: str,
) -> None:
    """At a million records a sort of a whole kind took 250-800 ms a page; read
    in index order, a page reads its own rows.  No ANALYZE statistics, as in a
    collector's database."""
    from tests.tui_data import seeded_records

    add_many(conn, seeded_records())
    flt = make_filter(types=[tab] if tab else [])
    for sort in (Sort(column, True), Sort(column, False)):
        first = fetch_page(conn, flt, sort, limit=3)
        for after in (None, cursor_of(first[-1], sort)):
            sql, params = select_sql(conn, flt, sort, limit=50, after=after)
            plan = " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert "TEMP B-TREE" not in plan, (sort, plan)


def test_a_sort_within_a_narrow_time_range_reads_the_range_and_sorts_it(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Walking the title index for the last hour's few records read most of the
    index (300-500 ms at a million records); a range that holds few records
    is read by time and sorted instead, and a range that holds many walks."""
    add_many(conn, [{"type": "activity", "created_at": ago(minutes=m), "title": f"t{m % 7}"} for m in range(0, 600, 5)])
    monkeypatch.setattr(Q, "_WINDOW_WORTH_WALKING", 20)
    sort = Sort("title", True)
    for since, walks in (("30m", False), ("5h", True)):
        flt = make_filter(types=["activity"], since=since, now=NOW)
        sql, params = select_sql(conn, flt, sort, limit=50)
        plan = " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert ("idx_sort_activity_title" in plan) is walks, plan
        expected = sorted(conn.execute(
            "SELECT title, id FROM records WHERE type = 'activity' AND created_at >= ?", (flt.since,)).fetchall(),
            reverse=True)[:50]
        assert [(r["title"], r["id"]) for r in fetch_page(conn, flt, sort, limit=50)] == expected


def test_level_like_columns_sort_by_how_bad_not_by_spelling(conn: sqlite3.Connection) -> None:
    for sev in ("medium", "critical", "low", "high"):
        add(conn, type="error", message=sev, severity=sev)
    for status in ("warning", "healthy", "critical", "error"):
        add(conn, type="system", status=status)
    errors = make_filter(types=["error"])
    worst_first = [r["severity"] for r in fetch_page(conn, errors, Sort("severity", True), limit=10)]
    assert worst_first == ["critical", "high", "medium", "low"]
    first = fetch_page(conn, errors, Sort("severity", False), limit=2)
    rest = fetch_page(conn, errors, Sort("severity", False), limit=10,
                      after=cursor_of(first[-1], Sort("severity", False)))
    assert [r["severity"] for r in first + rest] == ["low", "medium", "high", "critical"]
    systems = fetch_page(conn, make_filter(types=["system"]), Sort("status", True), limit=10)
    assert [r["status"] for r in systems] == ["critical", "error", "warning", "healthy"]


@pytest.mark.parametrize("descending", [True, False])
def test_search_pages_stay_exact_when_records_arrive_out_of_time_order(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch, descending: bool,
) -> None:
    # Small candidate sets force the fast search path to prove, widen and fall back.
    monkeypatch.setattr(Q, "_SEARCH_FIRST_SET", 8)
    monkeypatch.setattr(Q, "_SEARCH_MAX_SET", 128)
    recs = _varied_records(400, seed=11)
    recs.sort(key=lambda r: r["created_at"])
    recs = recs[200:] + recs[:200]  # an import of older records after newer ones
    add_many(conn, recs)
    sort = Sort("created_at", descending)
    for text in ("alpha", "beta OR delta", "record", "gamma prompt"):
        for flt in (make_filter(search=text), make_filter(search=text, types=["error", "ai"]),
                    make_filter(search=text, until=ago(minutes=25)), make_filter(search=text, since=ago(minutes=35)),
                    make_filter(search=text, since=ago(minutes=50), until=ago(minutes=10))):
            expected = _offset_order(conn, flt, sort)
            assert _all_pages(conn, flt, sort, size=5) == expected
            assert _all_pages(conn, flt, sort, size=40) == expected
            assert [r["id"] for off in range(0, len(expected) + 7, 7)
                    for r in fetch_page(conn, flt, sort, limit=7, offset=off)] == expected


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Any:
    c = connect(Path(tmp_path_factory.mktemp("scratch")) / "scratch.db")
    yield c
    c.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(["alpha", "beta", "alpha beta", "gamma"]),
                  st.sampled_from(["activity", "error", "chat"])),
        min_size=0, max_size=60,
    ),
    text=st.sampled_from(["alpha", "beta", "alpha OR gamma", "alpha beta", '"beta alpha"']),
    descending=st.booleans(),
    size=st.integers(1, 12),
    bounds=st.tuples(st.none() | st.integers(0, 40), st.none() | st.integers(0, 40)),
    types=st.sampled_from([(), ("error",), ("activity", "chat")]),
    count_each=st.sampled_from([0, 10_000]),
)
def test_search_pages_equal_the_general_plan(
    scratch: sqlite3.Connection, records: list[tuple[int, str, str]], text: str, descending: bool, size: int,
    bounds: tuple[int | None, int | None], types: tuple[str, ...], count_each: int,
) -> None:
    """Whatever the arrival order, every page of a search equals the plain SQL's."""
    scratch.execute("DELETE FROM records")
    add_many(scratch, ({"type": kind, "message": words, "created_at": ago(minutes=minute)}
                       for minute, words, kind in records))
    since, until = (ago(minutes=b) if b is not None else None for b in bounds)
    if since and until and since >= until:
        since, until = until, since
    flt = Filter(types=types, since=since and make_filter(since=since).since,
                 until=until and make_filter(until=until).until, search=text)
    if flt.since and flt.until and flt.since == flt.until:
        return
    sort = Sort("created_at", descending)
    with patch.object(Q, "_SEARCH_FIRST_SET", 4), patch.object(Q, "_SEARCH_MAX_SET", 64), \
            patch.object(Q, "_COUNT_EACH_MATCH", count_each):
        expected = _offset_order(scratch, flt, sort)
        assert _all_pages(scratch, flt, sort, size) == expected
        assert count(scratch, flt) == len(expected)


def test_iter_rows_streams_every_row_in_order(conn: sqlite3.Connection) -> None:
    add_many(conn, _varied_records(120, seed=5))
    flt = make_filter(types=["activity", "ai"])
    assert [r["id"] for r in iter_rows(conn, flt, NEWEST, page_size=11)] == _offset_order(conn, flt, NEWEST)
    assert [r["id"] for r in iter_rows(conn, flt, OLDEST, limit=25, page_size=10)] == \
        _offset_order(conn, flt, OLDEST)[:25]


def test_large_search_pages_walk_the_time_index_and_stay_exact(conn: sqlite3.Connection) -> None:
    """Pages too big for the candidate path take the general one; a common word
    then walks the time index, testing membership (``+id IN``)."""
    add_many(conn, _varied_records(2600, seed=9))
    for text in ("record", "alpha", "gamma prompt"):
        flt = make_filter(search=text)
        for sort in (NEWEST, OLDEST, Sort("id", True)):
            expected = _offset_order(conn, flt, sort)
            assert [r["id"] for r in iter_rows(conn, flt, sort, page_size=2100)] == expected
    sql, params = select_sql(conn, make_filter(search="record"), NEWEST, limit=2100, search_walks=True)
    plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "idx_records_time" in plan and "TEMP B-TREE" not in plan, plan


def test_page_cost_does_not_grow_with_depth(conn: sqlite3.Connection) -> None:
    """A keyset page reads about a page of rows whatever its depth (SQLite's VM step counter)."""
    add_many(conn, _varied_records(3000, seed=2))
    flt = make_filter(types=["activity", "error"])
    first = fetch_page(conn, flt, NEWEST, limit=20)
    deep = fetch_page(conn, flt, NEWEST, limit=20, offset=1500)
    sql0, p0 = select_sql(conn, flt, NEWEST, limit=20, after=cursor_of(first[-1]))
    sql1, p1 = select_sql(conn, flt, NEWEST, limit=20, after=cursor_of(deep[-1]))

    def steps(sql: str, params: list[Any]) -> int:
        counter = [0]

        def tick() -> int:
            counter[0] += 1
            return 0

        conn.set_progress_handler(tick, 1)
        try:
            conn.execute(sql, params).fetchall()
        finally:
            conn.set_progress_handler(None, 1)
        return counter[0]

    shallow, deeper = steps(sql0, p0), steps(sql1, p1)
    assert deeper < shallow * 2 + 200, (shallow, deeper)
    sql_off, p_off = select_sql(conn, flt, NEWEST, limit=20, offset=1500)
    assert steps(sql_off, p_off) > deeper * 5  # while OFFSET does grow


def test_query_plans_use_indexes(conn: sqlite3.Connection) -> None:
    def plan(flt: Filter, sort: Sort = NEWEST) -> str:
        sql, params = select_sql(conn, flt, sort, limit=50)
        return " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))

    assert "idx_records_time" in plan(Filter())
    assert "idx_records_type_time" in plan(make_filter(types=["activity"]))
    assert "idx_records_error_state" in plan(make_filter(types=["error"], where=["severity=critical"])) or \
        "idx_records_type_time" in plan(make_filter(types=["error"], where=["severity=critical"]))
    assert "TEMP B-TREE" not in plan(make_filter(types=["activity"], since="2026-01-01"))
