"""The PostgreSQL implementation of :class:`~logconsole.store.interface.Store`.

One connection in autocommit mode; each change is one explicit transaction.
The session's time zone is UTC.  Record and group decisions follow the SQLite
store's rules (:mod:`logconsole.store.actions`, :mod:`logconsole.store.retention`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import psycopg

from logconsole import kinds as K
from logconsole.alert_rules import ALERT_EVENT, STATE_PREFIX, RuleState, states_from
from logconsole.ingest import Row
from logconsole.store import forward_state
from logconsole.store.actions import GroupOutcome, Outcome
from logconsole.store.db import StoreError
from logconsole.store.group_query import LATEST_FIRST, GroupFilter, GroupSort
from logconsole.store.groups import GroupEvent
from logconsole.store.postgres import alerts as pg_alerts
from logconsole.store.postgres import group_actions, summaries
from logconsole.store.postgres import group_query as pg_group_query
from logconsole.store.postgres import groups as pg_groups
from logconsole.store.postgres import query as pq
from logconsole.store.postgres import stats as pg_stats
from logconsole.store.postgres.follow import PgFollower
from logconsole.store.postgres.migrations import PgSchemaError, schema_version, upgrade
from logconsole.store.postgres.schema import month_of
from logconsole.store.postgres.writer import COPY_COLUMNS, Partitions, PgWriter, _values
from logconsole.store.query import NEWEST, Cursor, Filter, Sort, cursor_of, keyset_pages
from logconsole.store.retention import LAST_RUN_KEY, RetentionRun, cutoff_for, run_from_json
from logconsole.store.sqlite.store import GROUP_COLUMNS
from logconsole.store.stats import ModelStats
from logconsole.store.url import POSTGRESQL, StoreURL
from logconsole.timeutil import format_ts, utcnow

KEEPS = "(type = 'error' AND is_resolved = false) OR (type = 'system' AND requires_action = true)"
""":data:`logconsole.store.retention.RETENTION_KEEPS` in PostgreSQL's terms."""

_GROUP_SELECT = pg_group_query.GROUP_SELECT


def connect(location: StoreURL) -> psycopg.Connection:
    """A connection to ``location`` (autocommit, UTC), or :class:`StoreError` saying why not."""
    try:
        conn = psycopg.connect(location.conninfo, autocommit=True)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot connect to {location.redacted()}: {reason}") from None
    conn.execute("SET TimeZone = 'UTC'")
    return conn


