"""Console benchmarks: launch to first rows, page keys, jump to end, search as you type, memory.

Each measurement runs the real console headless (Textual's test driver, 80x24)
in a fresh process, against the benchmark databases of ``bench_store.py``
(built once into ``benchmarks/data/``).  Figures are printed next to the same
figure at the small reference size, measured in the same run.

    .venv/bin/python benchmarks/bench_tui.py                 # 1,000,000 vs 1,000 records
    .venv/bin/python benchmarks/bench_tui.py --rows 100000   # a quick look

Targets (docs/performance.md): launch at the large size <= 1.5x the small one;
page down, jump to end and a search keystroke update the screen within 100 ms;
resident memory <= 150 MB at the large size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

T_START = time.perf_counter()

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

REFERENCE_ROWS = 1_000
REPEATS = 5


# ---------------------------------------------------------------- child: runs the console


async def _until(pilot: Any, condition: Any, timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the console did not get there in time")
        await pilot.pause(0.002)


def _shown(view: Any) -> bool:
    """The rows at the cursor and on screen are loaded (no placeholder dots)."""
    top = int(view.scroll_offset.y)
    return all(view.row_at(i) is not None for i in range(top, min(top + 5, view.row_count))) and \
        view.row_at(view.cursor) is not None


async def _child(mode: str, db: Path) -> dict[str, Any]:
    from textual import events

    from logconsole.screens.app import LogConsoleApp
    from logconsole.screens.log_view import LogView

    first_paint: list[float] = []
    class_render_line = LogView.render_line

    def note_first_rows(self: Any, y: int) -> Any:
        """Notes when the first record line is painted (not the header, not dots)."""
        if not first_paint and y == 1 and self.row_at(int(self.scroll_offset.y)) is not None:
            first_paint.append(time.perf_counter())
        return class_render_line(self, y)

    LogView.render_line = note_first_rows  # type: ignore[method-assign]
    app = LogConsoleApp(db, poll_interval=0, cursor_blink=False)
    out: dict[str, Any] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        await _until(pilot, lambda: bool(first_paint))
        out["launch_s"] = first_paint[0] - T_START
        LogView.render_line = class_render_line  # type: ignore[method-assign]
        if mode == "launch":
            return out
        view: Any = app.screen_stack[1].query_one("#list", LogView)
        await _until(pilot, lambda: view.total is not None, timeout=60)
        out["total"] = view.total

        from logconsole.screens.data import PAGE_SIZE

        painted: dict[str, Any] = {"at": 0.0, "cursor": -1, "generation": -1}
        render_line = view.render_line

        def recording_render_line(y: int) -> Any:
            """Notes when the cursor's line is painted with rows of the current query."""
            strip = render_line(y)
            index = int(view.scroll_offset.y) + y - 1
            entry = view._pages.get(index // PAGE_SIZE)
            if index == view.cursor and entry and entry[0] == view.generation and view.row_at(index):
                painted.update(at=time.perf_counter(), cursor=index, generation=view.generation)
            return strip

        view.render_line = recording_render_line

        async def timed(keys: list[str], condition: Any) -> float:
            """Seconds from a key event to the cursor's line painted with the result.

            Keys go straight to the driver's queue, as a terminal's would.
            """
            t0 = time.perf_counter()
            for key in keys:
                app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
            deadline = t0 + 30

            def done() -> bool:
                return (condition() and painted["at"] > t0 and painted["cursor"] == view.cursor
                        and painted["generation"] == view.generation)

            while not done():
                if time.perf_counter() > deadline:
                    raise TimeoutError(keys)
                await asyncio.sleep(0.0005)
            return float(painted["at"] - t0)

        downs = []
        for _ in range(20):
            target = view.cursor + view._body_height
            downs.append(await timed(["pagedown"], lambda t=target: view.cursor == t and _shown(view)))
        out["page_down_ms"] = statistics.median(downs) * 1000
        out["page_down_max_ms"] = max(downs) * 1000
        last = view.total - 1
        out["jump_end_ms"] = await timed(["end"], lambda: view.cursor == last and _shown(view)) * 1000
        ups = []
        for _ in range(10):
            target = view.cursor - view._body_height
            ups.append(await timed(["pageup"], lambda t=target: view.cursor == t and _shown(view)))
        out["page_up_end_ms"] = statistics.median(ups) * 1000
        out["jump_home_ms"] = await timed(["home"], lambda: view.cursor == 0 and _shown(view)) * 1000

        # search as you type: each keystroke narrows the list (after the typing pause)
        from logconsole.screens.search_bar import DEBOUNCE_SECONDS, MIN_PREFIX

        await pilot.press("slash")
        word = "request"
        for ch in word[: MIN_PREFIX - 1]:  # too short to search while typing
            app._driver.send_message(events.Key(ch, ch))
        await asyncio.sleep(DEBOUNCE_SECONDS * 2)
        keystrokes = []
        for ch in word[MIN_PREFIX - 1:]:
            gen = view.generation
            took = await timed([ch], lambda g=gen: view.generation > g and view.row_at(0) is not None
                               and view._pages.get(0, (None,))[0] == view.generation)
            keystrokes.append(took - DEBOUNCE_SECONDS)
        out["search_key_ms"] = statistics.median(keystrokes) * 1000
        out["search_key_max_ms"] = max(keystrokes) * 1000
        out["debounce_ms"] = DEBOUNCE_SECONDS * 1000
        await pilot.press("enter")
        await _until(pilot, lambda: view.total is not None, timeout=60)

        import psutil

        out["rss_mb"] = psutil.Process().memory_info().rss / 1e6
        out["cached_pages"] = len(view._pages)
    return out


# ---------------------------------------------------------------- parent


def _run_child(mode: str, db: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--db", str(db)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["launch", "keys"])
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child, args.db))))
        return

    from bench_store import database_of

    big, small = database_of(args.rows), database_of(REFERENCE_ROWS)
    print(f"console at {args.rows:,} records vs {REFERENCE_ROWS:,} (80x24, headless, fresh process each)")

    # Interleaved runs, so a burst of load on the machine hits both sizes alike.
    runs: dict[int, list[float]] = {REFERENCE_ROWS: [], args.rows: []}
    for _ in range(REPEATS):
        for rows, db in ((REFERENCE_ROWS, small), (args.rows, big)):
            runs[rows].append(_run_child("launch", db)["launch_s"])
    for label, pick in (("best", min), ("median", statistics.median)):
        big_s, small_s = pick(runs[args.rows]), pick(runs[REFERENCE_ROWS])
        ratio = big_s / small_s
        print(f"  launch to first rows ({label} of {REPEATS}): {big_s * 1000:5.0f} ms vs {small_s * 1000:.0f} ms"
              f"  ratio {ratio:.2f}x (target <= 1.5x)  {'ok' if ratio <= 1.5 else 'OVER'}")

    ref = _run_child("keys", small)
    res = _run_child("keys", big)
    for key, label in (("page_down_ms", "page down (median of 20)"), ("page_down_max_ms", "page down (worst)"),
                       ("jump_end_ms", "jump to end"), ("page_up_end_ms", "page up at the end (median)"),
                       ("jump_home_ms", "jump home"), ("search_key_ms", "search keystroke (median)"),
                       ("search_key_max_ms", "search keystroke (worst)")):
        flag = "ok" if res[key] <= 100 else "OVER"
        print(f"  {label:32s} {res[key]:7.1f} ms vs {ref[key]:6.1f} ms  ratio {res[key] / max(ref[key], 0.1):5.2f}x"
              f"  (target <= 100 ms)  {flag}")
    print(f"  (search: the keystrokes 'q' to 't' of 'request', each a prefix search; figures exclude"
          f" the {res['debounce_ms']:.0f} ms typing pause before a search runs)")
    rss_flag = "ok" if res["rss_mb"] <= 150 else "OVER"
    print(f"  resident memory after all that: {res['rss_mb']:.0f} MB vs {ref['rss_mb']:.0f} MB"
          f"  ratio {res['rss_mb'] / ref['rss_mb']:.2f}x (target <= 150 MB)  {rss_flag};"
          f" {res['cached_pages']} pages cached")


if __name__ == "__main__":
    main()
