"""Alert rules against a real collector: real socket, real SQLite, real hook processes."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cli_support import add, assert_user_error, run
from collector_support import Client, Collector, wait_for
from logconsole.store import actions
from logconsole.store.db import connect

HOOK = """\
import json, os, sys
data = sys.stdin.read()
env = {k: v for k, v in os.environ.items() if k.startswith("LOGCONSOLE_ALERT_")}
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"alert": json.loads(data), "env": env}) + "\\n")
"""

HANG = """\
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
"""


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def setup(tmp_path: Path, rules: str) -> tuple[Path, Path]:
    """A config file with ``rules`` (``{hook}`` is the recording hook's argv, writing
    to ``fired.jsonl``); returns the config and the file the hook writes."""
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    fired = tmp_path / "fired.jsonl"
    config = tmp_path / "config.toml"
    # The machine's own load must not raise a health alert in the middle of a test.
    quiet = "[health]\nwarning = 100\ncritical = 100\n\n"
    config.write_text(quiet + rules.replace("{hook}", toml_list([sys.executable, str(hook), str(fired)])))
    return config, fired


def firings(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def send(collector: Collector, *records: dict[str, Any]) -> None:
    with Client(collector.sock) as c:
        c.send_records(*records)
        answer, _ = c.sync()
        assert answer["ok"], answer


def alert_states(tmp_path: Path, collector: Collector, config: Path) -> dict[str, dict[str, Any]]:
    result = run(collector.db, "alerts", "--config", str(config), "--format", "json")
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)}


def test_a_regression_through_a_real_collector_runs_the_command_and_is_stored(tmp_path: Path) -> None:
    config, fired = setup(tmp_path, """
[[alerts]]
name = "regression"
command = {hook}
cooldown = 0

[[alerts]]
name = "alerts about alerts"
type = "system"
where = ["event_type=alert"]
trigger = "any"
cooldown = 0
command = {hook}
""")
    collector = Collector(tmp_path, "--config", str(config)).start()
    try:
        send(collector, {"type": "error", "message": "pool exhausted after 30 s", "errorType": "PoolError"})
        gid = collector.rows("SELECT group_id FROM records WHERE type = 'error'")[0]["group_id"]
        conn = connect(collector.db)
        actions.resolve_group(conn, gid, note="bigger pool", by="ana")
        conn.close()
        time.sleep(0.01)
        send(collector, {"type": "error", "message": "pool exhausted after 31 s", "errorType": "PoolError"})
        [hit] = wait_for(lambda: firings(fired), what="the regression hook")
        alert, env = hit["alert"], hit["env"]
        new_id = collector.rows("SELECT max(id) AS id FROM records WHERE type = 'error'")[0]["id"]
        assert (alert["rule"], alert["trigger"], alert["group_id"], alert["record_id"]) == ("regression", "regression",
                                                                                            gid, new_id)
        assert alert["record"]["message"] == "pool exhausted after 31 s"
        assert f"error group #{gid} regressed" in alert["message"]
        assert env["LOGCONSOLE_ALERT_RULE"] == "regression" and env["LOGCONSOLE_ALERT_GROUP_ID"] == str(gid)
        assert env["LOGCONSOLE_ALERT_RECORD_ID"] == str(new_id) and env["LOGCONSOLE_ALERT_COUNT"] == "1"

        stored = wait_for(lambda: collector.rows(
            "SELECT * FROM records WHERE type = 'system' AND event_type = 'alert' ORDER BY id"), what="the alert records")
        assert [json.loads(r["extra"])["alert"]["rule"] for r in stored] == ["new_group", "regression"]
        assert stored[1]["requires_action"] == 1 and stored[1]["status"] == "critical"
        assert stored[1]["message"].startswith(f"alert regression: error group #{gid} regressed")
        # No rule fires on an alert's record: not the built-in requires_action, not one written for it.
        send(collector, {"type": "activity", "message": "later"})
        time.sleep(0.3)
        assert len(firings(fired)) == 1
        states = alert_states(tmp_path, collector, config)
        assert states["requires_action"]["firings"] == 0 and states["alerts about alerts"]["matched"] == 0
        assert states["regression"]["firings"] == 1 and states["regression"]["last_fired"]
        assert states["new_group"]["firings"] == 1  # the first occurrence; it has no command
    finally:
        collector.stop()


def test_a_storm_fires_once_and_the_next_firing_reports_what_the_cool_down_held(tmp_path: Path) -> None:
    config, fired = setup(tmp_path, """
