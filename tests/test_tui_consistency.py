"""What the record list shows is what the store holds.

Each test drives the real console through Pilot over a real database (a
SQLite file, and a PostgreSQL database: every test runs on both) and then
compares, row by row, the list's rows (:meth:`LogView.row_at`) with what the
store's own page (:meth:`~logconsole.store.interface.Store.page_at`) returns
for the view's own filter and sort on a fresh connection.  The scenarios are the ones where a paged, cached
view can drift from its store: switching tabs while a writer is busy, records
committed between the count and a page read, records whose time is older than
rows already shown (an import, a back-dated syslog line), scrolling deep and
back, resolve, delete, and search.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

import pytest
from tui_data import FIXED_NOW, bulk_rows, settle

from logconsole.ingest import normalize
from logconsole.screens import log_view as log_view_module
from logconsole.screens.app import LogConsoleApp
from logconsole.screens.data import (
    PAGE_SIZE,
    ConnectionPool,
    fetch_page_rows,
    max_id,
    up_to,
)
from logconsole.screens.log_view import LogView
from logconsole.screens.main_screen import MainScreen
from logconsole.store import query
from logconsole.store.interface import Store, open_store
from logconsole.store.query import Filter

SIZE = (80, 24)

BULK = 1200
"""Rows in the test database: 240 errors (more than a page), six pages in All."""


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


Location = Path | str
"""A SQLite file or a PostgreSQL URL (the ``any_db`` fixture)."""


@pytest.fixture
def db(any_db: Location) -> Location:
    store = open_store(any_db)
    try:
        store.insert(bulk_rows(BULK))
    finally:
        store.close()
    return any_db


def console(db_path: Location, **kw: Any) -> LogConsoleApp:
    kw.setdefault("poll_interval", 0)
    return LogConsoleApp(db_path, now=FIXED_NOW, cursor_blink=False, **kw)


def screen(app: LogConsoleApp) -> MainScreen:
    found = app.screen_stack[1]
    assert isinstance(found, MainScreen)
    return found


def view(app: LogConsoleApp) -> LogView:
    return screen(app).view


def stamp(minutes_ago: float) -> str:
    return (FIXED_NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def add(db_path: Location, *, minutes_ago: float = -1.0, kind: str = "error", message: str = "arrival") -> int:
    """One record committed by another connection, as the collector would;
    ``minutes_ago`` > 0 back-dates it below rows already shown (an import)."""
    raw: dict[str, Any] = {"type": kind, "message": message, "created_at": stamp(minutes_ago)}
    if kind == "error":
        raw["severity"] = "high"
    store = open_store(db_path)
    try:
        return store.insert([normalize(raw, now=FIXED_NOW)])[0]
    finally:
        store.close()


def store_ids(db_path: Location, v: LogView, *, offset: int = 0, limit: int = PAGE_SIZE,
              flt: Filter | None = None) -> list[int]:
    store = open_store(db_path, readonly=True)
    try:
        return [r["id"] for r in store.page_at(flt or v.flt, v.sort, limit=limit, offset=offset)]
    finally:
        store.close()


def store_count(db_path: Location, v: LogView, flt: Filter | None = None) -> int:
    store = open_store(db_path, readonly=True)
    try:
        return store.count(flt or v.flt)
    finally:
        store.close()


def shown_ids(v: LogView, start: int, stop: int) -> list[int | None]:
    return [(row or {}).get("id") for row in (v.row_at(i) for i in range(start, stop))]


async def assert_shows_store(pilot: Any, db_path: Location) -> None:
    """Every cached page of the current query equals the store's rows at that place,
    the first page is cached, and the count is the store's count."""
    await settle(pilot)
    v = view(pilot.app)
    assert v.total == store_count(db_path, v), "the count differs from the store"
    pages = sorted(p for p, (gen, _) in v._pages.items() if gen == v.generation)
    assert 0 in pages or v.total == 0, "the first page is not loaded"
    for page in pages:
        start = page * PAGE_SIZE
        stop = min(start + PAGE_SIZE, v.total or 0)
        expected = store_ids(db_path, v, offset=start, limit=stop - start)
        assert shown_ids(v, start, stop) == expected, f"page {page} differs from the store"


