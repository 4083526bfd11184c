"""Resolve, unresolve, delete and retention on a real database file."""

from __future__ import annotations

import sqlite3

import pytest

from logconsole.store.actions import delete_ids, delete_matching, prune, resolve, unresolve
from logconsole.store.query import Filter, count, get, ids_matching, make_filter
from tests.store_support import NOW, add, ago


def _fts_state(conn: sqlite3.Connection) -> list[tuple[int, bytes]]:
    """The full-text index's stored segments and structure: any re-indexing changes them."""
    return conn.execute("SELECT id, block FROM records_fts_data ORDER BY id").fetchall()


def _search(conn: sqlite3.Connection, text: str) -> list[int]:
    return ids_matching(conn, make_filter(search=text))


@pytest.fixture
def errors(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        "open": add(conn, type="error", message="Disk quota exceeded", severity="high"),
        "open2": add(conn, type="error", message="Socket hang up", severity="low"),
        "done": add(conn, type="error", message="Old failure", is_resolved=True, resolution="fixed"),
        "activity": add(conn, type="activity", title="Login"),
    }


def test_resolve_sets_note_who_and_when(conn: sqlite3.Connection, errors: dict[str, int]) -> None:
    out = resolve(conn, [errors["open"], errors["done"], errors["activity"], 9999, errors["open"]],
                  note="raised the quota", by="ops", now=NOW)
    assert out.changed == [errors["open"]]
    assert sorted(out.skipped) == sorted([errors["done"], errors["activity"]])  # already resolved; not an error
    assert out.missing == [9999]
    row = get(conn, errors["open"]) or {}
    assert (row["is_resolved"], row["resolution"], row["resolved_by"], row["resolved_at"]) == (
        1, "raised the quota", "ops", "2026-11-20T12:00:00.000000Z")
    assert (get(conn, errors["done"]) or {})["resolution"] == "fixed"  # untouched
    assert (get(conn, errors["activity"]) or {}).get("is_resolved") is None
    assert (get(conn, errors["open2"]) or {})["is_resolved"] == 0


def test_unresolve_clears_note_who_and_when(conn: sqlite3.Connection, errors: dict[str, int]) -> None:
    resolve(conn, [errors["open"]], note="n", by="b", now=NOW)
    out = unresolve(conn, [errors["open"], errors["open2"], errors["activity"], 777])
    assert out.changed == [errors["open"]]
    assert sorted(out.skipped) == sorted([errors["open2"], errors["activity"]])
    assert out.missing == [777]
    row = get(conn, errors["open"]) or {}
    assert (row["is_resolved"], row["resolution"], row["resolved_by"], row["resolved_at"]) == (0, None, None, None)


def test_resolve_with_no_ids_changes_nothing(conn: sqlite3.Connection, errors: dict[str, int]) -> None:
    assert resolve(conn, []).changed == []
    assert count(conn, make_filter(where=["is_resolved=false"])) == 2


def test_resolve_does_not_retokenise(conn: sqlite3.Connection, errors: dict[str, int]) -> None:
    """Resolving touches only the records row: the FTS index's stored pages stay byte for byte."""
    for i in range(200):
        add(conn, type="error", message=f"Timeout number {i} talking to payments")
    many = ids_matching(conn, make_filter(search="payments"))
    before = _fts_state(conn)
    changes = conn.total_changes
    out = resolve(conn, [*many, errors["open"]], note="bulk", by="ops")
    assert len(out.changed) == 201
    assert conn.total_changes - changes == 201  # only the records rows changed
    assert _fts_state(conn) == before
    unresolve(conn, many)
    assert _fts_state(conn) == before
    assert sorted(_search(conn, "payments")) == sorted(many)
    assert _search(conn, "quota") == [errors["open"]]
    # The probe can see re-indexing: changing an indexed column does change the index.
    conn.execute("UPDATE records SET message = 'Disk quota raised' WHERE id = ?", (errors["open"],))
    assert _fts_state(conn) != before
    assert _search(conn, "raised") == [errors["open"]]


def test_delete_ids_removes_records_and_their_index_entries(
    conn: sqlite3.Connection, errors: dict[str, int],
) -> None:
    out = delete_ids(conn, [errors["open"], errors["activity"], 4242])
    assert sorted(out.changed) == sorted([errors["open"], errors["activity"]]) and out.missing == [4242]
    assert get(conn, errors["open"]) is None
    assert _search(conn, "quota") == [] and _search(conn, "login") == []
    assert _search(conn, "socket") == [errors["open2"]]
    # The index holds no entry for the deleted text (not just a filtered-out one).
    assert conn.execute("SELECT count(*) FROM records_fts WHERE records_fts MATCH 'quota'").fetchone()[0] == 0
    assert conn.execute("INSERT INTO records_fts(records_fts) VALUES ('integrity-check')") is not None


def test_delete_matching(conn: sqlite3.Connection, errors: dict[str, int]) -> None:
    assert delete_matching(conn, make_filter(search="socket OR quota")) == 2
    assert _search(conn, "socket") == [] and _search(conn, "quota") == []
    assert delete_matching(conn, make_filter(types=["error"], where=["is_resolved=true"])) == 1
    assert ids_matching(conn, Filter()) == [errors["activity"]]
    assert delete_matching(conn, make_filter(types=["chat"])) == 0
    conn.execute("INSERT INTO records_fts(records_fts) VALUES ('integrity-check')")


def test_prune_keeps_unresolved_errors_and_system_records_that_need_action(conn: sqlite3.Connection) -> None:
    old, recent = ago(days=91), ago(days=89)
    keep = {
        add(conn, type="error", message="old open", created_at=old),
        add(conn, type="system", status="critical", requires_action=True, created_at=old),
        add(conn, type="activity", title="recent", created_at=recent),
        add(conn, type="error", message="recent fixed", is_resolved=True, created_at=recent),
        add(conn, type="system", status="healthy", created_at=recent),
    }
    gone = {
        add(conn, type="error", message="old fixed", is_resolved=True, created_at=old),
        add(conn, type="system", status="healthy", requires_action=False, created_at=old),
        *(add(conn, type=t, message="m", model="x", title="t", created_at=old)
          for t in ("activity", "ai", "chat", "activity", "chat")),
    }
    assert prune(conn, 90, now=NOW, batch=2) == len(gone)  # batches smaller than the work
    assert set(ids_matching(conn, Filter())) == keep
    assert prune(conn, 90, now=NOW) == 0


def test_prune_cutoff_is_exact_and_days_must_not_be_negative(conn: sqlite3.Connection) -> None:
    just_inside = add(conn, type="activity", created_at=ago(days=7))
    add(conn, type="activity", created_at=ago(days=7, milliseconds=1))
    assert prune(conn, 7, now=NOW) == 1
    assert ids_matching(conn, Filter()) == [just_inside]
    with pytest.raises(ValueError, match="days must be between 0 and 365000"):
        prune(conn, -1)


def test_pruned_records_leave_the_index(conn: sqlite3.Connection) -> None:
    add(conn, type="chat", message="ancient gossip", created_at=ago(days=200))
    prune(conn, 90, now=NOW)
    assert _search(conn, "gossip") == []
