"""The SQLite implementation of :class:`~logconsole.store.interface.Store`.

A thin layer over the modules that have always run the SQLite store
(:mod:`~logconsole.store.db`, :mod:`~logconsole.store.query`,
:mod:`~logconsole.store.writer`, :mod:`~logconsole.store.actions`,
:mod:`~logconsole.store.retention`, :mod:`~logconsole.store.stats`): the same
SQL runs, so every figure in docs/performance.md holds through it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from logconsole.alert_rules import ALERT_EVENT, RuleState, load_state, save_state
from logconsole.ingest import Row
from logconsole.store import actions, alert_reads, forward_state, group_query, groups, query, retention, stats
from logconsole.store import group_query as G
from logconsole.store.db import StoreError, connect, file_size
from logconsole.store.errors import describe
from logconsole.store.follow import Follower
from logconsole.store.migrations import pending_backfills, schema_version
from logconsole.store.query import NEWEST, Cursor, Filter, Sort, dict_rows
from logconsole.store.schema import INSERT_COLUMNS
from logconsole.store.transaction import transaction
from logconsole.store.url import SQLITE, StoreURL
from logconsole.store.wal import wal_size
from logconsole.store.writer import BatchWriter

GROUP_COLUMNS: tuple[str, ...] = (
    "id", "fingerprint", "error_type", "message", "culprit", "count", "first_seen", "last_seen", "latest_id",
    "severity", "users", "users_approx", "endpoints", "status", "note", "status_by", "status_at",
    "regressed_at", "stale",
)
"""The columns of ``error_groups``, as :meth:`SQLiteStore.groups` gives them."""


@dataclass(slots=True)
class SQLiteStore:
    """A SQLite file as a :class:`~logconsole.store.interface.Store`; ``conn``
    stays available to the code not yet on the interface."""

    conn: sqlite3.Connection
    location: StoreURL
    backend: str = SQLITE

    @classmethod
    def open(cls, location: StoreURL, *, readonly: bool = False) -> SQLiteStore:
        assert location.path is not None
        return cls(connect(location.path, readonly=readonly), location)

    def schema_version(self) -> int:
        return schema_version(self.conn)

    def writer(self) -> BatchWriter:
        return BatchWriter(self.conn)

    def insert(self, rows: Iterable[Row]) -> list[int]:
        rows = list(rows)
        if not rows:
            return []
        writer = BatchWriter(self.conn)
        writer.commit(rows)
        return list(writer.ids)

    def page(self, flt: Filter, sort: Sort = NEWEST, *, limit: int = 100,
             after: Cursor | None = None) -> list[dict[str, Any]]:
        return query.fetch_page(self.conn, flt, sort, limit=limit, after=after)

    def iter_rows(self, flt: Filter, sort: Sort = NEWEST, *, limit: int | None = None,
                  page_size: int = 5000) -> Iterator[dict[str, Any]]:
        return query.iter_rows(self.conn, flt, sort, limit=limit, page_size=page_size)

    def count(self, flt: Filter = Filter()) -> int:
        return query.count(self.conn, flt)

    def counts_by(self, column: str, flt: Filter = Filter()) -> dict[Any, int]:
        return query.counts_by(self.conn, column, flt)

    def overview(self, flt: Filter = Filter()) -> dict[str, int]:
        return stats.overview(self.conn, flt)

    def get(self, record_id: int) -> dict[str, Any] | None:
        return query.get(self.conn, record_id)

    def max_id(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0])

    def horizon(self) -> int:
        return self.max_id()

    def groups(self) -> list[dict[str, Any]]:
        cur = self.conn.execute(f"SELECT {', '.join(GROUP_COLUMNS)} FROM error_groups ORDER BY id")
        return list(dict_rows(cur))

    def group_users(self) -> list[tuple[int, str]]:
        return [(int(g), str(u)) for g, u in self.conn.execute(
            "SELECT group_id, user_id FROM error_group_users ORDER BY group_id, user_id")]

    def resolve(self, ids: Iterable[int], *, note: str | None = None, by: str | None = None,
                now: datetime | None = None) -> actions.Outcome:
        return actions.resolve(self.conn, ids, note=note, by=by, now=now)

    def unresolve(self, ids: Iterable[int]) -> actions.Outcome:
        return actions.unresolve(self.conn, ids)

    def delete_ids(self, ids: Iterable[int]) -> actions.Outcome:
        return actions.delete_ids(self.conn, ids)

    def delete_matching(self, flt: Filter) -> int:
        return actions.delete_matching(self.conn, flt)

    def prune(self, days: float, *, now: datetime | None = None) -> int:
        return retention.prune(self.conn, days, now=now, settle_seconds=0.0)

    def copy_records(self, rows: Sequence[dict[str, Any]]) -> int:
        if not rows:
            return 0
        columns = ("id", *INSERT_COLUMNS)
        sql = (f"INSERT INTO records ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' for _ in columns)})")
        with transaction(self.conn):
            self.conn.executemany(sql, [tuple(r.get(c) for c in columns) for r in rows])
        return len(rows)

    def copy_groups(self, groups: Sequence[dict[str, Any]], users: Sequence[tuple[int, str]]) -> None:
        sql = (f"INSERT INTO error_groups ({', '.join(GROUP_COLUMNS)}) "
               f"VALUES ({', '.join('?' for _ in GROUP_COLUMNS)})")
        with transaction(self.conn):
            self.conn.execute("DELETE FROM error_groups")
            self.conn.execute("DELETE FROM error_group_users")
            self.conn.executemany(sql, [tuple(g.get(c) for c in GROUP_COLUMNS) for g in groups])
            self.conn.execute(
                "INSERT INTO error_group_users (group_id, user_id) SELECT value ->> 0, value ->> 1 "
                "FROM json_each(?)", (json.dumps(list(users), ensure_ascii=False),))

    def refresh_groups(self) -> int:
        with transaction(self.conn):
            self.conn.execute("UPDATE error_groups SET stale = 1")
            return groups.refresh(self.conn)

    def close(self) -> None:
        self.conn.close()

    # -- cli: what the commands beyond query and export need

    def resolve_group(self, group_id: int, *, note: str | None = None, by: str | None = None,
                      now: datetime | None = None) -> actions.GroupOutcome | None:
        return actions.resolve_group(self.conn, group_id, note=note, by=by, now=now)

    def unresolve_group(self, group_id: int, *, by: str | None = None,
                        now: datetime | None = None) -> actions.GroupOutcome | None:
        return actions.unresolve_group(self.conn, group_id, by=by, now=now)

    def ignore_group(self, group_id: int, *, note: str | None = None, by: str | None = None,
                     now: datetime | None = None) -> actions.GroupOutcome | None:
        return actions.ignore_group(self.conn, group_id, note=note, by=by, now=now)

    def iter_groups(self, flt: group_query.GroupFilter = group_query.GroupFilter(),
                    sort: group_query.GroupSort = group_query.LATEST_FIRST, *,
                    limit: int | None = None) -> Iterator[dict[str, Any]]:
        return group_query.iter_groups(self.conn, flt, sort, limit=limit)

    def count_groups(self, flt: group_query.GroupFilter = group_query.GroupFilter()) -> int:
        return group_query.count_groups(self.conn, flt)

    def grouping_pending(self) -> int | None:
        if not group_query.has_groups_table(self.conn):
            raise StoreError(
                "this database has no error groups yet: it is from an older release; any command that "
                "writes (or the collector) upgrades it")
        pending = pending_backfills(self.conn)
        if "groups" not in pending:
            return None
        last = self.max_id() or 1
        return min(100, 100 * pending["groups"] // last)

    def latest_of_groups(self, *, regressed: bool) -> list[tuple[int, int]]:
        where = "status = 'regressed'" if regressed else "1"
        order = "regressed_at" if regressed else "first_seen"
        return [(int(g), int(r)) for g, r in self.conn.execute(
            f"SELECT id, latest_id FROM error_groups WHERE {where} AND latest_id IS NOT NULL ORDER BY {order} DESC")]

    def count_expired(self, days: float, *, after_id: int = 0) -> int:
        return retention.count_expired(self.conn, days, after_id=after_id)

    def prune_now(self, days: float) -> int:
        return retention.prune(self.conn, days)

    def time_span(self) -> tuple[str | None, str | None]:
        oldest, newest = self.conn.execute("SELECT min(created_at), max(created_at) FROM records").fetchone()
        return oldest, newest

    def sizes(self) -> dict[str, int]:
        assert self.location.path is not None
        wal = wal_size(self.location.path)
        return {"database_bytes": file_size(self.location.path) - wal, "wal_bytes": wal}

    def last_retention_run(self) -> retention.RetentionRun | None:
        return retention.last_run(self.conn)

    def forward_summary(self, now: datetime | None = None) -> dict[str, Any] | None:
        return forward_state.summary(self.conn, now)

    def alert_states(self) -> dict[str, RuleState]:
        return load_state(self.conn)

    def follower(self, flt: Filter, *, interval: float) -> Follower:
        assert self.location.path is not None
        return Follower(self.location.path, flt, interval=interval)

    # -- alerts: what the alert rules read (the collector's evaluator keeps its compiled SQL)
    def alert_count_in_range(self, flt: Filter, first: int, last: int) -> tuple[int, int | None]:
        return alert_reads.count_in_range(self.conn, flt, first, last)

    def alert_matching_ids(self, flt: Filter, ids: Sequence[int]) -> set[int]:
        return alert_reads.matching_ids(self.conn, flt, ids) if ids else set()

    def save_alert_states(self, states: dict[str, RuleState]) -> None:
        save_state(self.conn, states)

    # -- console: the SQL the console has always run (screens/data.py's pool lends these)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def page_at(self, flt: Filter, sort: Sort, *, limit: int, offset: int) -> list[dict[str, Any]]:
        return query.fetch_page(self.conn, flt, sort, limit=limit, offset=offset)

    def count_after(self, flt: Filter, after_id: int) -> int:
        where, params = query.where_sql(self.conn, flt)
        # NOT INDEXED: walk the rowid range of the few new rows, never a whole index.
        sql = f"SELECT count(*) FROM records NOT INDEXED WHERE id > ? AND ({where})"
        return int(self.conn.execute(sql, [after_id, *params]).fetchone()[0])

    def is_empty(self) -> bool:
        return self.conn.execute("SELECT 1 FROM records LIMIT 1").fetchone() is None

    def ids_matching(self, flt: Filter) -> list[int]:
        return query.ids_matching(self.conn, flt)

    def interrupt(self) -> None:
        self.conn.interrupt()

    def reusable(self) -> bool:
        return not self.conn.in_transaction

    def describe_error(self, exc: BaseException) -> str | None:
        return describe(exc) if isinstance(exc, sqlite3.Error) else None

    def hosts(self, after_id: int = 0) -> list[str]:
        # NOT INDEXED: the rowid range of the rows above after_id (no index has host).
        rows = self.conn.execute(
            "SELECT DISTINCT host FROM records NOT INDEXED WHERE id > ? AND host IS NOT NULL", (after_id,))
        return sorted(str(h) for h, in rows)

    def tab_summary(self, kind_name: str, flt: Filter, *, now: datetime | None = None) -> str:
        return stats.tab_summary(self.conn, kind_name, flt, now=now)

    def system_series(self, since: str | None, until: str | None) -> dict[str, list[float]]:
        return stats.system_series(self.conn, since, until)

    def ai_models(self, flt: Filter) -> list[stats.ModelStats]:
        return stats.ai_models(self.conn, flt)

    def alerts(self, *, after_id: int | None = None, since: str | None = None) -> list[tuple[int, str, str]]:
        if after_id is not None:
            rows = self.conn.execute(NEW_ALERTS_SQL, (after_id, ALERT_EVENT)).fetchall()
        else:
            rows = self.conn.execute(ALERTS_SINCE_SQL, (since, ALERT_EVENT)).fetchall()
        return [(int(i), s or "", m or "") for i, s, m in rows]

    def has_groups(self) -> bool:
        return G.has_groups_table(self.conn)

    def group_count(self, flt: G.GroupFilter) -> int:
        return G.count_groups(self.conn, flt)

    def group_page(self, flt: G.GroupFilter, sort: G.GroupSort, *, limit: int, after: Cursor | None = None,
                   offset: int = 0) -> list[dict[str, Any]]:
        if not offset:
            return G.fetch_groups(self.conn, flt, sort, limit=limit, after=after)
        sql, params = G.select_sql(flt, sort, limit=limit, after=after)
        return list(dict_rows(self.conn.execute(sql + " OFFSET ?", [*params, offset])))

    def group_ids(self, flt: G.GroupFilter, *, limit: int | None = None) -> list[int]:
        return [int(r["id"]) for r in G.iter_groups(self.conn, flt, limit=limit)]

    def group_status_summary(self, flt: G.GroupFilter) -> str:
        return G.status_summary(self.conn, flt)

    def group_hourly_counts(self, group_ids: Iterable[int], now: datetime) -> dict[int, list[int]]:
        return G.hourly_counts(self.conn, group_ids, now)



NEW_ALERTS_SQL = (
    "SELECT id, status, message FROM records NOT INDEXED WHERE id > ? AND type = 'system' "
    "AND event_type = ? ORDER BY id"
)
"""Alerts since the last look: the rowid range of the new rows only."""
ALERTS_SINCE_SQL = (
    "SELECT id, status, message FROM records WHERE type = 'system' AND created_at >= ? "
    "AND event_type = ? ORDER BY id"
)
"""Alerts fired since a moment (the console's first look)."""


__all__ = ["ALERTS_SINCE_SQL", "GROUP_COLUMNS", "NEW_ALERTS_SQL", "SQLiteStore"]
