"""The store interface, the same tests on both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from logconsole.ingest import normalize
from logconsole.kinds import KINDS
from logconsole.store.interface import Store, Writer, open_store
from logconsole.store.query import NEWEST, OLDEST, Filter, Sort, cursor_of, make_filter, to_record
from store_support import NOW, ago


def rows(*records: dict[str, Any]) -> list[dict[str, Any]]:
    return [normalize(r, now=NOW) for r in records]


def sample(n: int = 30) -> list[dict[str, Any]]:
    """A mix of kinds over ``n`` minutes, some values missing (NULLs in sorts)."""
    out = []
    for i in range(n):
        kind = ("error", "activity", "ai", "system", "chat")[i % 5]
        rec: dict[str, Any] = {"type": kind, "created_at": ago(minutes=n - i), "host": f"web-{i % 2}"}
        if kind == "error":
            rec |= {"message": f"Timeout after {i} ms" if i % 10 else "Disk full on /var",
                    "severity": ("low", "high", "critical")[i % 3], "user_id": f"u{i % 4}",
                    "endpoint": f"/api/orders/{i}"}
        elif kind == "activity":
            rec |= {"title": f"login {'failed' if i % 3 else 'ok'}", "level": ("info", "warn", "error")[i % 3],
                    "status_code": 200 + i if i % 4 else None, "request_data": {"cart": i, "ok": i % 2 == 0}}
        elif kind == "ai":
            rec |= {"ai_model": "gpt-5", "prompt": f"summarise order {i}", "tokens_used": i * 10}
        elif kind == "system":
            rec |= {"event_type": "deploy", "status": "warning", "requires_action": i % 2 == 0,
                    "metrics": {"cpu_usage": i * 3}}
        else:
            rec |= {"message": f"hello café {i}", "sender_name": "Ann"}
        out.append(rec)
    return rows(*out)


def test_insert_returns_ids_and_get_gives_each_row_back(store: Store) -> None:
    ids = store.insert(sample(10))
    assert len(ids) == 10 and ids == sorted(set(ids))
    record = to_record(store.get(ids[1]) or {})
    assert record["type"] == "activity" and record["title"] == "login failed"
    assert record["request_data"] == {"cart": 1, "ok": False}
    assert record["created_at"] == ago(minutes=9).replace("+00:00", ".000000Z")
    assert store.get(10_000) is None
    assert store.max_id() == ids[-1]


SORTS = [NEWEST, OLDEST] + [Sort(c, d) for c in ("type", "id", "level", "severity", "status_code", "title")
                            for d in (True, False)]


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: f"{s.column}-{'desc' if s.descending else 'asc'}")
def test_keyset_pages_give_every_row_once_in_the_sqlite_order(store: Store, tmp_path: Any, sort: Sort) -> None:
    data = sample(40)
    store.insert(data)
    reference = open_store(str(tmp_path / "reference.db"))
    reference.insert(sample(40))
    flt = Filter(types=("activity",)) if sort.column in ("level", "status_code", "title") else Filter()
    expected = [r["id"] for r in reference.iter_rows(flt, sort, page_size=1000)]
    got = [r["id"] for r in store.iter_rows(flt, sort, page_size=3)]
    reference.close()
    assert got == expected
    assert len(got) == len(set(got)) == store.count(flt)


def test_filters_and_counts(store: Store) -> None:
    store.insert(sample(30))
    assert store.count() == 30
    assert store.count(make_filter(types=["error"])) == 6
    assert store.count(make_filter(types=["error"], where=["severity=critical"])) == 2
    assert store.count(make_filter(where=["host=web-1"])) == 15
    assert store.count(make_filter(where=["status_code>220"])) == 2
    assert store.count(make_filter(where=["status_code=null"], types=["activity"])) == 1
    assert store.count(make_filter(where=["title~FAIL"])) == 4
    assert store.count(make_filter(where=["metrics.cpu_usage>=45"])) == 3
    assert store.count(make_filter(where=["requires_action=true"])) == 3
    assert store.count(make_filter(where=["severity!=low"], types=["error"])) == 4
    assert store.count(Filter(since=ago(minutes=10).replace("+00:00", ".000000Z"))) == 10
    assert store.counts_by("type") == {k: 6 for k in KINDS}
    assert store.overview(make_filter(where=["host=web-0"])) == {
        "error": 3, "activity": 3, "ai": 3, "system": 3, "chat": 3}


@pytest.mark.parametrize("text, expected", [
    ("timeout", 3), ("TIMEOUT after", 3), ("disk", 3), ('"disk full"', 3), ('"full disk"', 0),
    ("timeout OR disk", 6), ("time*", 3), ("café", 6), ("orders", 6), ("api/orders", 6), ("nothing-here", 0),
    ("disk -full", 3), ("login NOT ok", 4),
])
def test_search_finds_the_same_records_on_both_backends(store: Store, text: str, expected: int) -> None:
    store.insert(sample(30))
    flt = make_filter(search=text)
    assert store.count(flt) == expected
    page = store.page(flt, limit=3)
    assert [r["id"] for r in page] == sorted((r["id"] for r in store.iter_rows(flt)), reverse=True)[:3]


def test_search_as_you_type_takes_the_last_word_as_a_prefix(store: Store) -> None:
    store.insert(sample(30))
    assert store.count(Filter(search="disk fu", prefix_search=True)) == 3


def test_resolve_unresolve_and_delete(store: Store) -> None:
    ids = store.insert(sample(10))
    errors = [i for i in ids if (store.get(i) or {})["type"] == "error"]
    out = store.resolve([*errors, ids[1], 999], note="fixed", by="ann")
    assert out.changed == errors and out.skipped == [ids[1]] and out.missing == [999]
    assert store.count(make_filter(where=["is_resolved=true"])) == 2
    assert to_record(store.get(errors[0]) or {})["resolution"] == "fixed"
    assert store.unresolve(errors[:1]).changed == errors[:1]
    assert store.resolve(errors[1:]).skipped == errors[1:]
    assert store.delete_ids([ids[0], 999]).changed == [ids[0]]
    assert store.delete_matching(make_filter(types=["ai"])) == 2
    assert store.count() == 7


def test_group_counts_follow_inserts_and_deletes(store: Store) -> None:
    ids = store.insert(rows(*[{"type": "error", "message": f"Timeout after {i} ms", "user_id": f"u{i % 3}",
                               "created_at": ago(minutes=10 - i)} for i in range(6)]))
    [group] = store.groups()
    assert (group["count"], group["users"], group["latest_id"]) == (6, 3, ids[-1])
    store.delete_ids(ids[-2:])
    [group] = store.groups()
    assert (group["count"], group["latest_id"], group["stale"]) == (4, ids[-3], 0)
    assert group["last_seen"] == store.get(ids[-3])["created_at"]  # type: ignore[index]
    store.delete_ids(ids)
    assert store.groups() == []


def test_writer_reports_new_groups_and_regressions(store: Store) -> None:
    writer: Writer = store.writer()
    assert isinstance(store, Store) and isinstance(writer, Writer)  # both backends keep the whole protocol
    assert writer.commit(rows({"type": "error", "message": "boom", "created_at": ago(minutes=5)})) == 1
    assert [e.kind for e in writer.events] == ["new_group"]
    assert writer.events[0].record_id == writer.ids[0]
    writer.commit(rows({"type": "error", "message": "boom", "created_at": ago(minutes=4)}))
    assert writer.events == []


def test_retention_keeps_open_errors_and_what_requires_action(store: Store) -> None:
    store.insert(rows(
        {"type": "activity", "title": "old", "created_at": ago(days=90)},
        {"type": "error", "message": "old open", "created_at": ago(days=90)},
        {"type": "error", "message": "old done", "is_resolved": True, "created_at": ago(days=90)},
        {"type": "system", "event_type": "x", "requires_action": True, "created_at": ago(days=90)},
        {"type": "activity", "title": "new", "created_at": ago(days=1)},
    ))
    assert store.prune(30, now=NOW) == 2
    assert sorted(r["message"] or r["title"] or r["event_type"] for r in store.iter_rows(Filter())) == [
        "new", "old open", "x"]
    assert [g["count"] for g in store.groups()] == [1]


def test_a_month_that_keeps_nothing_is_dropped_whole_on_postgresql(pg_url: str) -> None:
    store = open_store(pg_url)
    store.insert(rows(*[{"type": "error", "message": "gone", "created_at": ago(days=200, minutes=i),
                         "is_resolved": True} for i in range(3)],
                      {"type": "error", "message": "gone", "created_at": ago(days=1)}))
    months = set(store.partitions.known)  # type: ignore[attr-defined]
    assert store.prune(30, now=NOW) == 3
    assert len(store.partitions.known) == len(months) - 1  # type: ignore[attr-defined]
    assert [g["count"] for g in store.groups()] == [1]
    store.close()


def test_two_writers_at_once_lose_and_duplicate_nothing(pg_url: str) -> None:
    per_writer, batch = 600, 50
    stores = [open_store(pg_url) for _ in range(2)]
    errors: list[BaseException] = []

    def write(store: Store, name: str) -> None:
        try:
            w = store.writer()
            for start in range(0, per_writer, batch):
                w.commit(rows(*[{"type": "error" if i % 3 == 0 else "activity", "message": f"m {i % 7}",
                                 "title": f"{name} {i}", "host": name} for i in range(start, start + batch)]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, f"host-{n}")) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    titles = [r["title"] for r in stores[0].iter_rows(make_filter(types=["activity"]))]
    assert len(titles) == len(set(titles)) == 2 * per_writer * 2 // 3
    assert stores[0].count() == 2 * per_writer
    assert sum(g["count"] for g in stores[0].groups()) == stores[0].count(make_filter(types=["error"]))
    for s in stores:
        s.close()


def test_text_postgresql_cannot_hold_is_made_storable_not_dropped(pg_url: str) -> None:
    store = open_store(pg_url)
    writer = store.writer()
    batch = rows({"type": "error", "message": "nul\x00inside"}, {"type": "chat", "message": "fine"})
    batch.append({**batch[1], "message": "lone \ud800 surrogate"})
    assert writer.commit(batch) == 2
    assert writer.unstorable == 1
    assert sorted(r["message"] for r in store.iter_rows(Filter())) == ["fine", "nul\ufffdinside"]
    assert [g["count"] for g in store.groups()] == [1]
    store.close()


def test_a_month_dropped_by_another_host_is_made_again(pg_url: str) -> None:
    here, there = open_store(pg_url), open_store(pg_url)
    old = {"type": "activity", "title": "old", "created_at": ago(days=200), "level": "info"}
    here.insert(rows(old))
    there.prune(30, now=NOW)  # drops the month `here` knows of
    assert here.insert(rows(old)) and here.count() == 1
    here.close()
    there.close()


@pytest.mark.parametrize("sort", [NEWEST, OLDEST, Sort("type"), Sort("severity"), Sort("is_resolved", False)],
                         ids=lambda s: s.column)
def test_pages_are_read_in_index_order_on_postgresql_not_sorted(pg_url: str, sort: Sort) -> None:
    """A bare ``created_at`` in ORDER BY would name the row form's text column
    (made by to_char), which only a sort of every record can order."""
    from logconsole.store.postgres import query as pq

    store = open_store(pg_url)
    store.insert(sample(20))
    flt = Filter(types=("error",)) if sort.column in ("severity", "is_resolved") else Filter()
    where, params = pq.where_sql(flt)
    conn = store.conn  # type: ignore[attr-defined]
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            f"EXPLAIN SELECT {pq.SELECT_LIST} FROM records WHERE {where} ORDER BY {pq.order_sql(sort)} LIMIT 50",
            params))
    store.close()
    assert "Sort  (" not in plan, plan  # a Merge Append of index scans is fine


def test_search_pages_stay_exact_whichever_plan_the_estimates_pick(pg_url: str) -> None:
    """A word common in old records and absent from the newest: the walk of
    the time index gives up within its budget, and collecting the matches
    answers; the page is the same either way."""
    from logconsole.store.postgres import query as pq

    store = open_store(pg_url)
    old = [{"type": "chat", "message": f"alpha {i}", "created_at": ago(days=2, seconds=-i)} for i in range(3000)]
    new = [{"type": "chat", "message": f"beta {i}", "created_at": ago(days=1, seconds=-i)} for i in range(3000)]
    for start in range(0, 3000, 1000):
        store.insert(rows(*old[start:start + 1000]))
        store.insert(rows(*new[start:start + 1000]))
    conn = store.conn  # type: ignore[attr-defined]
    conn.execute("ANALYZE records")
    flt = make_filter(search="alpha")
    assert pq.walk_budget(conn, flt, 50) == pq.WALK_MIN_BUDGET  # common, so it walks first
    page = store.page(flt, limit=50)
    assert [r["message"] for r in page] == [f"alpha {i}" for i in range(2999, 2949, -1)]
    store.close()


def test_words_that_come_together_are_estimated_by_the_rarer_one(pg_url: str) -> None:
    from logconsole.store.postgres import query as pq

    store = open_store(pg_url)
    store.insert(rows(*[{"type": "chat", "message": "payment declined" if i % 10 == 0 else f"hello {i}"}
                        for i in range(3000)]))
    conn = store.conn  # type: ignore[attr-defined]
    conn.execute("ANALYZE records")
    q = pq.tsquery_text("payment declined")
    assert q is not None
    plain = pq.estimated_rows(conn, "SELECT 1 FROM records WHERE search @@ to_tsquery('simple', %s)", [q])
    assert plain < 100  # the planner's guess: frequencies multiplied
    assert pq.estimated_matches(conn, q) >= 200
    store.close()


def test_the_postgresql_writer_stores_offsets_and_meta_with_the_batch(pg_url: str) -> None:
    store = open_store(pg_url)
    writer = store.writer()
    writer.commit(rows({"type": "chat", "message": "hi"}), [("/var/log/app.log", 7, 120, "abc")],
                  meta={"forward.cursor": "42"})  # type: ignore[call-arg]
    writer.commit([], [("/var/log/app.log", 7, 240, "abc")], meta={"forward.cursor": "43"})  # type: ignore[call-arg]
    conn = store.conn  # type: ignore[attr-defined]
    assert conn.execute('SELECT "offset" FROM file_offsets').fetchall() == [(240,)]
    assert conn.execute("SELECT value FROM meta WHERE key = 'forward.cursor'").fetchall() == [("43",)]
    store.close()
