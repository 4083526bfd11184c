"""A really damaged database file: one clear line from every command, and a
collector that refuses to start on it rather than acknowledge records into it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from collector_support import Collector, can_connect, isolated_env
from damage_support import damage_indexes, damage_records, filled_db, is_malformed

from cli_support import run
from logconsole.store.errors import DAMAGED


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    path = filled_db(tmp_path / "logs.db")
    damage_records(path)
    damage_indexes(path)
    assert is_malformed(path)
    return path


def _one_damage_line(result) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and DAMAGED in errors[0], result.stderr


@pytest.mark.parametrize("args", [
    ("stats",),
    ("stats", "--json"),
    ("export",),
    ("export", "--format", "csv"),
    ("query", "--order", "oldest", "--limit", "0"),
    ("query", "--format", "jsonl"),
    ("prune", "--days", "0"),
    ("delete", "--all", "--yes"),
    ("delete", "--search", "timeouts", "--yes"),
], ids=" ".join)
def test_every_command_says_the_file_is_damaged_in_one_line(damaged: Path, args: tuple[str, ...]) -> None:
    _one_damage_line(run(damaged, *args))


def test_import_refuses_a_damaged_file_before_storing_anything(damaged: Path, tmp_path: Path) -> None:
    source = tmp_path / "new.jsonl"
    source.write_text('{"type": "activity", "message": "not into a damaged file"}\n')
    before = damaged.read_bytes()
    _one_damage_line(run(damaged, "import", str(source)))
    assert damaged.read_bytes() == before
    assert not Path(f"{damaged}-wal").exists() or Path(f"{damaged}-wal").stat().st_size == 0


def test_the_collector_refuses_a_damaged_file_and_accepts_nothing(damaged: Path, tmp_path: Path) -> None:
    c = Collector(tmp_path, db=damaged)
    out = subprocess.run(c.command(), capture_output=True, text=True, timeout=30, env=isolated_env(tmp_path))
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "logconsole doctor" in lines[0], out.stderr
    assert "first problem found: Page " in lines[0]
    assert not can_connect(c.sock)


def test_a_check_that_runs_out_of_time_lets_the_collector_start(tmp_path: Path) -> None:
    db = filled_db(tmp_path / "logs.db")
    c = Collector(tmp_path, "--check-seconds", "0.000001", db=db).start()
    try:
        assert "did not finish" in c.output()
    finally:
        assert c.stop() == 0
