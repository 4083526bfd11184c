"""Snapshots of each dialog and panel at 80x24 and 120x40.

Deterministic: seeded data, a fixed clock (:data:`tui_data.FIXED_NOW`), no
cursor blink, fixed terminal sizes.  They hold across the Textual range in
``pyproject.toml`` (8.2 up to 9; checked with 8.2.0 and 8.2.8).
Regenerate with ``pytest tests/test_dialog_snapshots.py --snapshot-update``
and review the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static

from logconsole import kinds as K
from logconsole.screens.confirm import ConfirmScreen
from logconsole.screens.export import ExportScreen
from logconsole.screens.filters import FilterScreen
from logconsole.screens.help import HelpScreen
from logconsole.screens.note import NoteScreen
from logconsole.screens.panels import AIPanel, SystemPanel
from logconsole.store.query import NEWEST, make_filter
from logconsole.store.stats import ModelStats
from tui_data import FIXED_NOW, make_db

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]

HELP_KEYS = [
    ("1-5", "switch tab"), ("tab / shift+tab", "next / previous tab"), ("/", "search"),
    ("t w m a", "today, this week, this month, all time"), ("f", "filters"),
    ("enter", "details"), ("space", "mark row"), ("r", "resolve errors"), ("u", "unresolve"),
    ("x", "delete"), ("e", "export"), ("y", "copy as JSON"), ("?", "this help"), ("q", "quit"),
]


class Host(App[None]):
    """A stand-in console behind the dialog, so the snapshot shows the dimming."""

    def __init__(self, make: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self.make = make

    def compose(self) -> ComposeResult:
        yield Static(Text("logconsole · the console behind the dialog\n" * 3))

    def on_mount(self) -> None:
        self.push_screen(self.make())


async def steady(pilot: Pilot[Any]) -> None:
    """Wait for workers and freeze every text cursor."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_confirm(snap_compare: Any, size: tuple[int, int]) -> None:
    app = Host(lambda: ConfirmScreen("Delete records", "Delete 1,234 records?"))
    assert snap_compare(app, terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_note(snap_compare: Any, size: tuple[int, int]) -> None:
    app = Host(lambda: NoteScreen(3))
    assert snap_compare(app, terminal_size=size, run_before=steady)


def test_note_requires_a_note(snap_compare: Any) -> None:
    app = Host(lambda: NoteScreen(1))
    assert snap_compare(app, press=["enter"], terminal_size=(80, 24), run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_filters(snap_compare: Any, size: tuple[int, int]) -> None:
    current = make_filter(types=["error"], where=["severity=critical", "is_resolved=false", "endpoint~/api", "severity!=low"])
    app = Host(lambda: FilterScreen(K.ERROR, current))
    assert snap_compare(app, terminal_size=size, run_before=steady)


def test_filters_bad_value(snap_compare: Any) -> None:
    app = Host(lambda: FilterScreen(K.ACTIVITY, make_filter(types=["activity"])))

    async def bad_status(pilot: Pilot[Any]) -> None:
        pilot.app.screen.query_one("#f-status_code-min", Input).value = "5xx"
        await pilot.press("ctrl+s")
        await steady(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=bad_status)


@pytest.mark.parametrize("size", SIZES)
def test_export(snap_compare: Any, size: tuple[int, int], tmp_path: Path) -> None:
    db_path = make_db(tmp_path / "logs.db")
    app = Host(lambda: ExportScreen(db_path, make_filter(types=["error"]), NEWEST, now=FIXED_NOW))
    assert snap_compare(app, terminal_size=size, run_before=steady)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    app = Host(lambda: HelpScreen(HELP_KEYS))
    assert snap_compare(app, terminal_size=size, run_before=steady)


class PanelHost(App[None]):
    def compose(self) -> ComposeResult:
        yield SystemPanel()
        yield AIPanel()

    def on_mount(self) -> None:
        cpu = [12, 18, 25, 40, 55, 72, 91, 96, 80, 60, 45, 30] * 5
        self.query_one(SystemPanel).set_data(
            {"cpu_usage": cpu, "memory_usage": [50 + i % 25 for i in range(60)], "disk_usage": [61.0] * 60}
        )
        self.query_one(AIPanel).set_data([
            ModelStats("gpt-4o", 1_204, 345_678, 812.0, 2_400.0, 0.125),
            ModelStats("claude-3", 310, 98_765, 640.0, 12_500.0, 0.0),
            ModelStats("[red]llama\x1b[2J", 7, 0, None, None, 0.04),
        ])


@pytest.mark.parametrize("size", SIZES)
def test_panels(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(PanelHost(), terminal_size=size, run_before=steady)
