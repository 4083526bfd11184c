"""Store benchmarks: import rate, search, keyset pages, counts, the query command, export.

Every figure is printed next to a reference measured in the same run, and the
ratio is what the targets in ``docs/performance.md`` are about.

    .venv/bin/python benchmarks/bench_store.py                # 1,000,000 records
    .venv/bin/python benchmarks/bench_store.py --rows 100000  # a quick look

The database of ``--rows`` records is built once into ``benchmarks/data/``
(git-ignored) and reused by later runs; ``--rebuild`` builds it again.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402

from logconsole.ingest import normalize  # noqa: E402
from logconsole.store.db import connect  # noqa: E402
from logconsole.store.query import (  # noqa: E402
    NEWEST, Cursor, Filter, count, cursor_of, fetch_page, make_filter, select_sql,
)
from logconsole.store.writer import INSERT_SQL, insert_rows, row_values  # noqa: E402

DATA_DIR = HERE / "data"
BATCH = 5000
PYTHON = sys.executable


@dataclass
class Result:
    name: str
    value: float
    unit: str
    reference: float | None = None
    ref_name: str = ""
    target: str = ""
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.reference is None or self.reference == 0:
            return None
        return self.value / self.reference


RESULTS: list[Result] = []


def report(result: Result) -> None:
    RESULTS.append(result)
    ratio = f"  ratio {result.ratio:.2f}" if result.ratio is not None else ""
    ref = f"  (vs {result.ref_name} {result.reference:,.1f} {result.unit})" if result.reference is not None else ""
    verdict = "" if result.ok is None else ("  OK" if result.ok else "  MISSED")
    print(f"  {result.name}: {result.value:,.2f} {result.unit}{ref}{ratio}  target {result.target}{verdict}",
          flush=True)


def median_ms(fn: Callable[[], object], runs: int = 9) -> float:
    """Median wall time of ``fn`` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


# ---------------------------------------------------------------- building data


def batched(items: Iterable[object], size: int) -> Iterable[list[object]]:
    batch: list[object] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_db(path: Path, rows: int) -> float:
    """Fill a new database at ``path`` with ``rows`` realistic records; seconds taken."""
    tmp = path.with_name(path.name + ".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    t0 = time.perf_counter()
    conn = connect(tmp)
    done = 0
    for batch in batched(_data.records(rows), BATCH):
        insert_rows(conn, [normalize(r) for r in batch])
        done += len(batch)
        if done % 100_000 == 0:
            print(f"    built {done:,} of {rows:,} ({time.perf_counter() - t0:.0f} s)", flush=True)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.execute("INSERT INTO records_fts(records_fts) VALUES ('optimize')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    tmp.rename(path)
    return time.perf_counter() - t0


def database_of(rows: int, rebuild: bool = False) -> Path:
    DATA_DIR.mkdir(exist_ok=True)
    path = DATA_DIR / f"store-{rows}.db"
    if rebuild or not path.exists():
        print(f"building {path} ...", flush=True)
        secs = build_db(path, rows)
        print(f"  built {rows:,} records in {secs:.0f} s", flush=True)
    return path


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--build-only":
    database_of(int(sys.argv[2]))
    sys.exit(0)
