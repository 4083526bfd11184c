"""What keeping error groups costs ingest, done per batch by the writer (the
store's way) or per row by SQL triggers (the other way considered).

Inserts the same normalised records (all five kinds, 12 % errors) in batches
of 5,000 into three fresh databases with the store's schema, best of two runs:

* **none**: a bare ``executemany`` with no group upkeep (the reference);
* **writer**: :func:`logconsole.store.writer.insert_rows`, which upserts the
  batch's groups once and lets each row find its group by fingerprint;
* **trigger**: the same ``executemany`` with an ``AFTER INSERT`` trigger that
  upserts the row's group and sets the row's ``group_id`` (and the group's
  users) for every error row.

    .venv/bin/python benchmarks/bench_group_upkeep.py --records 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402

from logconsole.ingest import normalize  # noqa: E402
from logconsole.store.db import connect  # noqa: E402
from logconsole.store.groups import _rank_sql  # noqa: E402
from logconsole.store.schema import INSERT_COLUMNS  # noqa: E402
from logconsole.store.writer import VALUE_COLUMNS, insert_rows, row_values  # noqa: E402

BATCH = 5000
PLAIN_INSERT = (f"INSERT INTO records ({', '.join(VALUE_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in VALUE_COLUMNS)})")
TRIGGER = (
    "CREATE TRIGGER records_group_ai AFTER INSERT ON records "
    "WHEN new.type = 'error' AND new.fingerprint IS NOT NULL BEGIN "
    "INSERT INTO error_groups (fingerprint, error_type, message, count, first_seen, last_seen, latest_id, severity) "
    "VALUES (new.fingerprint, new.error_type, new.message, 1, new.created_at, new.created_at, new.id, new.severity) "
    "ON CONFLICT (fingerprint) DO UPDATE SET count = count + 1, "
    "first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen), "
    "latest_id = CASE WHEN excluded.last_seen >= last_seen THEN excluded.latest_id ELSE latest_id END, "
    f"severity = CASE WHEN {_rank_sql('excluded.severity')} > {_rank_sql('severity')} "
    "THEN excluded.severity ELSE severity END; "
    "UPDATE records SET group_id = (SELECT id FROM error_groups WHERE fingerprint = new.fingerprint) "
    "WHERE id = new.id; "
    "INSERT OR IGNORE INTO error_group_users (group_id, user_id) SELECT id, new.user_id FROM error_groups "
    "WHERE fingerprint = new.fingerprint AND new.user_id IS NOT NULL AND users_approx = 0; "
    "UPDATE error_groups SET users = users + changes() WHERE fingerprint = new.fingerprint; END"
)


def rate(rows: list[dict], folder: Path, how: str) -> float:
    conn = connect(folder / f"{how}-{time.monotonic_ns()}.db")
    if how == "trigger":
        conn.execute(TRIGGER)
    batches = [rows[i:i + BATCH] for i in range(0, len(rows), BATCH)]
    t = time.perf_counter()
    for batch in batches:
        if how == "writer":
            insert_rows(conn, batch)
        else:
            values = [row_values(r) for r in batch]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(PLAIN_INSERT, values)
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    if how != "none":
        grouped = conn.execute("SELECT count(*) FROM records WHERE group_id IS NOT NULL").fetchone()[0]
        errors = conn.execute("SELECT count(*) FROM records WHERE type = 'error'").fetchone()[0]
        assert grouped == errors, (how, grouped, errors)
    conn.close()
    return len(rows) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    args = ap.parse_args()
    assert "group_id" in INSERT_COLUMNS
    rows = [normalize(r) for r in _data.records(args.records, seed=13)]
    print(f"group upkeep: {args.records:,} records in batches of {BATCH:,}, best of 2")
    with tempfile.TemporaryDirectory(prefix="bench-groups-") as tmp:
        folder = Path(tmp)
        best = {how: 0.0 for how in ("none", "writer", "trigger")}
        for _ in range(2):
            for how in best:
                best[how] = max(best[how], rate([dict(r) for r in rows], folder, how))
    for how, value in best.items():
        print(f"  {how:<8} {value:>10,.0f} records/s  {value / best['none']:.2f}x of none")


if __name__ == "__main__":
    main()
