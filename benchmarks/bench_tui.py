"""Console benchmarks: speed at a million records, and quiet when nothing happens.

Speed: each measurement runs the real console headless (Textual's test driver,
80x24) in a fresh process, against the benchmark databases of ``bench_store.py``
(built once into ``benchmarks/data/``).  Figures are printed next to the same
figure at the small reference size, measured in the same run.

Quiet: the real ``logconsole`` command runs in a pseudo-terminal of 120x40
(``TERM=xterm-256color``) on a fresh demo database, and every byte it writes to
the terminal is counted, with the CPU time of its process, idle and while
records arrive; the reference is a bare Textual app showing a ``DataTable``,
run the same way in the same run.

    .venv/bin/python benchmarks/bench_tui.py                 # both, 1,000,000 vs 1,000 records
    .venv/bin/python benchmarks/bench_tui.py --rows 100000   # a quick look
    .venv/bin/python benchmarks/bench_tui.py --only quiet --seconds 30

Targets (docs/performance.md): launch at the large size <= 1.5x the small one;
page down, jump to end and a search keystroke update the screen within 100 ms;
resident memory <= 150 MB at the large size; an idle console writes <= 2 KB a
minute to its terminal and uses <= 3x the CPU of the bare app; with one record
arriving a second, it writes only what changed on screen.
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
        repaint = view._repaint

        def recording_repaint() -> None:
            """Notes when the rows of the current query are in and the cursor's line
            already shows them (the list repaints only lines that change)."""
            repaint()
            index = view.cursor
            y = index - int(view.scroll_offset.y) + 1
            entry = view._pages.get(index // PAGE_SIZE)
            if entry and entry[0] == view.generation and view.row_at(index) and view._painted.get(y) == view._line(y):
                painted.update(at=time.perf_counter(), cursor=index, generation=view.generation)

        view._repaint = recording_repaint

        async def timed(keys: list[str], condition: Any) -> float:
            """Seconds from a key event to the cursor's line painted with the result
            (or found to show it already).

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


# ---------------------------------------------------------------- quiet: a console in a pseudo-terminal

QUIET_SIZE = (120, 40)
QUIET_TARGET_BYTES_PER_MIN = 2048
QUIET_TARGET_CPU_RATIO = 3.0

BARE_APP = """
from textual.app import App
from textual.widgets import DataTable, Footer, Header


class Bare(App):
    def compose(self):
        yield Header()
        yield DataTable()
        yield Footer()

    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns("time", "type", "level", "summary")
        for i in range(200):
            table.add_row(f"{i}m ago", "activity", "info", f"row {i} " * 8)


Bare().run()
"""
"""The reference: a bare Textual app with a DataTable, as quiet as Textual gets."""

KEYS = {"pagedown": b"\x1b[6~", "home": b"\x1b[H", "ctrl+q": b"\x11"}


class Terminal:
    """A program running in a pseudo-terminal of :data:`QUIET_SIZE`, every byte it writes counted."""

    def __init__(self, argv: list[str]) -> None:
        import fcntl
        import os
        import struct
        import termios

        import psutil

        master, slave = os.openpty()
        columns, lines = QUIET_SIZE
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "TEXTUAL")}
        env["TERM"] = "xterm-256color"
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.master = master
        self.ps = psutil.Process(self.proc.pid)
        self.written = 0

    def read_for(self, seconds: float) -> int:
        """Bytes the program writes in the next ``seconds`` (read as they come, so it never blocks)."""
        import os
        import select

        deadline = time.monotonic() + seconds
        count = 0
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    break
                if not data:
                    break
                count += len(data)
        self.written += count
        return count

    def settle(self, quiet_for: float = 2.0, timeout: float = 30.0) -> int:
        """Read until the program has written nothing for ``quiet_for`` seconds
        (or ``timeout`` has passed); the bytes read."""
        start = time.monotonic()
        total = 0
        while time.monotonic() - start < timeout:
            got = self.read_for(quiet_for)
            total += got
            if got == 0:
                break
        return total

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def measure(self, seconds: float) -> tuple[int, float]:
        """Bytes written and CPU seconds used over the next ``seconds``."""
        cpu = self.cpu_seconds()
        count = self.read_for(seconds)
        return count, self.cpu_seconds() - cpu

    def press(self, *keys: str) -> None:
        import os

        for key in keys:
            os.write(self.master, KEYS.get(key, key.encode()))
            self.read_for(0.1)

    def close(self) -> None:
        import os

        try:
            os.write(self.master, KEYS["ctrl+q"])
            self.read_for(0.5)
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


class Arrivals:
    """One activity record a second, committed from another connection as the collector would."""

    def __init__(self, db: Path, every: float = 1.0) -> None:
        import threading

        self.db = db
        self.every = every
        self.stop = threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from logconsole.ingest import normalize
        from logconsole.store.db import connect
        from logconsole.store.writer import insert_row

        conn = connect(self.db)
        try:
            while not self.stop.wait(self.every):
                insert_row(conn, normalize({"type": "activity", "level": "info", "category": "user",
                                            "title": f"arrival {self.count}", "message": "one a second"}))
                self.count += 1
        finally:
            conn.close()

    def __enter__(self) -> Arrivals:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def _per_minute(count: float, seconds: float) -> float:
    return count * 60 / seconds


