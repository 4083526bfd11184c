"""The console's statistics, computed on a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from logconsole.ingest import normalize
from logconsole.store.query import Filter, make_filter
from logconsole.store.stats import (
    METRICS,
    ModelStats,
    ai_models,
    overview,
    system_series,
    tab_summary,
)
from logconsole.store.writer import insert_rows
from logconsole.timeutil import format_ts

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def at(minutes: float) -> str:
    return format_ts(T0 + timedelta(minutes=minutes))


def add(conn: sqlite3.Connection, *records: dict[str, Any]) -> None:
    insert_rows(conn, [normalize(r) for r in records])


def test_system_series_averages_each_bucket_in_time_order(conn: sqlite3.Connection) -> None:
    # Ten minutes, five buckets of two minutes; two samples per bucket except one empty bucket.
    samples = [(0, 10), (1, 20), (2, 30), (3, 50), (6, 70), (7, 90), (8, 95), (9.5, 85)]
    add(conn, *(
        {"type": "system", "created_at": at(m), "metrics": {"cpuUsage": v, "memory_usage": v / 2, "disk_usage": 40}}
        for m, v in samples
    ))
    add(conn, {"type": "error", "created_at": at(1), "message": "not a sample"})
    series = system_series(conn, at(0), at(10), buckets=5)
    # Bucket 2 (minutes 4-6) has no samples and is left out, not drawn as zero.
    assert series["cpu_usage"] == [15.0, 40.0, 80.0, 90.0]
    assert series["memory_usage"] == [7.5, 20.0, 40.0, 45.0]
    assert series["disk_usage"] == [40.0] * 4


def test_system_series_open_range_spans_the_samples(conn: sqlite3.Connection) -> None:
    add(conn, *({"type": "system", "created_at": at(m), "metrics": {"cpu_usage": m}} for m in range(0, 60)))
    series = system_series(conn, None, None, buckets=6)
    assert len(series["cpu_usage"]) == 6
    assert series["cpu_usage"][0] == pytest.approx(4.5)
    # The last sample lands in the last bucket rather than past it.
    assert series["cpu_usage"][-1] == pytest.approx(54.5)
    assert series["memory_usage"] == [] and series["disk_usage"] == []


def test_system_series_range_excludes_outside_samples(conn: sqlite3.Connection) -> None:
    add(conn, *({"type": "system", "created_at": at(m), "metrics": {"cpu_usage": 100 if m < 10 else 5}} for m in range(20)))
    series = system_series(conn, at(10), at(20), buckets=60)
    assert series["cpu_usage"] and max(series["cpu_usage"]) == 5


def test_system_series_without_samples_is_empty(conn: sqlite3.Connection) -> None:
    assert system_series(conn, None, None) == {m: [] for m in METRICS}
    add(conn, {"type": "system", "created_at": at(0), "status": "healthy"})  # no metrics
    assert system_series(conn, at(-5), at(5)) == {m: [] for m in METRICS}


def test_system_series_single_instant_is_one_point(conn: sqlite3.Connection) -> None:
    add(conn, *({"type": "system", "created_at": at(0), "metrics": {"cpu_usage": v}} for v in (10, 30)))
    assert system_series(conn, None, None)["cpu_usage"] == [20.0]


def ai(model: str, ms: float | None, *, tokens: int = 10, status: str = "success", minute: float = 0) -> dict[str, Any]:
    rec: dict[str, Any] = {"type": "ai", "created_at": at(minute), "ai_model": model, "tokens_used": tokens, "status": status}
    if ms is not None:
        rec["response_time_ms"] = ms
    return rec


def test_ai_models_percentiles_tokens_and_error_rate(conn: sqlite3.Connection) -> None:
    add(conn, *(ai("gpt-4", ms, status="error" if ms > 95 else "success") for ms in range(1, 101)))
    add(conn, ai("claude", 200, tokens=5), ai("claude", 100, tokens=7), ai("claude", None, tokens=1, status="error"))
    stats = ai_models(conn, Filter())
    assert stats == [
        ModelStats("gpt-4", calls=100, tokens=1000, p50_ms=50.0, p95_ms=95.0, error_rate=0.05),
        # Nearest rank over two timed calls: p50 is the first, p95 the second.
        ModelStats("claude", calls=3, tokens=13, p50_ms=100.0, p95_ms=200.0, error_rate=pytest.approx(1 / 3)),
    ]


def test_ai_models_honours_the_filter(conn: sqlite3.Connection) -> None:
    add(conn, ai("old", 10, minute=0), ai("new", 20, minute=30), ai("new", 40, minute=31))
    add(conn, {"type": "error", "created_at": at(31), "message": "x"})
    flt = Filter(types=("error",), since=at(20))  # types are narrowed to ai
    assert [(s.model, s.calls, s.p50_ms) for s in ai_models(conn, flt)] == [("new", 2, 20.0)]
    only = make_filter(where=["ai_model=old"])
    assert [s.model for s in ai_models(conn, only)] == ["old"]


def test_ai_models_without_timings(conn: sqlite3.Connection) -> None:
    add(conn, ai("m", None))
    assert ai_models(conn, Filter()) == [ModelStats("m", 1, 10, None, None, 0.0)]
    assert ai_models(conn, Filter(search="nothing-matches-this")) == []


def test_overview_counts_every_kind(conn: sqlite3.Connection) -> None:
    add(conn, ai("m", 1), ai("m", 2), {"type": "chat", "message": "hi", "created_at": at(1)})
    assert overview(conn, Filter()) == {"activity": 0, "error": 0, "ai": 2, "chat": 1, "system": 0}
    assert overview(conn, Filter(since=at(0.5)))["ai"] == 0


def test_tab_summaries(conn: sqlite3.Connection) -> None:
    now = T0 + timedelta(hours=3)
    add(
        conn,
        *({"type": "error", "severity": "critical", "message": "boom", "created_at": at(i)} for i in range(3)),
        {"type": "error", "severity": "critical", "message": "fixed", "is_resolved": True, "created_at": at(4)},
        *({"type": "error", "severity": "high", "message": "bad", "created_at": at(i)} for i in range(1234)),
        {"type": "error", "severity": "low", "message": "meh", "created_at": at(1)},
        {"type": "system", "status": "healthy", "created_at": at(0)},
        {"type": "system", "status": "warning", "requires_action": True, "created_at": at(5)},
        {"type": "chat", "message": "read", "is_read": True, "created_at": at(0)},
        {"type": "chat", "message": "unread", "created_at": at(0)},
        {"type": "activity", "title": "a", "created_at": at(0)},
        {"type": "activity", "title": "b", "created_at": at(100)},
        ai("m", 1, minute=-24 * 60),  # yesterday
        ai("m", 1, minute=10),
    )
    flt = Filter()
    assert tab_summary(conn, "error", flt) == "3 crit · 1,234 high"
    assert tab_summary(conn, "errors", Filter(search="meh")) == "1 open"
    assert tab_summary(conn, "error", Filter(search="fixed")) == "none open"
    assert tab_summary(conn, "system", flt) == "warning · 1 act"
    assert tab_summary(conn, "system", Filter(until=at(1))) == "healthy"
    assert tab_summary(conn, "system", Filter(since=at(50))) == "no samples"
    assert tab_summary(conn, "chat", flt) == "1 unread"
    assert tab_summary(conn, "activity", flt) == "2"
    assert tab_summary(conn, "activity", Filter(since=at(50))) == "1"
    assert tab_summary(conn, "ai", flt, now=now) == "1 today"


def test_ai_models_percentiles_from_an_even_sample_above_the_limit(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from logconsole.store import stats

    monkeypatch.setattr(stats, "PERCENTILE_SAMPLE", 20)
    add(conn, *(ai("big", ms, tokens=1) for ms in range(1, 101)), ai("small", 7))
    big, small = ai_models(conn, Filter())
    # Every 5th call is ranked (ms 5, 10, ... 100); counts and tokens stay exact.
    assert big == ModelStats("big", calls=100, tokens=100, p50_ms=50.0, p95_ms=95.0, error_rate=0.0)
    assert (small.calls, small.p50_ms, small.p95_ms) == (1, 7.0, 7.0)


def test_system_series_averages_an_even_sample_of_a_long_range(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from logconsole.store import stats

    monkeypatch.setattr(stats, "SERIES_SAMPLE", 2)
    # 40 samples, 2 buckets, at most 2 per bucket: every 10th id (ids 10, 20, 30, 40).
    add(conn, *({"type": "system", "created_at": at(m), "metrics": {"cpu_usage": m + 1}} for m in range(40)))
    assert system_series(conn, at(0), at(40), buckets=2)["cpu_usage"] == [15.0, 35.0]
