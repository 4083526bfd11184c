"""Error groups in the store: counts kept true by every writer and deleter,
resolution and regression, ignoring, paging, and the backfill of older databases."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from logconsole.ingest import normalize
from logconsole.store import actions, groups
from logconsole.store import migrations as M
from logconsole.store.db import connect
from logconsole.store.group_query import (
    GroupFilter,
    GroupSort,
    count_groups,
    fetch_groups,
    get_group,
    group_cursor,
    make_group_filter,
)
from logconsole.store.query import make_filter
from logconsole.store.writer import BatchWriter
from tests.store_support import NOW, add, add_many, ago

RELEASE_V2 = Path(__file__).parent / "data" / "release-v2.db"


def err(message: str, **fields: Any) -> dict[str, Any]:
    return {"type": "error", "message": message, **fields}


def truth(conn: sqlite3.Connection) -> dict[int, tuple[Any, ...]]:
    """Each group's count, first and last seen, latest record and users, read
    from the records themselves."""
    out = {}
    for gid, n, first, last, users in conn.execute(
        "SELECT group_id, count(*), min(created_at), max(created_at), count(DISTINCT user_id) "
        "FROM records WHERE group_id IS NOT NULL GROUP BY group_id"
    ):
        latest = conn.execute("SELECT id FROM records WHERE group_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
                              (gid,)).fetchone()[0]
        out[gid] = (n, first, last, latest, users)
    return out


def kept(conn: sqlite3.Connection) -> dict[int, tuple[Any, ...]]:
    return {r[0]: r[1:] for r in conn.execute(
        "SELECT id, count, first_seen, last_seen, latest_id, users FROM error_groups WHERE count > 0")}


def assert_true_counts(conn: sqlite3.Connection) -> None:
    assert kept(conn) == truth(conn)
    assert conn.execute("SELECT count(*) FROM error_groups WHERE stale = 1").fetchone()[0] == 0


def group_of(conn: sqlite3.Connection, record_id: int) -> dict[str, Any]:
    gid = conn.execute("SELECT group_id FROM records WHERE id = ?", (record_id,)).fetchone()[0]
    found = get_group(conn, gid)
    assert found is not None
    return found


# ---------------------------------------------------------------- inserts


def test_every_writer_keeps_a_group_per_fingerprint_in_step(conn: sqlite3.Connection) -> None:
    add_many(conn, [err(f"Course {i} not found", error_type="NotFound", user_id=f"u{i % 3}",
                        endpoint=f"/api/courses/{i}", severity=("low", "high")[i % 2], created_at=ago(i))
                    for i in range(10)])
    add(conn, **err("Course 99 not found", error_type="NotFound", severity="critical", created_at=ago(hours=1)))
    writer = BatchWriter(conn)
    writer.commit([normalize(err("jwt expired", error_type="TokenExpiredError"), now=NOW),
                   normalize({"type": "activity", "title": "login"}, now=NOW),
                   normalize(err("Course 5 not found", error_type="NotFound", endpoint="/api/courses/5/lessons"),
                             now=NOW + timedelta(seconds=1))])
    assert_true_counts(conn)
    rows = {g["fingerprint"]: g for g in fetch_groups(conn)}
    assert set(rows) == {"NotFound: Course {n} not found", "TokenExpiredError: jwt expired"}
    course = rows["NotFound: Course {n} not found"]
    assert course["count"] == 12 and course["severity"] == "critical" and course["users"] == 3
    assert course["first_seen"] == normalize(err("x", created_at=ago(9)))["created_at"]
    assert sorted(eval(course["endpoints"])) == ["/api/courses/{id}", "/api/courses/{id}/lessons"]
    assert course["status"] == "open" and course["message"] == "Course 0 not found"
    assert conn.execute("SELECT count(*) FROM records WHERE type != 'error' AND group_id IS NOT NULL").fetchone() == (0,)


def test_distinct_users_are_exact_up_to_the_bound_then_approximate(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(groups, "USERS_BOUND", 5)
    add_many(conn, [err("boom", user_id=f"u{i % 4}") for i in range(8)])
    (g,) = fetch_groups(conn)
    assert (g["users"], g["users_approx"]) == (4, 0)
    add_many(conn, [err("boom", user_id=f"v{i}") for i in range(3)])
    (g,) = fetch_groups(conn)
    assert g["users_approx"] == 1 and g["users"] >= 5


# ---------------------------------------------------------------- deletes


def test_deleting_and_pruning_keep_the_counts_true(conn: sqlite3.Connection) -> None:
    ids = [add(conn, **err(f"order {i} failed", error_type="E", user_id=f"u{i}", created_at=ago(200 - i)))
           for i in range(6)]
    other = add(conn, **err("disk full", created_at=ago(1)))
    actions.delete_ids(conn, [ids[5]])  # the latest: latest, last seen and users move back
    assert_true_counts(conn)
    actions.delete_matching(conn, make_filter(where=["user_id=u0"]))  # the first: first seen moves on
    assert_true_counts(conn)
    actions.resolve(conn, ids[1:3], note="old")
    assert actions.prune(conn, 90, now=NOW, settle_seconds=0) == 2
    assert_true_counts(conn)
    assert group_of(conn, ids[3])["count"] == 2
    actions.delete_ids(conn, [other])  # an open group with nothing left is gone
    assert conn.execute("SELECT count(*) FROM error_groups WHERE fingerprint = 'disk full'").fetchone() == (0,)


def test_a_resolved_group_outlives_its_records_and_regresses_when_the_error_returns(conn: sqlite3.Connection) -> None:
    rid = add(conn, **err("quota exceeded for 5", created_at=ago(1)))
    gid = group_of(conn, rid)["id"]
    actions.resolve_group(conn, gid, note="raised the quota", by="ops", now=NOW)
    actions.delete_ids(conn, [rid])
    g = get_group(conn, gid)
    assert g is not None and (g["count"], g["status"], g["latest_id"]) == (0, "resolved", None)
    new = add(conn, **err("quota exceeded for 7", created_at=(NOW + timedelta(minutes=5)).isoformat()))
    g = group_of(conn, new)
    assert (g["id"], g["status"], g["count"]) == (gid, "regressed", 1)


def test_import_groups_what_it_loads(tmp_path: Path, db_path: Path) -> None:
    from tests.cli_support import run

    source = tmp_path / "errors.jsonl"
    source.write_text("".join(
        f'{{"type": "error", "message": "user {i} not found", "errorType": "NotFound", "userId": "u{i}"}}\n'
        for i in range(30)))
    assert run(db_path, "import", str(source)).exit_code == 0
    conn = connect(db_path)
    assert_true_counts(conn)
    assert [(g["count"], g["users"]) for g in fetch_groups(conn)] == [(30, 30)]
    conn.close()


# ---------------------------------------------------------------- status


def test_resolving_a_group_resolves_its_occurrences_and_a_later_one_regresses_it(conn: sqlite3.Connection) -> None:
    ids = [add(conn, **err(f"timeout after {i} ms", created_at=ago(hours=i))) for i in range(1, 5)]
    actions.resolve(conn, [ids.pop()], note="one by one", now=NOW - timedelta(hours=1))
    unrelated = add(conn, **err("something else"))
    gid = group_of(conn, ids[0])["id"]
    out = actions.resolve_group(conn, gid, note="bumped the pool", by="ana", now=NOW)
    assert out is not None and (out.before, out.after, out.records) == ("open", "resolved", 3)
    rows = conn.execute("SELECT is_resolved, resolution, resolved_by FROM records WHERE group_id = ?", (gid,))
    assert sorted(rows) == [(1, "bumped the pool", "ana")] * 3 + [(1, "one by one", None)]
    assert conn.execute("SELECT is_resolved FROM records WHERE id = ?", (unrelated,)).fetchone() == (0,)

    late = add(conn, **err("timeout after 9 ms", created_at=ago(hours=5)))  # older than the resolution
    assert group_of(conn, late)["status"] == "resolved"
    when = (NOW + timedelta(minutes=3)).isoformat()
    new = add(conn, **err("timeout after 10 ms", created_at=when))
    g = group_of(conn, new)
    assert g["status"] == "regressed" and g["regressed_at"] == normalize(err("x", created_at=when))["created_at"]
    assert conn.execute("SELECT is_resolved FROM records WHERE id = ?", (new,)).fetchone() == (0,)

    out = actions.unresolve_group(conn, gid, by="bob")
    assert out is not None and out.after == "open" and out.records == 3  # those the group's resolution resolved
    assert conn.execute("SELECT resolution FROM records WHERE group_id = ? AND is_resolved = 1",
                        (gid,)).fetchall() == [("one by one",)]
    assert actions.resolve_group(conn, 10_000) is None


def test_resolving_records_one_by_one_leaves_the_group_open(conn: sqlite3.Connection) -> None:
    rid = add(conn, **err("only one"))
    actions.resolve(conn, [rid], note="done")
    assert group_of(conn, rid)["status"] == "open"


def test_an_ignored_group_leaves_the_default_list_and_keeps_its_records(conn: sqlite3.Connection) -> None:
    noisy = add(conn, **err("favicon.ico 404"))
    add(conn, **err("real problem"))
    gid = group_of(conn, noisy)["id"]
    actions.ignore_group(conn, gid, note="bots", by="ana")
    assert [g["message"] for g in fetch_groups(conn)] == ["real problem"]
    assert [g["id"] for g in fetch_groups(conn, make_group_filter(statuses=["ignored"]))] == [gid]
    add(conn, **err("favicon.ico 404", created_at=(NOW + timedelta(days=30)).isoformat()))
    g = get_group(conn, gid)
    assert g is not None and (g["status"], g["count"]) == ("ignored", 2)
    assert conn.execute("SELECT count(*) FROM records WHERE group_id = ?", (gid,)).fetchone() == (2,)


# ---------------------------------------------------------------- paging


@pytest.mark.parametrize("column", ["last_seen", "first_seen", "count", "users"])
@pytest.mark.parametrize("descending", [True, False])
def test_keyset_pages_give_every_group_once_in_order(conn: sqlite3.Connection, column: str, descending: bool) -> None:
    add_many(conn, [err(f"kind {i % 13} failure", error_type=f"E{i % 13}", user_id=f"u{i % 5}",
                        created_at=ago(hours=i % 17)) for i in range(200)])
    sort = GroupSort(column, descending)
    everything = fetch_groups(conn, GroupFilter(), sort, limit=1000)
    assert len(everything) == 13 == count_groups(conn)
    paged: list[dict[str, Any]] = []
    after = None
    while page := fetch_groups(conn, GroupFilter(), sort, limit=4, after=after):
        paged += page
        after = group_cursor(page[-1], sort)
    assert [g["id"] for g in paged] == [g["id"] for g in everything]
    keys = [(g[column], g["id"]) for g in everything]
    assert keys == sorted(keys, reverse=descending)


def test_group_filters(conn: sqlite3.Connection) -> None:
    add_many(conn, [err("Payment declined", error_type="CardError", severity="high", created_at=ago(10)),
                    err("Payment declined", error_type="CardError", created_at=ago(1)),
                    err("jwt expired", error_type="TokenExpiredError", created_at=ago(3))])
    def messages(**kw: Any) -> list[str]:
        return [g["message"] for g in fetch_groups(conn, make_group_filter(now=NOW, **kw))]
    assert messages(search="payment CARD") == ["Payment declined"]
    assert messages(since="2d") == ["Payment declined"]
    assert messages(where=["count>=2"]) == ["Payment declined"]
    assert messages(where=["severity=HIGH"]) == ["Payment declined"]
    assert messages(where=["error_type~Token"]) == ["jwt expired"]
    assert messages(statuses=["resolved"]) == []


# ---------------------------------------------------------------- older databases


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    shutil.copyfile(RELEASE_V2, path)
    return path


def test_an_upgraded_release_2_database_gets_fingerprints_and_true_groups(v2: Path) -> None:
    raw = sqlite3.connect(v2)
    errors = raw.execute("SELECT count(*) FROM records WHERE type = 'error'").fetchone()[0]
    resolved = raw.execute("SELECT count(*) FROM records WHERE type = 'error' AND is_resolved = 1").fetchone()[0]
    raw.close()
    conn = connect(v2)
    assert M.pending_backfills(conn) == {}
    assert conn.execute("SELECT count(*) FROM records WHERE type = 'error' AND group_id IS NULL").fetchone() == (0,)
    assert conn.execute("SELECT sum(count) FROM error_groups").fetchone() == (errors,)
    assert_true_counts(conn)
    # A group is resolved exactly when every one of its stored errors is.
    groups_found = fetch_groups(conn, make_group_filter(statuses=["all"]), limit=100)
    assert {g["status"] for g in groups_found} == {"open", "resolved"} and resolved > 0
    for g in groups_found:
        still_open = conn.execute("SELECT count(*) FROM records WHERE group_id = ? AND is_resolved = 0",
                                  (g["id"],)).fetchone()[0]
        assert (g["status"] == "resolved") == (still_open == 0)
    conn.close()


def test_the_groups_backfill_resumes_where_it_stopped(v2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connect(v2, backfills=False)
    assert M.pending_backfills(conn) == {"groups": 0}
    backfiller = M.Backfiller(conn, first_batch=2, batch_seconds=10)
    assert backfiller.step() and backfiller.step()  # stopped after two short batches
    done = M.pending_backfills(conn)["groups"]
    assert 0 < done < conn.execute("SELECT max(id) FROM records").fetchone()[0]
    # Meanwhile the writer stores new errors, grouped as they come.
    add(conn, **err("written during the backfill"))
    conn.close()

    conn = connect(v2)  # the next open finishes it
    assert M.pending_backfills(conn) == {}
    assert conn.execute("SELECT count(*) FROM records WHERE type = 'error' AND group_id IS NULL").fetchone() == (0,)
    assert_true_counts(conn)
    conn.close()


def test_a_recovered_database_has_its_errors_grouped_again(db_path: Path, tmp_path: Path) -> None:
    from logconsole.store.doctor import recover

    conn = connect(db_path)
    add_many(conn, [err(f"order {i} failed", user_id=f"u{i % 3}") for i in range(5)] + [err("disk full")])
    conn.close()
    recover(db_path, tmp_path / "recovered.db")
    conn = connect(tmp_path / "recovered.db")
    assert_true_counts(conn)
    assert sorted(g["count"] for g in fetch_groups(conn)) == [1, 5]
    conn.close()


def test_the_demo_errors_make_a_few_dozen_groups(conn: sqlite3.Connection) -> None:
    from logconsole import demo

    demo.fill(conn, now=NOW, seed=3)
    errors = conn.execute("SELECT count(*) FROM records WHERE type = 'error'").fetchone()[0]
    n = count_groups(conn, make_group_filter(statuses=["all"]))
    assert errors > 500 and 20 <= n <= 60, (errors, n)
    assert_true_counts(conn)


def test_an_error_row_without_a_fingerprint_is_fingerprinted_by_the_writer(conn: sqlite3.Connection) -> None:
    """A spill file written by a release before groups holds rows without one."""
    row = normalize(err("order 5 failed", error_type="E"), now=NOW)
    del row["fingerprint"]
    BatchWriter(conn).commit([row])
    assert conn.execute("SELECT fingerprint, group_id IS NOT NULL FROM records").fetchone() == ("E: order {n} failed", 1)
    assert_true_counts(conn)


def test_the_writer_reports_new_groups_and_regressions_of_each_commit(conn: sqlite3.Connection) -> None:
    writer = BatchWriter(conn)
    writer.commit([normalize(err("pool exhausted", created_at=ago(2))), normalize({"type": "activity", "message": "x"}),
                   normalize(err("pool exhausted", created_at=ago(1)))])
    first = writer.ids
    assert len(first) == 3
    assert [(e.kind, e.record_id) for e in writer.events] == [("new_group", first[2])]
    gid = writer.events[0].group_id
    writer.commit([normalize(err("pool exhausted"))])
    assert writer.events == [] and writer.ids[0] == first[-1] + 1
    actions.resolve_group(conn, gid, note="bigger pool", now=NOW)
    writer.commit([normalize(err("pool exhausted", created_at=(NOW + timedelta(minutes=1)).isoformat()))])
    assert [(e.kind, e.group_id, e.record_id) for e in writer.events] == [("regression", gid, writer.ids[0])]
    writer.commit([normalize(err("pool exhausted", created_at=(NOW + timedelta(minutes=2)).isoformat()))])
    assert writer.events == []  # already regressed: no news
