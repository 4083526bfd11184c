"""The console's dialogs and panels, driven through Pilot in a small host app."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Input, Select, Sparkline, Static

from logconsole import kinds as K
from logconsole.screens.confirm import ConfirmScreen
from logconsole.screens.export import ExportScreen, check_target, default_path, with_format, write_export
from logconsole.screens.filters import FilterScreen, form_fields, prefill, shown_time
from logconsole.screens.help import HelpScreen
from logconsole.screens.note import NOTE_REQUIRED, NoteScreen
from logconsole.screens.panels import AIPanel, SystemPanel, level_of
from logconsole.store import db
from logconsole.store.query import NEWEST, OLDEST, Condition, Filter, make_filter, parse_condition
from logconsole.store.stats import ModelStats
from tui_data import FIXED_NOW, HOSTILE_MESSAGE, make_db, screen_text

SIZE = (80, 24)


class Host(App[None]):
    """Pushes one dialog at start and records what it dismissed with."""

    def __init__(self, make: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self.make = make
        self.results: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.make(), self.results.append)


async def settle(pilot: Any) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


# ---------------------------------------------------------------- confirm


@pytest.mark.parametrize(("keys", "expected"), [(["y"], True), (["n"], False), (["escape"], False), (["enter"], False)])
async def test_confirm_keys(keys: list[str], expected: bool) -> None:
    app = Host(lambda: ConfirmScreen("Delete", "Delete 1,234 records?"))
    async with app.run_test(size=SIZE) as pilot:
        body = app.screen.query_one("#confirm-body", Static)
        assert "Delete 1,234 records?" in str(body.render())
        await pilot.press(*keys)
        await pilot.pause()
        assert app.results == [expected]
        assert not isinstance(app.screen, ConfirmScreen)


async def test_confirm_buttons() -> None:
    app = Host(lambda: ConfirmScreen("Delete", "Delete 2 records?"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#confirm-yes")
        await pilot.pause()
    assert app.results == [True]


async def test_confirm_body_is_not_markup() -> None:
    app = Host(lambda: ConfirmScreen("[b]x[/b]", HOSTILE_MESSAGE))
    async with app.run_test(size=SIZE):
        shown = str(app.screen.query_one("#confirm-body", Static).render())
        assert "[bold red]x[/]" in shown


# ---------------------------------------------------------------- note


async def test_note_requires_text_then_submits() -> None:
    app = Host(lambda: NoteScreen(3))
    async with app.run_test(size=SIZE) as pilot:
        assert app.screen.query_one(".dialog").border_title == "Resolve 3 errors"
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == []
        assert NOTE_REQUIRED in str(app.screen.query_one("#note-error", Static).render())
        await pilot.press(*"  fixed by retry ")
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == ["fixed by retry"]


async def test_note_escape_cancels() -> None:
    app = Host(lambda: NoteScreen(1))
    async with app.run_test(size=SIZE) as pilot:
        assert app.screen.query_one(".dialog").border_title == "Resolve 1 error"
        await pilot.press("a", "escape")
        await pilot.pause()
    assert app.results == [None]


# ---------------------------------------------------------------- filters


def test_prefill_shows_what_the_form_can_and_keeps_the_rest() -> None:
    fields = form_fields(K.ERROR)
    where = (
        parse_condition("severity=critical", ("error",)),
        parse_condition("is_resolved=false", ("error",)),
        parse_condition("endpoint~/api", ("error",)),
        parse_condition("status_code>=500", ("error",)),
        parse_condition("severity=high", ("error",)),  # the drop-down already shows one
        parse_condition("extra.host=web1", ("error",)),
    )
    values, rest = prefill(fields, where)
    assert values == {"f-severity": "critical", "f-is_resolved": "no", "f-endpoint": "~/api", "f-status_code-min": "500"}
    assert [c.describe() for c in rest] == ["severity=high", "extra.host=web1"]


def test_every_kind_has_a_form_from_its_fields() -> None:
    names = {k: [f.name for f in form_fields(K.KINDS[k])] for k in K.KINDS}
    assert names["system"] == ["status", "event_type", "requires_action"]
    assert names["error"][0] == "severity" and "is_resolved" in names["error"]
    for kind in K.KINDS.values():  # the fields marked ``filter`` in kinds, and only those
        assert set(names[kind.name]) == {f.name for f in kind.fields if f.filter}
    choices = {f.name: f.choices for f in form_fields(K.ACTIVITY)}
    assert choices["level"] == K.LEVELS and choices["method"] == K.METHODS
    labels = {f.name: f.label for f in form_fields(K.ERROR)}
    assert labels["is_resolved"] == "resolved" and labels["status_code"] == "status code"
    # every kind at once: the filter fields several kinds share
    assert [f.name for f in form_fields(None)] == ["user_id", "endpoint", "method", "status_code", "conversation_id"]


def test_the_event_type_suggestion_is_what_the_collector_writes() -> None:
    from logconsole.collectors.health import HealthSampler
    from logconsole.config import Settings

    written = HealthSampler(Settings(disk_paths=("/",))).sample()["event_type"]
    event = next(f for f in form_fields(K.SYSTEM) if f.name == "event_type")
    assert written in event.suggest


async def _select(pilot: Any, wid: str, value: str) -> None:
    pilot.app.screen.query_one(f"#{wid}", Select).value = value
    await pilot.pause()


async def test_filter_form_builds_conditions_and_keeps_the_rest() -> None:
    current = Filter(types=("error",), since="2026-11-20T00:00:00.000Z", search="timeout",
                     where=(Condition("severity", "=", "low"),))
    app = Host(lambda: FilterScreen(K.ERROR, current))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert screen.query_one("#f-severity", Select).value == "low"
        assert screen.focused is screen.query_one("#f-severity", Select)
        await _select(pilot, "f-severity", "critical")
        await _select(pilot, "f-is_resolved", "no")
        await _select(pilot, "f-method", "POST")
        screen.query_one("#f-status_code-min", Input).value = "500"
        screen.query_one("#f-status_code-max", Input).value = "599"
        screen.query_one("#f-error_type", Input).value = "~Timeout"
        screen.query_one("#f-user_id").focus()
        await pilot.press(*"u1", "enter")
        await pilot.pause()
    (result,) = app.results
    assert result == current.with_(where=(
        Condition("severity", "=", "critical"),
        Condition("error_type", "~", "Timeout"),
        Condition("method", "=", "POST"),
        Condition("status_code", ">=", 500),
        Condition("status_code", "<=", 599),
        Condition("user_id", "=", "u1"),
        Condition("is_resolved", "=", 0),
    ))
    assert (result.since, result.search, result.types) == (current.since, "timeout", ("error",))


async def test_filter_bad_value_is_explained_inline() -> None:
    app = Host(lambda: FilterScreen(K.ACTIVITY, Filter(types=("activity",))))
    async with app.run_test(size=SIZE) as pilot:
        box = app.screen.query_one("#f-status_code-max", Input)
        box.value = "lots"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        error = str(app.screen.query_one("#filter-error", Static).render())
        assert error == "status code max: `status_code` must be an integer, got 'lots'"
        assert app.screen.focused is box
        box.value = "399"
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [Filter(types=("activity",), where=(Condition("status_code", "<=", 399),))]


async def test_filter_clear_and_escape() -> None:
    current = make_filter(types=["system"], where=["status=critical", "metrics.cpu_usage>90"])
    app = Host(lambda: FilterScreen(K.SYSTEM, current))
    async with app.run_test(size=SIZE) as pilot:
        kept = str(app.screen.query_one("#filter-kept", Static).render())
        assert "metrics.cpu_usage>90" in kept
        await pilot.click("#filter-clear")
        await pilot.pause()
        assert app.screen.query_one("#f-status", Select).value is Select.NULL
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == [current.with_(where=())]

    app = Host(lambda: FilterScreen(K.SYSTEM, current))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


async def test_filter_result_runs_against_the_store(tmp_path: Path) -> None:
    path = make_db(tmp_path / "logs.db")
    app = Host(lambda: FilterScreen(K.CHAT, Filter(types=("chat",))))
    async with app.run_test(size=SIZE) as pilot:
        await _select(pilot, "f-is_read", "no")
        app.screen.query_one("#f-sender_id", Input).value = "u2"
        await pilot.press("ctrl+s")
        await pilot.pause()
    (flt,) = app.results
    conn = db.connect(path)
    try:
        from logconsole.store.query import iter_rows
        rows = list(iter_rows(conn, flt))
    finally:
        conn.close()
    assert rows and all(r["sender_id"] == "u2" and r["is_read"] == 0 and r["type"] == "chat" for r in rows)


# ---------------------------------------------------------------- export


def test_export_path_helpers(tmp_path: Path) -> None:
    assert default_path(Filter(types=("error",)), "jsonl", FIXED_NOW) == "./logconsole-errors-20261120-1200.jsonl"
    assert default_path(Filter(), "csv", FIXED_NOW) == "./logconsole-records-20261120-1200.csv"
    assert with_format("./a.jsonl", "csv") == "./a.csv"
    assert with_format("./a.txt", "csv") == "./a.txt"
    with pytest.raises(ValueError, match="does not exist"):
        check_target(str(tmp_path / "nope" / "x.csv"))
    with pytest.raises(ValueError, match="is a folder"):
        check_target(str(tmp_path))
    with pytest.raises(ValueError, match="Type the path"):
        check_target("  ")


async def _run_export(db_path: Path, flt: Filter, keys: list[str], path: str | None = None, sort=NEWEST) -> Host:  # type: ignore[no-untyped-def]
    app = Host(lambda: ExportScreen(db_path, flt, sort, now=FIXED_NOW))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        if path is not None:
            app.screen.query_one("#export-path", Input).value = path
        await pilot.press(*keys)
        await settle(pilot)
        app.last_error = str(app.screen.query_one("#export-error", Static).render()) if isinstance(app.screen, ExportScreen) else ""  # type: ignore[attr-defined]
    return app


async def test_export_jsonl_writes_the_view(tmp_path: Path) -> None:
    path = make_db(tmp_path / "logs.db")
    out = tmp_path / "errors.jsonl"
    flt = make_filter(types=["error"], where=["is_resolved=false"])
    app = await _run_export(path, flt, ["enter"], str(out))
    assert app.results == [out]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5 and {r["type"] for r in records} == {"error"}
    assert all(r["is_resolved"] is False for r in records)
    assert [r["created_at"] for r in records] == sorted((r["created_at"] for r in records), reverse=True)
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.part"))


async def test_export_csv_by_format_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_db(tmp_path / "logs.db")
    monkeypatch.chdir(tmp_path)
    flt = Filter(types=("ai",))
    app = Host(lambda: ExportScreen(path, flt, OLDEST, now=FIXED_NOW))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert "8 records" in str(screen.query_one("#export-count", Static).render())
        assert screen.query_one("#export-path", Input).value == "./logconsole-ai-20261120-1200.jsonl"
        await pilot.click("#fmt-csv")
        await pilot.pause()
        assert screen.query_one("#export-path", Input).value == "./logconsole-ai-20261120-1200.csv"
        await pilot.click("#export-ok")
        await settle(pilot)
    out = tmp_path / "logconsole-ai-20261120-1200.csv"
    assert app.results == [out]
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8 and rows[0]["created_at"] < rows[-1]["created_at"]
    assert {r["ai_model"] for r in rows} == {"gpt-4o", "claude-3", "llama-3"}


async def test_the_chosen_format_shows_without_colour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With NO_COLOR the radio buttons' colours are gone: the chosen format is
    told apart by its mark's shape, in the text itself."""
    monkeypatch.setenv("NO_COLOR", "1")
    path = make_db(tmp_path / "logs.db")
    app = Host(lambda: ExportScreen(path, Filter(), NEWEST, now=FIXED_NOW))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.no_color

        def marks() -> dict[str, str]:
            line = next(row for row in screen_text(app).splitlines() if "jsonl" in row and "csv" in row)
            return {fmt: line[line.index(f"▌ {fmt} ") - 1] for fmt in ("jsonl", "json", "csv")}

        assert marks() == {"jsonl": "●", "json": "○", "csv": "○"}
        await pilot.click("#fmt-csv")
        await pilot.pause()
        assert marks() == {"jsonl": "○", "json": "○", "csv": "●"}


