"""File tailing throughput, against what the store takes with the same ingest.

* reference: the same lines turned into the same records by hand, through
  ``ingest.normalize`` and the daemon's ``BatchWriter`` in batches of 1,000
  (no file, no tailer);
* measured: a :class:`FileTailer` feeding the daemon's :class:`Pipeline`
  (offsets committed with the records), from the first byte appended to the
  last record committed.

The ratio is what following a file costs on top of storing its lines.

    .venv/bin/python benchmarks/bench_tail.py                 # 100,000 lines
    .venv/bin/python benchmarks/bench_tail.py --lines 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from logconsole.collectors.files import FileTailer, level_for
from logconsole.collectors.pipeline import Pipeline
from logconsole.ingest import Redactor, normalize
from logconsole.store.db import connect
from logconsole.store.writer import BatchWriter

LEVELS = ("INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG")


def make_lines(n: int) -> list[str]:
    return [
        f"2026-11-27T09:{i // 60 % 60:02d}:{i % 60:02d}Z {LEVELS[i % len(LEVELS)]} "
        f"request {i} GET /api/courses/{i % 500} served in {i % 300} ms user=u{i % 100}\n"
        for i in range(n)
    ]


def reference(lines: list[str], folder: Path) -> float:
    """Lines per second through normalize + BatchWriter, no file involved."""
    conn = connect(folder / "reference.db")
    writer = BatchWriter(conn)
    started = time.perf_counter()
    batch = []
    for line in lines:
        text = line.rstrip("\n")
        batch.append(normalize({"type": "activity", "level": level_for(text), "title": "app.log",
                                "message": text, "file": "/var/log/app.log"}))
        if len(batch) == 1000:
            writer.commit(batch)
            batch = []
    writer.commit(batch)
    elapsed = time.perf_counter() - started
    conn.close()
    return len(lines) / elapsed


async def tailed(lines: list[str], folder: Path) -> float:
    """Lines per second from appending to a followed file to their commit."""
    db = folder / "tailed.db"
    log = folder / "app.log"
    log.touch()
    pipeline = Pipeline(db, redactor=Redactor())
    await pipeline.start()
    tailer = FileTailer([str(log)], db, pipeline)
    stop = asyncio.Event()
    task = asyncio.create_task(tailer.run(stop))
    await asyncio.sleep(0.5)  # the first scan has placed the file's start
    started = time.perf_counter()
    with log.open("a") as f:
        f.writelines(lines)
    deadline = started + 600
    while pipeline.counters.committed < len(lines):
        if time.perf_counter() > deadline:
            raise SystemExit("tailing did not finish in 10 minutes")
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    await pipeline.close()
    return len(lines) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    lines = make_lines(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ref = reference(lines, folder)
        got = asyncio.run(tailed(lines, folder))
    print(f"lines: {args.lines:,} on {os.cpu_count()} CPUs")
    print(f"reference (normalize + BatchWriter):   {ref:>10,.0f} lines/s")
    print(f"tailed file -> pipeline -> committed:  {got:>10,.0f} lines/s   ratio {got / ref:.2f}x")


if __name__ == "__main__":
    main()
