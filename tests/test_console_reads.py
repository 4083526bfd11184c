"""What the console reads, the same on both stores: the same seeded records in a
SQLite file and a PostgreSQL database give the same headlines, panel figures,
group pages, trends, hosts and arrivals (:class:`~logconsole.store.interface.Store`'s
console section)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from tui_data import FIXED_NOW, fill_store, seeded_records

from logconsole.alert_rules import ALERT_EVENT
from logconsole.ingest import normalize
from logconsole.store import group_query as G
from logconsole.store.interface import Store, group_action, open_store
from logconsole.store.query import Condition, Filter, make_filter

FILTERS = [Filter(), make_filter(since="2026-11-13T00:00:00Z"), Filter(search="deadlock"),
           Filter(where=(Condition("user_id", "=", "u2"),))]


@pytest.fixture
def both(tmp_path: Path, pg_url: str) -> Iterator[tuple[Store, Store]]:
    """The seeded records (every other one from a second host, one alert) in each store."""
    records = seeded_records(8)
    for i, r in enumerate(records):
        r["host"] = ("web-1", "db-2")[i % 2]
    records.append({"type": "system", "event_type": ALERT_EVENT, "status": "critical",
                    "message": "payments failing", "created_at": FIXED_NOW.isoformat()})
    with closing(open_store(tmp_path / "logs.db")) as sqlite, closing(open_store(pg_url)) as pg:
        for store in (sqlite, pg):
            fill_store(store, records)
        yield sqlite, pg


@pytest.mark.parametrize("flt", FILTERS, ids=["all", "since", "search", "where"])
def test_tab_headlines_and_panels_agree(both: tuple[Store, Store], flt: Filter) -> None:
    sqlite, pg = both
    for kind in ("activity", "error", "ai", "chat", "system"):
        assert pg.tab_summary(kind, flt, now=FIXED_NOW) == sqlite.tab_summary(kind, flt, now=FIXED_NOW), kind
    assert pg.ai_models(flt) == sqlite.ai_models(flt)
    assert pg.system_series(flt.since, flt.until) == sqlite.system_series(flt.since, flt.until)
    assert pg.ids_matching(flt) and sorted(pg.ids_matching(flt)) == sorted(sqlite.ids_matching(flt))


@pytest.mark.parametrize("sort", [G.sort_of(n, ascending=a) for n in G.SORTS for a in (False, True)],
                         ids=[f"{n}-{'asc' if a else 'desc'}" for n in G.SORTS for a in (False, True)])
def test_group_pages_agree_in_every_sort_by_keyset_and_by_offset(both: tuple[Store, Store], sort: G.GroupSort) -> None:
    sqlite, pg = both
    flt = G.GroupFilter(statuses=G.STATUS_WORDS["all"])
    assert pg.group_count(flt) == sqlite.group_count(flt) > 2

    def walk(store: Store) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        after = None
        while page := store.group_page(flt, sort, limit=2, after=after):
            out += page
            after = G.group_cursor(page[-1], sort)
        return out

    walked = [walk(store) for store in (sqlite, pg)]
    assert sorted(map(repr, without_ids(walked[1]))) == sorted(map(repr, without_ids(walked[0])))
    for store, groups in zip((sqlite, pg), walked):
        # NULL times first ascending, last descending, as SQLite orders them; ties by the group's id.
        def key(g: dict[str, object]) -> tuple[object, ...]:
            value = g[sort.column]
            return (value is not None, value or 0, g["id"])
        assert groups == sorted(groups, key=key, reverse=sort.descending)
        assert store.group_page(flt, sort, limit=2, offset=2) == groups[2:4]
    assert [fingerprints(pg)[i] for i in pg.group_ids(flt)] == [fingerprints(sqlite)[i] for i in sqlite.group_ids(flt)]


def without_ids(groups: list[dict[str, object]]) -> list[dict[str, object]]:
    """Groups as both stores must agree on them: a group's own id is the order its
    store made it in (a batch's groups may be made in another order)."""
    return [{k: v for k, v in g.items() if k != "id"} for g in groups]


def fingerprints(store: Store) -> dict[int, str]:
    return {int(g["id"]): str(g["fingerprint"]) for g in store.groups()}


def test_group_headline_trends_and_actions_agree(both: tuple[Store, Store]) -> None:
    sqlite, pg = both
    flt = G.GroupFilter()
    assert pg.group_status_summary(flt) == sqlite.group_status_summary(flt)
    by_print = [{v: k for k, v in fingerprints(s).items()} for s in (sqlite, pg)]

    def trends(store: Store, ids: dict[str, int]) -> dict[str, list[int]]:
        counts = store.group_hourly_counts(ids.values(), FIXED_NOW)
        return {f: counts[i] for f, i in ids.items()}

    assert trends(pg, by_print[1]) == trends(sqlite, by_print[0])
    assert any(sum(v) for v in trends(pg, by_print[1]).values())
    first = str(sqlite.group_page(flt, G.LATEST_FIRST, limit=1)[0]["fingerprint"])
    for action, note in (("resolve", "deployed"), ("reopen", None), ("ignore", "noise"), ("reopen", None),
                         ("resolve", "again")):
        got = []
        for store, ids in zip((sqlite, pg), by_print):
            outcome = group_action(store, action, ids[first], note=note, by="ops")
            assert outcome is not None
            resolved = Filter(where=(Condition("group_id", "=", ids[first]), Condition("is_resolved", "=", 1)))
            got.append((outcome.before, outcome.after, outcome.records, store.count(resolved)))
        assert got[0] == got[1], action
    assert group_action(pg, "resolve", 10**9) is None and group_action(sqlite, "resolve", 10**9) is None


def test_hosts_arrivals_and_alerts_agree(both: tuple[Store, Store]) -> None:
    sqlite, pg = both
    assert pg.hosts() == sqlite.hosts() == ["db-2", "web-1"]
    top = pg.max_id()
    assert top == sqlite.max_id() and pg.hosts(top) == [] and not pg.is_empty()
    for store in (sqlite, pg):
        store.insert([normalize({"type": "error", "message": "late"}, now=FIXED_NOW, host="batch-3")])
    assert pg.hosts(top) == sqlite.hosts(top) == ["batch-3"]
    flt = Filter(types=("error",))
    assert pg.count_after(flt, top) == sqlite.count_after(flt, top) == 1
    assert pg.alerts(after_id=0) == sqlite.alerts(after_id=0) != []
    assert pg.alerts(since=FIXED_NOW.isoformat()) == sqlite.alerts(since=FIXED_NOW.isoformat())
    assert pg.last_retention_run() is None and sqlite.last_retention_run() is None
    pg.prune(30, now=FIXED_NOW)
    sqlite.prune(30, now=FIXED_NOW)
    runs = [s.last_retention_run() for s in (sqlite, pg)]
    assert runs[0] is not None and runs[1] is not None and runs[0].removed == runs[1].removed > 0