[[alerts]]
name = "payments failing"
type = "error"
where = ["error_type=CardDeclined"]
trigger = "count >= 3 within 5m"
cooldown = 1.5
command = {hook}
""")
    collector = Collector(tmp_path, "--config", str(config)).start()
    declined = {"type": "error", "message": "card declined", "errorType": "CardDeclined"}
    try:
        send(collector, declined, declined, {"type": "error", "message": "other", "errorType": "Other"})
        time.sleep(0.3)
        assert firings(fired) == []  # 2 of 3
        send(collector, declined)
        [first] = wait_for(lambda: firings(fired), what="the first firing")
        assert (first["alert"]["count"], first["alert"]["suppressed"]) == (3, 0)
        started = time.monotonic()
        for _ in range(4):
            send(collector, declined)
        time.sleep(0.3)
        assert len(firings(fired)) == 1  # the storm fired once
        time.sleep(max(0.0, 1.6 - (time.monotonic() - started)))
        send(collector, declined, declined, declined)
        both = wait_for(lambda: firings(fired)[1:] and firings(fired), what="the second firing")
        second = both[1]["alert"]
        assert second["count"] == 7  # the storm and these three, all within the window
        assert second["suppressed"] == 4 and "4 more matched during the cool-down" in second["message"]
        assert both[1]["env"]["LOGCONSOLE_ALERT_SUPPRESSED"] == "4"
        states = alert_states(tmp_path, collector, config)
        assert states["payments failing"]["firings"] == 2 and states["payments failing"]["matched"] == 10
    finally:
        collector.stop()


def test_a_hanging_hook_is_killed_and_ingest_goes_on(tmp_path: Path) -> None:
    pid_file = tmp_path / "hook.pid"
    hang = tmp_path / "hang.py"
    hang.write_text(HANG)
    config, _ = setup(tmp_path, f"""
[[alerts]]
name = "critical"
command = {toml_list([sys.executable, str(hang), str(pid_file)])}
timeout = 0.5
""")
    collector = Collector(tmp_path, "--config", str(config)).start()
    try:
        send(collector, {"type": "error", "message": "disk on fire", "severity": "critical"})
        pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the hook to start"))
        started = time.monotonic()
        send(collector, *({"type": "activity", "message": f"meanwhile {i}"} for i in range(200)))
        assert time.monotonic() - started < 0.5  # committed while the hook hangs
        wait_for(lambda: "did not finish within 0.5 s and was killed" in collector.output(), what="the kill")

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_for(gone, what="the hook process to be gone")
        assert wait_for(lambda: alert_states(tmp_path, collector, config)["critical"]["failures"] == 1,
                        what="the failure to be counted")
        assert len(collector.rows("SELECT id FROM records WHERE type = 'activity'")) == 200
    finally:
        collector.stop()


@pytest.mark.parametrize(("rule", "words"), [
    ('name = "x"\ntrigger = "sometimes"', ("rule 'x'", "trigger:", "sometimes")),
    ('name = "x"\ntrigger = "any"\nwhere = ["colour=red"]', ("rule 'x'", "where:", "colour")),
    ('name = "x"\ntrigger = "any"\ncommand = "rm -rf /tmp/x"', ("rule 'x'", "command:", "never run through a shell")),
    ('name = "critical"\ncooldown = "soon"', ("rule 'critical'", "cooldown:")),
])
def test_a_bad_rule_is_a_clear_error_at_daemon_start_and_in_alerts(tmp_path: Path, rule: str,
                                                                   words: tuple[str, ...]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[[alerts]]\n{rule}\n")
    collector = Collector(tmp_path, "--config", str(config)).start(wait=False)
    assert collector.proc is not None and collector.proc.wait(15) != 0
    out = collector.output()
    assert "Traceback" not in out and str(config) in out
    for word in words:
        assert word in out, out
    result = run(tmp_path / "logs.db", "alerts", "--config", str(config))
    assert_user_error(result, *words)


def test_alerts_test_evaluates_a_rule_on_the_stored_records_without_its_actions(tmp_path: Path) -> None:
    config, fired = setup(tmp_path, """
[[alerts]]
name = "slow checkout"
type = "activity"
where = ["endpoint~checkout", "duration_ms>1000"]
trigger = "any"
command = {hook}
""")
    db = tmp_path / "logs.db"
    conn = connect(db)
    add(conn, type="activity", message="checkout", endpoint="/api/checkout", duration_ms=2500)
    last = add(conn, type="activity", message="checkout again", endpoint="/api/checkout", duration_ms=1800)
    add(conn, type="activity", message="fast", endpoint="/api/checkout", duration_ms=20)
    conn.close()
    result = run(db, "alerts", "--config", str(config), "test", "slow checkout")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 stored records match: it would fire with")
    payload = json.loads(result.stdout.split("\n", 1)[1])
    assert (payload["rule"], payload["count"], payload["record_id"]) == ("slow checkout", 2, last)
    assert firings(fired) == []
    result = run(db, "alerts", "--config", str(config), "test", "regression")
    assert result.exit_code == 0 and "0 groups match: it would not fire" in result.stdout
    assert_user_error(run(db, "alerts", "--config", str(config), "test", "nope"), "no alert rule named 'nope'")


def test_alerts_lists_builtin_and_configured_rules(tmp_path: Path) -> None:
    config, _ = setup(tmp_path, """
