"""The console's related-records key, driven through Pilot over a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from tui_data import FIXED_NOW, make_store, screen_text, settle

from logconsole.ingest import normalize
from logconsole.screens.app import LogConsoleApp
from logconsole.screens.log_view import LogView
from logconsole.screens.main_screen import MainScreen
from logconsole.store import query
from logconsole.store.interface import open_store

SIZE = (100, 24)
REQUEST = "9f8e7d6c5b4a39281706"


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def request_db(any_db: Path | str) -> tuple[Path | str, dict[str, int]]:
    """The seeded records, and the newest of each kind being one request's (in each store)."""
    make_store(any_db)
    store = open_store(any_db)

    def at(seconds: int) -> str:
        return (FIXED_NOW - timedelta(seconds=seconds)).isoformat()

    def add(raw: dict[str, object]) -> int:
        return store.insert([normalize(raw)])[0]

    ids = {
        "activity": add({"type": "activity", "title": "POST /api/checkout", "request_id": REQUEST,
                         "created_at": at(3)}),
        "error": add({"type": "error", "message": "card vault unavailable", "request_id": REQUEST,
                      "created_at": at(1)}),
        "ai": add({"type": "ai", "ai_model": "gpt-4", "prompt": "fraud check", "request_id": REQUEST,
                   "created_at": at(2)}),
    }
    store.close()
    return any_db, ids


def console(db_path: Path | str) -> LogConsoleApp:
    return LogConsoleApp(db_path, now=FIXED_NOW, cursor_blink=False, poll_interval=0)


def main(app: LogConsoleApp) -> MainScreen:
    screen = app.screen_stack[1]
    assert isinstance(screen, MainScreen)
    return screen


def view(app: LogConsoleApp) -> LogView:
    return main(app).query_one("#list", LogView)


async def test_related_key_shows_the_request_oldest_first_and_c_clears_it(
        request_db: tuple[Path | str, dict[str, int]]) -> None:
    db_path, ids = request_db
    app = console(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        everything = view(app).total
        await pilot.press("2")  # Errors: the request's error is the newest
        await settle(pilot)
        assert view(app).current_row["id"] == ids["error"]  # type: ignore[index]
        await pilot.press("R")
        await settle(pilot)
        assert main(app).state.tab == "all"
        assert view(app).total == 3
        assert [view(app).row_at(i)["id"] for i in range(3)] == [  # type: ignore[index]
            ids["activity"], ids["ai"], ids["error"]]
        assert main(app).state.sort == query.OLDEST
        assert "related: request_id=9f8e7d6c…" in screen_text(app)
        await pilot.press("c")
        await settle(pilot)
        assert view(app).total == everything
        assert main(app).state.sort == query.NEWEST
        assert "no filters" in screen_text(app)


async def test_a_record_with_nothing_to_relate_by_says_so(request_db: tuple[Path | str, dict[str, int]]) -> None:
    db_path, _ = request_db
    app = console(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")  # System records belong to no request, conversation or user
        await settle(pilot)
        total = view(app).total
        await pilot.press("R")
        await settle(pilot)
        assert any("to relate it by" in str(n.message) for n in app._notifications)
        assert main(app).state.tab == "system" and view(app).total == total
