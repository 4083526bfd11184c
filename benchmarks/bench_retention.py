"""Retention over an imported year: how long the write-ahead log grows.

A year of realistic records is imported, then everything past 90 days is
removed (about three quarters) while two readers take turns holding a snapshot,
as a console polling and counting does.  The reference, in the same run on a
copy of the same file, deletes the same records the way retention did before
(20,000 per transaction, no checkpoint of its own); the measured run is
:func:`logconsole.store.retention.prune`.  Reported: the log's peak and final
size, and the time, with the ratio of each to the reference.

    .venv/bin/python benchmarks/bench_retention.py                 # 200,000 records
    .venv/bin/python benchmarks/bench_retention.py --rows 50000    # a quick look
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _data import records  # noqa: E402

from logconsole.ingest import normalize  # noqa: E402
from logconsole.store.db import connect  # noqa: E402
from logconsole.store.retention import RETENTION_KEEPS, cutoff_for, prune  # noqa: E402
from logconsole.store.wal import wal_size  # noqa: E402
from logconsole.store.writer import batched, insert_rows  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
DAYS = 90


def build(path: Path, rows: int) -> None:
    conn = connect(path)
    for chunk in batched((normalize(r) for r in records(rows, days=365, end=NOW)), 5000):
        insert_rows(conn, chunk)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def old_prune(conn: sqlite3.Connection, on_batch: Callable[[int], None]) -> int:
    """Retention as it was: 20,000 per transaction, only SQLite's automatic checkpoints."""
    keep = " OR ".join(RETENTION_KEEPS)
    total = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            f"DELETE FROM records WHERE id IN (SELECT id FROM records WHERE created_at < ? AND NOT ({keep}) "
            "LIMIT 20000)", (cutoff_for(DAYS, NOW),))
        conn.execute("COMMIT")
        total += cur.rowcount
        on_batch(total)
        if cur.rowcount < 20000:
            return total


def measure(path: Path, run: Callable[[sqlite3.Connection, Callable[[int], None]], int]) -> tuple[int, int, int, float]:
    """(removed, peak log bytes, final log bytes, seconds) with two readers taking turns."""
    stop = threading.Event()

    def read(phase: float) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        time.sleep(phase)
        while not stop.is_set():
            conn.execute("BEGIN")
            conn.execute("SELECT max(id) FROM records").fetchone()
            time.sleep(0.03)
            conn.execute("COMMIT")
        conn.close()

    readers = [threading.Thread(target=read, args=(p,)) for p in (0.0, 0.015)]
    for t in readers:
        t.start()
    time.sleep(0.05)
    conn = connect(path)
    peak = [0]
    started = time.perf_counter()
    removed = run(conn, lambda n: peak.__setitem__(0, max(peak[0], wal_size(path))))
    seconds = time.perf_counter() - started
    stop.set()
    for t in readers:
        t.join()
    final = wal_size(path)
    conn.close()
    return removed, peak[0], final, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="records imported (default 200,000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "year.db"
        build(base, args.rows)
        ref_path, new_path = Path(tmp) / "ref.db", Path(tmp) / "new.db"
        shutil.copy(base, ref_path)
        shutil.copy(base, new_path)
        size = base.stat().st_size
        ref = measure(ref_path, old_prune)
        new = measure(new_path, lambda c, cb: prune(c, DAYS, now=NOW, on_batch=cb))
    mb = 1 << 20
    print(f"{args.rows:,} records over a year ({size / mb:.1f} MB); {ref[0]:,} past {DAYS} days removed")
    print(f"{'':<28}{'peak log':>12}{'log after':>12}{'seconds':>10}")
    print(f"{'reference (old retention)':<28}{ref[1] / mb:>10.1f} MB{ref[2] / mb:>9.1f} MB{ref[3]:>10.2f}")
    print(f"{'prune (batches, checkpoints)':<28}{new[1] / mb:>10.1f} MB{new[2] / mb:>9.1f} MB{new[3]:>10.2f}")
    print(f"ratios to the reference: peak log {new[1] / max(ref[1], 1):.2f}, time {new[3] / ref[3]:.2f}")
    assert ref[0] == new[0], (ref[0], new[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
