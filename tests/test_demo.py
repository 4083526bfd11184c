"""Demo records: all five kinds over 30 days, believable, reproducible."""

from __future__ import annotations

import functools
import statistics
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cli_support import run
from logconsole import demo
from logconsole.kinds import HEALTH_EVENT
from logconsole.ingest import normalize
from logconsole.store.db import connect
from logconsole.store.query import Filter, count
from logconsole.timeutil import parse_ts

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@functools.lru_cache(maxsize=8)
def sample(n: int = 3000, seed: int = 7) -> list[dict]:
    return list(demo.generate(n, now=NOW, seed=seed))


def test_same_seed_same_records_and_different_seed_different() -> None:
    assert sample(200) == sample(200)
    assert sample(200) != sample(200, seed=8)


def test_every_record_passes_ingest_and_all_kinds_appear() -> None:
    records = sample()
    rows = [normalize(r) for r in records]
    kinds = Counter(r["type"] for r in rows)
    assert set(kinds) == {"activity", "error", "ai", "chat", "system"}
    assert kinds["activity"] > kinds["ai"] > kinds["error"]


def test_times_span_thirty_days_before_now_in_order() -> None:
    times = [parse_ts(r["created_at"]) for r in sample()]
    assert times == sorted(times)
    assert NOW - timedelta(days=30) <= times[0] < NOW - timedelta(days=29)
    assert NOW - timedelta(days=1) < times[-1] <= NOW


def test_traffic_follows_the_day() -> None:
    hours = Counter(parse_ts(r["created_at"]).hour for r in sample(6000))
    assert hours[14] > 2 * hours[3]


def test_errors_come_in_bursts() -> None:
    per_hour = Counter(r["created_at"][:13] for r in sample(20000) if r["type"] == "error")
    typical = statistics.median(per_hour.values())
    assert max(per_hour.values()) >= 5 * typical


def test_ai_models_have_their_own_token_and_latency_spreads() -> None:
    calls = [r for r in sample(20000) if r["type"] == "ai" and r["status"] == "success"]
    by_model: dict[str, list[dict]] = {}
    for c in calls:
        by_model.setdefault(c["aiModel"], []).append(c)
    assert len(by_model) >= 4
    medians = {m: statistics.median(c["tokensUsed"] for c in cs) for m, cs in by_model.items()}
    assert max(medians.values()) > 1.4 * min(medians.values())
    for cs in by_model.values():
        tokens = sorted(c["tokensUsed"] for c in cs)
        assert tokens[int(len(tokens) * 0.95)] > 1.8 * tokens[len(tokens) // 2]  # a long tail
        slow = [c for c in cs if c["tokensUsed"] > tokens[len(tokens) // 2]]
        fast = [c for c in cs if c["tokensUsed"] <= tokens[len(tokens) // 2]]
        assert statistics.mean(c["responseTime"] for c in slow) > statistics.mean(c["responseTime"] for c in fast)
    failures = [r for r in sample(20000) if r["type"] == "ai" and r["status"] == "error"]
    assert failures and all(r["errorMessage"] for r in failures)


def test_conversations_go_back_and_forth() -> None:
    chats = [r for r in sample(5000) if r["type"] == "chat"]
    by_conv = Counter(c["conversationId"] for c in chats)
    busiest = by_conv.most_common(1)[0][0]
    senders = {c["senderName"] for c in chats if c["conversationId"] == busiest}
    assert by_conv[busiest] >= 10 and len(senders) >= 2


def test_health_curves_reach_warning_and_critical() -> None:
    health = [r for r in sample(20000) if r["type"] == "system" and r["eventType"] == HEALTH_EVENT]
    statuses = Counter(r["status"] for r in health)
    assert statuses["healthy"] > statuses["warning"] > 0 and statuses["critical"] > 0
    assert all(r["requiresAction"] for r in health if r["status"] == "critical")
    disk = [r["systemMetrics"]["diskUsage"] for r in health]
    assert statistics.mean(disk[-50:]) > statistics.mean(disk[:50]) + 5  # the disk fills up


def test_fill_stores_through_ingest_with_secrets_redacted(db_path: Path) -> None:
    conn = connect(db_path)
    assert demo.fill(conn, 1500, now=NOW, seed=3) == 1500
    assert count(conn, Filter()) == 1500
    secrets = conn.execute(
        "SELECT count(*) FROM records WHERE request_data LIKE '%correct horse%'"
    ).fetchone()[0]
    redacted = conn.execute(
        "SELECT count(*) FROM records WHERE request_data LIKE '%\"password\":\"[REDACTED]\"%'"
    ).fetchone()[0]
    conn.close()
    assert secrets == 0 and redacted > 0


def test_demo_command_and_if_empty(db_path: Path) -> None:
    first = run(db_path, "demo", "--count", "300", "--seed", "1", "--if-empty")
    assert first.exit_code == 0 and f"added 300 demo records to {db_path}" in first.stderr
    again = run(db_path, "demo", "--count", "300", "--if-empty")
    assert again.exit_code == 0 and "already has 300 records; no demo records added" in again.stderr
    more = run(db_path, "demo", "--count", "50")
    assert more.exit_code == 0
    conn = connect(db_path)
    assert count(conn, Filter()) == 350
    conn.close()
