"""``resolve``, ``unresolve``, ``delete`` and ``prune`` on a real database, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cli_support import add_to, assert_user_error, run
from logconsole.store.interface import open_store
from logconsole.timeutil import format_ts, utcnow


@pytest.fixture
def db(any_db: Path | str) -> Path | str:
    """The database of each test: a SQLite file, then a PostgreSQL database."""
    return any_db


def added(db: Path | str, **records: dict) -> dict[str, int]:
    """Store ``records`` (by name) through the ingest step; their ids by name."""
    return dict(zip(records, add_to(db, *records.values())))


@pytest.fixture
def ids(db: Path | str) -> dict[str, int]:
    return added(
        db,
        open=dict(type="error", severity="high", message="open error"),
        done=dict(type="error", severity="low", message="done", is_resolved=True,
                  resolution="old note", resolved_by="ops"),
        chat=dict(type="chat", message="hello"),
        act=dict(type="activity", title="page view"),
    )


def stored(db: Path | str, record_id: int) -> dict | None:
    store = open_store(db, readonly=True)
    try:
        return store.get(record_id)
    finally:
        store.close()


# ---------------------------------------------------------------- resolve


def test_resolve_reports_each_id(db: Path | str, ids: dict[str, int]) -> None:
    result = run(db, "resolve", str(ids["open"]), str(ids["done"]), "--note", "fixed in 2.1",
                 "--by", "alice")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{ids['open']}: resolved", f"{ids['done']}: already resolved"]
    row = stored(db, ids["open"])
    assert row["is_resolved"] == 1 and row["resolution"] == "fixed in 2.1" and row["resolved_by"] == "alice"
    assert row["resolved_at"] is not None
    assert stored(db, ids["done"])["resolution"] == "old note"


def test_resolve_unknown_and_non_error_ids_fail(db: Path | str, ids: dict[str, int]) -> None:
    result = run(db, "resolve", str(ids["open"]), str(ids["chat"]), "999")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{ids['open']}: resolved", f"{ids['chat']}: not an error (it is chat)", "999: not found",
    ]
    assert stored(db, ids["open"])["is_resolved"] == 1


def test_resolve_by_defaults_to_user(db: Path | str, ids: dict[str, int]) -> None:
    assert run(db, "resolve", str(ids["open"]), env={"USER": "carol"}).exit_code == 0
    assert stored(db, ids["open"])["resolved_by"] == "carol"


def test_resolve_needs_ids_that_are_numbers(db: Path | str, ids: dict[str, int]) -> None:
    assert_user_error(run(db, "resolve"), "give record ids", "--group")
    assert_user_error(run(db, "resolve", "abc"), "not a valid integer")


def test_unresolve(db: Path | str, ids: dict[str, int]) -> None:
    result = run(db, "unresolve", str(ids["done"]), str(ids["open"]), str(ids["act"]))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{ids['done']}: reopened", f"{ids['open']}: not resolved",
        f"{ids['act']}: not an error (it is activity)",
    ]
    row = stored(db, ids["done"])
    assert row["is_resolved"] == 0 and row["resolution"] is None and row["resolved_by"] is None


# ---------------------------------------------------------------- delete


def test_bare_delete_is_refused(db: Path | str, ids: dict[str, int]) -> None:
    assert_user_error(run(db, "delete", "--yes"), "give ids or a filter", "--all")
    assert_user_error(run(db, "delete", "1", "--type", "chat", "--yes"), "not both")
    assert_user_error(run(db, "delete", "--all", "--type", "chat", "--yes"), "--all")
    assert_user_error(run(db, "delete", "--limit", "0", "--yes"), "give ids or a filter")
    assert all(stored(db, i) is not None for i in ids.values())


def test_delete_without_a_terminal_refuses_instead_of_hanging(db: Path | str, ids: dict[str, int]) -> None:
    result = run(db, "delete", str(ids["chat"]), input="y\n")
    assert_user_error(result, "refusing to delete without --yes when not on a terminal")
    assert stored(db, ids["chat"]) is not None


def test_delete_ids_with_yes(db: Path | str, ids: dict[str, int]) -> None:
    result = run(db, "delete", str(ids["chat"]), str(ids["act"]), "--yes")
    assert result.exit_code == 0 and "deleted 2 records" in result.stderr
    assert stored(db, ids["chat"]) is None and stored(db, ids["act"]) is None
    assert stored(db, ids["open"]) is not None


def test_delete_unknown_id_is_reported(db: Path | str, ids: dict[str, int]) -> None:
    result = run(db, "delete", str(ids["chat"]), "4242", "-y")
    assert result.exit_code == 1
    assert "4242: not found" in result.stderr and "deleted 1 record" in result.stderr
    nothing = run(db, "delete", "4242", "-y")
    assert nothing.exit_code == 1 and "nothing deleted" in nothing.stderr


def test_delete_by_filter(db: Path | str, ids: dict[str, int]) -> None:
    result = run(db, "delete", "--type", "error", "--where", "is_resolved=true", "--yes")
    assert result.exit_code == 0 and "deleted 1 record" in result.stderr
    assert stored(db, ids["done"]) is None and stored(db, ids["open"]) is not None
    none_left = run(db, "delete", "--search", "zebra", "--yes")
    assert none_left.exit_code == 0 and "no records match" in none_left.stderr


def test_delete_with_limit_takes_the_first_in_order(db: Path | str, ids: dict[str, int]) -> None:
    result = run(db, "delete", "--limit", "1", "--order", "oldest", "--yes")
    assert result.exit_code == 0 and "deleted 1 record" in result.stderr
    assert stored(db, ids["open"]) is None and stored(db, ids["done"]) is not None


def test_delete_all(db: Path | str, ids: dict[str, int]) -> None:
    assert "deleted 4 records" in run(db, "delete", "--all", "--yes").stderr
    assert all(stored(db, i) is None for i in ids.values())


def _delete_on_a_terminal(db: Path | str, answer: bytes, *args: str, ci: str = "") -> subprocess.CompletedProcess:
    """``logconsole delete ARGS`` in a child whose stdin is a real terminal."""
    master, slave = pty.openpty()
    try:
        os.write(master, answer)
        env = {**os.environ, "LOGCONSOLE_DB": str(db), "CI": ci}
        return subprocess.run(
            [sys.executable, "-m", "logconsole", "delete", *args], stdin=slave,
            capture_output=True, text=True, env=env, timeout=30,
        )
    finally:
        os.close(slave)
        os.close(master)


def test_delete_asks_on_a_terminal_showing_the_count(db: Path | str, ids: dict[str, int]) -> None:
    declined = _delete_on_a_terminal(db, b"n\n", "--type", "error")
    assert "Delete 2 records? [y/N]" in declined.stderr
    assert declined.returncode == 1 and "nothing deleted" in declined.stderr
    assert stored(db, ids["open"]) is not None
    accepted = _delete_on_a_terminal(db, b"y\n", "--type", "error")
    assert accepted.returncode == 0, accepted.stderr
    assert "deleted 2 records" in accepted.stderr
    assert stored(db, ids["open"]) is None and stored(db, ids["chat"]) is not None


def test_delete_in_ci_refuses_even_on_a_terminal(db: Path | str, ids: dict[str, int]) -> None:
    result = _delete_on_a_terminal(db, b"y\n", str(ids["chat"]), ci="true")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: refusing to delete without --yes when not on a terminal"
    assert stored(db, ids["chat"]) is not None


# ---------------------------------------------------------------- prune


@pytest.fixture
def aged(db: Path | str) -> dict[str, int]:
    old = format_ts(utcnow() - timedelta(days=100))
    mid = format_ts(utcnow() - timedelta(days=40))
    return added(
        db,
        old_activity=dict(type="activity", title="old", created_at=old),
        old_resolved=dict(type="error", message="old fixed", is_resolved=True, created_at=old),
        old_open=dict(type="error", message="old open", created_at=old),
        old_acting=dict(type="system", status="critical", requires_action=True, created_at=old),
        old_calm=dict(type="system", status="healthy", created_at=old),
        mid_chat=dict(type="chat", message="40 days ago", created_at=mid),
        new_chat=dict(type="chat", message="today"),
    )


def survivors(db: Path | str, aged: dict[str, int]) -> set[str]:
    return {name for name, i in aged.items() if stored(db, i) is not None}


def test_prune_keeps_unresolved_errors_and_actions(db: Path | str, aged: dict[str, int]) -> None:
    dry = run(db, "prune", "--dry-run")
    assert dry.exit_code == 0 and "would delete 3 records older than 90 days" in dry.stderr
    assert len(survivors(db, aged)) == 7
    result = run(db, "prune")
    assert result.exit_code == 0 and "pruned 3 records older than 90 days" in result.stderr
    assert survivors(db, aged) == {"old_open", "old_acting", "mid_chat", "new_chat"}


def test_prune_days_option_and_config(tmp_path: Path, db: Path | str, aged: dict[str, int]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[store]\nretention_days = 30\n")
    result = run(db, "prune", "--config", str(config))
    assert "older than 30 days" in result.stderr
    assert survivors(db, aged) == {"old_open", "old_acting", "new_chat"}
    assert run(db, "prune", "--days", "0").exit_code == 0
    assert survivors(db, aged) == {"old_open", "old_acting"}


def test_prune_mistakes(tmp_path: Path, db: Path | str, aged: dict[str, int]) -> None:
    assert_user_error(run(db, "prune", "--days", "-1"))
    assert_user_error(run(db, "prune", "--config", str(tmp_path / "missing.toml")), "does not exist")


def test_records_arriving_during_the_question_are_not_deleted(db: Path | str, ids: dict[str, int]) -> None:
    """The count shown is what goes: a record stored after the count survives."""
    master, slave = pty.openpty()
    env = {**os.environ, "LOGCONSOLE_DB": str(db), "CI": ""}
    proc = subprocess.Popen([sys.executable, "-m", "logconsole", "delete", "--type", "chat"],
                            stdin=slave, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        prompt = proc.stderr.read(len("Delete 1 record?"))
        assert prompt == "Delete 1 record?"
        late = add_to(db, dict(type="chat", message="arrived while asking"))[0]
        os.write(master, b"y\n")
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(slave)
        os.close(master)
    assert stored(db, ids["chat"]) is None
    assert stored(db, late) is not None
