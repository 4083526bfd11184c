"""Readers of a PostgreSQL store miss no batch that commits late.

Several collectors take their batches' ids from one sequence before they
commit, so a batch can commit after another host's batch with higher ids.
A reader that starts its moment at the newest id would pass over the late
batch for good; starting it at the commit horizon waits for it instead.

Each test holds an error group's row, so writer A, having taken its id,
waits inside its batch while writer B commits a chat message with a later id.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

import psycopg
import pytest

from collector_support import wait_for
from test_pg_collector import fetch
from tui_data import FIXED_NOW, settle

from logconsole.ingest import normalize
from logconsole.screens.app import LogConsoleApp
from logconsole.screens.main_screen import MainScreen
from logconsole.store.interface import open_store
from logconsole.store.postgres import alerts as pg_alerts
from logconsole.store.postgres.follow import PgFollower
from logconsole.store.query import Filter
from logconsole.store.url import parse_store_url


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers wait long enough for the late batch on a loaded machine."""
    monkeypatch.setattr(pg_alerts, "READER_WAIT", 20.0)


@contextmanager
def late_batch(pg_url: str) -> Iterator[tuple[threading.Event, int]]:
    """Writer A's error in flight with a lower id than writer B's committed chat
    message (yielded: the event that lets A commit, and B's id)."""
    with closing(open_store(pg_url)) as setup:
        # The group exists first: A's batch then waits on its row, after taking its id.
        setup.insert([normalize({"type": "error", "message": "disk full", "errorType": "IOError"}, host="web-1")])
    before = fetch(pg_url, "SELECT last_value FROM records_id_seq")[0][0]
    hold = psycopg.connect(pg_url, autocommit=False)
    hold.execute("SELECT * FROM error_groups FOR UPDATE")
    release = threading.Event()

    def write_a() -> None:
        with closing(open_store(pg_url)) as a:
            a.writer().commit([normalize({"type": "error", "message": "disk full", "errorType": "IOError"},
                                         host="web-1")])

    def let_go() -> None:
        release.wait(30)
        hold.rollback()

    writer_a = threading.Thread(target=write_a)
    releaser = threading.Thread(target=let_go)
    writer_a.start()
    releaser.start()
    try:
        wait_for(lambda: fetch(pg_url, "SELECT last_value FROM records_id_seq")[0][0] > before, 5,
                 "writer A to take its id")
        with closing(open_store(pg_url)) as b:
            [later] = b.insert([normalize({"type": "chat", "message": "later"}, host="web-2")])
        yield release, later
    finally:
        release.set()
        releaser.join(10)
        writer_a.join(10)
        hold.close()


def test_following_begun_while_a_batch_is_in_flight_gives_that_batch(pg_url: str, patient: None) -> None:
    with late_batch(pg_url) as (release, later):
        follower = PgFollower(parse_store_url(pg_url), Filter(types=("error",)), sleep=lambda _: None)
        started: list[list[dict]] = []
        starting = threading.Thread(target=lambda: started.append(follower.start(10)))
        starting.start()
        starting.join(0.5)
        assert starting.is_alive(), "following began without waiting for the batch in flight"
        release.set()
        starting.join(10)
        assert not starting.is_alive()
    seen = [r["id"] for r in started[0]] + [r["id"] for r in follower.poll()]
    follower.close()
    errors = [i for (i,) in fetch(pg_url, "SELECT id FROM records WHERE type = 'error' ORDER BY id")]
    assert seen == errors and len(errors) == 2
    assert errors[-1] < later  # the late batch is below the newest id when following began


async def test_a_console_opened_while_a_batch_is_in_flight_shows_or_counts_it(pg_url: str, patient: None) -> None:
    with late_batch(pg_url) as (release, later):
        app = LogConsoleApp(pg_url, now=FIXED_NOW, cursor_blink=False, poll_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await asyncio.sleep(0.5)  # the console reads its first page while A's batch is in flight
            release.set()
            await asyncio.to_thread(time.sleep, 0.5)
            await settle(pilot)
            await asyncio.sleep(0.5)  # a few polls
            await settle(pilot)
            screen = app.screen_stack[1]
            assert isinstance(screen, MainScreen)
            # Three records: the one stored first, A's late one, and B's.  Each is
            # either in the list or counted as arrived, never passed over.
            assert screen.view.total + screen.arrived == 3, (screen.view.total, screen.arrived)


def test_a_batch_stuck_in_flight_holds_a_reader_a_moment_only(pg_url: str) -> None:
    """Past its wait a reader takes the newest committed id, and the batches
    queued behind its look go on."""
    with late_batch(pg_url) as (_, later), closing(open_store(pg_url)) as reader:
        began = time.monotonic()
        assert reader.horizon() == later
        assert time.monotonic() - began < pg_alerts.READER_WAIT + 2
        began = time.monotonic()
        with closing(open_store(pg_url)) as c:
            c.insert([normalize({"type": "chat", "message": "after the look"}, host="web-3")])
        assert time.monotonic() - began < 5  # nothing queued behind the look that gave up
