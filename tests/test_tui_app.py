"""The console driven through Pilot over a real store: a temp SQLite file, and a
PostgreSQL database for every test on the seeded records."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tui_data import FIXED_NOW, HOSTILE_MESSAGE, make_store, screen_text, settle

from logconsole.ingest import normalize
from logconsole.screens.app import LogConsoleApp
from logconsole.screens.detail import DetailPane
from logconsole.screens.log_view import LogView
from logconsole.screens.main_screen import MainScreen
from logconsole.screens.search_bar import SearchBar
from logconsole.store import query
from logconsole.store.db import connect
from logconsole.store.interface import open_store

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local time is UTC, so quick ranges ("today") have fixed bounds."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def seeded(any_db: Path | str) -> Path | str:
    """The seeded records in each store: a SQLite file and a PostgreSQL database."""
    return make_store(any_db, hostile=True)


def console(db_path: Path, **kw: object) -> LogConsoleApp:
    kw.setdefault("poll_interval", 0)
    return LogConsoleApp(db_path, now=FIXED_NOW, cursor_blink=False, **kw)  # type: ignore[arg-type]


def main(app: LogConsoleApp) -> MainScreen:
    screen = app.screen_stack[1]
    assert isinstance(screen, MainScreen)
    return screen


def view(app: LogConsoleApp) -> LogView:
    return app.screen_stack[1].query_one("#list", LogView)


def count_in_db(db_path: Path | str, sql: str) -> int:
    """A number SQL reads from the store's own connection (SQL both databases speak)."""
    store = open_store(db_path)
    try:
        return int(store.conn.execute(sql).fetchone()[0])  # type: ignore[attr-defined]
    finally:
        store.close()


