"""The console is quiet when nothing happens, and writes only what changed when something does.

Over SSH every byte written to the terminal costs; the console used to repaint
its whole list once a second.  These tests drive the real console through
Pilot and read what Textual would write to the terminal: each screen update
(:class:`textual._compositor.CompositorUpdate`) is turned into its escape
sequences with :meth:`render_segments`, exactly as the terminal driver does,
and the lines and columns it touches are noted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual._compositor import ChopsUpdate, CompositorUpdate
from tui_data import FIXED_NOW, make_db, settle

from logconsole.ingest import normalize
from logconsole.screens import columns as C
from logconsole.screens import main_screen as main_screen_module
from logconsole.screens.app import LogConsoleApp
from logconsole.screens.log_view import GUTTER, HEADER_LINES, LogView
from logconsole.screens.main_screen import FULL_POLL_EVERY, MainScreen
from logconsole.store.db import connect
from logconsole.store.writer import insert_row

SIZE = (120, 40)
TICK = 0.05


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@dataclass
class Clock:
    """The console's clock, moved by the test."""

    now: datetime = FIXED_NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Output:
    """What the console writes to its terminal, update by update."""

    app: LogConsoleApp
    bytes: int = 0
    full_updates: int = 0
    spans: list[tuple[int, int, int]] = field(default_factory=list)
    """(screen line, first column, end column) of every partial update."""

    def record(self, renderable: Any) -> None:
        if isinstance(renderable, CompositorUpdate):
            self.bytes += len(renderable.render_segments(self.app.console))
            if isinstance(renderable, ChopsUpdate):
                self.spans.extend(renderable.spans)
            else:
                self.full_updates += 1

    def clear(self) -> None:
        self.bytes = self.full_updates = 0
        self.spans.clear()

    @property
    def lines(self) -> set[int]:
        return {y for y, _, _ in self.spans}


def console(db_path: Path, clock: Clock | None = None, **kw: Any) -> tuple[LogConsoleApp, Output]:
    kw.setdefault("poll_interval", TICK)
    app = LogConsoleApp(db_path, now=FIXED_NOW, cursor_blink=False, **kw)
    if clock is not None:
        app.clock = clock
    out = Output(app)
    display = app._display

    def recording_display(screen: Any, renderable: Any) -> None:
        out.record(renderable)
        display(screen, renderable)

    app._display = recording_display  # type: ignore[method-assign]
    return app, out


def screen(app: LogConsoleApp) -> MainScreen:
    found = app.screen_stack[1]
    assert isinstance(found, MainScreen)
    return found


def view(app: LogConsoleApp) -> LogView:
    return screen(app).view


def list_lines(app: LogConsoleApp) -> range:
    """Screen lines of the list's rows (below its header line)."""
    region = view(app).region
    return range(region.y + HEADER_LINES, region.bottom)


def add(db_path: Path, kind: str = "activity") -> int:
    raw: dict[str, Any] = {"type": kind, "message": "arrival", "created_at": FIXED_NOW.isoformat()}
    if kind == "error":
        raw["severity"] = "high"
    conn = connect(db_path)
    try:
        return insert_row(conn, normalize(raw, now=FIXED_NOW))
    finally:
        conn.close()


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(TICK)


async def quiet(pilot: Any, out: Output, seconds: float = 0.6) -> None:
    """Let the console settle, then forget what it wrote so far and run ``seconds`` more."""
    await settle(pilot)
    await pilot.pause(0.3)
    out.clear()
    await pilot.pause(seconds)


@pytest.fixture
def seeded(db_path: Path) -> Path:
    return make_db(db_path)


async def test_an_idle_console_writes_nothing(seeded: Path) -> None:
    app, out = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await quiet(pilot, out)  # a dozen ticks: clock and polls
        assert out.bytes == 0, f"an idle console wrote {out.bytes} bytes on lines {sorted(out.lines)}"


async def test_the_clock_repaints_only_the_time_cells_whose_text_changes(seeded: Path) -> None:
    clock = Clock()
    app, out = console(seeded, clock)
    async with app.run_test(size=SIZE) as pilot:
        await quiet(pilot, out, 0)
        v = view(app)
        rows = [v.row_at(i) for i in range(v.row_count)]
        shown = rows[: v.scrollable_content_region.height - HEADER_LINES]

        def changed(after: datetime) -> set[int]:
            """Screen lines whose relative time reads differently at ``after``."""
            top = v.region.y + HEADER_LINES
            return {top + i for i, row in enumerate(shown) if row is not None
                    and C.relative_time(row["created_at"], clock.now) != C.relative_time(row["created_at"], after)}

        later = FIXED_NOW + timedelta(seconds=1)
        assert not changed(later)  # the seeded records are minutes to weeks old
        clock.now = later
        await pilot.pause(4 * TICK)
        assert out.bytes == 0

        later = FIXED_NOW + timedelta(minutes=1)
        expected = changed(later)
        assert expected and len(expected) < len(shown)
        out.clear()
        clock.now = later
        await pilot.pause(4 * TICK)
        assert out.lines == expected
        time_end = GUTTER + C.TIME_WIDTH["relative"]
        assert all(x2 <= time_end for _, _, x2 in out.spans), out.spans
        assert out.full_updates == 0


