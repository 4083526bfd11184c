"""Console statistics benchmarks: the System and AI panels and the tab headers.

Each query from :mod:`logconsole.store.stats` is timed on the big database and,
as the reference in the same run, on a 1,000-record one.  The panels and
headers are computed in a worker, so the target is that each stays under a
second at 1,000,000 records over all time (the widest range a user can pick),
and in tens of milliseconds over this week.

    .venv/bin/python benchmarks/bench_stats.py                # 1,000,000 records
    .venv/bin/python benchmarks/bench_stats.py --rows 100000  # a quick look

Databases are built by (and shared with) ``bench_store.py`` in ``benchmarks/data/``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_store import RESULTS, Result, database_of, median_ms, report  # noqa: E402

from logconsole.store import stats  # noqa: E402
from logconsole.store.db import connect  # noqa: E402
from logconsole.store.query import Filter  # noqa: E402
from logconsole.timeutil import format_ts, start_of_range  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
"""The end of the generated data (``_data.records``)."""

ALL_TIME_MS = 1000.0
WEEK_MS = 100.0


def measures(week: str) -> list[tuple[str, float, Callable[[sqlite3.Connection], object]]]:
    """(name, target ms, query) for every panel and header query."""
    out: list[tuple[str, float, Callable[[sqlite3.Connection], object]]] = []
    for label, since, target in (("all time", None, ALL_TIME_MS), ("this week", week, WEEK_MS)):
        flt = Filter(since=since)
        out.append((f"system_series, {label}", target, lambda c, s=since: stats.system_series(c, s, None)))
        out.append((f"ai_models, {label}", target, lambda c, f=flt: stats.ai_models(c, f)))
        out.append((f"overview, {label}", target, lambda c, f=flt: stats.overview(c, f)))
        for kind in ("error", "system", "ai", "activity", "chat"):
            out.append((f"tab_summary {kind}, {label}", target,
                        lambda c, k=kind, f=flt: stats.tab_summary(c, k, f, now=NOW)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="records in the database (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query (median; default 5)")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs")
    big = connect(database_of(args.rows), readonly=True)
    small = connect(database_of(1000), readonly=True)
    week_start = start_of_range("week", NOW)
    assert week_start is not None
    for name, target, query in measures(format_ts(week_start)):
        ms = median_ms(lambda q=query: q(big), args.runs)
        ref = median_ms(lambda q=query: q(small), args.runs)
        report(Result(name, ms, "ms", ref, "1k records", f"<= {target:,.0f} ms", ms <= target))
    big.close()
    small.close()
    print()
    print(f"{'measure':<40} {'ms':>10} {'1k ms':>8} {'ratio':>8}  target")
    for r in RESULTS:
        verdict = "ok" if r.ok else "MISSED"
        print(f"{r.name:<40} {r.value:>10,.1f} {r.reference or 0:>8,.2f} {r.ratio or 0:>8,.0f}  {r.target} {verdict}")
    return 0 if all(r.ok for r in RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
