"""One logconsole forwarding to another over OTLP/HTTP: every record of every
kind arrives with every field, through the real forwarder, the real door and
two real collectors."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

from cli_support import run
from collector_support import Collector, wait_for

# What the receiving store assigns or stamps itself.
LOCAL_COLUMNS = ("id", "group_id")
# Who sent it: the receiving door's own trusted field.
LOCAL_EXTRA = ("_peer",)


def records(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute("SELECT * FROM records WHERE event_type IS NOT 'health_sample' "
                                               "AND event_type IS NOT 'alert' ORDER BY created_at, id")]
    finally:
        conn.close()
    for row in rows:
        for name in LOCAL_COLUMNS:
            row.pop(name)
        extra = json.loads(row["extra"]) if row["extra"] else {}
        for name in LOCAL_EXTRA:
            extra.pop(name, None)
        row["extra"] = extra or None
    return rows


def test_every_field_of_every_kind_survives_a_trip_between_two_collectors(tmp_path: Path) -> None:
    there = Collector(tmp_path / "b", "--otlp", "127.0.0.1:0", "--retention-days", "0")
    (tmp_path / "b").mkdir()
    there.start()
    try:
        here_dir = tmp_path / "a"
        here_dir.mkdir()
        config = here_dir / "config.toml"
        config.write_text(f'[forward]\nendpoint = "{there.otlp_url()}"\nfrom = "start"\nmax_delay = 0.2\npoll = 0.2\n')
        here = Collector(here_dir, "--config", str(config), "--retention-days", "0")
        assert run(here.db, "demo", "--count", "600", "--seed", "3").exit_code == 0
        here.start()
        try:
            sent = records(here.db)
            assert {r["type"] for r in sent} == {"activity", "error", "ai", "chat", "system"}
            wait_for(lambda: len(records(there.db)) >= len(sent), 60, "the forwarded records")
        finally:
            assert here.stop() == 0
        arrived = records(there.db)
        assert len(arrived) == len(sent)
        for a, b in zip(sent, arrived, strict=True):
            # A record that names no host (imported, demo) goes as the forwarding machine's.
            assert b == {**a, "host": a["host"] or socket.gethostname()}
    finally:
        there.stop()
