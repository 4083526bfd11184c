"""Every store command: help with an example, the database from the
environment, stats, and the real ``python -m logconsole`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli_support import add, add_to, assert_user_error, run
from logconsole.commands.store_commands import COMMANDS
from logconsole.store.db import connect
from logconsole.store.url import redacted_url

NAMES = sorted(c.name for c in COMMANDS)


def test_the_store_commands_are_registered() -> None:
    assert set(NAMES) >= {"import", "query", "export", "resolve", "unresolve", "delete", "prune",
                          "stats", "demo"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_ends_with_an_example(name: str, flag: str, db_path: Path) -> None:
    result = run(db_path, name, flag)
    assert result.exit_code == 0
    assert "Example" in result.stdout
    assert "LOGCONSOLE_DB" in result.stdout
    example_at = result.stdout.index("Example")
    assert f"logconsole {name}" in result.stdout[example_at:]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_docstrings_keep_examples_unwrapped(command: click.Command) -> None:
    """``\\b`` before the examples keeps click from re-flowing them into one line."""
    import re

    assert re.search(r"\x08\s*\n\s*Examples?:\n", command.help or "")


def test_env_database_and_the_db_option(tmp_path: Path) -> None:
    env_db = tmp_path / "env.db"
    flag_db = tmp_path / "flag.db"
    conn = connect(env_db)
    add(conn, type="chat", message="from env")
    conn.close()
    assert "from env" in run(env_db, "query", "-f", "jsonl").stdout
    result = run(env_db, "demo", "--count", "5", "--db", str(flag_db))
    assert result.exit_code == 0 and str(flag_db) in result.stderr
    assert json.loads(run(env_db, "stats", "--json").stdout)["records"] == 1
    assert json.loads(run(flag_db, "stats", "--json").stdout)["records"] == 5


def test_stats(any_db: Path | str) -> None:
    add_to(any_db,
           dict(type="error", severity="critical", message="a", created_at="2026-11-01T00:00:00Z"),
           dict(type="error", severity="critical", message="b"),
           dict(type="error", severity="low", message="c", is_resolved=True),
           dict(type="chat", message="d"))
    numbers = json.loads(run(any_db, "stats", "--json").stdout)
    assert numbers["records"] == 4
    assert numbers["by_type"] == {"activity": 0, "error": 3, "ai": 0, "chat": 1, "system": 0}
    assert numbers["unresolved_errors"] == {"critical": 2, "high": 0, "medium": 0, "low": 0}
    assert numbers["oldest"] == "2026-11-01T00:00:00.000000Z"
    assert numbers["last_minute"] == 3 and numbers["last_hour"] == 3
    assert numbers["size_bytes"] > 0 and numbers["database"] == redacted_url(str(any_db))
    text = run(any_db, "stats").stdout
    assert "records     4" in text
    assert "unresolved  2 errors (critical 2, high 0, medium 0, low 0)" in text
    assert "ingest rate 3 in the last minute, 3 in the last hour" in text
    assert "KB" in text or "MB" in text
    if isinstance(any_db, str):  # PostgreSQL: the database's size and the record tables' share of it
        assert 0 < numbers["records_bytes"] <= numbers["database_bytes"] == numbers["size_bytes"]
        assert "wal_bytes" not in numbers and "records and their indexes" in text


def test_stats_show_the_last_retention_run_on_postgresql(pg_url: str) -> None:
    add_to(pg_url, dict(type="chat", message="old", created_at="2025-01-01T00:00:00Z"),
           dict(type="chat", message="new"))
    assert "pruned 1 record older than 30 days" in run(pg_url, "prune", "--days", "30").stderr
    numbers = json.loads(run(pg_url, "stats", "--json").stdout)
    assert numbers["records"] == 1
    assert numbers["retention"]["last_run"]["removed"] == 1 and numbers["retention"]["last_run"]["days"] == 30
    assert numbers["forward"] is None


def test_stats_on_no_database(tmp_path: Path) -> None:
    assert_user_error(run(tmp_path / "nothing.db", "stats"), "no database at")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database\n" * 100)
    assert_user_error(run(bogus, "query"), str(bogus))


def _cli(db_path: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOGCONSOLE_DB": str(db_path), "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "logconsole", *args], input=input,
                          capture_output=True, text=True, env=env, timeout=60)


def test_real_process_round_trip(tmp_path: Path, db_path: Path) -> None:
    lines = "\n".join([
        json.dumps({"type": "error", "severity": "high", "message": "disk full", "statusCode": 507}),
        "not json at all",
        json.dumps({"type": "ai", "model": "gpt-4o", "tokens": 12}),
    ])
    imported = _cli(db_path, "import", "-", input=lines + "\n")
    assert imported.returncode == 1
    assert imported.stderr.splitlines() == [
        "<stdin>:2: invalid JSON: Expecting value at column 1",
        "imported 2 records, rejected 1",
    ]
    out = _cli(db_path, "query", "--order", "oldest", "--format", "jsonl")
    assert out.returncode == 0
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert records[0]["status_code"] == 507 and records[1]["ai_model"] == "gpt-4o"
    resolved = _cli(db_path, "resolve", str(records[0]["id"]), "--note", "cleaned up")
    assert resolved.returncode == 0 and resolved.stdout == f"{records[0]['id']}: resolved\n"


def test_real_process_errors_are_one_line(tmp_path: Path, db_path: Path) -> None:
    _cli(db_path, "demo", "--count", "20")
    for args in (["query", "--where", "nosuch=1"], ["export", "--since", "someday"],
                 ["import", str(tmp_path / "missing.jsonl")], ["resolve", "x"]):
        result = _cli(db_path, *args)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert sum(line.startswith("Error:") for line in result.stderr.splitlines()) == 1, result.stderr
    missing = _cli(tmp_path / "absent.db", "query")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1


def test_export_into_a_closed_pipe_is_quiet(db_path: Path) -> None:
    _cli(db_path, "demo", "--count", "3000")
    env = {**os.environ, "LOGCONSOLE_DB": str(db_path)}
    pipeline = subprocess.run(
        f"{sys.executable} -m logconsole export | head -1", shell=True, capture_output=True,
        text=True, env=env, timeout=60,
    )
    assert len(pipeline.stdout.splitlines()) == 1
    assert "Traceback" not in pipeline.stderr and "Error" not in pipeline.stderr


def _with_terminal_stderr(db_path: Path, *args: str) -> tuple[int, str]:
    """Run ``logconsole ARGS`` with stderr on a real terminal; exit status and what it showed."""
    import pty
    import threading

    master, slave = pty.openpty()
    shown: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "LOGCONSOLE_DB": str(db_path), "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.run([sys.executable, "-m", "logconsole", *args], stderr=slave,
                          stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, timeout=60)
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, b"".join(shown).decode("utf-8", "replace")


def test_progress_bars_on_a_terminal(tmp_path: Path, db_path: Path) -> None:
    source = tmp_path / "many.jsonl"
    source.write_text("".join(json.dumps({"type": "chat", "message": f"m{i}"}) + "\n" for i in range(3000)))
    code, shown = _with_terminal_stderr(db_path, "import", "--batch-size", "500", str(source))
    assert code == 0 and "importing" in shown and "imported 3,000 records, rejected 0" in shown
    target = tmp_path / "out.jsonl"
    code, shown = _with_terminal_stderr(db_path, "export", "-o", str(target))
    assert code == 0 and "exporting to out.jsonl" in shown and "exported 3,000 records" in shown
    assert len(target.read_text().splitlines()) == 3000


def test_paths_given_before_the_command_hold_for_it(tmp_path: Path) -> None:
    """``logconsole --db X query`` reads X, not the default database."""
    chosen = tmp_path / "chosen.db"
    conn = connect(chosen)
    add(conn, type="error", message="only in the chosen database")
    conn.close()
    env = {k: v for k, v in os.environ.items() if k != "LOGCONSOLE_DB"}
    out = subprocess.run(
        [sys.executable, "-m", "logconsole", "--db", str(chosen), "query", "--format", "jsonl"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["message"] for line in out.stdout.splitlines()] == [
        "only in the chosen database"
    ]


# ---------------------------------------------------------------- PostgreSQL


def test_every_command_takes_a_postgresql_url_but_doctor(pg_url: str, tmp_path: Path) -> None:
    secret = pg_url.replace("logconsole@", "logconsole:s3cret@")
    source = tmp_path / "errorlogs.json"
    source.write_text('{"message": "imported", "severity": "high"}\n')
    for args in (("demo", "--count", "40", "--seed", "1"), ("import", str(source)), ("query", "-f", "jsonl"),
                 ("query", "--related", "1"), ("export",), ("stats",), ("groups",), ("alerts",),
                 ("alerts", "test", "critical"), ("prune", "--dry-run"), ("resolve", "--group", "1"),
                 ("unresolve", "--group", "1"), ("ignore", "--group", "1"), ("delete", "1", "--yes")):
        result = run(secret, *args)
        assert result.exit_code == 0, (args, result.output)
        assert "s3cret" not in result.output
    doctor = run(secret, "doctor")
    assert doctor.exit_code == 2 and "Traceback" not in doctor.output
    (line,) = doctor.stderr.splitlines()
    assert "logconsole:***@" in line and "pg_amcheck" in line and "s3cret" not in line
    doc = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    assert "every command takes a PostgreSQL database" in doc
    assert "`doctor` checks a SQLite file only" in doc


UNREACHABLE_COMMANDS = [
    ("query",), ("query", "--follow"), ("export",), ("stats",), ("groups",), ("alerts",), ("prune",),
    ("resolve", "1"), ("unresolve", "--group", "1"), ("ignore", "--group", "1"), ("delete", "--all", "--yes"),
    ("import", "-"), ("demo", "--count", "1"),
]


@pytest.mark.parametrize("args", UNREACHABLE_COMMANDS, ids=" ".join)
def test_a_postgresql_that_cannot_be_reached_is_one_line(pg_cluster, tmp_path: Path, args: tuple[str, ...]) -> None:
    """A database that does not exist, a server that is not running: one
    line naming the URL (no password), exit 1, no traceback."""
    missing_db = pg_cluster.url("no_such_database").replace("logconsole@", "logconsole:s3cret@")
    no_server = f"postgresql://logconsole:s3cret@/logs?host={tmp_path}"
    for url in (missing_db, no_server):
        result = run(url, *args, input='{"type": "chat", "message": "m"}\n')
        assert result.exit_code == 1, (url, result.output)
        assert_user_error(result, "logconsole:***@")
        assert "s3cret" not in result.output


def test_alerts_show_the_rule_states_the_collectors_keep_in_postgresql(pg_url: str) -> None:
    import psycopg

    from logconsole.alert_rules import STATE_PREFIX, RuleState

    state = RuleState("2026-11-29T10:00:00.000000Z", firings=3, matched=7, suppressed=1, failures=2)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s)", (STATE_PREFIX + "critical", state.as_json()))
    rows = {r["name"]: r for r in json.loads(run(pg_url, "alerts", "--format", "json").stdout)}
    assert (rows["critical"]["firings"], rows["critical"]["matched"], rows["critical"]["failures"]) == (3, 7, 2)
    assert rows["critical"]["last_fired"] == "2026-11-29T10:00:00.000000Z"
    assert rows["regression"]["firings"] == 0
    add_to(pg_url, dict(type="error", severity="critical", message="disk full"))
    tried = run(pg_url, "alerts", "test", "critical")
    assert tried.exit_code == 0 and "1 stored records match: it would fire" in tried.stdout
    assert "disk full" in tried.stdout


def test_a_postgresql_database_without_logconsole_tables_is_refused_but_by_import_and_demo(
        pg_cluster, tmp_path: Path) -> None:
    """As a missing file is: the commands that add records make the tables, the others say there is none."""
    pg_cluster.execute("CREATE DATABASE empty_for_cli")
    url = pg_cluster.url("empty_for_cli")
    try:
        for args in (("query",), ("stats",), ("groups",), ("resolve", "1"), ("ignore", "--group", "1"),
                     ("delete", "--all", "--yes"), ("prune",), ("alerts",)):
            assert_user_error(run(url, *args), "no logconsole database at")
        source = tmp_path / "chat.jsonl"
        source.write_text('{"type": "chat", "message": "first"}\n')
        assert run(url, "import", str(source)).exit_code == 0
        assert json.loads(run(url, "stats", "--json").stdout)["records"] == 1
    finally:
        pg_cluster.drop(url)


@pytest.mark.parametrize("args", [("query",), ("stats",), ("groups",), ("resolve", "1"), ("prune",)], ids=" ".join)
def test_a_postgresql_refusal_mid_command_is_one_line(pg_cluster, pg_url: str, args: tuple[str, ...]) -> None:
    """A role that may connect but not read the tables: PostgreSQL's reason, one line, the URL named."""
    pg_cluster.execute("DO $$ BEGIN CREATE ROLE stranger LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    url = pg_url.replace("logconsole@", "stranger:s3cret@")
    result = run(url, *args)
    assert result.exit_code == 1
    assert_user_error(result, "stranger:***@", "permission denied")
    assert "s3cret" not in result.output
