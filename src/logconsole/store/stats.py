"""Statistics for the console's panels and tab headers.

Everything here is computed in SQL over the same filters as the record list
(:func:`logconsole.store.query.where_sql`), so a panel never disagrees with
the rows under it.  The console calls these from a worker thread; no function
reads more rows into Python than it returns.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from logconsole import kinds as K
from logconsole.store.query import Filter, where_sql
from logconsole.timeutil import bound_sql, format_ts, start_of_range

METRICS: tuple[str, ...] = ("cpu_usage", "memory_usage", "disk_usage")
"""The health metrics drawn as sparklines, as keys of a system record's ``metrics``."""


SERIES_SAMPLE = 200
"""Samples per sparkline bucket (on average) above which the buckets average an even sample."""


@dataclass(frozen=True, slots=True)
class ModelStats:
    """Calls to one AI model: how many, tokens spent, latency percentiles, error share.

    ``p50_ms``/``p95_ms`` are ``None`` when no call recorded a response time;
    ``error_rate`` is a fraction (0.0 to 1.0) of calls with status ``error``.
    """

    model: str
    calls: int
    tokens: int
    p50_ms: float | None
    p95_ms: float | None
    error_rate: float


def _for_kind(flt: Filter, kind_name: str) -> Filter:
    """``flt`` narrowed to one kind (its time range, search and conditions kept)."""
    return flt.with_(types=(K.resolve_kind(kind_name).name,))


def _count(conn: sqlite3.Connection, flt: Filter) -> int:
    where, params = where_sql(conn, flt)
    return int(conn.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()[0])


# ---------------------------------------------------------------- system


