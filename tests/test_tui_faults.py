"""The console on a damaged database, and when retention removed records."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from damage_support import damage_indexes, damage_records, filled_db
from test_tui_app import console, notes, wait_for

from logconsole.store.db import connect
from logconsole.store.errors import DAMAGED
from logconsole.store.retention import LAST_RUN_KEY
from logconsole.timeutil import format_ts, utcnow

SIZE = (100, 30)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


async def test_a_damaged_file_is_named_as_such_not_by_sqlites_symptom(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db")
    damage_records(db)
    damage_indexes(db)
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any(DAMAGED in n for n in notes(app)))
        assert not any("malformed" in n for n in notes(app))


def _record_run(db: Path, removed: int, finished: str | None, started: str | None = None) -> None:
    conn = connect(db)
    run = {"started": started or format_ts(utcnow()), "days": 90.0, "cutoff": "2026-08-31T00:00:00.000Z",
           "removed": removed, "finished": finished}
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (LAST_RUN_KEY, json.dumps(run)))
    conn.close()


async def test_a_retention_run_that_removed_records_is_told(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db", 50)
    earlier = format_ts(utcnow() - timedelta(hours=3))
    _record_run(db, 500, earlier, earlier)  # yesterday's news: stats has it
    app = console(db, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        assert not any("Retention" in n for n in notes(app))
        started = format_ts(utcnow())
        _record_run(db, 10_000, None, started)
        await wait_for(pilot, lambda: any("Retention is removing" in n for n in notes(app)))
        _record_run(db, 6_600_000, format_ts(utcnow()), started)
        await wait_for(pilot, lambda: any("Retention removed 6,600,000 records older than 90 days" in n
                                          for n in notes(app)))
        await pilot.pause(0.5)
        told = [n for n in notes(app) if "Retention" in n]
        assert len(told) == 2  # once while it ran, once when it finished
        assert "retention_days" in told[-1]