def bench_quiet(seconds: float) -> None:
    """Terminal output and CPU of an idle console, and of one with one arrival a second."""
    import tempfile

    venv_bin = Path(sys.executable).parent
    columns, lines = QUIET_SIZE
    print(f"quiet console ({columns}x{lines} pseudo-terminal, TERM=xterm-256color, {seconds:.0f} s each;"
          f" reference: a bare Textual app with a DataTable)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        subprocess.run([str(venv_bin / "logconsole"), "demo", "--db", str(db), "--seed", "1"],
                       check=True, capture_output=True)

        bare = Terminal([sys.executable, "-c", BARE_APP])
        bare.settle()
        bare_bytes, bare_cpu = bare.measure(seconds)
        bare.close()

        console = Terminal([str(venv_bin / "logconsole"), "--no-collector", "--db", str(db)])
        first_paint = console.settle(timeout=10)
        idle_bytes, idle_cpu = console.measure(seconds)
        with Arrivals(db) as arrivals:
            console.settle(quiet_for=1.5, timeout=3)
            before = arrivals.count
            top_bytes, top_cpu = console.measure(seconds)
            top_arrivals = arrivals.count - before
            console.press("2")  # Errors: the activity arrivals change no row
            console.settle(quiet_for=1.5, timeout=5)
            before = arrivals.count
            other_bytes, _ = console.measure(seconds)
            other_arrivals = arrivals.count - before
            console.press("0", "pagedown", "pagedown")  # scrolled away: the arrivals wait
            console.settle(quiet_for=1.5, timeout=5)
            before = arrivals.count
            away_bytes, _ = console.measure(seconds)
            away_arrivals = arrivals.count - before
        console.close()

    ticks = 100  # CPU figures in clock ticks, as /proc shows them
    ratio = idle_cpu / max(bare_cpu, 1 / ticks)
    idle_per_min = _per_minute(idle_bytes, seconds)
    print(f"  launch: {first_paint / 1024:.1f} KB (until 2 s without output, at most 10 s)")
    print(f"  idle output: {idle_per_min / 1024:.2f} KB/min ({idle_bytes:,} B in {seconds:.0f} s) vs bare"
          f" {_per_minute(bare_bytes, seconds) / 1024:.2f} KB/min  (target <= 2 KB/min)"
          f"  {'ok' if idle_per_min <= QUIET_TARGET_BYTES_PER_MIN else 'OVER'}")
    print(f"  idle CPU: {idle_cpu * ticks:.0f} ticks vs bare {bare_cpu * ticks:.0f} ticks in {seconds:.0f} s"
          f"  ratio {ratio:.1f}x (target <= {QUIET_TARGET_CPU_RATIO:.0f}x)"
          f"  {'ok' if ratio <= QUIET_TARGET_CPU_RATIO else 'OVER'}")
    for label, count, arrived, cpu in (
        ("one a second, All tab at the top (every row moves down)", top_bytes, top_arrivals, top_cpu),
        ("one a second, Errors tab (no row changes)", other_bytes, other_arrivals, None),
        ("one a second, scrolled away (the badge counts)", away_bytes, away_arrivals, None),
    ):
        per = count / max(arrived, 1)
        extra = f", CPU {cpu * ticks:.0f} ticks" if cpu is not None else ""
        print(f"  arrivals {label}: {arrived} records, {_per_minute(count, seconds) / 1024:.1f} KB/min,"
              f" {per / 1024:.2f} KB per arrival ({per / max(first_paint, 1):.0%} of the launch){extra}")


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
    parser.add_argument("--only", choices=["speed", "quiet"], help="run one half (default: both)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each quiet measurement")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child, args.db))))
        return
    if args.only != "speed":
        bench_quiet(args.seconds)
    if args.only != "quiet":
        bench_speed(args.rows)


def bench_speed(rows: int) -> None:
    """Launch, page keys, search and memory at ``rows`` records against 1,000."""
    from bench_store import database_of

    big_rows = rows

    big, small = database_of(big_rows), database_of(REFERENCE_ROWS)
    print(f"console at {big_rows:,} records vs {REFERENCE_ROWS:,} (80x24, headless, fresh process each)")

    # Interleaved runs, so a burst of load on the machine hits both sizes alike.
    runs: dict[int, list[float]] = {REFERENCE_ROWS: [], big_rows: []}
    for _ in range(REPEATS):
        for size, db in ((REFERENCE_ROWS, small), (big_rows, big)):
            runs[size].append(_run_child("launch", db)["launch_s"])
    for label, pick in (("best", min), ("median", statistics.median)):
        big_s, small_s = pick(runs[big_rows]), pick(runs[REFERENCE_ROWS])
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