async def test_an_idle_console_reads_the_database_only_when_its_files_change(
    seeded: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    polls: list[int] = []
    real_max_id = main_screen_module.max_id

    def counting_max_id(conn: Any) -> int:
        polls.append(1)
        return real_max_id(conn)

    monkeypatch.setattr(main_screen_module, "max_id", counting_max_id)
    app, out = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.2)
        polls.clear()
        ticks = 2 * FULL_POLL_EVERY
        await pilot.pause(ticks * TICK)
        assert len(polls) <= 3, f"{len(polls)} polls in {ticks} idle ticks"
        new_id = await asyncio.to_thread(add, seeded)
        await wait_until(pilot, lambda: (view(app).row_at(0) or {}).get("id") == new_id,
                         timeout=FULL_POLL_EVERY * TICK * 0.8)


@pytest.mark.parametrize("tab", ["2", "3", "5"], ids=["errors", "ai-panel", "system-panel"])
async def test_an_arrival_the_tab_does_not_show_repaints_no_row(
    seeded: Path, monkeypatch: pytest.MonkeyPatch, tab: str,
) -> None:
    """An activity record arrives while another kind's tab is shown: the tab
    titles count it, but no row (and no statistics panel, whose figures are
    read again and found the same) is written."""
    monkeypatch.setattr(main_screen_module, "SUMMARY_EVERY", 0.0)
    app, out = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(tab)
        await quiet(pilot, out, 0)
        new_id = await asyncio.to_thread(add, seeded, "activity")
        await wait_until(pilot, lambda: screen(app).top_id == new_id)
        tabs = screen(app).query_one("#tabs").region
        await wait_until(pilot, lambda: bool(out.lines & set(range(tabs.y, tabs.bottom))))  # the All tab's count
        await settle(pilot)
        await pilot.pause(0.2)
        below_tabs = set(range(tabs.bottom, SIZE[1]))
        assert not out.lines & below_tabs, sorted(out.lines)
        assert out.full_updates == 0


async def test_arrivals_while_scrolled_away_repaint_only_the_badge(db_path: Path) -> None:
    app, out = console(make_db(db_path, n_per_kind=20))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("pagedown")
        await quiet(pilot, out, 0)
        await asyncio.to_thread(add, db_path, "error")
        await wait_until(pilot, lambda: screen(app).arrived == 1)
        await settle(pilot)
        await pilot.pause(0.2)
        summary = screen(app).query_one("#summary").region.y
        assert summary in out.lines
        assert not out.lines & set(list_lines(app)), sorted(out.lines)
        assert out.full_updates == 0


async def test_an_arrival_at_the_top_repaints_the_rows_once(seeded: Path) -> None:
    """Each row moves down a line, so each row line is written, but once:
    the new count and the relabelled tabs do not repaint the list again."""
    app, out = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await quiet(pilot, out, 0)
        rows = min(view(app).row_count + 1, len(list_lines(app)))
        new_id = await asyncio.to_thread(add, seeded, "error")
        await wait_until(pilot, lambda: (view(app).row_at(0) or {}).get("id") == new_id)
        await settle(pilot)
        await pilot.pause(0.3)
        row_lines = [y for y, x1, _ in out.spans if y in list_lines(app) and x1 == 0]
        assert sorted(row_lines) == sorted(set(row_lines)), "a row was written twice"
        assert len(row_lines) == rows
        assert out.full_updates == 0


async def test_moving_the_cursor_rewrites_two_lines(seeded: Path) -> None:
    app, out = console(seeded, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await quiet(pilot, out, 0)
        await pilot.press("down")
        await pilot.pause(0.1)
        first = view(app).region.y + HEADER_LINES
        assert out.lines == {first, first + 1}


async def test_back_at_the_top_waiting_arrivals_come_in_at_the_next_tick(
    db_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Skipping polls while the files are unchanged must not hold back arrivals
    counted while the list was scrolled away: the next tick at the top takes them in."""
    monkeypatch.setattr(main_screen_module, "FULL_POLL_EVERY", 1000)
    app, out = console(make_db(db_path, n_per_kind=20))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("pagedown")
        await settle(pilot)
        new_id = await asyncio.to_thread(add, db_path, "error")
        await wait_until(pilot, lambda: screen(app).arrived == 1)
        await pilot.pause(3 * TICK)
        await pilot.press("home")
        await wait_until(pilot, lambda: (view(app).row_at(0) or {}).get("id") == new_id, timeout=1.0)
        assert screen(app).arrived == 0
