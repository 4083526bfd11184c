"""``logconsole query`` and ``logconsole export``: filters, formats, tables, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import pytest

from cli_support import add_to, assert_user_error, run


@pytest.fixture
def seeded(any_db: Path | str) -> dict[str, int]:
    """A small database with every kind, at known times (ids by name)."""
    records = {
        "login": dict(type="activity", level="info", category="security", title="User login",
                      method="post", status_code=200, duration_ms=180, created_at="2026-11-18T08:00:00Z"),
        "crash": dict(type="error", severity="critical", error_type="TypeError",
                      message="Cannot read properties of undefined", endpoint="/api/courses/1",
                      created_at="2026-11-19T09:00:00Z"),
        "minor": dict(type="error", severity="low", message="email must be an email",
                      is_resolved=True, created_at="2026-11-19T10:00:00Z"),
        "gpt": dict(type="ai", ai_model="gpt-4o", prompt="Summarise lesson 3", tokens_used=412,
                    response_time_ms=1830, created_at="2026-11-20T09:00:00Z"),
        "chat": dict(type="chat", chat_type="support", sender_name="Linus",
                     message="My payment failed twice", created_at="2026-11-20T10:00:00Z"),
        "health": dict(type="system", status="critical", message="CPU 95%",
                       metrics={"cpu_usage": 95}, requires_action=True, created_at="2026-11-20T11:00:00Z"),
    }
    return dict(zip(records, add_to(any_db, *records.values())))


def jsonl(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


# ---------------------------------------------------------------- filters


def test_type_filter_and_default_order(any_db: Path | str, seeded: dict[str, int]) -> None:
    out = jsonl(run(any_db, "query", "--type", "error", "--format", "jsonl"))
    assert [r["id"] for r in out] == [seeded["minor"], seeded["crash"]]
    both = jsonl(run(any_db, "query", "-t", "ai", "-t", "chat", "-f", "jsonl"))
    assert {r["type"] for r in both} == {"ai", "chat"}


def test_order_oldest_and_limit(any_db: Path | str, seeded: dict[str, int]) -> None:
    out = jsonl(run(any_db, "query", "--order", "oldest", "--limit", "2", "-f", "jsonl"))
    assert [r["id"] for r in out] == [seeded["login"], seeded["crash"]]


def test_since_until(any_db: Path | str, seeded: dict[str, int]) -> None:
    out = jsonl(run(any_db, "query", "--since", "2026-11-19T00:00:00Z",
                    "--until", "2026-11-20T09:30:00Z", "-f", "jsonl"))
    assert [r["id"] for r in out] == [seeded["gpt"], seeded["minor"], seeded["crash"]]


def test_search(any_db: Path | str, seeded: dict[str, int]) -> None:
    out = jsonl(run(any_db, "query", "--search", "payment failed", "-f", "jsonl"))
    assert [r["id"] for r in out] == [seeded["chat"]]
    # Not valid FTS syntax: searched as plain words, never an error.
    result = run(any_db, "query", "--search", 'undefined"(', "-f", "jsonl")
    assert result.exit_code == 0 and [r["id"] for r in jsonl(result)] == [seeded["crash"]]


def test_where_with_coercion(any_db: Path | str, seeded: dict[str, int]) -> None:
    out = jsonl(run(any_db, "query", "--where", "severity=CRITICAL", "--where", "is_resolved=false",
                    "-f", "jsonl"))
    assert [r["id"] for r in out] == [seeded["crash"]]
    out = jsonl(run(any_db, "query", "--where", "metrics.cpu_usage>90", "-f", "jsonl"))
    assert [r["id"] for r in out] == [seeded["health"]]


def test_camel_case_alias_in_where(any_db: Path | str, seeded: dict[str, int]) -> None:
    out = jsonl(run(any_db, "query", "--where", "aiModel=gpt-4o", "-f", "jsonl"))
    assert [r["id"] for r in out] == [seeded["gpt"]]


def test_filter_mistakes_are_one_line_errors(any_db: Path | str, seeded: dict[str, int]) -> None:
    assert_user_error(run(any_db, "query", "--where", "colour=red"), "unknown field 'colour'")
    assert_user_error(run(any_db, "query", "--where", "status_code=abc"), "integer")
    assert_user_error(run(any_db, "query", "--since", "last tuesday"), "cannot read time")
    assert_user_error(run(any_db, "query", "--type", "metrics"), "unknown type")
    assert_user_error(run(any_db, "query", "--since", "1h", "--until", "2h"), "is not before")
    assert_user_error(run(any_db, "query", "--limit", "-1"))
    assert_user_error(run(any_db, "query", "--format", "xml"))
    assert_user_error(run(any_db, "query", "--columns", "nope"), "unknown field 'nope'")
    assert_user_error(run(any_db, "query", "--columns", "id", "-f", "csv"), "--columns is for the table")


def test_missing_database_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    assert_user_error(run(db, "query"), "no database at", "logconsole demo")
    assert not db.exists()


# ---------------------------------------------------------------- formats


def test_json_format_parses_back(any_db: Path | str, seeded: dict[str, int]) -> None:
    data = json.loads(run(any_db, "query", "-f", "json").stdout)
    assert len(data) == 6
    health = next(r for r in data if r["id"] == seeded["health"])
    assert health["metrics"] == {"cpu_usage": 95} and health["requires_action"] is True
    assert health["created_at"] == "2026-11-20T11:00:00.000000Z"


def test_csv_format_parses_back_with_one_header(any_db: Path | str, seeded: dict[str, int]) -> None:
    rows = list(csv.DictReader(io.StringIO(run(any_db, "query", "-t", "ai", "-f", "csv").stdout)))
    assert len(rows) == 1
    assert rows[0]["ai_model"] == "gpt-4o" and rows[0]["tokens_used"] == "412"
    assert "severity" not in rows[0]  # columns of the asked type only


def test_csv_cells_never_run_as_formulas(any_db: Path | str) -> None:
    add_to(any_db, dict(type="error", message="=HYPERLINK(\"http://x\",\"y\")", error_type="+cmd", endpoint="@sum"),
           dict(type="error", message="-2+3"))
    out = run(any_db, "export", "-t", "error", "-f", "csv", "--order", "oldest").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["message"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert rows[0]["error_type"] == "'+cmd" and rows[0]["endpoint"] == "'@sum"
    assert rows[1]["message"] == "'-2+3"


# ---------------------------------------------------------------- table


def test_table_for_several_types_has_level_and_summary(any_db: Path | str, seeded: dict[str, int]) -> None:
    result = run(any_db, "query")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "time", "type", "level", "summary"]
    crash = next(line for line in lines if line.split()[0] == str(seeded["crash"]))
    assert "error" in crash and "critical" in crash and "Cannot read properties" in crash
    assert "showing" not in result.stderr


def test_table_for_one_type_has_its_columns(any_db: Path | str, seeded: dict[str, int]) -> None:
    lines = run(any_db, "query", "-t", "ai").stdout.splitlines()
    assert lines[0].split() == ["id", "time", "model", "status", "tokens", "ms", "prompt"]
    assert "gpt-4o" in lines[2] and "412" in lines[2] and "1,830" in lines[2]


def test_table_columns_option(any_db: Path | str, seeded: dict[str, int]) -> None:
    lines = run(any_db, "query", "-t", "error", "--columns", "id,errorType,summary").stdout.splitlines()
    assert lines[0].split() == ["id", "error", "type", "summary"]


def test_table_fits_the_terminal(any_db: Path | str) -> None:
    add_to(any_db, dict(type="error", message="long " * 100, error_type="E" * 60, endpoint="/api/" + "x" * 80))
    for width in (60, 80, 132):
        result = run(any_db, "query", "-t", "error", env={"COLUMNS": str(width)})
        assert all(len(line) <= width for line in result.stdout.splitlines()), width
        assert "…" in result.stdout


def test_table_cannot_paint_the_terminal(any_db: Path | str) -> None:
    add_to(any_db, dict(type="chat", message="[bold]x[/bold] \x1b[2J\x1b]52;c;cHduZWQ=\x07 hi\r\nthere"))
    out = run(any_db, "query", "-t", "chat", env={"COLUMNS": "200"}).stdout
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "[bold]x[/bold] \\e[2J\\e]52;c;cHduZWQ=\\a hi\\r⏎there" in out


def test_table_shows_fifty_and_says_how_many_more(any_db: Path | str) -> None:
    add_to(any_db, *[{"type": "chat", "message": f"m{i}"} for i in range(60)])
    result = run(any_db, "query")
    assert len(result.stdout.splitlines()) == 52  # header, rule, 50 rows
    assert "showing 50 of 60; use --limit" in result.stderr
    everything = run(any_db, "query", "--limit", "0")
    assert len(everything.stdout.splitlines()) == 62 and "showing" not in everything.stderr
    assert len(jsonl(run(any_db, "query", "-f", "jsonl"))) == 60  # no default limit


def test_no_match_says_so(any_db: Path | str, seeded: dict[str, int]) -> None:
    result = run(any_db, "query", "--search", "zebra")
    assert result.exit_code == 0 and result.stdout == "" and "no records match" in result.stderr


# ---------------------------------------------------------------- export


def test_export_defaults_to_jsonl_on_stdout(any_db: Path | str, seeded: dict[str, int]) -> None:
    out = jsonl(run(any_db, "export", "--type", "system"))
    assert [r["id"] for r in out] == [seeded["health"]]
    assert jsonl(run(any_db, "export", "--type", "system", "-o", "-")) == out


def test_export_to_a_private_file(tmp_path: Path, any_db: Path | str, seeded: dict[str, int]) -> None:
    target = tmp_path / "out" / "errors.csv"
    target.parent.mkdir()
    result = run(any_db, "export", "-t", "error", "-f", "csv", "--output", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert f"exported 2 records to {target}" in result.stderr
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [r["severity"] for r in csv.DictReader(target.open())] == ["low", "critical"]
    assert [p.name for p in target.parent.iterdir()] == ["errors.csv"]  # no partial file left


def test_export_json_with_limit_and_order(tmp_path: Path, any_db: Path | str, seeded: dict[str, int]) -> None:
    target = tmp_path / "two.json"
    assert run(any_db, "export", "-f", "json", "--limit", "2", "--order", "oldest", "-o", str(target)).exit_code == 0
    assert [r["id"] for r in json.loads(target.read_text())] == [seeded["login"], seeded["crash"]]


def test_export_to_a_directory_is_an_error(tmp_path: Path, any_db: Path | str, seeded: dict[str, int]) -> None:
    assert_user_error(run(any_db, "export", "-o", str(tmp_path)))