async def wait_for(pilot: object, condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Let the app run until ``condition`` holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def notes(app: LogConsoleApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


# ---------------------------------------------------------------- tabs and list


async def test_opens_on_all_records_newest_first(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        v = view(app)
        assert v.total == 41
        assert v.has_focus
        first = v.row_at(0)
        assert first is not None and first["message"] == HOSTILE_MESSAGE
        text = screen_text(app)
        assert "41 records" in text
        assert "0 All" in text and "5 System" in text


async def test_number_keys_and_tab_switch_tabs(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        expected = {"1": ("activity", 8), "2": ("error", 9), "3": ("ai", 8), "4": ("chat", 8), "5": ("system", 8)}
        for key, (tab, total) in expected.items():
            await pilot.press(key)
            await settle(pilot)
            assert main(app).state.tab == tab
            assert view(app).total == total
            assert {r["type"] for r in view(app)._pages[0][1]} == {tab}
        await pilot.press("tab")  # from the last tab wraps to the first
        await settle(pilot)
        assert main(app).state.tab == "all"
        await pilot.press("shift+tab")
        await settle(pilot)
        assert main(app).state.tab == "system"
        assert view(app).has_focus


async def test_columns_follow_the_kind(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        header = screen_text(app).splitlines()[3]
        assert "severity" in header and "error type" in header and "message" in header


# ---------------------------------------------------------------- search and ranges


async def test_search_as_you_type_enter_and_escape(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        bar = app.screen.query_one("#search", SearchBar)
        assert bar.has_focus
        await pilot.press(*"deadl")  # a prefix: finds "deadlock"
        await wait_for(pilot, lambda: view(app).total == 2)  # applied after a pause in typing
        await settle(pilot)
        assert main(app).state.prefix is True
        await pilot.press("enter")
        await settle(pilot)
        assert view(app).has_focus
        assert main(app).state.search == "deadl"
        assert "search 'deadl'" in screen_text(app)

        await pilot.press("slash")
        await pilot.press(*"ock")
        await pilot.pause(0.3)
        await settle(pilot)
        await pilot.press("escape")  # cancel: back to the previous search
        await settle(pilot)
        assert main(app).state.search == "deadl"
        assert view(app).total == 2
        assert view(app).has_focus
        assert not [n for n in notes(app) if "cannot" in n]


async def test_keys_typed_in_one_burst_after_slash_reach_the_search_box(seeded: Path | str) -> None:
    from textual import events

    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key, char in [("slash", "/"), *((c, c) for c in "deadlock")]:  # no pause between keys
            app._driver.send_message(events.Key(key, char))  # type: ignore[union-attr]
        await wait_for(pilot, lambda: main(app).state.search == "deadlock")
        await settle(pilot)
        assert view(app).total == 2
        assert main(app).state.range_name == "all"  # "m" was not taken for "this month"


async def test_keys_typed_at_a_typist_pace_after_slash_arrive_in_order(seeded: Path | str) -> None:
    from textual import events

    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key, char in [("slash", "/"), *((c, c) for c in "deadlock")]:
            app._driver.send_message(events.Key(key, char))  # type: ignore[union-attr]
            await asyncio.sleep(0)  # a little slower than one burst: some keys overtook others
        await wait_for(pilot, lambda: len(main(app).query_one(SearchBar).value) == len("deadlock"))
        assert main(app).query_one(SearchBar).value == "deadlock"
        await pilot.press("slash", "x")  # in the box, "/" is a character
        assert main(app).query_one(SearchBar).value == "deadlock/x"


async def test_typing_waits_for_three_letters(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "d", "e")
        await pilot.pause(0.3)
        await settle(pilot)
        assert view(app).total == 41 and main(app).state.search == ""
        await pilot.press("a")
        await pilot.pause(0.3)
        await settle(pilot)
        assert view(app).total == 2 and main(app).state.search == "dea"


async def test_a_new_query_keeps_the_old_rows_until_its_own_arrive(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        v = view(app)
        v.show(query.Filter(search="deadlock"), query.NEWEST, v.columns)
        assert v.row_count == 41 and v.row_at(0) is not None  # no empty frame while typing
        await settle(pilot)
        assert v.row_count == 2 and v.total == 2


async def test_quick_ranges(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # FIXED_NOW is Friday 2026-11-20 12:00 UTC; 8 records per kind at fixed ages.
        for key, total, label in (("t", 16, "today"), ("w", 26, "this week"),
                                  ("m", 31, "this month"), ("a", 41, "")):
            await pilot.press(key)
            await settle(pilot)
            assert view(app).total == total, key
            if label:
                assert label in screen_text(app).splitlines()[-2]


async def test_clear_filters_in_one_key(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t", "slash", *"upstream", "enter")
        await settle(pilot)
        assert view(app).total == 1
        await pilot.press("c")
        await settle(pilot)
        assert view(app).total == 41
        assert "no filters" in screen_text(app)


# ---------------------------------------------------------------- sorting and time


async def test_sort_keys_cycle_column_and_flip(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")  # AI: time, model, status, tokens, ms, prompt
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert main(app).state.sort == query.Sort("ai_model", True)
        rows = view(app)._pages[0][1]
        assert [r["ai_model"] for r in rows] == sorted((r["ai_model"] for r in rows), reverse=True)
        await pilot.press("s", "s")
        await settle(pilot)
        assert main(app).state.sort.column == "tokens_used"
        assert view(app).row_at(0)["tokens_used"] == 359  # type: ignore[index]
        await pilot.press("S")
        await settle(pilot)
        assert main(app).state.sort == query.Sort("tokens_used", False)
        assert view(app).row_at(0)["tokens_used"] == 100  # type: ignore[index]
        assert "token▲" in screen_text(app)  # the arrow takes the last cell of a full label


async def test_header_click_sorts(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        header = screen_text(app).splitlines()[view(app).region.y]
        x = header.index("tokens")
        await pilot.click("#list", offset=(x, 0))
        await settle(pilot)
        assert main(app).state.sort == query.Sort("tokens_used", True)
        await pilot.click("#list", offset=(x, 0))
        await settle(pilot)
        assert main(app).state.sort == query.Sort("tokens_used", False)


async def test_time_toggle(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "1m ago" in screen_text(app)
        await pilot.press("T")
        await pilot.pause()
        assert "2026-11-20 11:59:00" in screen_text(app)


# ---------------------------------------------------------------- detail


async def test_detail_opens_shows_fields_and_closes(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("2", "down")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        pane = app.screen.query_one(DetailPane)
        assert pane.display
        text = screen_text(app)
        assert "upstream timed out #0" in text
        assert "resolved by ops" in text
        # enter again: the pane fills the screen; escape brings the list back, again closes the pane
        await pilot.press("enter")
        await pilot.pause()
        assert pane.has_focus and main(app).maximized is pane
        await pilot.press("escape")
        await pilot.pause()
        assert pane.display and main(app).maximized is None
        assert view(app).has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert not pane.display
        assert view(app).has_focus


async def test_detail_fills_the_screen_at_80x24(seeded: Path | str) -> None:
    """Below the list at 80x24 the pane has a few lines; full screen shows the
    whole record, stack included, and escape brings the list back."""
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "down")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        pane = app.screen.query_one(DetailPane)
        assert pane.region.height <= 10
        assert "ValueError: bad value" not in screen_text(app)
        await pilot.press("z")
        await pilot.pause()
        assert main(app).maximized is pane and pane.has_focus
        assert pane.region.height == SIZE[1] - 1  # all but the footer
        text = screen_text(app)
        assert "ValueError: bad value" in text and "resolved by ops" in text
        assert "no filters" not in text  # the list and its status lines are gone
        assert "esc Back to the list" in text
        await pilot.press("z")
        await pilot.pause()
        assert main(app).maximized is None and view(app).has_focus and pane.display
        await pilot.press("down", "z")  # the next row, straight to full screen
        await pilot.pause()
        assert main(app).maximized is pane
        assert "upstream timed out #0" not in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert main(app).maximized is None and pane.display and view(app).has_focus
        await pilot.press("tab")  # the list's tab: the next tab, the pane stays open
        await settle(pilot)
        pane.focus()
        await pilot.press("escape")  # beside the list, escape closes the pane
        await pilot.pause()
        assert not pane.display and view(app).has_focus


async def test_detail_is_beside_the_list_when_wide(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        pane = app.screen.query_one(DetailPane)
        lst = view(app)
        assert pane.region.x > lst.region.x and pane.region.y == lst.region.y


async def test_detail_shows_json_pretty_and_redacted(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(app)
        assert '"password": "[REDACTED]"' in text
        assert '"page": 0' in text


async def test_copy_record_as_json(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("y")
        await pilot.pause()
        copied = json.loads(app.clipboard)
        assert copied["message"] == HOSTILE_MESSAGE and copied["type"] == "error"
        assert any("Copied record" in n for n in notes(app))


# ---------------------------------------------------------------- marks and actions


async def test_marks_and_resolve_with_a_note(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        first, second = view(app).row_at(0), view(app).row_at(1)
        assert first and second and not first["is_resolved"]
        await pilot.press("space")  # marks and moves down
        await pilot.press("down", "space")
        await pilot.pause()
        assert view(app).marks == {first["id"], view(app).row_at(2)["id"]}  # type: ignore[index]
        assert "2 marked" in screen_text(app)
        await pilot.press("r")
        await pilot.pause()
        assert type(app.screen).__name__ == "NoteScreen"
        await pilot.press(*"fixed upstream", "enter")
        await settle(pilot)
        store = open_store(seeded)
        try:
            got = store.get(first["id"])
        finally:
            store.close()
        assert got and got["is_resolved"] == 1 and got["resolution"] == "fixed upstream"
        assert not view(app).marks
        assert any("Resolved 2 records" in n for n in notes(app))
        await pilot.press("home", "u")
        await settle(pilot)
        assert count_in_db(seeded, f"select is_resolved from records where id = {first['id']}") == 0


async def test_escape_clears_marks(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space", "space")
        assert len(view(app).marks) == 2
        await pilot.press("escape")
        assert not view(app).marks


async def test_mark_all_matching_then_delete_with_confirm(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        assert len(view(app).marks) == 8
        await pilot.press("x")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmScreen"
        assert "8 records" in screen_text(app)
        await pilot.press("n")  # cancel: nothing deleted
        await settle(pilot)
        assert count_in_db(seeded, "select count(*) from records where type='chat'") == 8
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert count_in_db(seeded, "select count(*) from records where type='chat'") == 0
        assert view(app).total == 0


async def test_mark_all_refuses_more_than_the_limit(seeded: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    from logconsole.screens import record_actions

    monkeypatch.setattr(record_actions, "MARK_LIMIT", 10)
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        assert not view(app).marks
        assert any("too many to mark" in n for n in notes(app))
        await pilot.press("2", "A")  # 9 errors: under the limit
        await settle(pilot)
        assert len(view(app).marks) == 9


async def test_delete_current_row(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        rid = view(app).row_at(0)["id"]  # type: ignore[index]
        await pilot.press("x")
        await pilot.pause()
        assert "1 record?" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert count_in_db(seeded, f"select count(*) from records where id={rid}") == 0
        assert view(app).total == 40


async def test_filter_dialog_narrows_the_tab(seeded: Path | str) -> None:
    from textual.widgets import Select

    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("f")
        await pilot.pause()
        assert type(app.screen).__name__ == "FilterScreen"
        app.screen.query_one("#f-severity", Select).value = "critical"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert view(app).total == 3  # two seeded critical errors and the hostile one
        assert "severity=critical" in screen_text(app)
        await pilot.press("1")  # conditions belong to their tab
        await settle(pilot)
        assert view(app).total == 8
        await pilot.press("2")
        await settle(pilot)
        assert view(app).total == 3
        await pilot.press("c")
        await settle(pilot)
        assert view(app).total == 9


async def test_export_writes_what_is_on_screen(seeded: Path | str, tmp_path: Path) -> None:
    from textual.widgets import Input

    out = tmp_path / "errors.jsonl"
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "slash", *"deadlock", "enter")
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert type(app.screen).__name__ == "ExportScreen"
        app.screen.query_one("#export-path", Input).value = str(out)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await settle(pilot)
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(lines) == 2 and {r["type"] for r in lines} == {"error"}
        assert all("deadlock" in r["message"] for r in lines)
        assert any(f"Exported to {out}" in n for n in notes(app))


async def test_read_only_refuses_changes(seeded: Path | str) -> None:
    app = console(seeded, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        for key in ("r", "u", "x", "d"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, MainScreen)
        assert sum("read-only" in n for n in notes(app)) == 4
        assert count_in_db(seeded, "select count(*) from records") == 41
        assert "read-only" in screen_text(app)


# ---------------------------------------------------------------- live


def _insert(db_path: Path | str, message: str) -> int:
    store = open_store(db_path)
    try:
        return store.insert([normalize({"type": "error", "message": message, "severity": "high"}, now=FIXED_NOW)])[0]
    finally:
        store.close()


async def test_live_arrivals_appear_at_the_top(seeded: Path | str) -> None:
    app = console(seeded, poll_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        new_id = await asyncio.to_thread(_insert, seeded, "fresh arrival")
        await wait_for(pilot, lambda: view(app).total == 42, timeout=1.5)
        await wait_for(pilot, lambda: (view(app).row_at(0) or {}).get("id") == new_id)
        assert "fresh arrival" in screen_text(app)


async def test_arrivals_badge_when_scrolled_away(seeded: Path | str) -> None:
    app = console(seeded, poll_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        top = view(app).row_at(0)
        await asyncio.to_thread(_insert, seeded, "one")
        await wait_for(pilot, lambda: main(app).arrived == 1)
        await asyncio.to_thread(_insert, seeded, "two")
        await wait_for(pilot, lambda: main(app).arrived == 2)
        assert view(app).row_at(0) == top and view(app).cursor == 2
        assert "2 new" in screen_text(app)
        await pilot.press("home", "ctrl+r")
        await settle(pilot)
        assert view(app).total == 43 and main(app).arrived == 0


async def test_pause_keeps_the_view_still(seeded: Path | str) -> None:
    app = console(seeded, poll_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        assert "paused" in screen_text(app)
        await asyncio.to_thread(_insert, seeded, "held back")
        await wait_for(pilot, lambda: main(app).arrived == 1)
        assert view(app).total == 41
        await pilot.press("p")  # resume at the top: the arrivals come in
        await settle(pilot)
        assert view(app).total == 42


# ---------------------------------------------------------------- safety


async def test_markup_and_escape_sequences_are_shown_literally(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(app)
        # the list line and the detail pane both show the text as typed, escapes visible
        assert text.count("[bold red]x[/]") >= 2
        assert "\\e]52;c;ZXZpbA==\\a" in text
        assert "\\e[2J" in text and "over\\rwrite" in text and "back\\bspace" in text
        assert "[red]Injected[/red]" in text
        assert "/x\\e]0;title\\a" in text
        assert "\\x9b31m" in text  # a C1 control inside the stack trace
        for ch in ("\x1b", "\x07", "\r", "\x08", "\x9b"):
            assert ch not in text


# ---------------------------------------------------------------- empty database, help, palette


async def test_empty_database_explains_and_offers_demo(db_path: Path) -> None:
    connect(db_path).close()
    app = console(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "No records yet" in text
        assert "logconsole daemon" in text and "logconsole import" in text and "logger -u" in text
        await pilot.press("d")
        await settle(pilot)
        await settle(pilot)
        added = count_in_db(db_path, "select count(*) from records")
        assert added > 0
        assert view(app).display and view(app).total == added


async def test_help_lists_every_key(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        keys = dict(main(app).key_bindings())
        for key in ("/", "t", "f", "c", "A", "r", "u", "x", "e", "p", "space", "enter", "?", ":", "ctrl+p", "y", "z"):
            assert any(key in k.split(", ") for k in keys), key


async def test_palette_offers_every_action(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(main(app))}
        for binding in MainScreen.BINDINGS:
            if binding.description and binding.action != "app.command_palette":  # type: ignore[union-attr]
                assert binding.description in titles  # type: ignore[union-attr]
        await pilot.press("colon")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"


async def test_ansi_theme(seeded: Path | str) -> None:
    app = console(seeded, ansi=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme in ("ansi-dark", "textual-ansi")  # its name before Textual 8.2.5
        assert app.current_theme.background == "ansi_default"
        assert "41 records" in screen_text(app)


async def test_palette_command_runs_the_action(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        command = next(c for c in app.get_system_commands(main(app)) if c.title == "Today")
        app.call_later(command.callback)
        await settle(pilot)
        assert main(app).state.range_name == "today"


async def test_page_keys_move_through_a_large_list(db_path: Path) -> None:
    from tui_data import bulk_rows

    from logconsole.store.writer import insert_rows

    conn = connect(db_path)
    insert_rows(conn, bulk_rows(5000))
    conn.close()
    app = console(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        v = view(app)
        assert v.total == 5000
        assert len(v._pages) == 1  # never every row
        await pilot.press("end")
        await settle(pilot)
        assert v.cursor == 4999
        last = v.row_at(4999)
        conn = connect(db_path)
        oldest = query.fetch_page(conn, query.Filter(), query.OLDEST, limit=1)[0]
        conn.close()
        assert last is not None and last["id"] == oldest["id"]
        await pilot.press("pageup")
        await settle(pilot)
        assert v.cursor == 4999 - v._body_height
        assert v.row_at(v.cursor) is not None
        await pilot.press("home")
        await settle(pilot)
        assert v.cursor == 0 and v.scroll_offset.y == 0