def system_series(
    conn: sqlite3.Connection,
    since: str | None,
    until: str | None,
    buckets: int = 60,
) -> dict[str, list[float]]:
    """Average CPU, memory and disk use per time bucket of system records.

    The range ``[since, until)`` (stored-form times; ``None`` means from the
    first or to the last system record) is cut into ``buckets`` equal slices;
    each slice that holds at least one sample gives one point per metric, in
    time order.  Slices without samples are left out rather than drawn as
    zero, which would read as an idle machine.  Every metric maps to an empty
    list when there are no samples.  Beyond :data:`SERIES_SAMPLE` samples per
    bucket on average, every k-th sample is averaged instead of all of them.
    """
    out: dict[str, list[float]] = {m: [] for m in METRICS}
    buckets = max(1, int(buckets))
    bounds = ["type = 'system'", "metrics IS NOT NULL"]
    params: list[object] = []
    for op, bound in ((">=", since), ("<", until)):
        if bound:
            sql, values = bound_sql("created_at", op, bound)
            bounds.append(sql)
            params.extend(values)
    where = " AND ".join(bounds)
    # Two queries, so each is answered from the (type, created_at) index alone.
    first = conn.execute(f"SELECT min(created_at) FROM records WHERE {where}", params).fetchone()[0]
    if first is None:
        return out
    last = conn.execute(f"SELECT max(created_at) FROM records WHERE {where}", params).fetchone()[0]
    samples = conn.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()[0]
    step = -(-samples // (buckets * SERIES_SAMPLE))
    if step > 1:  # averages of an even sample: every step-th record by id
        where += f" AND id % {int(step)} = 0"
    start = since or first
    end = until or last
    # Offsets in whole milliseconds, so bucket edges do not depend on float rounding.
    offset = "CAST(round((julianday({}) - julianday(?)) * 86400000) AS INTEGER)"
    span = conn.execute(f"SELECT {offset.format('?')}", (end, start)).fetchone()[0] or 0
    averages = ", ".join(f"avg(json_extract(metrics, '$.{m}'))" for m in METRICS)
    bucket = f"({offset.format('created_at')} * ? / ?)" if span > 0 else "0"
    bucket_params: list[object] = [start, buckets, span] if span > 0 else []
    sql = (
        f"SELECT min({bucket}, ?) AS bucket, {averages} "
        f"FROM records WHERE {where} GROUP BY bucket ORDER BY bucket"
    )
    for row in conn.execute(sql, [*bucket_params, buckets - 1, *params]):
        for name, value in zip(METRICS, row[1:]):
            if value is not None:
                out[name].append(round(float(value), 2))
    return out


def latest_system_status(conn: sqlite3.Connection, flt: Filter = Filter()) -> str | None:
    """The status of the newest system record that ``flt`` matches, if any."""
    where, params = where_sql(conn, _for_kind(flt, "system"))
    row = conn.execute(
        f"SELECT status FROM records WHERE {where} ORDER BY created_at DESC, id DESC LIMIT 1",
        params,
    ).fetchone()
    return None if row is None else row[0]


# ---------------------------------------------------------------- AI


def _rank(percent: int) -> str:
    """The SQL for the nearest-rank position of ``percent`` among ``n`` values:
    ``ceil(percent / 100 * n)`` in integer arithmetic (no math extension needed)."""
    return f"(n * {percent} + 99) / 100"


PERCENTILE_SAMPLE = 10_000
"""Timed calls per model above which latency percentiles come from an even sample."""


def ai_models(conn: sqlite3.Connection, flt: Filter) -> list[ModelStats]:
    """Per AI model among the AI records ``flt`` matches: calls, tokens, p50/p95
    latency (nearest rank) and error rate, busiest model first.

    Calls, tokens and errors are exact.  Percentiles are exact up to
    :data:`PERCENTILE_SAMPLE` calls of a model; above that they come from every
    k-th call by id (about that many calls), which keeps a million-record store
    answering in well under a second (ranking every latency took seconds) for
    an error of about one percent.  Only one row per model leaves SQLite.
    """
    where, params = where_sql(conn, _for_kind(flt, "ai"))
    totals = conn.execute(
        f"SELECT ai_model, count(*), coalesce(sum(tokens_used), 0), sum(status = 'error') "
        f"FROM records WHERE {where} GROUP BY ai_model ORDER BY count(*) DESC, ai_model",
        params,
    ).fetchall()
    if not totals:
        return []
    # Every step-th id of a model: 1 (all) up to PERCENTILE_SAMPLE calls.
    steps = [(model, -(-calls // PERCENTILE_SAMPLE)) for model, calls, _, _ in totals]
    step_sql = "CASE ai_model " + " ".join("WHEN ? THEN ?" for _ in steps) + " ELSE 1 END"
    sql = f"""
        SELECT ai_model,
               max(CASE WHEN rn = {_rank(50)} THEN ms END),
               max(CASE WHEN rn = {_rank(95)} THEN ms END)
        FROM (
            SELECT ai_model, response_time_ms AS ms,
                   row_number() OVER (PARTITION BY ai_model ORDER BY response_time_ms) AS rn,
                   count(*) OVER (PARTITION BY ai_model) AS n
            FROM records
            WHERE {where} AND response_time_ms IS NOT NULL AND id % ({step_sql}) = 0
        )
        GROUP BY ai_model
    """
    step_params = [value for pair in steps for value in pair]
    latency = {model: (p50, p95) for model, p50, p95 in conn.execute(sql, [*params, *step_params])}
    out = []
    for model, calls, tokens, errors in totals:
        p50, p95 = latency.get(model, (None, None))
        out.append(
            ModelStats(
                model=str(model),
                calls=int(calls),
                tokens=int(tokens),
                p50_ms=None if p50 is None else float(p50),
                p95_ms=None if p95 is None else float(p95),
                error_rate=(errors or 0) / calls,
            )
        )
    return out


# ---------------------------------------------------------------- headers


def overview(conn: sqlite3.Connection, flt: Filter) -> dict[str, int]:
    """How many records of each kind ``flt`` matches (every kind present, zero or not)."""
    where, params = where_sql(conn, flt)
    found = dict(conn.execute(f"SELECT type, count(*) FROM records WHERE {where} GROUP BY type", params))
    return {name: int(found.get(name, 0)) for name in K.KIND_NAMES}


def _errors_summary(conn: sqlite3.Connection, flt: Filter) -> str:
    where, params = where_sql(conn, _for_kind(flt, "error"))
    open_by = dict(
        conn.execute(
            f"SELECT severity, count(*) FROM records WHERE {where} AND is_resolved = 0 GROUP BY severity",
            params,
        )
    )
    crit, high = open_by.get("critical", 0), open_by.get("high", 0)
    if crit or high:
        return f"{crit:,} crit · {high:,} high"
    rest = sum(open_by.values())
    return f"{rest:,} open" if rest else "none open"


def _system_summary(conn: sqlite3.Connection, flt: Filter) -> str:
    status = latest_system_status(conn, flt)
    if status is None:
        return "no samples"
    where, params = where_sql(conn, _for_kind(flt, "system"))
    acting = conn.execute(
        f"SELECT count(*) FROM records WHERE {where} AND requires_action = 1", params
    ).fetchone()[0]
    return f"{status} · {acting:,} act" if acting else status


def _ai_summary(conn: sqlite3.Connection, flt: Filter, now: datetime | None) -> str:
    today = start_of_range("today", now)
    assert today is not None
    since = format_ts(today)
    narrowed = _for_kind(flt, "ai")
    if narrowed.since is None or narrowed.since < since:
        narrowed = narrowed.with_(since=since)
    return f"{_count(conn, narrowed):,} today"


def _chat_summary(conn: sqlite3.Connection, flt: Filter) -> str:
    where, params = where_sql(conn, _for_kind(flt, "chat"))
    unread = conn.execute(
        f"SELECT count(*) FROM records WHERE {where} AND is_read = 0", params
    ).fetchone()[0]
    return f"{unread:,} unread"


def tab_summary(
    conn: sqlite3.Connection, kind_name: str, flt: Filter, *, now: datetime | None = None
) -> str:
    """A few words for a tab's header: what matters about that kind at a glance.

    errors: unresolved critical and high (``3 crit · 12 high``); system: the
    latest status and how many samples require action; ai: calls today;
    activity: records in range; chat: unread messages.  ``flt`` (its time
    range, search and conditions) applies; its types are replaced by the kind.
    ``now`` fixes the clock for "today" (tests).
    """
    name = K.resolve_kind(kind_name).name
    if name == "error":
        return _errors_summary(conn, flt)
    if name == "system":
        return _system_summary(conn, flt)
    if name == "ai":
        return _ai_summary(conn, flt, now)
    if name == "chat":
        return _chat_summary(conn, flt)
    return f"{_count(conn, _for_kind(flt, name)):,}"


__all__ = [
    "METRICS", "PERCENTILE_SAMPLE", "SERIES_SAMPLE", "ModelStats", "ai_models", "latest_system_status", "overview",
    "system_series", "tab_summary",
]