async def test_export_asks_before_overwriting(tmp_path: Path) -> None:
    path = make_db(tmp_path / "logs.db")
    out = tmp_path / "old.json"
    out.write_text("keep me")
    app = await _run_export(path, Filter(types=("system",)), ["enter", "n"], str(out))
    assert app.results == [] and out.read_text() == "keep me"
    app = await _run_export(path, Filter(types=("system",)), ["enter", "y"], str(out))
    assert app.results == [out]
    assert len(json.loads(out.read_text())) == 8  # the typed .json suffix chose the format

async def test_export_errors_are_shown_not_raised(tmp_path: Path) -> None:
    path = make_db(tmp_path / "logs.db")
    app = await _run_export(path, Filter(), ["enter"], str(tmp_path / "missing" / "x.jsonl"))
    assert app.results == [] and "does not exist" in app.last_error  # type: ignore[attr-defined]
    app = await _run_export(path, Filter(), ["enter"], str(tmp_path / ("x" * 300 + ".jsonl")))
    assert app.results == [] and "File name too long" in app.last_error  # type: ignore[attr-defined]
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        app = await _run_export(path, Filter(), ["enter"], str(locked / "x.jsonl"))
        assert app.results == [] and "permission denied" in app.last_error  # type: ignore[attr-defined]


