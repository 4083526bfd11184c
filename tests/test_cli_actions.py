"""``resolve``, ``unresolve``, ``delete`` and ``prune`` on a real database."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cli_support import add, assert_user_error, run
from logconsole.store.db import connect
from logconsole.store.query import get
from logconsole.timeutil import format_ts, utcnow


@pytest.fixture
def ids(db_path: Path) -> dict[str, int]:
    conn = connect(db_path)
    out = {
        "open": add(conn, type="error", severity="high", message="open error"),
        "done": add(conn, type="error", severity="low", message="done", is_resolved=True,
                    resolution="old note", resolved_by="ops"),
        "chat": add(conn, type="chat", message="hello"),
        "act": add(conn, type="activity", title="page view"),
    }
    conn.close()
    return out


def stored(db_path: Path, record_id: int) -> dict | None:
    conn = connect(db_path)
    try:
        return get(conn, record_id)
    finally:
        conn.close()


# ---------------------------------------------------------------- resolve


def test_resolve_reports_each_id(db_path: Path, ids: dict[str, int]) -> None:
    result = run(db_path, "resolve", str(ids["open"]), str(ids["done"]), "--note", "fixed in 2.1",
                 "--by", "alice")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{ids['open']}: resolved", f"{ids['done']}: already resolved"]
    row = stored(db_path, ids["open"])
    assert row["is_resolved"] == 1 and row["resolution"] == "fixed in 2.1" and row["resolved_by"] == "alice"
    assert row["resolved_at"] is not None
    assert stored(db_path, ids["done"])["resolution"] == "old note"


def test_resolve_unknown_and_non_error_ids_fail(db_path: Path, ids: dict[str, int]) -> None:
    result = run(db_path, "resolve", str(ids["open"]), str(ids["chat"]), "999")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{ids['open']}: resolved", f"{ids['chat']}: not an error (it is chat)", "999: not found",
    ]
    assert stored(db_path, ids["open"])["is_resolved"] == 1


def test_resolve_by_defaults_to_user(db_path: Path, ids: dict[str, int]) -> None:
    assert run(db_path, "resolve", str(ids["open"]), env={"USER": "carol"}).exit_code == 0
    assert stored(db_path, ids["open"])["resolved_by"] == "carol"


def test_resolve_needs_ids_that_are_numbers(db_path: Path, ids: dict[str, int]) -> None:
    assert_user_error(run(db_path, "resolve"), "give record ids", "--group")
    assert_user_error(run(db_path, "resolve", "abc"), "not a valid integer")


def test_unresolve(db_path: Path, ids: dict[str, int]) -> None:
    result = run(db_path, "unresolve", str(ids["done"]), str(ids["open"]), str(ids["act"]))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{ids['done']}: reopened", f"{ids['open']}: not resolved",
        f"{ids['act']}: not an error (it is activity)",
    ]
    row = stored(db_path, ids["done"])
    assert row["is_resolved"] == 0 and row["resolution"] is None and row["resolved_by"] is None


# ---------------------------------------------------------------- delete


def test_bare_delete_is_refused(db_path: Path, ids: dict[str, int]) -> None:
    assert_user_error(run(db_path, "delete", "--yes"), "give ids or a filter", "--all")
    assert_user_error(run(db_path, "delete", "1", "--type", "chat", "--yes"), "not both")
    assert_user_error(run(db_path, "delete", "--all", "--type", "chat", "--yes"), "--all")
    assert_user_error(run(db_path, "delete", "--limit", "0", "--yes"), "give ids or a filter")
    assert all(stored(db_path, i) is not None for i in ids.values())


def test_delete_without_a_terminal_refuses_instead_of_hanging(db_path: Path, ids: dict[str, int]) -> None:
    result = run(db_path, "delete", str(ids["chat"]), input="y\n")
    assert_user_error(result, "refusing to delete without --yes when not on a terminal")
    assert stored(db_path, ids["chat"]) is not None


def test_delete_ids_with_yes(db_path: Path, ids: dict[str, int]) -> None:
    result = run(db_path, "delete", str(ids["chat"]), str(ids["act"]), "--yes")
    assert result.exit_code == 0 and "deleted 2 records" in result.stderr
    assert stored(db_path, ids["chat"]) is None and stored(db_path, ids["act"]) is None
    assert stored(db_path, ids["open"]) is not None


def test_delete_unknown_id_is_reported(db_path: Path, ids: dict[str, int]) -> None:
    result = run(db_path, "delete", str(ids["chat"]), "4242", "-y")
    assert result.exit_code == 1
    assert "4242: not found" in result.stderr and "deleted 1 record" in result.stderr
    nothing = run(db_path, "delete", "4242", "-y")
    assert nothing.exit_code == 1 and "nothing deleted" in nothing.stderr


def test_delete_by_filter(db_path: Path, ids: dict[str, int]) -> None:
    result = run(db_path, "delete", "--type", "error", "--where", "is_resolved=true", "--yes")
    assert result.exit_code == 0 and "deleted 1 record" in result.stderr
    assert stored(db_path, ids["done"]) is None and stored(db_path, ids["open"]) is not None
    none_left = run(db_path, "delete", "--search", "zebra", "--yes")
    assert none_left.exit_code == 0 and "no records match" in none_left.stderr


def test_delete_with_limit_takes_the_first_in_order(db_path: Path, ids: dict[str, int]) -> None:
    result = run(db_path, "delete", "--limit", "1", "--order", "oldest", "--yes")
    assert result.exit_code == 0 and "deleted 1 record" in result.stderr
    assert stored(db_path, ids["open"]) is None and stored(db_path, ids["done"]) is not None


def test_delete_all(db_path: Path, ids: dict[str, int]) -> None:
    assert "deleted 4 records" in run(db_path, "delete", "--all", "--yes").stderr
    assert all(stored(db_path, i) is None for i in ids.values())


def _delete_on_a_terminal(db_path: Path, answer: bytes, *args: str, ci: str = "") -> subprocess.CompletedProcess:
    """``logconsole delete ARGS`` in a child whose stdin is a real terminal."""
    master, slave = pty.openpty()
    try:
        os.write(master, answer)
        env = {**os.environ, "LOGCONSOLE_DB": str(db_path), "CI": ci}
        return subprocess.run(
            [sys.executable, "-m", "logconsole", "delete", *args], stdin=slave,
            capture_output=True, text=True, env=env, timeout=30,
        )
    finally:
        os.close(slave)
        os.close(master)


def test_delete_asks_on_a_terminal_showing_the_count(db_path: Path, ids: dict[str, int]) -> None:
    declined = _delete_on_a_terminal(db_path, b"n\n", "--type", "error")
    assert "Delete 2 records? [y/N]" in declined.stderr
    assert declined.returncode == 1 and "nothing deleted" in declined.stderr
    assert stored(db_path, ids["open"]) is not None
    accepted = _delete_on_a_terminal(db_path, b"y\n", "--type", "error")
    assert accepted.returncode == 0, accepted.stderr
    assert "deleted 2 records" in accepted.stderr
    assert stored(db_path, ids["open"]) is None and stored(db_path, ids["chat"]) is not None


def test_delete_in_ci_refuses_even_on_a_terminal(db_path: Path, ids: dict[str, int]) -> None:
    result = _delete_on_a_terminal(db_path, b"y\n", str(ids["chat"]), ci="true")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: refusing to delete without --yes when not on a terminal"
    assert stored(db_path, ids["chat"]) is not None


# ---------------------------------------------------------------- prune


@pytest.fixture
def aged(db_path: Path) -> dict[str, int]:
    conn = connect(db_path)
    old = format_ts(utcnow() - timedelta(days=100))
    mid = format_ts(utcnow() - timedelta(days=40))
    out = {
        "old_activity": add(conn, type="activity", title="old", created_at=old),
        "old_resolved": add(conn, type="error", message="old fixed", is_resolved=True, created_at=old),
        "old_open": add(conn, type="error", message="old open", created_at=old),
        "old_acting": add(conn, type="system", status="critical", requires_action=True, created_at=old),
        "old_calm": add(conn, type="system", status="healthy", created_at=old),
        "mid_chat": add(conn, type="chat", message="40 days ago", created_at=mid),
        "new_chat": add(conn, type="chat", message="today"),
    }
    conn.close()
    return out


def survivors(db_path: Path, aged: dict[str, int]) -> set[str]:
    return {name for name, i in aged.items() if stored(db_path, i) is not None}


def test_prune_keeps_unresolved_errors_and_actions(db_path: Path, aged: dict[str, int]) -> None:
    dry = run(db_path, "prune", "--dry-run")
    assert dry.exit_code == 0 and "would delete 3 records older than 90 days" in dry.stderr
    assert len(survivors(db_path, aged)) == 7
    result = run(db_path, "prune")
    assert result.exit_code == 0 and "pruned 3 records older than 90 days" in result.stderr
    assert survivors(db_path, aged) == {"old_open", "old_acting", "mid_chat", "new_chat"}


def test_prune_days_option_and_config(tmp_path: Path, db_path: Path, aged: dict[str, int]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[store]\nretention_days = 30\n")
    result = run(db_path, "prune", "--config", str(config))
    assert "older than 30 days" in result.stderr
    assert survivors(db_path, aged) == {"old_open", "old_acting", "new_chat"}
    assert run(db_path, "prune", "--days", "0").exit_code == 0
    assert survivors(db_path, aged) == {"old_open", "old_acting"}


def test_prune_mistakes(tmp_path: Path, db_path: Path, aged: dict[str, int]) -> None:
    assert_user_error(run(db_path, "prune", "--days", "-1"))
    assert_user_error(run(db_path, "prune", "--config", str(tmp_path / "missing.toml")), "does not exist")


def test_records_arriving_during_the_question_are_not_deleted(db_path: Path, ids: dict[str, int]) -> None:
    """The count shown is what goes: a record stored after the count survives."""
    master, slave = pty.openpty()
    env = {**os.environ, "LOGCONSOLE_DB": str(db_path), "CI": ""}
    proc = subprocess.Popen([sys.executable, "-m", "logconsole", "delete", "--type", "chat"],
                            stdin=slave, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        prompt = proc.stderr.read(len("Delete 1 record?"))
        assert prompt == "Delete 1 record?"
        conn = connect(db_path)
        late = add(conn, type="chat", message="arrived while asking")
        conn.close()
        os.write(master, b"y\n")
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(slave)
        os.close(master)
    assert stored(db_path, ids["chat"]) is None
    assert stored(db_path, late) is not None
