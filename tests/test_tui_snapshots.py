"""Snapshots of the console: every tab, the detail pane, search, marks, the empty database.

Deterministic: a fixed clock (``FIXED_NOW``) drives relative times and ranges,
local time is UTC, the data is seeded, the search cursor does not blink, live
polling is off and every terminal size is explicit.  Regenerate with
``pytest tests/test_tui_snapshots.py --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from tui_data import FIXED_NOW, make_db, settle

from logconsole.screens.app import LogConsoleApp
from logconsole.store.db import connect

SIZES = [(80, 24), (120, 40)]
TABS = ["0", "1", "2", "3", "4", "5"]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def console(db_path: Path) -> LogConsoleApp:
    return LogConsoleApp(db_path, now=FIXED_NOW, cursor_blink=False, poll_interval=0)


def keys(*pressed: str) -> Callable[[object], Awaitable[None]]:
    """Settle, press ``pressed`` one by one (settling after each), settle."""

    async def run(pilot: object) -> None:
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)  # type: ignore[attr-defined]
            await settle(pilot)

    return run


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("tab", TABS)
def test_tab(snap_compare: Callable[..., bool], db_path: Path, tab: str, size: tuple[int, int]) -> None:
    app = console(make_db(db_path, hostile=True))
    assert snap_compare(app, run_before=keys(tab), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_detail_pane(snap_compare: Callable[..., bool], db_path: Path, size: tuple[int, int]) -> None:
    app = console(make_db(db_path, hostile=True))
    assert snap_compare(app, run_before=keys("2", "down", "enter"), terminal_size=size)


def test_detail_pane_full_screen(snap_compare: Callable[..., bool], db_path: Path) -> None:
    """``enter`` on the same row again: the pane fills an 80x24 terminal."""
    app = console(make_db(db_path, hostile=True))
    assert snap_compare(app, run_before=keys("2", "down", "enter", "enter"), terminal_size=(80, 24))


def test_detail_pane_json(snap_compare: Callable[..., bool], db_path: Path) -> None:
    app = console(make_db(db_path))
    assert snap_compare(app, run_before=keys("1", "enter"), terminal_size=(120, 40))


def test_search_and_range(snap_compare: Callable[..., bool], db_path: Path) -> None:
    app = console(make_db(db_path))
    assert snap_compare(app, run_before=keys("w", "slash", "u", "p", "s", "enter"), terminal_size=(80, 24))


def test_marks_and_absolute_time(snap_compare: Callable[..., bool], db_path: Path) -> None:
    app = console(make_db(db_path))
    assert snap_compare(app, run_before=keys("2", "space", "space", "T"), terminal_size=(80, 24))


def test_empty_database(snap_compare: Callable[..., bool], db_path: Path) -> None:
    connect(db_path).close()
    assert snap_compare(console(db_path), run_before=keys(), terminal_size=(80, 24))


def test_error_groups(snap_compare: Callable[..., bool], db_path: Path) -> None:
    """The Errors tab's group list (``o``), the hostile record's group shown literally."""
    app = console(make_db(db_path, hostile=True))
    assert snap_compare(app, run_before=keys("o", "down", "space"), terminal_size=(80, 24))
