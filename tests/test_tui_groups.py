"""The Errors tab's group list, driven through Pilot over a real store: a SQLite file,
and a PostgreSQL database for every test on the seeded records."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_tui_app import console, main
from tui_data import FIXED_NOW, fill, fill_store, make_store, screen_text, settle

from logconsole.screens.app import LogConsoleApp
from logconsole.screens.group_view import GroupView, sparkline
from logconsole.screens.log_view import LogView
from logconsole.store import group_query as G
from logconsole.store.db import connect
from logconsole.store.interface import open_store

SIZE = (100, 24)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def seeded(any_db: Path | str) -> Path | str:
    return make_store(any_db)


def groups(app: LogConsoleApp) -> GroupView:
    return main(app).query_one("#groups", GroupView)


def records(app: LogConsoleApp) -> LogView:
    return main(app).query_one("#list", LogView)


def rows(db_path: Path | str, sql: str, *params: object) -> list[tuple[object, ...]]:
    """What SQL both databases speak reads on the store's own connection (``?`` placeholders)."""
    store = open_store(db_path)
    try:
        if store.backend == "postgresql":
            sql = sql.replace("?", "%s")
        return [tuple(r) for r in store.conn.execute(sql, params).fetchall()]  # type: ignore[attr-defined]
    finally:
        store.close()


def add_records(db_path: Path | str, records: list[dict[str, object]]) -> None:
    """Records committed by the store's writer, as a collector commits them."""
    store = open_store(db_path)
    try:
        fill_store(store, records)
    finally:
        store.close()


def group_of(db_path: Path, error_type: str) -> int:
    return int(rows(db_path, "SELECT id FROM error_groups WHERE error_type = ?", error_type)[0][0])


async def show_groups(app: LogConsoleApp, pilot: object) -> GroupView:
    await pilot.press("o")  # type: ignore[attr-defined]
    await settle(pilot)
    view = groups(app)
    assert view.display and not records(app).display and main(app).state.tab == "error"
    return view


async def test_o_switches_the_errors_tab_between_occurrences_and_groups(seeded: Path | str) -> None:
    expected = int(rows(seeded, "SELECT count(*) FROM error_groups WHERE status != 'ignored'")[0][0])
    assert 1 < expected < int(rows(seeded, "SELECT count(*) FROM records WHERE type = 'error'")[0][0])
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = await show_groups(app, pilot)
        assert view.total == expected
        text = screen_text(app)
        assert f"{expected} groups" in text
        opened = int(rows(seeded, "SELECT count(*) FROM error_groups WHERE status = 'open'")[0][0])
        assert f"Errors {opened} open ·" in text  # the headline counts open groups, not records
        assert "TimeoutError" in text and "count" in text and "24h" in text
        await pilot.press("o")
        await settle(pilot)
        assert records(app).display and not groups(app).display
        assert "records" in screen_text(app)


