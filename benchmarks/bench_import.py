"""``logconsole import`` against a bare ``executemany`` of the same rows.

The reference is the least any import could cost: rows already validated and
normalised, inserted with ``executemany`` into a table with the same indexes
and full-text index, 5,000 per transaction.  The import reads the JSON-lines
file itself, decodes, validates, redacts and inserts.  Target: import rate
>= 0.5x the reference.

    .venv/bin/python benchmarks/bench_import.py              # 200,000 records
    .venv/bin/python benchmarks/bench_import.py --rows 20000 # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402

from logconsole.importer import import_stream  # noqa: E402
from logconsole.ingest import normalize  # noqa: E402
from logconsole.store.db import connect  # noqa: E402
from logconsole.store.writer import INSERT_SQL, row_values  # noqa: E402

BATCH = 5000


def reference(path: Path, rows: list[tuple[object, ...]]) -> float:
    conn = connect(path)
    t0 = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_SQL, rows[i:i + BATCH])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def in_process(path: Path, source: Path) -> float:
    conn = connect(path)
    t0 = time.perf_counter()
    with open(source, "rb") as fh:
        result = import_stream(conn, fh, str(source))
    seconds = time.perf_counter() - t0
    assert result.rejected == 0, result
    conn.close()
    return seconds


def command(path: Path, source: Path) -> float:
    env = {**os.environ, "LOGCONSOLE_DB": str(path)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "logconsole", "import", str(source)], env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    n = args.rows
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "records.jsonl"
        with open(source, "w", encoding="utf-8") as fh:
            for record in _data.records(n):
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        with open(source, "rb") as fh:
            rows = [row_values(normalize(json.loads(line))) for line in fh]
        # Interleaved, best of two: other load on the machine hits both alike.
        ref = inproc = cli = float("inf")
        for attempt in range(2):
            ref = min(ref, reference(folder / f"ref{attempt}.db", rows))
            inproc = min(inproc, in_process(folder / f"import{attempt}.db", source))
            cli = min(cli, command(folder / f"cli{attempt}.db", source))
        del rows
    print(f"records: {n:,}  ({source.name})")
    print(f"  bare executemany        {n / ref:>10,.0f} rows/s  (reference)")
    print(f"  import_stream           {n / inproc:>10,.0f} rows/s  ratio {ref / inproc:.2f}  (target >= 0.5)")
    print(f"  logconsole import FILE  {n / cli:>10,.0f} rows/s  ratio {ref / cli:.2f}  (target >= 0.5)")


if __name__ == "__main__":
    main()
