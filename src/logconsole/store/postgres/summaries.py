"""The console's tab headlines and panels in PostgreSQL's SQL: the same figures
as :mod:`logconsole.store.stats` computes on SQLite, over the same filters
(compiled in :mod:`logconsole.store.postgres.query`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from logconsole import kinds as K
from logconsole.store.postgres.query import where_sql
from logconsole.store.query import Filter
from logconsole.store.stats import METRICS, PERCENTILE_SAMPLE, SERIES_SAMPLE, ModelStats
from logconsole.timeutil import format_ts, start_of_range


def _for_kind(flt: Filter, kind_name: str) -> Filter:
    return flt.with_(types=(K.resolve_kind(kind_name).name,))


def _one(conn: psycopg.Connection, sql: str, params: list[Any]) -> Any:
    return conn.execute(sql, params).fetchone()[0]  # type: ignore[arg-type,index]


def tab_summary(conn: psycopg.Connection, kind_name: str, flt: Filter, *, now: datetime | None = None) -> str:
    """A tab's few words (:func:`logconsole.store.stats.tab_summary`)."""
    name = K.resolve_kind(kind_name).name
    where, params = where_sql(_for_kind(flt, name))
    if name == "error":
        open_by = dict(conn.execute(  # type: ignore[arg-type]
            f"SELECT severity, count(*) FROM records WHERE {where} AND is_resolved = false GROUP BY severity",
            params).fetchall())
        crit, high = open_by.get("critical", 0), open_by.get("high", 0)
        if crit or high:
            return f"{crit:,} crit · {high:,} high"
        rest = sum(open_by.values())
        return f"{rest:,} open" if rest else "none open"
    if name == "system":
        row = conn.execute(  # type: ignore[arg-type]
            f"SELECT status FROM records WHERE {where} ORDER BY created_at DESC, id DESC LIMIT 1", params).fetchone()
        if row is None:
            return "no samples"
        acting = _one(conn, f"SELECT count(*) FROM records WHERE {where} AND requires_action = true", params)
        return f"{row[0]} · {acting:,} act" if acting else str(row[0])
    if name == "ai":
        today = start_of_range("today", now)
        assert today is not None
        since = format_ts(today)
        narrowed = _for_kind(flt, "ai")
        if narrowed.since is None or narrowed.since < since:
            narrowed = narrowed.with_(since=since)
        where, params = where_sql(narrowed)
        return f"{_one(conn, f'SELECT count(*) FROM records WHERE {where}', params):,} today"
    if name == "chat":
        unread = _one(conn, f"SELECT count(*) FROM records WHERE {where} AND is_read = false", params)
        return f"{unread:,} unread"
    return f"{_one(conn, f'SELECT count(*) FROM records WHERE {where}', params):,}"


def system_series(conn: psycopg.Connection, since: str | None, until: str | None,
                  buckets: int = 60) -> dict[str, list[float]]:
    """Average CPU, memory and disk use per time bucket (:func:`logconsole.store.stats.system_series`)."""
    out: dict[str, list[float]] = {m: [] for m in METRICS}
    buckets = max(1, int(buckets))
    bounds = ["type = 'system'", "metrics IS NOT NULL"]
    params: list[Any] = []
    if since:
        bounds.append("created_at >= %s::timestamptz")
        params.append(since)
    if until:
        bounds.append("created_at < %s::timestamptz")
        params.append(until)
    where = " AND ".join(bounds)
    first, last, samples = conn.execute(  # type: ignore[arg-type,misc]
        f"SELECT min(created_at), max(created_at), count(*) FROM records WHERE {where}", params).fetchone()
    if first is None:
        return out
    step = -(-samples // (buckets * SERIES_SAMPLE))
    if step > 1:
        where += f" AND id %% {int(step)} = 0"
    start = since or first
    end = until or last
    span = _one(conn, "SELECT round(extract(epoch FROM %s::timestamptz - %s::timestamptz) * 1000)::bigint",
                [end, start]) or 0
    averages = ", ".join(f"avg((metrics ->> '{m}')::double precision)" for m in METRICS)
    offset = "round(extract(epoch FROM created_at - %s::timestamptz) * 1000)::bigint"
    bucket = f"least({offset} * %s / %s, %s)" if span > 0 else "0"
    bucket_params: list[Any] = [start, buckets, span, buckets - 1] if span > 0 else []
    sql = f"SELECT {bucket} AS bucket, {averages} FROM records WHERE {where} GROUP BY 1 ORDER BY 1"
    for row in conn.execute(sql, [*bucket_params, *params]):  # type: ignore[arg-type]
        for name, value in zip(METRICS, row[1:]):
            if value is not None:
                out[name].append(round(float(value), 2))
    return out


def ai_models(conn: psycopg.Connection, flt: Filter) -> list[ModelStats]:
    """Per AI model: calls, tokens, nearest-rank p50/p95 latency, error rate
    (:func:`logconsole.store.stats.ai_models`; the same sampling above
    :data:`~logconsole.store.stats.PERCENTILE_SAMPLE` calls)."""
    where, params = where_sql(_for_kind(flt, "ai"))
    totals = conn.execute(  # type: ignore[arg-type]
        f"SELECT ai_model, count(*), coalesce(sum(tokens_used), 0), count(*) FILTER (WHERE status = 'error') "
        f"FROM records WHERE {where} GROUP BY ai_model ORDER BY count(*) DESC, ai_model", params).fetchall()
    if not totals:
        return []
    steps = [(model, -(-calls // PERCENTILE_SAMPLE)) for model, calls, _, _ in totals]
    step_sql = "CASE ai_model " + " ".join("WHEN %s THEN %s" for _ in steps) + " ELSE 1 END"
    sql = (f"SELECT ai_model, percentile_disc(0.5) WITHIN GROUP (ORDER BY response_time_ms), "
           f"percentile_disc(0.95) WITHIN GROUP (ORDER BY response_time_ms) FROM records "
           f"WHERE {where} AND response_time_ms IS NOT NULL AND id %% ({step_sql}) = 0 GROUP BY ai_model")
    step_params = [value for pair in steps for value in pair]
    latency = {model: (p50, p95) for model, p50, p95 in conn.execute(sql, [*params, *step_params])}  # type: ignore[arg-type]
    out = []
    for model, calls, tokens, errors in totals:
        p50, p95 = latency.get(model, (None, None))
        out.append(ModelStats(
            model=str(model), calls=int(calls), tokens=int(tokens),
            p50_ms=None if p50 is None else float(p50), p95_ms=None if p95 is None else float(p95),
            error_rate=(errors or 0) / calls))
    return out


__all__ = ["ai_models", "system_series", "tab_summary"]
