"""Records from several hosts in one console: the host column, the host filter,
and the merged view of two writers (on both stores: a SQLite file and PostgreSQL).

With one host (or records naming none) nothing on screen changes; the snapshot
tests hold that.
"""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input
from tui_data import FIXED_NOW, fill_store, seeded_records, settle

from logconsole.ingest import normalize
from logconsole.screens.app import LogConsoleApp
from logconsole.screens.columns import HOST_WIDTH, layout
from logconsole.screens.filters import FilterScreen
from logconsole.screens.log_view import GUTTER
from logconsole.screens.main_screen import MainScreen
from logconsole.store.interface import open_store
from logconsole.store.query import Condition, Filter

SIZE = (80, 24)
HOSTS = ("web-1", "db-2")


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def console(location: Path | str, **kw: Any) -> LogConsoleApp:
    kw.setdefault("poll_interval", 0)
    return LogConsoleApp(location, now=FIXED_NOW, cursor_blink=False, **kw)


def screen(app: LogConsoleApp) -> MainScreen:
    found = app.screen_stack[1]
    assert isinstance(found, MainScreen)
    return found


@pytest.fixture
def two_hosts(any_db: Path | str) -> Path | str:
    """The seeded records, every other one from the second host."""
    records = seeded_records(4)
    for i, r in enumerate(records):
        r["host"] = HOSTS[i % 2]
    with closing(open_store(any_db)) as store:
        fill_store(store, records)
    return any_db


def header(app: LogConsoleApp) -> str:
    view = screen(app).view
    return " ".join(c.label for c in view.columns)


async def test_several_hosts_add_the_host_column_and_it_fits_80_columns(two_hosts: Path | str) -> None:
    app = console(two_hosts)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.1)
        await settle(pilot)
        s = screen(app)
        assert s.several_hosts and s.hosts == frozenset(HOSTS)
        names = [c.name for c in s.view.columns]
        assert names[:2] == ["created_at", "host"]
        shown = {str(s.view.row_at(i)["host"]) for i in range(4)}  # type: ignore[index]
        assert shown == set(HOSTS)
        for key in "12345":  # every tab keeps the host and most of its message column
            await pilot.press(key)
            await settle(pilot)
            columns = s.view.columns
            widths = layout(columns, s.view.scrollable_content_region.width - GUTTER)
            assert columns[1].name == "host"
            assert sum(widths) + len(widths) - 1 + GUTTER <= SIZE[0], (key, widths)
            assert widths[-1] >= 20 and 8 <= widths[1] <= HOST_WIDTH, (key, widths)


async def test_the_filter_dialog_offers_host_and_narrows_the_list(two_hosts: Path | str) -> None:
    app = console(two_hosts)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.1)
        await settle(pilot)
        total = screen(app).view.total
        await pilot.press("f")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FilterScreen)
        host_box = dialog.query_one("#f-host", Input)
        assert [f.suggest for f in dialog.fields if f.name == "host"] == [tuple(sorted(HOSTS))]
        host_box.value = "db-2"
        await pilot.press("ctrl+s")
        await settle(pilot)
        view = screen(app).view
        assert Condition("host", "=", "db-2") in view.flt.where
        with closing(open_store(two_hosts, readonly=True)) as store:
            expected = store.count(Filter(where=(Condition("host", "=", "db-2"),)))
        assert view.total == expected and 0 < expected < (total or 0)
        assert {view.row_at(i)["host"] for i in range(expected)} == {"db-2"}  # type: ignore[index]


async def test_one_host_adds_no_column(any_db: Path | str) -> None:
    records = seeded_records(2)
    for r in records:
        r["host"] = "only"
    with closing(open_store(any_db)) as store:
        fill_store(store, records)
    app = console(any_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.1)
        await settle(pilot)
        s = screen(app)
        assert s.hosts == frozenset({"only"}) and not s.several_hosts
        assert "host" not in [c.name for c in s.view.columns]
        await pilot.press("f")
        await pilot.pause()
        assert not app.screen.query("#f-host")


async def test_two_writers_one_console_merged_searchable_resolvable(any_db: Path | str) -> None:
    """Done when: two hosts write through their own writers, one console shows
    one merged list, a search finds both hosts' records, and resolving works."""
    with closing(open_store(any_db)) as first, closing(open_store(any_db)) as second:
        for i, (store, host) in enumerate(((first, "web-1"), (second, "db-2")) * 3):
            writer = store.writer()
            writer.commit([normalize({"type": "error", "severity": "high", "error_type": "PaymentError",
                                      "message": f"card declined {host} {i}"}, now=FIXED_NOW, host=host)])
    app = console(any_db, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        s = screen(app)
        assert s.view.total == 6
        await pilot.press("slash", *"declined", "enter")
        await settle(pilot)
        assert s.view.total == 6
        assert {s.view.row_at(i)["host"] for i in range(6)} == {"web-1", "db-2"}  # type: ignore[index]
        await pilot.press("2", "r")
        await pilot.pause()
        await pilot.press(*"fixed", "enter")
        await settle(pilot)
    with closing(open_store(any_db, readonly=True)) as store:
        resolved = store.count(Filter(types=("error",), where=(Condition("is_resolved", "=", 1),)))
    assert resolved == 1


async def test_a_postgresql_server_dropping_the_console_s_sessions_is_one_line_then_passes(pg_url: str) -> None:
    """The server ends every session of the console (a restart, a failover): the
    next read says so in one line, and the one after reconnects."""
    import psycopg

    with closing(open_store(pg_url)) as store:
        fill_store(store, seeded_records(2))
    app = console(pg_url)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        total = screen(app).view.total
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        app.clear_notifications()
        await pilot.press("ctrl+r")
        await settle(pilot)
        said = [str(n.message) for n in app._notifications]
        assert said and all(len(line.splitlines()) == 1 and "Traceback" not in line for line in said), said
        assert any(line.startswith("cannot ") and "postgresql://" in line for line in said), said
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert screen(app).view.total == total


async def test_the_detail_pane_shows_the_host(two_hosts: Path | str) -> None:
    from tui_data import screen_text

    from logconsole.screens.detail import DetailPane

    app = console(two_hosts)
    async with app.run_test(size=(100, 60)) as pilot:
        await settle(pilot)
        row = screen(app).view.row_at(0)
        assert row is not None
        await pilot.press("enter", "enter")  # open the pane, then fill the screen with it
        await settle(pilot)
        assert app.screen.query_one(DetailPane).display
        lines = [line.strip() for line in screen_text(app).splitlines()]
        assert any(line.split() == ["host", row["host"]] for line in lines), lines
