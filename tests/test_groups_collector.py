"""Error groups through a real collector process: regression after a resolve,
and an older database grouped in the background while records keep coming."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from collector_support import Client, Collector, wait_for
from cli_support import run

RELEASE_V2 = Path(__file__).parent / "data" / "release-v2.db"


def group_row(db: Path, group_id: int) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM error_groups WHERE id = ?", (group_id,)).fetchone())
    finally:
        conn.close()


def test_a_new_occurrence_of_a_resolved_group_sent_to_the_collector_regresses_it(tmp_path: Path) -> None:
    daemon = Collector(tmp_path).start()
    try:
        with Client(daemon.sock) as client:
            client.send_records(*({"type": "error", "errorType": "TypeError", "userId": f"u{i}",
                                   "message": f"Cannot read properties of undefined (reading 'id') in order {i}"}
                                  for i in range(3)))
            assert client.sync()[0]["ok"]
        (row,) = daemon.rows("SELECT DISTINCT group_id FROM records WHERE type = 'error'")
        gid = row["group_id"]
        result = run(daemon.db, "resolve", "--group", str(gid), "--note", "guarded the lookup")
        assert result.exit_code == 0 and "resolved, 3 records" in result.stdout
        assert group_row(daemon.db, gid)["status"] == "resolved"

        with Client(daemon.sock) as client:
            client.send_records({"type": "error", "errorType": "TypeError",
                                 "message": "Cannot read properties of undefined (reading 'id') in order 77"})
            assert client.sync()[0]["ok"]
        g = group_row(daemon.db, gid)
        newest = daemon.rows("SELECT id, created_at, is_resolved FROM records WHERE group_id = ? ORDER BY id DESC",
                             (gid,))[0]
        assert (g["status"], g["count"], g["latest_id"]) == ("regressed", 4, newest["id"])
        assert g["regressed_at"] == newest["created_at"] and newest["is_resolved"] == 0
        listed = run(daemon.db, "groups", "--status", "regressed")
        assert listed.exit_code == 0 and "regressed" in listed.stdout
    finally:
        assert daemon.stop() == 0


def test_the_collector_groups_an_older_database_while_taking_records(tmp_path: Path) -> None:
    db = tmp_path / "logs.db"
    shutil.copyfile(RELEASE_V2, db)
    daemon = Collector(tmp_path, "--retention-days", "0", db=db).start()
    try:
        with Client(daemon.sock) as client:
            client.send_records({"type": "error", "message": "new after the upgrade"})
            assert client.sync()[0]["ok"]

        def grouped() -> bool:
            rows = daemon.rows("SELECT count(*) AS n FROM meta WHERE key = 'backfill:groups'")
            return rows[0]["n"] == 0
        wait_for(grouped, 10, "the backfill to finish")
        left = daemon.rows("SELECT count(*) AS n FROM records WHERE type = 'error' AND group_id IS NULL")
        assert left[0]["n"] == 0
        totals = daemon.rows("SELECT (SELECT sum(count) FROM error_groups) AS grouped, "
                             "(SELECT count(*) FROM records WHERE type = 'error') AS errors")[0]
        assert totals["grouped"] == totals["errors"] == 7
    finally:
        assert daemon.stop() == 0
    assert "filling in the upgraded database in the background" in daemon.output()
