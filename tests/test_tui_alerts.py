"""The console tells of an alert as its record arrives."""

from __future__ import annotations

from pathlib import Path

from damage_support import filled_db
from test_tui_app import console, notes, wait_for

from logconsole.alert_rules import BUILTIN
from logconsole.collectors.alerts import Firing
from logconsole.ingest import normalize
from logconsole.store.db import connect
from logconsole.store.writer import insert_row

SIZE = (100, 30)


def _store_alert(db: Path, message: str, rule_name: str = "regression") -> None:
    rule = next(r for r in BUILTIN if r.name == rule_name)
    record = {"id": 1, "type": "error", "created_at": "2026-11-29T10:00:00Z", "message": message}
    conn = connect(db)
    insert_row(conn, normalize(Firing(rule, 1, 0, record, 7).system_record()))
    conn.close()


async def test_an_alert_stored_while_the_console_is_open_is_notified_once(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db", 50)
    _store_alert(db, "before the console opened")
    app = console(db, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        assert not any("alert" in n for n in notes(app))
        _store_alert(db, "pool exhausted after 31 s")
        await wait_for(pilot, lambda: any("pool exhausted after 31 s" in n for n in notes(app)))
        told = [n for n in notes(app) if n.startswith("alert regression: error group #7 regressed")]
        await pilot.pause(0.5)
        assert len([n for n in notes(app) if "pool exhausted" in n]) == len(told) == 1
        assert not any("before the console opened" in n for n in notes(app))
