"""``logconsole tui`` and the bare ``logconsole``: options and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from logconsole.cli import cli


def test_tui_help_lists_the_console_options() -> None:
    result = CliRunner().invoke(cli, ["tui", "--help"])
    assert result.exit_code == 0
    for option in ("--db", "--socket", "--config", "--read-only", "--no-collector", "--no-mouse", "--ansi"):
        assert option in result.output


def test_bare_command_takes_the_same_options() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "--no-collector" in result.output and "--read-only" in result.output


def test_read_only_needs_an_existing_database(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = CliRunner().invoke(cli, ["tui", "--db", str(missing), "--read-only", "--no-collector"])
    assert result.exit_code != 0
    assert "no database at" in result.output
    assert "Traceback" not in result.output
    assert not missing.exists()


def test_a_bad_config_is_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[health\n")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "--config", str(config), "--no-collector"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "Error" in result.output


def test_an_unreachable_postgresql_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://logs:s3cret@/logs?host={tmp_path}&port=1"
    result = CliRunner().invoke(cli, ["tui", "--db", url, "--read-only"])
    assert result.exit_code != 0
    assert "cannot connect to postgresql://logs:***@" in result.output
    assert "s3cret" not in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_console_on_postgresql_starts_no_collector_and_says_so(
    pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from logconsole.collectors import spawn
    from logconsole.commands.tui_command import NO_COLLECTOR_FOR_POSTGRESQL
    from logconsole.screens.app import LogConsoleApp

    started: list[object] = []
    opened: list[LogConsoleApp] = []
    monkeypatch.setattr(spawn, "ensure_collector", lambda *a: started.append(a))
    monkeypatch.setattr(LogConsoleApp, "run", lambda self, **kw: opened.append(self))
    monkeypatch.setenv("LOGCONSOLE_DB", pg_url)
    result = CliRunner().invoke(cli, ["tui"])
    assert result.exit_code == 0, result.output
    assert not started
    (app,) = opened
    assert app.location.backend == "postgresql" and app.startup_message == NO_COLLECTOR_FOR_POSTGRESQL
    assert len(NO_COLLECTOR_FOR_POSTGRESQL.splitlines()) == 1