async def test_export_failure_in_the_worker_is_shown(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    out = tmp_path / "x.jsonl"
    app = await _run_export(bad, Filter(), ["enter"], str(out))
    assert app.results == [] and app.last_error.startswith("Export failed: cannot open")  # type: ignore[attr-defined]
    assert not out.exists() and not list(tmp_path.glob(".*.part"))


def test_write_export_stopped_midway_leaves_nothing(tmp_path: Path) -> None:
    path = make_db(tmp_path / "logs.db", n_per_kind=300)  # 1,500 records: progress is called at 1,000
    out = tmp_path / "x.jsonl"

    class Stop(Exception):
        pass

    def stop(done: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        write_export(path, Filter(), NEWEST, out, "jsonl", stop)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("logs.db")) == []
    seen: list[int] = []
    assert write_export(path, Filter(), NEWEST, out, "jsonl", seen.append) == 1500
    assert seen == [1000, 1500] and len(out.read_text().splitlines()) == 1500


async def test_export_escape_cancels(tmp_path: Path) -> None:
    path = make_db(tmp_path / "logs.db")
    app = await _run_export(path, Filter(), ["escape"])
    assert app.results == [None]


# ---------------------------------------------------------------- help


async def test_help_lists_every_key_and_closes() -> None:
    keys = [("q", "quit"), ("/", "search [b]bold[/b]"), ("?", "this help")]
    for close in ("escape", "q", "question_mark"):
        app = Host(lambda: HelpScreen(keys))
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one(DataTable)
            assert table.row_count == 3
            assert str(table.get_row_at(1)[1]) == "search [b]bold[/b]"
            await pilot.press(close)
            await pilot.pause()
        assert app.results == [None]


# ---------------------------------------------------------------- panels


class PanelHost(App[None]):
    def compose(self) -> ComposeResult:
        yield SystemPanel()
        yield AIPanel()


def test_threshold_levels() -> None:
    assert [level_of(v, 70, 90) for v in (None, 10, 70, 89.9, 90, 100)] == ["ok", "ok", "warning", "warning", "critical", "critical"]


async def test_system_panel_shows_series_and_thresholds() -> None:
    app = PanelHost()
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(SystemPanel)
        assert "no samples" in str(panel.query_one("#value-cpu_usage", Static).render())
        panel.set_data({"cpu_usage": [10, 95, 40], "memory_usage": [50, 75], "disk_usage": [20]})
        await pilot.pause()
        assert panel.query_one("#spark-cpu_usage", Sparkline).data == [10, 95, 40]
        assert panel.query_one("#row-cpu_usage").has_class("-critical")
        assert panel.query_one("#row-memory_usage").has_class("-warning")
        assert panel.query_one("#row-disk_usage").has_class("-ok")
        assert str(panel.query_one("#value-cpu_usage", Static).render()) == "now  40%  max  95%"
        assert panel.region.height == 3


async def test_ai_panel_rows_are_plain_text() -> None:
    app = PanelHost()
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(AIPanel)
        assert panel.query_one("#ai-empty").display
        panel.set_data([
            ModelStats("gpt-4o", 1200, 345678, 812.0, 2400.0, 0.125),
            ModelStats("[red]evil\x1b[2J", 1, 0, None, None, 0.0),
        ])
        await pilot.pause()
        table = panel.query_one(DataTable)
        assert [str(c) for c in table.get_row_at(0)] == ["gpt-4o", "1,200", "345,678", "812 ms", "2,400 ms", "12.5%"]
        assert [str(c) for c in table.get_row_at(1)] == ["[red]evil\\e[2J", "1", "0", "–", "–", "0.0%"]
        assert not panel.query_one("#ai-empty").display


async def test_filter_free_text_offers_known_values() -> None:
    app = Host(lambda: FilterScreen(K.ACTIVITY, Filter(types=("activity",))))
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#f-category", Input).focus()
        await pilot.press(*"pay")
        await pilot.pause()
        await pilot.press("right", "enter")
        await pilot.pause()
    assert app.results == [Filter(types=("activity",), where=(Condition("category", "=", "payment"),))]


# ---------------------------------------------------------------- filter: time boxes


async def test_filter_time_boxes_read_what_people_type() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    current = Filter(types=("error",), since="2026-11-20T00:00:00.000Z")
    app = Host(lambda: FilterScreen(K.ERROR, current, clock=lambda: now))
    async with app.run_test(size=SIZE) as pilot:
        since = app.screen.query_one("#f-since", Input)
        assert since.value == shown_time("2026-11-20T00:00:00.000Z")
        since.value = "2 hours"
        app.screen.query_one("#f-until", Input).value = "30 minutes ago"
        await pilot.press("ctrl+s")
        await pilot.pause()
    (result,) = app.results
    assert (result.since, result.until) == ("2026-11-20T10:00:00.000000Z", "2026-11-20T11:30:00.000000Z")

    app = Host(lambda: FilterScreen(K.ERROR, current, clock=lambda: now))
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#f-since", Input).value = "2026-11-19T08:00:00+02:00"
        app.screen.query_one("#f-until", Input).value = "last week"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        error = str(app.screen.query_one("#filter-error", Static).render())
        assert error == "until: must be after since"
        app.screen.query_one("#f-until", Input).value = ""
        await pilot.press("ctrl+s")
        await pilot.pause()
    (result,) = app.results
    assert (result.since, result.until) == ("2026-11-19T06:00:00.000000Z", None)


async def test_filter_unreadable_time_is_explained_inline() -> None:
    app = Host(lambda: FilterScreen(K.ACTIVITY, Filter(types=("activity",))))
    async with app.run_test(size=SIZE) as pilot:
        box = app.screen.query_one("#f-since", Input)
        box.value = "a fortnight"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        error = str(app.screen.query_one("#filter-error", Static).render())
        assert error.startswith("since: cannot read time 'a fortnight': use ISO 8601")
        assert app.screen.focused is box
