"""Helpers for the CLI tests: run the real command on a real database file."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from logconsole.cli import cli
from logconsole.ingest import normalize
from logconsole.store.writer import insert_row


def run(db_path: Path | str, *args: str, input: str | bytes | None = None,
        env: Mapping[str, str] | None = None) -> Result:
    """``logconsole ARGS`` with ``LOGCONSOLE_DB`` pointing at ``db_path``.

    Exceptions are not caught: a traceback fails the test instead of hiding
    in the output.
    """
    runner = CliRunner()
    full_env = {"LOGCONSOLE_DB": str(db_path), "COLUMNS": "100", "CI": "", **(env or {})}
    return runner.invoke(cli, list(args), input=input, env=full_env, catch_exceptions=False)


def add(conn: sqlite3.Connection, **record: Any) -> int:
    """Store one record through the ingest step; its id."""
    return insert_row(conn, normalize(record))


def assert_user_error(result: Result, *words: str) -> None:
    """A user mistake: non-zero exit, an ``Error:`` line saying ``words``, no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def add_to(db: Path | str, *records: dict[str, Any]) -> list[int]:
    """Store ``records`` through the ingest step in the store at ``db`` (a file
    or a ``postgresql://`` URL); their ids."""
    from logconsole.store.interface import open_store

    store = open_store(db)
    try:
        return store.insert([normalize(r) for r in records])
    finally:
        store.close()
