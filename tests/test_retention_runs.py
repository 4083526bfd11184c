"""Retention is a policy the user sees: each run is recorded, ``stats`` shows
the policy and the last run, ``import`` warns about records already past it."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import run
from collector_support import Collector, wait_for

from logconsole.store.db import connect
from logconsole.store.retention import last_run, prune
from tests.store_support import NOW, add, ago


def test_each_run_is_recorded_with_its_policy_and_what_it_removed(db_path: Path) -> None:
    conn = connect(db_path)
    assert last_run(conn) is None
    for _ in range(5):
        add(conn, type="activity", title="old", created_at=ago(days=100))
    add(conn, type="activity", title="recent", created_at=ago(days=1))
    assert prune(conn, 90, now=NOW, batch=2) == 5
    run_ = last_run(conn)
    assert run_ is not None
    assert (run_.removed, run_.days, run_.cutoff) == (5, 90.0, "2026-08-22T12:00:00.000000Z")
    assert run_.finished is not None and run_.finished >= run_.started
    assert prune(conn, 90, now=NOW) == 0
    assert last_run(conn).removed == 0  # type: ignore[union-attr]
    conn.close()


def test_stats_shows_the_policy_the_sizes_and_the_last_run(db_path: Path, tmp_path: Path) -> None:
    conn = connect(db_path)
    add(conn, type="activity", title="old", created_at="2020-01-01T00:00:00Z")
    add(conn, type="error", message="old but open", created_at="2020-01-01T00:00:00Z")
    add(conn, type="activity", title="new")
    conn.close()
    numbers = json.loads(run(db_path, "stats", "--json").stdout)
    assert numbers["retention"] == {"days": 90, "expired": 1, "last_run": None}
    assert numbers["database_bytes"] > 0 and numbers["wal_bytes"] >= 0
    assert numbers["size_bytes"] == numbers["database_bytes"] + numbers["wal_bytes"]
    text = run(db_path, "stats").stdout
    assert "write-ahead log" in text
    assert "retention   90 days; 1 record past it now" in text
    assert "last run    none recorded" in text

    assert run(db_path, "prune").exit_code == 0
    numbers = json.loads(run(db_path, "stats", "--json").stdout)
    assert numbers["retention"]["expired"] == 0
    assert numbers["retention"]["last_run"]["removed"] == 1
    assert "removed 1 record older than 90 days" in run(db_path, "stats").stdout

    config = tmp_path / "config.toml"
    config.write_text("[store]\nretention_days = 0\n")
    assert "retention   off" in run(db_path, "stats", "--config", str(config)).stdout


def _year_of_records(tmp_path: Path) -> Path:
    source = tmp_path / "activitylogs.json"
    lines = [json.dumps({"type": "activity", "title": f"day {d}",
                         "createdAt": {"$date": f"2025-{1 + d // 31:02d}-{1 + d % 28:02d}T09:00:00Z"}})
             for d in range(365)]
    lines.append(json.dumps({"type": "error", "message": "old and open", "createdAt": "2025-01-02T00:00:00Z"}))
    lines.append(json.dumps({"type": "activity", "title": "today"}))
    source.write_text("\n".join(lines) + "\n")
    return source


def test_import_says_how_many_records_retention_will_remove_and_how_to_keep_them(
    any_db: Path | str, tmp_path: Path,
) -> None:
    db_path = any_db
    source = _year_of_records(tmp_path)
    result = run(db_path, "import", str(source))
    assert result.exit_code == 0, result.output
    warning = result.stderr.strip().splitlines()[-1]
    assert warning.startswith("365 of the 367 imported records are older than the retention period (90 days)")
    assert "retention_days" in warning and "--retention-days" in warning
    config = tmp_path / "keep.toml"
    config.write_text("[store]\nretention_days = 0\n")
    again = run(db_path, "import", str(source), "--config", str(config))
    assert "retention period" not in again.stderr


def test_the_collectors_run_at_start_is_recorded(tmp_path: Path) -> None:
    db = tmp_path / "logs.db"
    conn = connect(db)
    add(conn, type="activity", title="ancient", created_at="2000-01-01T00:00:00Z")
    conn.close()
    c = Collector(tmp_path, "--retention-days", "30", db=db).start()
    try:
        def recorded() -> object:
            conn = connect(db, readonly=True)
            try:
                r = last_run(conn)
            finally:
                conn.close()
            return r if r is not None and r.finished else None
        r = wait_for(recorded, 10, "the retention run")
        assert r.removed == 1 and r.days == 30  # type: ignore[attr-defined]
        # The run is recorded in its own transaction before the daemon logs it.
        wait_for(lambda: "retention: removed 1 record older than 30 days" in c.output(), 10, "the log line")
    finally:
        assert c.stop() == 0