async def test_resolving_a_group_resolves_its_occurrences_and_a_new_one_regresses_it(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = await show_groups(app, pilot)
        row = view.current_row
        assert row is not None
        gid = int(row["id"])
        assert rows(seeded, "SELECT count(*) FROM records WHERE group_id = ? AND NOT is_resolved", gid)[0][0] > 0
        await pilot.press("r")
        await pilot.pause()
        assert type(app.screen).__name__ == "NoteScreen"
        await pilot.press(*"deployed fix", "enter")
        await settle(pilot)
        assert rows(seeded, "SELECT count(*) FROM records WHERE group_id = ? AND NOT is_resolved", gid)[0][0] == 0
        assert rows(seeded, "SELECT count(*) FROM records WHERE group_id = ? AND resolution = 'deployed fix'",
                    gid)[0][0] > 0
        assert rows(seeded, "SELECT status, note FROM error_groups WHERE id = ?", gid) == [("resolved", "deployed fix")]
        assert view.current_row is not None and view.current_row["status"] == "resolved"

        # A new occurrence (after the resolution, which took the real clock),
        # committed by the store's writer on another thread.
        ((message, stack),) = rows(seeded, "SELECT message, stack FROM records WHERE id = ?", row["latest_id"])
        occurrence = {"type": "error", "severity": row["severity"], "error_type": row["error_type"],
                      "message": message, "stack": stack, "created_at": datetime.now(UTC).isoformat()}

        writer = threading.Thread(target=add_records, args=(seeded, [occurrence]))
        writer.start()
        writer.join()
        assert rows(seeded, "SELECT status FROM error_groups WHERE id = ?", gid) == [("regressed",)]
        main(app)._poll()
        await settle(pilot)
        await settle(pilot)
        shown = next(view.row_at(i) for i in range(view.row_count) if view.row_at(i)["id"] == gid)  # type: ignore[index]
        assert shown["status"] == "regressed"
        assert "regressed" in screen_text(app)


async def test_a_paused_group_list_takes_what_arrived_on_resume(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = await show_groups(app, pilot)
        before = view.total
        await pilot.press("p")
        add_records(seeded, [{"type": "error", "error_type": "BrandNewError", "message": "arrived while paused",
                              "created_at": datetime.now(UTC).isoformat()}])
        for _ in range(2):  # paused: the ticks leave the list as it is
            main(app)._tick()
            await settle(pilot)
        assert view.total == before and "BrandNewError" not in screen_text(app)
        await pilot.press("p")
        main(app)._tick()
        await settle(pilot)
        await settle(pilot)
        assert view.total == before + 1 and "BrandNewError" in screen_text(app)


async def test_enter_on_a_group_lists_its_occurrences_under_a_filter_that_c_clears(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = await show_groups(app, pilot)
        row = view.current_row
        assert row is not None
        await pilot.press("enter")
        await settle(pilot)
        listed = records(app)
        assert listed.display and not view.display
        expected = rows(seeded, "SELECT count(*) FROM records WHERE group_id = ?", row["id"])[0][0]
        assert listed.total == expected
        assert listed.row_at(0) is not None and listed.row_at(0)["id"] == row["latest_id"]  # type: ignore[index]
        assert f"group_id={row['id']}" in screen_text(app)
        detail = main(app).detail
        assert detail.display and detail.row is not None and detail.row["id"] == row["latest_id"]
        await pilot.press("escape", "o")  # back to the groups: the group_id filter is not theirs
        await settle(pilot)
        assert view.display and view.total == rows(seeded, "SELECT count(*) FROM error_groups")[0][0]
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert listed.total == rows(seeded, "SELECT count(*) FROM records WHERE type = 'error'")[0][0]


async def test_marked_groups_are_ignored_with_a_note_and_leave_the_list(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = await show_groups(app, pilot)
        before = view.total
        assert before is not None and before >= 2
        first, second = view.row_at(0), view.row_at(1)
        assert first and second
        await pilot.press("space", "space")
        assert view.marks == {first["id"], second["id"]}
        await pilot.press("i")
        await pilot.pause()
        assert type(app.screen).__name__ == "NoteScreen"
        await pilot.press(*"known noise", "enter")
        await settle(pilot)
        assert rows(seeded, "SELECT DISTINCT status, note FROM error_groups WHERE id IN (?, ?)",
                    first["id"], second["id"]) == [("ignored", "known noise")]
        assert view.total == before - 2 and not view.marks
        await pilot.press("A")
        await settle(pilot)
        assert len(view.marks) == before - 2


async def test_sort_keys_sort_groups(seeded: Path | str) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = await show_groups(app, pilot)
        await pilot.press("s")  # last seen -> first seen
        await settle(pilot)
        assert main(app).group_sort == G.GroupSort("first_seen", True)
        await pilot.press("s", "S")  # count, ascending
        await settle(pilot)
        counts = [view.row_at(i)["count"] for i in range(view.row_count)]  # type: ignore[index]
        assert counts == sorted(counts)


async def test_read_only_console_refuses_group_actions(seeded: Path | str) -> None:
    app = console(seeded, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await show_groups(app, pilot)
        for key in ("r", "u", "i", "x"):
            await pilot.press(key)
            await settle(pilot)
            assert type(app.screen).__name__ == "MainScreen"
    assert rows(seeded, "SELECT count(*) FROM error_groups WHERE status_by IS NOT NULL")[0][0] == 0


def test_sparkline_scales_to_the_busiest_hour() -> None:
    hours = [0] * 22 + [1, 7]
    assert sparkline(hours) == " " * 11 + "█"
    assert sparkline([1, 0, 2, 0] + [0] * 20, width=12)[:2] == "▄█"
    assert sparkline([0] * 24) == " " * 12
    # narrower: each bar sums more hours, the newest hours always in the last bar
    assert sparkline(hours, width=8) == " " * 7 + "█"
    assert sparkline([4] + [0] * 22 + [1], width=5) == "█   ▂"


def test_hourly_counts_count_a_page_of_groups_per_hour(db_path: Path) -> None:
    conn = connect(db_path)
    try:
        fill(conn, [
            {"type": "error", "error_type": "E", "message": "m",
             "created_at": (FIXED_NOW - timedelta(minutes=m)).isoformat()}
            for m in (1, 2, 61, 60 * 30)
        ])
        (gid,) = [int(r[0]) for r in conn.execute("SELECT id FROM error_groups")]
        counts = G.hourly_counts(conn, [gid], FIXED_NOW)
    finally:
        conn.close()
    assert len(counts[gid]) == G.TREND_HOURS
    # FIXED_NOW is 12:00: its hour is the last, 11:58 and 11:59 the one before, 10:59 the one before that.
    assert counts[gid][-3:] == [1, 2, 0] and sum(counts[gid]) == 3


async def test_export_writes_the_groups_on_screen(seeded: Path | str, tmp_path: Path) -> None:
    out = tmp_path / "groups.jsonl"
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = await show_groups(app, pilot)
        await pilot.press("e")
        await settle(pilot)
        assert type(app.screen).__name__ == "ExportScreen"
        assert f"{view.total} groups in the current view" in screen_text(app)
        box = app.screen.query_one("#export-path")
        box.value = str(out)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "MainScreen"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in lines] == [view.row_at(i)["id"] for i in range(view.row_count)]  # type: ignore[index]
    assert {"status", "count", "message", "users_approx"} <= set(lines[0])


async def test_an_idle_group_list_writes_nothing_and_an_occurrence_repaints_only_its_lines(seeded: Path | str) -> None:
    from test_tui_quiet import console as recorded_console
    from test_tui_quiet import quiet, wait_until

    app, out = recorded_console(seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        view = await show_groups(app, pilot)
        await quiet(pilot, out)  # a dozen ticks: clock and polls
        assert out.bytes == 0, f"an idle group list wrote {out.bytes} bytes on lines {sorted(out.lines)}"
        reference = view.reference
        last = view.row_at(view.row_count - 1)
        assert last is not None and reference is not None
        ((message, stack),) = rows(seeded, "SELECT message, stack FROM records WHERE id = ?", last["latest_id"])
        add_records(seeded, [{"type": "error", "severity": last["severity"], "error_type": last["error_type"],
                              "message": message, "stack": stack, "created_at": FIXED_NOW.isoformat()}])
        await wait_until(pilot, lambda: view.reference is not None and view.reference > reference)
        await settle(pilot)
        moved = view.row_at(0)
        assert moved is not None and moved["id"] == last["id"] and moved["count"] == last["count"] + 1
        assert out.full_updates == 0 and out.lines  # the rows that changed, not the screen


async def test_the_demo_database_shows_its_errors_as_a_few_dozen_groups(db_path: Path) -> None:
    from logconsole import demo

    conn = connect(db_path)
    try:
        demo.fill(conn, now=FIXED_NOW)
        errors = conn.execute("SELECT count(*) FROM records WHERE type = 'error'").fetchone()[0]
        stored = G.count_groups(conn)
    finally:
        conn.close()
    app = console(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = await show_groups(app, pilot)
        assert view.total == stored and 20 <= stored <= 60 and errors > 10 * stored
        assert f"{stored} groups" in screen_text(app)
        await pilot.press("/", *"timeout", "enter")
        await settle(pilot)
        assert view.total is not None and 0 < view.total < stored
        shown = [view.row_at(i) for i in range(view.row_count)]
        assert all(r and "timeout" in f"{r['error_type']} {r['message']} {r['fingerprint']}".lower() for r in shown)
