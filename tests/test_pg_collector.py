"""The collector on PostgreSQL: several collectors (one per host) writing to one
database, syncs answered after the commit, a connection cut while records
arrive, retention run by one collector of the fleet at a time, tailed-file
offsets per host, and the ``[store] url`` rule of every command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cli_support import add_to, run
from collector_support import Client, Collector, isolated_env, wait_for
from pg_support import Cluster

from logconsole.collectors.daemon import LEASE_INTERVAL
from logconsole.ingest import normalize
from logconsole.store.interface import open_store
from logconsole.store.retention import LAST_RUN_KEY
from logconsole.timeutil import format_ts, utcnow

FAST = ("--retry-max-delay", "0.2", "--lease-interval", "0.3", "--check-seconds", "0")


def pg_collector(tmp: Path, url: str, host: str, *extra: str) -> Collector:
    return Collector(tmp, "--host", host, *FAST, *extra, db=url,  # type: ignore[arg-type]
                     sock=tmp / "run" / f"{host}.sock")


def fetch(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def send_numbered(sock: Path, host_tag: str, count: int, batch: int = 500) -> int:
    """Send ``count`` records numbered 0.. in batches, each followed by a sync;
    how many were acknowledged."""
    with Client(sock, timeout=30) as client:
        for start in range(0, count, batch):
            client.send_records(*({"type": "chat", "message": f"{host_tag} {n}", "conversation_id": str(n)}
                                  for n in range(start, min(start + batch, count))))
            answer, before = client.sync()
            assert answer["ok"], answer
            assert not before
    return count


def test_two_collectors_share_one_database_each_record_once_with_its_host(tmp_path: Path, pg_url: str) -> None:
    web1 = pg_collector(tmp_path, pg_url, "web-1").start()
    web2 = pg_collector(tmp_path, pg_url, "web-2").start()
    try:
        per_host = 4000
        results: dict[str, int] = {}
        threads = [threading.Thread(target=lambda c=c, h=h: results.__setitem__(h, send_numbered(c.sock, h, per_host)))
                   for c, h in ((web1, "web-1"), (web2, "web-2"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == {"web-1": per_host, "web-2": per_host}
        # Acknowledged means committed: the rows are there the moment the sync is answered.
        rows = fetch(pg_url, "SELECT host, message FROM records WHERE type = 'chat'")
        assert len(rows) == 2 * per_host
        assert len(set(rows)) == 2 * per_host
        for host, message in rows:
            assert message.startswith(host + " ")
        result = run(pg_url, "query", "--where", "host=web-2", "--format", "jsonl", "--limit", "0",
                     "--type", "chat")
        assert result.exit_code == 0, result.output
        found = [json.loads(line) for line in result.output.splitlines()]
        assert len(found) == per_host
        assert {r["host"] for r in found} == {"web-2"}
        # Each collector's health sample (taken at start) is its host's.
        assert sorted(fetch(pg_url, "SELECT DISTINCT host FROM records WHERE type = 'system'")) == [
            ("web-1",), ("web-2",)]
    finally:
        assert web1.stop() == 0, web1.output()
        assert web2.stop() == 0, web2.output()


def test_a_sync_is_answered_after_the_commit(tmp_path: Path, pg_url: str) -> None:
    collector = pg_collector(tmp_path, pg_url, "web-1").start()
    try:
        with Client(collector.sock) as client:
            for n in range(20):
                client.send_records({"type": "error", "message": f"boom {n}"})
                answer, _ = client.sync()
                assert answer["ok"]
                assert fetch(pg_url, "SELECT count(*) FROM records WHERE type = 'error'")[0][0] == n + 1
    finally:
        assert collector.stop() == 0, collector.output()


def _terminate_collector_backends(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return len(conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall())


def test_a_connection_cut_while_records_arrive_costs_nothing(tmp_path: Path, pg_url: str) -> None:
    collector = pg_collector(tmp_path, pg_url, "web-1").start()
    acknowledged = 0
    stop = threading.Event()

    def sender() -> None:
        nonlocal acknowledged
        n = 0
        with Client(collector.sock, timeout=30) as client:
            while not stop.is_set():
                client.send_records(*({"type": "chat", "message": f"m {n + i}"} for i in range(200)))
                answer, _ = client.sync()
                assert answer["ok"], answer
                n += 200
                acknowledged = n

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        for _ in range(4):
            wait_for(lambda: acknowledged > 0, 10, "records")
            time.sleep(0.3)
            _terminate_collector_backends(pg_url)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(60)
    assert collector.stop() == 0, collector.output()
    assert acknowledged >= 200
    messages = [m for (m,) in fetch(pg_url, "SELECT message FROM records WHERE type = 'chat'")]
    assert len(messages) == len(set(messages)), "a record was stored twice"
    assert {f"m {n}" for n in range(acknowledged)} <= set(messages)
    assert "the connection to the server was lost" in collector.output() or \
        "terminating connection" in collector.output(), collector.output()


def test_a_server_down_at_a_commit_is_waited_out(tmp_path: Path, pg_url: str, pg_cluster: Cluster) -> None:
    """The server stops while records wait; once it is back they are stored and
    the sync is answered ok."""
    collector = pg_collector(tmp_path, pg_url, "web-1", "--sync-timeout", "60").start()
    try:
        with Client(collector.sock, timeout=60) as client:
            client.send_records({"type": "chat", "message": "before"})
            assert client.sync()[0]["ok"]
            pg_cluster.stop_server()
            try:
                client.send_records({"type": "chat", "message": "while down"})
                wait_for(lambda: "cannot" in collector.output() and "commit" in collector.output(), 15,
                         "the collector to say it cannot commit")
            finally:
                pg_cluster.start_server()
            answer, _ = client.sync()
            assert answer["ok"], answer
    finally:
        assert collector.stop() == 0, collector.output()
    messages = sorted(m for (m,) in fetch(pg_url, "SELECT message FROM records WHERE type = 'chat'"))
    assert messages == ["before", "while down"]
    warning = next(line for line in collector.output().splitlines() if "cannot commit" in line)
    assert "postgresql://" in warning and "Traceback" not in collector.output()


def test_records_held_when_stopped_while_the_server_is_down_are_spilled_and_replayed(
        tmp_path: Path, pg_url: str, pg_cluster: Cluster) -> None:
    collector = pg_collector(tmp_path, pg_url, "web-1").start()
    pg_cluster.stop_server()
    try:
        with Client(collector.sock) as client:
            client.send_records(*({"type": "chat", "message": f"held {n}"} for n in range(50)))
            wait_for(lambda: "cannot commit" in collector.output(), 15, "the refusal")
        assert collector.stop() == 1, collector.output()
    finally:
        if collector.proc is not None and collector.proc.poll() is None:
            collector.stop(signal.SIGKILL)
        pg_cluster.start_server()
    spill = collector.sock.with_name(collector.sock.name + ".spill.jsonl")
    assert spill.exists(), collector.output()
    assert "records could not be stored" in collector.output()
    again = pg_collector(tmp_path, pg_url, "web-1").start()
    try:
        assert "replayed " in again.output()
        assert not spill.exists()
    finally:
        assert again.stop() == 0, again.output()
    messages = [m for (m,) in fetch(pg_url, "SELECT message FROM records WHERE type = 'chat'")]
    assert sorted(messages) == sorted(f"held {n}" for n in range(50))
    assert fetch(pg_url, "SELECT host FROM records WHERE type = 'chat' GROUP BY host") == [("web-1",)]


def test_a_server_out_of_reach_at_start_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql://logs:s3cret@/logs?host={tmp_path / 'nothing'}"
    result = subprocess.run([sys.executable, "-m", "logconsole", "daemon", "--db", url,
                             "--socket", str(tmp_path / "run" / "s.sock")],
                            capture_output=True, text=True, env=isolated_env(tmp_path), timeout=30)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "cannot connect to postgresql://logs:***@" in errors[0], result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_the_console_starts_a_collector_on_postgresql_without_the_password_on_its_command_line(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from logconsole.collectors.spawn import collector_command, ensure_collector
    from logconsole.store.url import parse_store_url

    for name, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    location = parse_store_url(pg_url.replace("logconsole@", "logconsole:pw@"))
    sock = tmp_path / "run" / "s.sock"
    assert not any("pw" in part for part in collector_command(location, sock, None))
    said = ensure_collector(location, sock, timeout=15)
    assert said.startswith("started a collector"), said
    pid = int(said.split("pid ")[1].rstrip(")"))
    try:
        with Client(sock) as client:
            client.send_records({"type": "chat", "message": "from the console's collector"})
            assert client.sync()[0]["ok"]
        assert fetch(pg_url, "SELECT count(*) FROM records WHERE type = 'chat'") == [(1,)]
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not sock.exists(), 15, "the collector to stop")


def _leader_says(c: Collector) -> bool:
    return "now runs the fleet's retention" in c.output()


def test_retention_runs_once_for_the_fleet_and_another_collector_takes_over(tmp_path: Path, pg_url: str) -> None:
    old = format_ts(utcnow().replace(year=utcnow().year - 1))
    add_to(pg_url, *({"type": "chat", "message": f"old {n}", "created_at": old} for n in range(5)),
           {"type": "chat", "message": "new"})
    web1 = pg_collector(tmp_path, pg_url, "web-1").start()
    web2 = pg_collector(tmp_path, pg_url, "web-2").start()
    try:
        wait_for(lambda: fetch(pg_url, "SELECT value FROM meta WHERE key = %s", (LAST_RUN_KEY,)), 10,
                 "a retention run")
        time.sleep(1.0)  # several lease intervals: a second runner would show by now
        leaders = [c for c in (web1, web2) if _leader_says(c)]
        assert len(leaders) == 1, (web1.output(), web2.output())
        runs = [c for c in (web1, web2) if "retention: removed 5 records" in c.output()]
        assert runs == leaders
        assert [m for (m,) in fetch(pg_url, "SELECT message FROM records WHERE type = 'chat'")] == ["new"]
        first_run = fetch(pg_url, "SELECT value FROM meta WHERE key = %s", (LAST_RUN_KEY,))
        leader = leaders[0]
        other = web2 if leader is web1 else web1
        recorded = json.loads(fetch(pg_url, "SELECT value FROM meta WHERE key = 'fleet_leader'")[0][0])
        assert recorded["host"] == ("web-1" if leader is web1 else "web-2")
        started = time.monotonic()
        leader.stop(signal.SIGKILL)
        wait_for(lambda: _leader_says(other), 10, "the other collector to take over")
        took = time.monotonic() - started
        assert took < 5, took
        time.sleep(0.5)
        # The run of a moment ago holds for the fleet: the new leader does not run it again.
        assert fetch(pg_url, "SELECT value FROM meta WHERE key = %s", (LAST_RUN_KEY,)) == first_run
        assert "retention: removed" not in other.output()
    finally:
        for c in (web1, web2):
            if c.proc is not None and c.proc.poll() is None:
                assert c.stop() == 0, c.output()


def test_the_daemon_says_alert_rules_run_on_postgresql_for_the_fleet(tmp_path: Path, pg_url: str) -> None:
    collector = pg_collector(tmp_path, pg_url, "web-1").start()
    wait_for(lambda: _leader_says(collector), 10, "the collector to lead")
    assert collector.stop() == 0
    said = [line for line in collector.output().splitlines() if "now runs the fleet's retention" in line]
    assert len(said) == 1 and "alert rules" in said[0], collector.output()
    assert "not yet available" not in collector.output()


def test_tailed_file_offsets_are_per_host(pg_url: str) -> None:
    stores = [open_store(pg_url), open_store(pg_url)]
    try:
        for store, host, offset in zip(stores, ("web-1", "web-2"), (100, 200)):
            writer = store.writer()
            writer.host = host  # type: ignore[attr-defined]
            writer.commit([normalize({"type": "chat", "message": host})], [("/var/log/app.log", 7, offset, "h")])
        assert stores[0].file_offsets("web-1") == [("/var/log/app.log", 7, 100, "h")]  # type: ignore[attr-defined]
        assert stores[0].file_offsets("web-2") == [("/var/log/app.log", 7, 200, "h")]  # type: ignore[attr-defined]
    finally:
        for s in stores:
            s.close()


def test_a_collector_tails_from_its_own_hosts_offset(tmp_path: Path, pg_url: str) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    collector = pg_collector(tmp_path, pg_url, "web-1", "--watch", str(log)).start()
    try:
        # A file found at the start is read from its end: wait until it is watched.
        wait_for(lambda: fetch(pg_url, "SELECT 1 FROM file_offsets WHERE path = %s", (str(log),)), 10,
                 "the start offset")
        with log.open("a") as f:
            f.write('{"type": "chat", "message": "two"}\n')
        wait_for(lambda: fetch(pg_url, "SELECT 1 FROM records WHERE message = 'two'"), 10, "the tailed line")
    finally:
        assert collector.stop() == 0, collector.output()
    assert fetch(pg_url, "SELECT host FROM file_offsets WHERE path = %s", (str(log),)) == [("web-1",)]
    with log.open("a") as f:
        f.write('{"type": "chat", "message": "three"}\n')
    again = pg_collector(tmp_path, pg_url, "web-1", "--watch", str(log)).start()
    try:
        wait_for(lambda: fetch(pg_url, "SELECT 1 FROM records WHERE message = 'three'"), 10, "the new line")
    finally:
        assert again.stop() == 0, again.output()
    messages = [m for (m,) in fetch(pg_url, "SELECT message FROM records WHERE type = 'chat' ORDER BY id")]
    assert messages == ["two", "three"]


# -- [store] url: one rule for every command -------------------------------------


@pytest.mark.parametrize("given", ["db", "env", "config", "none"])
def test_which_store_a_command_uses(tmp_path: Path, given: str) -> None:
    files = {name: tmp_path / f"{name}.db" for name in ("db", "env", "config")}
    for name, path in files.items():
        add_to(path, {"type": "chat", "message": f"from {name}"})
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nurl = "{files["config"]}"\n')
    env = {"LOGCONSOLE_CONFIG": str(config), "XDG_DATA_HOME": str(tmp_path / "data")}
    args = ["query", "--format", "jsonl"]
    if given == "db":
        args += ["--db", str(files["db"])]
    if given in ("db", "env"):
        env["LOGCONSOLE_DB"] = str(files["env"])
    else:
        env["LOGCONSOLE_DB"] = ""
    if given == "none":
        config.write_text("[store]\nretention_days = 9\n")
    result = run("", *args, env=env)
    if given == "none":
        assert result.exit_code != 0 and str(tmp_path / "data") in result.output
        return
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["message"] for line in result.output.splitlines()] == [f"from {given}"]


def test_a_bad_store_url_in_the_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "ftp://nowhere"\n')
    result = run("", "query", env={"LOGCONSOLE_CONFIG": str(config), "LOGCONSOLE_DB": ""})
    assert result.exit_code != 0
    assert "[store] url" in result.output and "Traceback" not in result.output


def test_the_docs_say_what_the_collector_does_on_postgresql() -> None:
    docs = Path(__file__).parents[1] / "docs"
    guide = (docs / "postgresql.md").read_text()
    assert f"every {LEASE_INTERVAL:g} seconds" in guide
    assert "one collector of the fleet at a time, on every host's records, up to the commit horizon" in guide
    assert "`logconsole_horizon()`" in guide and "(at least once)" in guide
    assert "fleet's leader only" in (docs / "protocol.md").read_text()
    assert "fleet's leader only" in (docs / "alerts.md").read_text()
    assert "`--host NAME`" in (docs / "protocol.md").read_text()
    assert "else `LOGCONSOLE_DB`, else `url` under\n`[store]`" in (docs / "cli.md").read_text()


def test_postgresql_errors_are_told_apart_in_one_place(pg_url: str) -> None:
    from logconsole.store.postgres.errors import connection_lost, describe, is_transient
    from logconsole.store.url import parse_store_url

    location = parse_store_url(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as victim:
        _terminate_collector_backends(pg_url)
        with pytest.raises(psycopg.Error) as cut:
            victim.execute("SELECT 1")
    assert is_transient(cut.value) and connection_lost(cut.value)
    line = describe(cut.value, location)
    assert line.startswith(location.redacted() + ": ") and "\n" not in line
    with psycopg.connect(pg_url, autocommit=True) as conn:
        role = f"reader_{os.getpid()}_{time.monotonic_ns()}"
        conn.execute(f"CREATE ROLE {role}")  # type: ignore[arg-type]
        conn.execute(f"SET ROLE {role}")  # type: ignore[arg-type]
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("SELECT count(*) FROM meta")
    assert not is_transient(refused.value) and not connection_lost(refused.value)
    assert "permission denied" in describe(refused.value, location)