async def assert_shows_its_moment(pilot: Any, db_path: Location) -> None:
    """Like :func:`assert_shows_store` while arrivals wait for a reload: the list
    equals the store as it was at the list's snapshot id (rows stored after it
    left out, wherever they sort)."""
    await settle(pilot)
    v = view(pilot.app)
    moment = up_to(v.flt, v.snapshot_id)
    assert v.total == store_count(db_path, v, moment), "the count differs from the store at its moment"
    for page in sorted(p for p, (gen, _) in v._pages.items() if gen == v.generation):
        start = page * PAGE_SIZE
        stop = min(start + PAGE_SIZE, v.total or 0)
        expected = store_ids(db_path, v, offset=start, limit=stop - start, flt=moment)
        assert shown_ids(v, start, stop) == expected, f"page {page} differs from the store at its moment"


async def press(pilot: Any, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Let the app run until ``condition`` holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def caught_up(app: LogConsoleApp, db_path: Location) -> Callable[[], bool]:
    """The list has taken in every arrival (its count is the store's)."""
    return lambda: view(app).total == store_count(db_path, view(app))


@pytest.fixture
def before_count(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """Work to run when a page reaches the list, before the list starts its count:
    a record committed there arrived after the first page was read."""
    hooks: list[Callable[[], None]] = []
    real = LogView.on_log_view_page_loaded

    def on_page_loaded(self: LogView, message: LogView.PageLoaded) -> None:
        while hooks:
            hooks.pop(0)()
        real(self, message)

    monkeypatch.setattr(LogView, "on_log_view_page_loaded", on_page_loaded)
    yield hooks


@pytest.fixture
def before_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """Work to run inside a page read, just before it queries: a record committed
    there arrived after the count."""
    hooks: list[Callable[[], None]] = []
    real = log_view_module.fetch_page_rows

    def fetch_page_rows(*args: Any, **kw: Any) -> list[dict[str, Any]]:
        while hooks:
            hooks.pop(0)()
        return real(*args, **kw)

    monkeypatch.setattr(log_view_module, "fetch_page_rows", fetch_page_rows)
    yield hooks


class Writer:
    """A collector stand-in: commits records from its own connection until stopped,
    every third one back-dated below rows already stored."""

    def __init__(self, db_path: Location) -> None:
        self.db_path = db_path
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.written = 0

    def _run(self) -> None:
        store = open_store(self.db_path)
        kinds = ("error", "system", "activity", "error", "chat")
        try:
            while not self.stop.is_set():
                i = self.written
                minutes = 90.0 + i if i % 3 == 2 else -0.1 * (i + 1)
                raw: dict[str, Any] = {"type": kinds[i % len(kinds)], "message": f"live {i}",
                                       "created_at": stamp(minutes)}
                store.insert([normalize(raw, now=FIXED_NOW)])
                self.written += 1
                self.stop.wait(0.01)
        finally:
            store.close()

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


# ---------------------------------------------------------------- tabs


@pytest.mark.parametrize("keys", ["2", "12", "202", "2102", "5432"])
async def test_switching_tabs_shows_the_store(db: Location, keys: str) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await assert_shows_store(pilot, db)
        for key in keys:
            await pilot.press(key)
        await assert_shows_store(pilot, db)


async def test_switching_tabs_at_once_after_launch_shows_the_store(db: Location) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1", "2")  # before the first tab's page or count is in
        await assert_shows_store(pilot, db)
        assert {r["type"] for r in view(app)._pages[0][1]} == {"error"}


async def test_a_writer_during_launch_and_tab_switches(db: Location) -> None:
    app = console(db, poll_interval=0.1)
    with Writer(db) as writer:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.2)
            await pilot.press("2")
            await pilot.pause(0.2)
            await pilot.press("0", "2")
            await pilot.pause(0.2)
            writer.stop.set()
            writer.thread.join(timeout=5)
            assert writer.written > 10
            await wait_until(pilot, caught_up(app, db))
            await assert_shows_store(pilot, db)


# ---------------------------------------------------------------- arrivals between reads


@pytest.mark.parametrize("minutes_ago", [-1.0, 0.5, 600.0], ids=["newest", "among-first-page", "below-first-page"])
async def test_a_record_committed_between_the_first_page_and_the_count(
    db: Location, before_count: list[Callable[[], None]], minutes_ago: float,
) -> None:
    app = console(db, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before_count.append(lambda: add(db, minutes_ago=minutes_ago))
        await pilot.press("2")
        await settle(pilot)
        await pilot.pause(0.3)  # a few polls
        await assert_shows_store(pilot, db)


@pytest.mark.parametrize("minutes_ago", [-1.0, 0.5, 600.0], ids=["newest", "among-first-page", "below-first-page"])
async def test_a_record_committed_between_the_count_and_a_page_read(
    db: Location, before_page: list[Callable[[], None]], minutes_ago: float,
) -> None:
    app = console(db, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "2")
        before_page.append(lambda: add(db, minutes_ago=minutes_ago))
        await pilot.press("G")  # the last row: a page read from the far end
        await assert_shows_its_moment(pilot, db)
        assert not before_page, "no page was read"
        await pilot.press("g")
        await wait_until(pilot, caught_up(app, db))
        await assert_shows_store(pilot, db)


@pytest.mark.parametrize("minutes_ago", [-1.0, 0.5, 18.0, 600.0],
                         ids=["newest", "among-first-page", "among-second-page", "below"])
async def test_arrivals_while_scrolled_deep_then_refresh(
    db: Location, minutes_ago: float,
) -> None:
    """Scrolled into the second page, records arrive (some back-dated among
    older rows); ``ctrl+r`` reads the view again where the cursor is."""
    app = console(db, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "2")
        for _ in range(13):
            await pilot.press("pagedown")
        await settle(pilot)
        assert view(app).cursor > PAGE_SIZE
        await asyncio.to_thread(add, db, minutes_ago=minutes_ago)
        await asyncio.to_thread(add, db, kind="system")
        await wait_until(pilot, lambda: screen(app).arrived == 1)
        await pilot.press("ctrl+r")
        await assert_shows_store(pilot, db)
        await pilot.press("g")
        await assert_shows_store(pilot, db)


async def test_a_back_dated_arrival_at_the_top_reloads_in_place(db: Location) -> None:
    app = console(db, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "2")
        await asyncio.to_thread(add, db, minutes_ago=30.0)  # an import: ranks inside the first page
        await wait_until(pilot, caught_up(app, db))
        await assert_shows_store(pilot, db)
        new_id = await asyncio.to_thread(add, db)
        await wait_until(pilot, caught_up(app, db))
        await assert_shows_store(pilot, db)
        assert view(app).row_at(0)["id"] == new_id  # type: ignore[index]


def test_a_deep_page_of_a_counted_view_ignores_back_dated_arrivals(db: Location) -> None:
    """Without the screen: a page read after arrivals, bounded by the view's
    snapshot id, is the page read before them, wherever the arrivals sort."""
    flt = Filter(types=("error",))
    store = open_store(db)
    try:
        snapshot = max_id(store)
        total = store.count(flt)
        before = [fetch_page_rows(store, flt, query.NEWEST, p, total=None, snapshot_id=snapshot) for p in (0, 1)]
        for minutes in (-1.0, 0.5, 18.0, 600.0):
            store.insert([normalize({"type": "error", "message": "late", "created_at": stamp(minutes)},
                                    now=FIXED_NOW)])
        for page in (0, 1):
            for known_total in (None, total):
                after = fetch_page_rows(store, flt, query.NEWEST, page, total=known_total, snapshot_id=snapshot)
                assert [r["id"] for r in after] == [r["id"] for r in before[page]], (page, known_total)
    finally:
        store.close()


def test_a_read_left_open_never_pins_the_pool_to_an_old_snapshot(db: Location) -> None:
    pool = ConnectionPool(db)
    try:
        with pool.store() as store:
            begin(store)
            before = max_id(store)
        new_id = add(db)
        with pool.store() as store:
            assert store.reusable()
            assert max_id(store) == new_id > before
    finally:
        pool.close()


def begin(store: Store) -> None:
    """Open a transaction on the store's connection and leave it open (an interrupted read)."""
    store.conn.execute("BEGIN")  # type: ignore[attr-defined]


# ---------------------------------------------------------------- scrolling


@pytest.mark.parametrize("tab", ["0", "2"])
async def test_scrolling_deep_and_back(db: Location, tab: str) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, tab)
        await press(pilot, "G")
        await assert_shows_store(pilot, db)
        for _ in range(15):
            await pilot.press("pageup")
        await assert_shows_store(pilot, db)
        await press(pilot, "g")
        await assert_shows_store(pilot, db)
        for _ in range(15):
            await pilot.press("pagedown")
        await assert_shows_store(pilot, db)


# ---------------------------------------------------------------- actions and search


async def test_resolve_and_delete_keep_the_list_equal_to_the_store(db: Location) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "2")
        await pilot.press("space", "space", "r")
        await pilot.pause()
        await pilot.press(*"done", "enter")
        await assert_shows_store(pilot, db)
        await pilot.press("down", "x")
        await pilot.pause()
        await pilot.press("y")
        await assert_shows_store(pilot, db)
        for _ in range(13):
            await pilot.press("pagedown")
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await assert_shows_store(pilot, db)
        await press(pilot, "0")
        await assert_shows_store(pilot, db)


