"""The console's group list at a million records: what its first page costs.

Two figures per database, each at the large size next to the small reference
measured in the same run (the databases of ``bench_store.py``, built once into
``benchmarks/data/``):

* **page reads**: what the group list's worker reads for its first page, in
  one read transaction, through the store interface as the console reads:
  200 groups (``group_page``), their 24-hour trends (one
  ``group_hourly_counts`` query for the page), the newest record id; and what
  its count worker reads (``group_count``) and the headline
  (``group_status_summary``).  Median of 9.
* **key to rows**: the real console headless (80x24), the Errors tab open,
  from the ``o`` key event to the group list's first row painted.  Median of 5.

    .venv/bin/python benchmarks/bench_group_list.py                # 1,000,000 vs 1,000 records
    .venv/bin/python benchmarks/bench_group_list.py --rows 100000

Target (docs/performance.md): the group list's first page adds no full scan:
at a million records within 3x the small reference and under 100 ms from key
to rows.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

REFERENCE_ROWS = 1_000


def page_reads_ms(db: Path, now: datetime) -> tuple[float, float]:
    """Median ms of the first page's reads (page, trends, newest id) and of the count + headline."""
    from logconsole.screens.data import max_id
    from logconsole.screens.group_view import fetch_group_page
    from logconsole.store import group_query as G
    from logconsole.store.interface import open_store

    store = open_store(db, readonly=True)
    page, count = [], []
    try:
        for _ in range(9):
            t0 = time.perf_counter()
            with store.snapshot():
                rows = fetch_group_page(store, G.GroupFilter(), G.LATEST_FIRST, 0)
                store.group_hourly_counts((r["id"] for r in rows), now)
                max_id(store)
            t1 = time.perf_counter()
            store.group_count(G.GroupFilter())
            store.group_status_summary(G.GroupFilter())
            t2 = time.perf_counter()
            page.append((t1 - t0) * 1000)
            count.append((t2 - t1) * 1000)
    finally:
        store.close()
    return statistics.median(page), statistics.median(count)


async def _key_to_rows(db: Path, now: datetime) -> float:
    from textual import events

    from logconsole.screens.app import LogConsoleApp
    from logconsole.screens.group_view import GroupView

    app = LogConsoleApp(db, now=now, poll_interval=0, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen: Any = app.screen_stack[1]
        await pilot.press("2")
        view = screen.view
        deadline = time.perf_counter() + 60
        while view.total is None:
            if time.perf_counter() > deadline:
                raise TimeoutError("records")
            await pilot.pause(0.01)
        groups = screen.query_one("#groups", GroupView)
        painted: list[float] = []
        render_line = groups.render_line

        def recording(y: int) -> Any:
            if not painted and y == 1 and groups.display and groups.row_at(0) is not None \
                    and groups._pages.get(0, (None,))[0] == groups.generation:
                painted.append(time.perf_counter())
            return render_line(y)

        groups.render_line = recording  # type: ignore[method-assign]
        t0 = time.perf_counter()
        app._driver.send_message(events.Key("o", "o"))  # type: ignore[union-attr]
        while not painted:
            if time.perf_counter() > t0 + 30:
                raise TimeoutError("groups")
            await asyncio.sleep(0.0005)
        return (painted[0] - t0) * 1000


def key_to_rows_ms(db: Path, now: datetime) -> float:
    return statistics.median(asyncio.run(_key_to_rows(db, now)) for _ in range(5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from bench_store import database_of

    from logconsole.store.db import connect

    dbs = {n: database_of(n) for n in (REFERENCE_ROWS, args.rows)}
    for n, db in dbs.items():
        conn = connect(db, readonly=True)
        newest = conn.execute("SELECT max(created_at) FROM records").fetchone()[0]
        groups = conn.execute("SELECT count(*) FROM error_groups").fetchone()[0]
        conn.close()
        # The clock at the newest record, so the trend covers the data's last 24 hours.
        now = datetime.fromisoformat(newest.replace("Z", "+00:00")).astimezone(UTC)
        page, count = page_reads_ms(db, now)
        key = key_to_rows_ms(db, now)
        print(f"{n:>9,} records, {groups:>6,} groups: first page reads {page:6.2f} ms · "
              f"count + headline {count:6.2f} ms · key to rows {key:6.1f} ms", flush=True)


if __name__ == "__main__":
    main()