class PostgresStore:
    """A PostgreSQL database as a :class:`~logconsole.store.interface.Store`."""

    backend = POSTGRESQL

    def __init__(self, conn: psycopg.Connection, location: StoreURL) -> None:
        self.conn = conn
        self.location = location
        self.partitions = Partitions(conn)

    @classmethod
    def open(cls, location: StoreURL, *, readonly: bool = False) -> PostgresStore:
        """Connect; unless ``readonly``, bring the schema up to date and make
        this month's and next month's partitions."""
        conn = connect(location)
        try:
            if readonly:
                if schema_version(conn) == 0:
                    raise StoreError(f"no logconsole database at {location.redacted()}")
                conn.execute("SET default_transaction_read_only = on")
                return cls(conn, location)
            upgrade(conn)
            store = cls(conn, location)
            now = utcnow()
            store.partitions.ensure(conn, {(now.year, now.month), (now.year + (now.month == 12), now.month % 12 + 1)})
            return store
        except PgSchemaError as exc:
            conn.close()
            raise StoreError(str(exc)) from None
        except BaseException:
            conn.close()
            raise

    def schema_version(self) -> int:
        return schema_version(self.conn)

    # -- writing

    def writer(self) -> PgWriter:
        return PgWriter(self.conn, self.partitions)

    def insert(self, rows: Iterable[Row]) -> list[int]:
        w = self.writer()
        w.commit(rows)
        return list(w.ids)

    # -- reading

    def page(self, flt: Filter, sort: Sort = NEWEST, *, limit: int = 100,
             after: Cursor | None = None) -> list[dict[str, Any]]:
        return pq.fetch_page(self.conn, flt, sort, limit=limit, after=after)

    def iter_rows(self, flt: Filter, sort: Sort = NEWEST, *, limit: int | None = None,
                  page_size: int = 5000) -> Iterator[dict[str, Any]]:
        return keyset_pages(lambda size, after: self.page(flt, sort, limit=size, after=after),
                            lambda row: cursor_of(row, sort), limit=limit, page_size=page_size)

    def count(self, flt: Filter = Filter()) -> int:
        return pq.count(self.conn, flt)

    def counts_by(self, column: str, flt: Filter = Filter()) -> dict[Any, int]:
        return pq.counts_by(self.conn, column, flt)

    def overview(self, flt: Filter = Filter()) -> dict[str, int]:
        found = self.counts_by("type", flt)
        return {name: int(found.get(name, 0)) for name in K.KIND_NAMES}

    def get(self, record_id: int) -> dict[str, Any] | None:
        return pq.get(self.conn, record_id)

    def max_id(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0])  # type: ignore[index]

    def groups(self) -> list[dict[str, Any]]:
        return list(pq.dict_rows(self.conn.execute(f"SELECT {_GROUP_SELECT} FROM error_groups ORDER BY id")))  # type: ignore[arg-type]

    def group_users(self) -> list[tuple[int, str]]:
        return [(int(g), str(u)) for g, u in self.conn.execute(
            "SELECT group_id, user_id FROM error_group_users ORDER BY group_id, user_id COLLATE \"C\"")]

    # -- changing

    def _set_resolved(self, ids: Iterable[int], resolved: bool, note: str | None, by: str | None,
                      now: datetime | None) -> Outcome:
        wanted = sorted({int(i) for i in ids})
        with self.conn.transaction():
            found = dict(self.conn.execute(
                "SELECT id, type = 'error' AND is_resolved IS DISTINCT FROM %s FROM records WHERE id = ANY(%s) "
                "FOR UPDATE", (resolved, wanted)).fetchall())
            out = Outcome.of(wanted, found)
            if out.changed:
                ts = format_ts(now or utcnow()) if resolved else None
                self.conn.execute(
                    "UPDATE records SET is_resolved = %s, resolution = %s, resolved_at = %s, resolved_by = %s "
                    "WHERE id = ANY(%s)",
                    (resolved, note if resolved else None, ts, by if resolved else None, out.changed))
        return out

    def resolve(self, ids: Iterable[int], *, note: str | None = None, by: str | None = None,
                now: datetime | None = None) -> Outcome:
        return self._set_resolved(ids, True, note, by, now)

    def unresolve(self, ids: Iterable[int]) -> Outcome:
        return self._set_resolved(ids, False, None, None, None)

    def delete_ids(self, ids: Iterable[int]) -> Outcome:
        wanted = sorted({int(i) for i in ids})
        out = Outcome()
        with self.conn.transaction():
            gone = {r[0] for r in self.conn.execute(
                "DELETE FROM records WHERE id = ANY(%s) RETURNING id", (wanted,))}
            for i in wanted:
                (out.changed if i in gone else out.missing).append(i)
            pg_groups.refresh(self.conn)
        return out

    def delete_matching(self, flt: Filter) -> int:
        where, params = pq.where_sql(flt)
        with self.conn.transaction():
            cur = self.conn.execute(f"DELETE FROM records WHERE {where}", params)  # type: ignore[arg-type]
            pg_groups.refresh(self.conn)
        return cur.rowcount

    def prune(self, days: float, *, now: datetime | None = None) -> int:
        """Retention: a month wholly past the cut-off that keeps nothing is
        dropped as a whole (its errors leave their groups first); other
        expired records are deleted.  The run is recorded as SQLite records it."""
        cutoff = cutoff_for(days, now)
        started = format_ts(utcnow())
        total = 0
        conn = self.conn
        with conn.transaction():
            for name in sorted(self.partitions.known):
                year, month = int(name[9:13]), int(name[14:16])
                end = date(year + (month == 12), month % 12 + 1, 1) if (year, month) != (9999, 12) else None
                if end is None or format_ts(datetime(end.year, end.month, 1)) > cutoff:
                    continue
                if conn.execute(f"SELECT 1 FROM {name} WHERE {KEEPS} LIMIT 1").fetchone():  # type: ignore[arg-type]
                    continue
                n = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[arg-type,index]
                conn.execute(
                    "UPDATE error_groups AS g SET count = g.count - d.n, stale = 1 FROM (SELECT group_id, "
                    f"count(*) AS n FROM {name} WHERE group_id IS NOT NULL GROUP BY group_id) AS d "  # type: ignore[arg-type]
                    "WHERE g.id = d.group_id")
                conn.execute(f"DROP TABLE {name}")  # type: ignore[arg-type]
                self.partitions.known.discard(name)
                total += int(n)
            cur = conn.execute(
                f"DELETE FROM records WHERE created_at < %s::timestamptz AND NOT ({KEEPS})", (cutoff,))  # type: ignore[arg-type]
            total += cur.rowcount
            pg_groups.refresh(conn)
            conn.execute("DELETE FROM group_events WHERE at < %s::timestamptz", (cutoff,))
            run = RetentionRun(started, float(days), cutoff, total, format_ts(utcnow()))
            conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                         "SET value = excluded.value", (LAST_RUN_KEY, json.dumps(asdict(run))))
        return total

    # -- copying

    def copy_records(self, rows: Sequence[dict[str, Any]]) -> int:
        if not rows:
            return 0
        self.partitions.ensure(self.conn, {month_of(str(r["created_at"])) for r in rows})
        with self.conn.transaction():
            with self.conn.cursor().copy(
                    f"COPY records ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:  # type: ignore[arg-type]
                for row in rows:
                    values = _values([row], [row["id"]], {})[0]
                    values[COPY_COLUMNS.index("group_id")] = row.get("group_id")
                    copy.write_row(values)
            self.conn.execute("SELECT setval('records_id_seq', greatest((SELECT max(id) FROM records), 1))")
        return len(rows)

    def copy_groups(self, groups: Sequence[dict[str, Any]], users: Sequence[tuple[int, str]]) -> None:
        with self.conn.transaction():
            self.conn.execute("DELETE FROM error_group_users")
            self.conn.execute("DELETE FROM error_groups")
            with self.conn.cursor().copy(
                    f"COPY error_groups ({', '.join(GROUP_COLUMNS)}) FROM STDIN") as copy:  # type: ignore[arg-type]
                for g in groups:
                    copy.write_row([g.get(c) for c in GROUP_COLUMNS])
            with self.conn.cursor().copy("COPY error_group_users (group_id, user_id) FROM STDIN") as copy:
                for pair in users:
                    copy.write_row(pair)
            self.conn.execute("SELECT setval(pg_get_serial_sequence('error_groups', 'id'), "
                              "greatest((SELECT max(id) FROM error_groups), 1))")

    def refresh_groups(self) -> int:
        with self.conn.transaction():
            self.conn.execute("UPDATE error_groups SET stale = 1")
            return pg_groups.refresh(self.conn)

    def close(self) -> None:
        self.conn.close()

    # -- collector: tailed-file offsets per host, retention's last run

    def file_offsets(self, host: str) -> list[tuple[str, int, int, str]]:
        """``host``'s tailed files as ``(path, inode, offset, head)``."""
        return [(str(p), int(i or 0), int(o or 0), str(h or "0:")) for p, i, o, h in self.conn.execute(
            'SELECT path, inode, "offset", head FROM file_offsets WHERE host = %s', (host,))]

    def has_file_offset(self, host: str, path: str, head: str) -> bool:
        """Whether ``host`` stored the offset row ``(path, head)`` (a spill's replay marker)."""
        return self.conn.execute("SELECT 1 FROM file_offsets WHERE host = %s AND path = %s AND head = %s",
                                 (host, path, head)).fetchone() is not None

    def forget_file_offset(self, host: str, path: str, head: str) -> None:
        self.conn.execute("DELETE FROM file_offsets WHERE host = %s AND path = %s AND head = %s",
                          (host, path, head))

    # -- cli: what the commands beyond query and export need

    def resolve_group(self, group_id: int, *, note: str | None = None, by: str | None = None,
                      now: datetime | None = None) -> GroupOutcome | None:
        return group_actions.resolve_group(self.conn, group_id, note=note, by=by, now=now)

    def unresolve_group(self, group_id: int, *, by: str | None = None,
                        now: datetime | None = None) -> GroupOutcome | None:
        return group_actions.unresolve_group(self.conn, group_id, by=by, now=now)

    def ignore_group(self, group_id: int, *, note: str | None = None, by: str | None = None,
                     now: datetime | None = None) -> GroupOutcome | None:
        return group_actions.ignore_group(self.conn, group_id, note=note, by=by, now=now)

    def iter_groups(self, flt: GroupFilter = GroupFilter(), sort: GroupSort = LATEST_FIRST, *,
                    limit: int | None = None) -> Iterator[dict[str, Any]]:
        return pg_group_query.iter_groups(self.conn, flt, sort, limit=limit)

    def count_groups(self, flt: GroupFilter = GroupFilter()) -> int:
        return pg_group_query.count_groups(self.conn, flt)

    def grouping_pending(self) -> int | None:
        return None  # records are grouped as they are written; no release without groups came before

    def latest_of_groups(self, *, regressed: bool) -> list[tuple[int, int]]:
        return pg_group_query.latest_of_groups(self.conn, regressed=regressed)

    def count_expired(self, days: float, *, after_id: int = 0) -> int:
        sql = f"SELECT count(*) FROM records WHERE created_at < %s::timestamptz AND NOT ({KEEPS})"
        params: list[object] = [cutoff_for(days)]
        if after_id:
            sql += " AND id > %s"
            params.append(after_id)
        return int(self.conn.execute(sql, params).fetchone()[0])  # type: ignore[arg-type,index]

    def prune_now(self, days: float) -> int:
        return self.prune(days)

    def time_span(self) -> tuple[str | None, str | None]:
        return pg_stats.time_span(self.conn)

    def sizes(self) -> dict[str, int]:
        return pg_stats.sizes(self.conn)

    def last_retention_run(self) -> RetentionRun | None:
        """The last retention run recorded (by any collector of the fleet)."""
        found = pg_stats.meta(self.conn, keys=(LAST_RUN_KEY,))
        return run_from_json(found[LAST_RUN_KEY]) if LAST_RUN_KEY in found else None

    def forward_summary(self, now: datetime | None = None) -> dict[str, Any] | None:
        state = forward_state.from_meta(
            pg_stats.meta(self.conn, keys=(forward_state.CURSOR_KEY, forward_state.STATE_KEY)))
        if state is None:
            return None
        n, first = pg_stats.after_cursor(self.conn, state.cursor)
        records, seconds = forward_state.lag_of(state, n, first, now) if first else (0, 0.0)
        return {**asdict(state), "lag_records": records, "lag_seconds": seconds}

    def alert_states(self) -> dict[str, RuleState]:
        return states_from(pg_stats.meta(self.conn, prefix=STATE_PREFIX).items())

    def follower(self, flt: Filter, *, interval: float) -> PgFollower:
        return PgFollower(self.location, flt, interval=interval)

    # -- alerts: what the alert rules and the fleet leader's forwarding read

    def alert_count_in_range(self, flt: Filter, first: int, last: int) -> tuple[int, int | None]:
        return pg_alerts.count_in_range(self.conn, flt, first, last)

    def alert_matching_ids(self, flt: Filter, ids: Sequence[int]) -> set[int]:
        return pg_alerts.matching_ids(self.conn, flt, ids)

    def save_alert_states(self, states: dict[str, RuleState]) -> None:
        self.write_meta({STATE_PREFIX + name: s.as_json() for name, s in states.items()})

    def horizon(self) -> int:
        return pg_alerts.reader_horizon(self.conn)

    def group_events(self, after: int, upto: int) -> list[GroupEvent]:
        return pg_alerts.group_events(self.conn, after, upto)

    def trim_group_events(self, upto: int) -> None:
        pg_alerts.trim_group_events(self.conn, upto)

    def records_between(self, after: int, upto: int, limit: int) -> list[dict[str, Any]]:
        return pg_alerts.records_between(self.conn, after, upto, limit)

    def meta_values(self, keys: tuple[str, ...]) -> dict[str, str]:
        return pg_stats.meta(self.conn, keys=keys)

    def write_meta(self, values: dict[str, str]) -> None:
        pg_alerts.write_meta(self.conn, values)
    # -- console: what the console reads and does (screens/)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield

    def page_at(self, flt: Filter, sort: Sort, *, limit: int, offset: int) -> list[dict[str, Any]]:
        return pq.fetch_page(self.conn, flt, sort, limit=limit, offset=offset)

    def count_after(self, flt: Filter, after_id: int) -> int:
        where, params = pq.where_sql(flt)
        sql = f"SELECT count(*) FROM records WHERE id > %s AND ({where})"
        return int(self.conn.execute(sql, [after_id, *params]).fetchone()[0])  # type: ignore[arg-type,index]

    def is_empty(self) -> bool:
        return self.conn.execute("SELECT 1 FROM records LIMIT 1").fetchone() is None

    def ids_matching(self, flt: Filter) -> list[int]:
        where, params = pq.where_sql(flt)
        return [int(i) for i, in self.conn.execute(f"SELECT id FROM records WHERE {where}", params)]  # type: ignore[arg-type]

    def interrupt(self) -> None:
        self.conn.cancel_safe()

    def reusable(self) -> bool:
        return not self.conn.closed and self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def describe_error(self, exc: BaseException) -> str | None:
        if not isinstance(exc, psycopg.Error):
            return None
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return "query cancelled"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{self.location.redacted()}: {reason}"

    def hosts(self, after_id: int = 0) -> list[str]:
        rows = self.conn.execute("SELECT DISTINCT host FROM records WHERE id > %s AND host IS NOT NULL", (after_id,))
        return sorted(str(h) for h, in rows)

    def tab_summary(self, kind_name: str, flt: Filter, *, now: datetime | None = None) -> str:
        return summaries.tab_summary(self.conn, kind_name, flt, now=now)

    def system_series(self, since: str | None, until: str | None) -> dict[str, list[float]]:
        return summaries.system_series(self.conn, since, until)

    def ai_models(self, flt: Filter) -> list[ModelStats]:
        return summaries.ai_models(self.conn, flt)

    def alerts(self, *, after_id: int | None = None, since: str | None = None) -> list[tuple[int, str, str]]:
        bound, value = ("id > %s", after_id) if after_id is not None else ("created_at >= %s::timestamptz", since)
        rows = self.conn.execute(
            f"SELECT id, status, message FROM records WHERE {bound} AND type = 'system' "  # type: ignore[arg-type]
            "AND event_type = %s ORDER BY id", (value, ALERT_EVENT))
        return [(int(i), s or "", m or "") for i, s, m in rows]

    def has_groups(self) -> bool:
        return True

    def group_count(self, flt: GroupFilter) -> int:
        return pg_group_query.count_groups(self.conn, flt)

    def group_page(self, flt: GroupFilter, sort: GroupSort, *, limit: int, after: Cursor | None = None,
                   offset: int = 0) -> list[dict[str, Any]]:
        return pg_group_query.fetch_groups(self.conn, flt, sort, limit=limit, after=after, offset=offset)

    def group_ids(self, flt: GroupFilter, *, limit: int | None = None) -> list[int]:
        rows = pg_group_query.fetch_groups(self.conn, flt, LATEST_FIRST, limit=limit, columns="id")
        return [int(r["id"]) for r in rows]

    def group_status_summary(self, flt: GroupFilter) -> str:
        return pg_group_query.status_summary(self.conn, flt)

    def group_hourly_counts(self, group_ids: Iterable[int], now: datetime) -> dict[int, list[int]]:
        return pg_group_query.hourly_counts(self.conn, group_ids, now)



__all__ = ["KEEPS", "PostgresStore", "connect"]
