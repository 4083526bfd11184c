"""``logconsole tui`` and the bare ``logconsole``: options and clear errors."""

from __future__ import annotations

from pathlib import Path

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