[[alerts]]
name = "critical"
enabled = false

[[alerts]]
name = "errors"
type = "error"
trigger = "count >= 50 within 10m"
url = "http://127.0.0.1:9/hook"
""")
    connect(tmp_path / "logs.db").close()
    result = run(tmp_path / "logs.db", "alerts", "--config", str(config))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["RULE", "TRIGGER", "CONDITION"]
    assert any(line.startswith("critical (off)") for line in lines)
    errors = next(line for line in lines if line.startswith("errors "))
    assert "count >= 50 within 10m" in errors and "POST http://127.0.0.1:9/hook" in errors and "never" in errors


@pytest.mark.parametrize("doc", ["README.md", "docs/alerts.md"])
def test_the_documented_rules_are_read_as_written(doc: str) -> None:
    import re
    import tomllib

    from logconsole.alert_rules import parse_rules

    text = (Path(__file__).resolve().parents[1] / doc).read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        rules = {r.name: r for r in parse_rules(tomllib.loads(block))}
        assert {"new_group", "regression", "critical", "requires_action"} <= set(rules)
        assert any(r.command or r.url for r in rules.values())


def test_a_firing_is_posted_as_json_and_a_refused_post_is_counted(tmp_path: Path) -> None:
    import http.server
    import threading

    received: list[tuple[str, dict[str, Any]]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    closed = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    refused_port = closed.server_address[1]
    closed.server_close()
    config, _ = setup(tmp_path, f"""
[[alerts]]
name = "critical"
url = "http://127.0.0.1:{server.server_address[1]}/hook"

[[alerts]]
name = "requires_action"
url = "http://127.0.0.1:{refused_port}/hook"
timeout = 2
""")
    collector = Collector(tmp_path, "--config", str(config)).start()
    try:
        send(collector, {"type": "error", "message": "disk on fire", "severity": "critical"},
             {"type": "system", "message": "queue stuck", "requires_action": True, "status": "critical"})
        [(kind, alert)] = wait_for(lambda: received, what="the POST")
        assert kind == "application/json" and alert["rule"] == "critical"
        assert alert["record"]["message"] == "disk on fire"
        wait_for(lambda: alert_states(tmp_path, collector, config)["requires_action"]["failures"] == 1,
                 what="the refused POST to be counted")
        assert "POST http://127.0.0.1" in collector.output()
    finally:
        collector.stop()
        server.shutdown()
        server.server_close()


async def test_a_full_alert_queue_drops_evaluations_without_waiting(tmp_path: Path) -> None:
    from logconsole.alert_rules import BUILTIN
    from logconsole.collectors.alerts import AlertEngine

    async def store(_: dict[str, Any]) -> None:
        pass

    engine = AlertEngine(tmp_path / "logs.db", BUILTIN, store=store, capacity=2)
    for i in range(5):
        engine.offer(range(i * 10 + 1, i * 10 + 11), [])  # not started: nothing takes them
    assert engine.counters.dropped == 3


def test_a_rule_reads_only_the_new_rows_of_a_batch(tmp_path: Path) -> None:
    """The cost of a rule follows the batch: its query walks the rowid range,
    whatever index its filter could use."""
    import re
    import tomllib

    from logconsole.alert_rules import parse_rules
    from logconsole.collectors.alerts import Evaluator, range_sql
    from logconsole.store.follow import new_rows_sql

    conn = connect(tmp_path / "logs.db")
    for i in range(30):
        add(conn, type="error", message=f"timeout {i}", severity="critical" if i % 3 else "low")
    rules = parse_rules(tomllib.loads('[[alerts]]\nname = "t"\ntype = "error"\nsearch = "timeout"\n'
                                      'where = ["severity=critical"]\ntrigger = "any"\n'))
    evaluator = Evaluator(conn, rules)
    for rule in evaluator.rules:
        if rule.trigger in ("new_group", "regression"):
            continue
        where, bind = evaluator._in_range[rule.name]
        plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {range_sql(where)}", bind((1, 2))))
        if rule.flt.search:  # the index gives the range's matches only (rowid bounds in the MATCH)
            assert re.search(r"SCAN records_fts VIRTUAL TABLE INDEX 0:M\d+><", plan), plan
        else:
            assert "SEARCH records USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan, (rule.name, plan)
    assert [f.count for f in evaluator.evaluate(range(21, 31), [])] == [7, 7]  # critical; t (timeout, critical)
    for rule in (rules[2], rules[-1]):  # critical; t (a search)
        sql, bind = new_rows_sql(conn, rule.flt)
        plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", bind(1)))
        assert ("SEARCH records USING INTEGER PRIMARY KEY (rowid>?)" in plan
                or re.search(r"SCAN records_fts VIRTUAL TABLE INDEX 0:M\d+>", plan)), plan
    conn.close()