async def test_search_then_clear(db: Location) -> None:
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "2")
        await pilot.press("slash", *"deadlock", "enter")
        await assert_shows_store(pilot, db)
        assert view(app).flt.search == "deadlock"
        await pilot.press("c")
        await assert_shows_store(pilot, db)
        assert view(app).flt.search is None


# ---------------------------------------------------------------- live arrivals: the view's reference point


def summary_text(app: LogConsoleApp) -> str:
    from textual.widgets import Static

    return str(screen(app).query_one("#summary", Static).render())


def commit_from_a_writer_thread(db_path: Location) -> Callable[[], None]:
    """A hook that commits one record from another thread (and waits for it)."""

    def run() -> None:
        thread = threading.Thread(target=add, args=(db_path,))
        thread.start()
        thread.join(timeout=5)

    return run


@pytest.fixture
def empty_db(any_db: Location) -> Location:
    open_store(any_db).close()
    return any_db


async def test_launch_on_an_empty_database_takes_in_a_record_committed_before_the_first_poll(
    empty_db: Location, before_count: list[Callable[[], None]],
) -> None:
    """The first page is read from an empty database; a writer commits a record
    before the first poll.  The list's reference point is 0, and the poll must
    count that record as an arrival (it used to be taken for "no reference",
    leaving the list empty under a header of ``0 records`` for good)."""
    before_count.append(commit_from_a_writer_thread(empty_db))
    app = console(empty_db, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, caught_up(app, empty_db))
        await assert_shows_store(pilot, empty_db)
        assert view(app).total == 1 and view(app).display
        assert "1 record" in summary_text(app)


