"""The monitor end to end, through a real collector process: a group resolved in
the console, a new occurrence sent over the socket, the console showing the
group regressed and the regression rule's command run."""

from __future__ import annotations

import time
from pathlib import Path

from test_alerts import firings, send, setup
from test_tui_app import console, main
from test_tui_groups import groups, records, rows
from tui_data import screen_text, settle

from collector_support import Collector, wait_for

SIZE = (100, 24)
ERROR = {"type": "error", "severity": "high", "errorType": "PoolError", "message": "pool exhausted after 30 s",
         "stack": "Error: pool exhausted\n    at acquire (/srv/app/src/db/pool.js:88:11)"}


async def test_resolved_in_the_console_regressed_by_the_collector_and_the_hook_runs(tmp_path: Path) -> None:
    config, fired = setup(tmp_path, """
[[alerts]]
name = "regression"
command = {hook}
cooldown = 0
""")
    collector = Collector(tmp_path, "--config", str(config)).start()
    try:
        send(collector, ERROR, {**ERROR, "message": "pool exhausted after 45 s"})
        [(gid,)] = rows(collector.db, "SELECT DISTINCT group_id FROM records WHERE type = 'error'")
        app = console(collector.db, poll_interval=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("2", "o")
            await settle(pilot)
            view = groups(app)
            assert view.display and not records(app).display
            assert view.current_row is not None and view.current_row["id"] == gid
            assert "Errors 1 open ·" in screen_text(app)
            await pilot.press("r")
            await pilot.pause()
            await pilot.press(*"bigger pool", "enter")
            await settle(pilot)
            assert rows(collector.db, "SELECT status, note FROM error_groups WHERE id = ?", gid) == [
                ("resolved", "bigger pool")]
            assert rows(collector.db, "SELECT count(*), sum(resolution = 'bigger pool') FROM records "
                        "WHERE group_id = ? AND is_resolved = 1", gid) == [(2, 2)]

            time.sleep(0.01)  # the next occurrence is newer than the resolution
            send(collector, {**ERROR, "message": "pool exhausted after 31 s"})

            def shown_status() -> object:
                row = next((view.row_at(i) for i in range(view.row_count)
                            if (view.row_at(i) or {}).get("id") == gid), None)
                return row and row["status"]

            for _ in range(100):
                await pilot.pause(0.05)
                if shown_status() == "regressed":
                    break
            assert shown_status() == "regressed"
            # The headline's figures are read again at most every few seconds while records arrive.
            for _ in range(200):
                if "Errors 1 regressed ·" in screen_text(app):
                    break
                await pilot.pause(0.05)
            assert "Errors 1 regressed ·" in screen_text(app)
            assert main(app).state.tab == "error"
        [hit] = wait_for(lambda: firings(fired), what="the regression hook")
        assert hit["alert"]["rule"] == "regression" and hit["alert"]["group_id"] == gid
        assert hit["env"]["LOGCONSOLE_ALERT_GROUP_ID"] == str(gid)
    finally:
        assert collector.stop() == 0