async def test_launch_on_an_empty_database_while_a_writer_floods_it(
    empty_db: Location, before_count: list[Callable[[], None]],
) -> None:
    app = console(empty_db, poll_interval=0.1)
    writer = Writer(empty_db)
    before_count.append(writer.thread.start)  # the first page was read empty
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: writer.written > 20)
            writer.stop.set()
            writer.thread.join(timeout=5)
            await wait_until(pilot, caught_up(app, empty_db))
            await assert_shows_store(pilot, empty_db)
            await press(pilot, "2")
            await wait_until(pilot, caught_up(app, empty_db))
            await assert_shows_store(pilot, empty_db)
            await press(pilot, "0")
            await wait_until(pilot, caught_up(app, empty_db))
            await assert_shows_store(pilot, empty_db)
            assert screen(app).arrived == 0
    finally:
        writer.stop.set()


async def test_refresh_while_scrolled_during_arrivals_leaves_no_stale_badge(db: Location) -> None:
    """``ctrl+r`` while scrolled down after arrivals: the reload takes them in,
    so no poll may count them again against the reference point of the list
    before the reload (that put back a ``▲ N new`` badge that never cleared)."""
    app = console(db, poll_interval=0.1)
    with Writer(db) as writer:
        async with app.run_test(size=SIZE) as pilot:
            await press(pilot, "2")
            for _ in range(3):
                await pilot.press("pagedown")
            await wait_until(pilot, lambda: screen(app).arrived > 0)
            writer.stop.set()
            writer.thread.join(timeout=5)
            await pilot.press("ctrl+r")
            await settle(pilot)
            await pilot.pause(0.4)  # a few polls
            assert screen(app).arrived == 0
            assert "new" not in summary_text(app)
            await assert_shows_store(pilot, db)
            await pilot.press("g")
            await pilot.pause(0.4)
            assert screen(app).arrived == 0
            assert "new" not in summary_text(app)
            await assert_shows_store(pilot, db)
