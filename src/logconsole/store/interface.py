"""The store as the rest of logconsole sees it: a :class:`Store` chosen by URL.

Two implementations stand behind it: SQLite (:mod:`logconsole.store.sqlite`,
the embedded default) and PostgreSQL (:mod:`logconsole.store.postgres`, for
several hosts writing to one database).  :func:`open_store` picks one from a
location (:mod:`logconsole.store.url`).

Rows cross the interface in the store's row form, the same for both
backends: every column of ``records`` by name, times in the 27-character
stored form (:mod:`logconsole.timeutil`), booleans as ``0``/``1``, JSON
fields as JSON text; :func:`logconsole.store.query.to_record` turns one into a
record.  Filters, sorts and cursors are :mod:`logconsole.store.query`'s; each
backend compiles a :class:`~logconsole.store.query.Filter` to its SQL in one
place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from logconsole.alert_rules import RuleState
from logconsole.ingest import Row
from logconsole.store.actions import GroupOutcome, Outcome
from logconsole.store.db import StoreError
from logconsole.store.group_query import LATEST_FIRST, GroupFilter, GroupSort
from logconsole.store.groups import GroupEvent
from logconsole.store.query import NEWEST, Cursor, Filter, Sort
from logconsole.store.retention import RetentionRun
from logconsole.store.stats import ModelStats
from logconsole.store.url import POSTGRESQL, StoreURL, parse_store_url

OffsetValues = tuple[str, int, int, str]
"""A tailed file's ``(path, inode, offset, head)``."""


@runtime_checkable
class Writer(Protocol):
    """Group commit: each :meth:`commit` stores a batch of rows (with their
    error groups, the tailed-file offsets read with them and ``meta`` values)
    in one transaction."""

    batches: int
    rows: int
    unstorable: int
    """Rows refused because a value cannot be stored (a lone surrogate)."""
    seconds: float
    ids: Sequence[int]
    """The ids of the rows the last :meth:`commit` stored, in the batch's order."""
    events: list[GroupEvent]
    """The group events of the last :meth:`commit` (new groups, regressions)."""

    def commit(self, rows: Iterable[Row], offsets: Iterable[OffsetValues] = (),
               meta: Mapping[str, str] | None = None) -> int:
        """Store ``rows``, ``offsets`` and ``meta`` values (the forwarder's
        cursor) in one transaction; returns how many rows."""
        ...


@runtime_checkable
class Store(Protocol):
    """One database of records and error groups."""

    backend: str
    """``sqlite`` or ``postgresql``."""
    location: StoreURL

    # -- schema
    def schema_version(self) -> int: ...

    # -- writing
    def writer(self) -> Writer: ...

    def insert(self, rows: Iterable[Row]) -> list[int]:
        """Store ``rows`` (from :func:`logconsole.ingest.normalize`) in one
        transaction with their groups; their ids in order."""
        ...

    # -- reading
    def page(self, flt: Filter, sort: Sort = NEWEST, *, limit: int = 100,
             after: Cursor | None = None) -> list[dict[str, Any]]:
        """One keyset page; pass the last row's ``cursor_of(row, sort)`` as ``after`` for the next."""
        ...

    def iter_rows(self, flt: Filter, sort: Sort = NEWEST, *, limit: int | None = None,
                  page_size: int = 5000) -> Iterator[dict[str, Any]]: ...

    def count(self, flt: Filter = Filter()) -> int: ...

    def counts_by(self, column: str, flt: Filter = Filter()) -> dict[Any, int]: ...

    def overview(self, flt: Filter = Filter()) -> dict[str, int]:
        """Matching records per kind (every kind present)."""
        ...

    def get(self, record_id: int) -> dict[str, Any] | None: ...

    def max_id(self) -> int: ...

    def horizon(self) -> int:
        """Every id up to this is committed or never will be: where a reader's
        moment ends, so that what it counts as new afterwards is every record
        above it.  The newest id on SQLite (one writer, committing in id
        order); on PostgreSQL it waits for the batches in flight, whose ids
        may be below the newest committed one."""
        ...

    def groups(self) -> list[dict[str, Any]]:
        """Every error group row, by id."""
        ...

    def group_users(self) -> list[tuple[int, str]]:
        """``(group_id, user_id)`` of the users counted per group."""
        ...

    # -- changing
    def resolve(self, ids: Iterable[int], *, note: str | None = None, by: str | None = None,
                now: datetime | None = None) -> Outcome: ...

    def unresolve(self, ids: Iterable[int]) -> Outcome: ...

    def delete_ids(self, ids: Iterable[int]) -> Outcome: ...

    def delete_matching(self, flt: Filter) -> int: ...

    def prune(self, days: float, *, now: datetime | None = None) -> int:
        """Retention: remove records older than ``days`` but the ones kept
        (:data:`logconsole.store.retention.RETENTION_KEEPS`); how many."""
        ...

    # -- copying between stores (``migrate-store``)
    def copy_records(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store rows in the row form as they are, ids and groups included
        (no group upkeep: :meth:`copy_groups` brings the groups)."""
        ...

    def copy_groups(self, groups: Sequence[dict[str, Any]], users: Sequence[tuple[int, str]]) -> None:
        """Make the error groups exactly ``groups`` (rows as :meth:`groups` gives them) with ``users``."""
        ...

    def refresh_groups(self) -> int:
        """Recount every group from the records stored (after copying a slice);
        a group left without records goes unless resolved or ignored."""
        ...

    def close(self) -> None: ...

    # -- cli: what the commands beyond query and export need
    def resolve_group(self, group_id: int, *, note: str | None = None, by: str | None = None,
                      now: datetime | None = None) -> GroupOutcome | None:
        """Resolve a group and its unresolved records in one transaction; None when no such group."""
        ...

    def unresolve_group(self, group_id: int, *, by: str | None = None,
                        now: datetime | None = None) -> GroupOutcome | None:
        """Reopen a group and the records its resolution resolved; None when no such group."""
        ...

    def ignore_group(self, group_id: int, *, note: str | None = None, by: str | None = None,
                     now: datetime | None = None) -> GroupOutcome | None:
        """Hide a group from the default list; None when no such group."""
        ...

    def iter_groups(self, flt: GroupFilter = GroupFilter(), sort: GroupSort = LATEST_FIRST, *,
                    limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every matching group in the row form, a keyset page at a time."""
        ...

    def count_groups(self, flt: GroupFilter = GroupFilter()) -> int: ...

    def grouping_pending(self) -> int | None:
        """When errors stored before an upgrade are still being grouped, how
        far that is (percent); None when every error is grouped.  A store
        without groups (an older SQLite file opened read-only) raises
        :class:`StoreError`."""
        ...

    def latest_of_groups(self, *, regressed: bool) -> list[tuple[int, int]]:
        """``(group id, latest record id)`` of every group (or of the regressed ones), latest first."""
        ...

    def count_expired(self, days: float, *, after_id: int = 0) -> int:
        """How many records retention with ``days`` would remove now (ids above ``after_id``)."""
        ...

    def prune_now(self, days: float) -> int:
        """Retention as ``logconsole prune`` applies it (on SQLite, readers are
        waited for between batches, so the write-ahead log stays small)."""
        ...

    def time_span(self) -> tuple[str | None, str | None]:
        """The oldest and newest record times (stored form)."""
        ...

    def sizes(self) -> dict[str, int]:
        """What the store takes on disk: SQLite ``database_bytes`` and
        ``wal_bytes``; PostgreSQL ``database_bytes`` and ``records_bytes``."""
        ...

    def last_retention_run(self) -> RetentionRun | None: ...

    def forward_summary(self, now: datetime | None = None) -> dict[str, Any] | None:
        """Where forwarding stands (:func:`logconsole.store.forward_state.summary`), None when never used."""
        ...

    def alert_states(self) -> dict[str, RuleState]:
        """Each alert rule's last firing and counts, as the collector stored them."""
        ...

    def follower(self, flt: Filter, *, interval: float) -> Follower:
        """Something that yields the new matching records as they are committed (``query --follow``)."""
        ...

    # -- alerts: what the alert rules read, on either store
    def alert_count_in_range(self, flt: Filter, first: int, last: int) -> tuple[int, int | None]:
        """How many records with ids in ``[first, last]`` match ``flt``, and the latest's id."""
        ...

    def alert_matching_ids(self, flt: Filter, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` match ``flt``."""
        ...

    def save_alert_states(self, states: dict[str, RuleState]) -> None:
        """Write every rule's state (one short transaction)."""
        ...


class Follower(Protocol):
    """``query --follow``: :meth:`start` gives the last matches, iterating
    gives pages of new ones, forever; a store that goes away is waited for."""

    def start(self, limit: int) -> list[dict[str, Any]]: ...

    def __iter__(self) -> Iterator[list[dict[str, Any]]]: ...

    def close(self) -> None: ...

    # -- console: what the console reads and does (screens/), each backend in its own SQL
    def snapshot(self) -> AbstractContextManager[None]:
        """One read transaction: a page, a count and the newest id read in it
        all see the same moment."""
        ...

    def page_at(self, flt: Filter, sort: Sort, *, limit: int, offset: int) -> list[dict[str, Any]]:
        """Rows ``offset`` .. ``offset + limit`` (a jump into the middle of a view)."""
        ...

    def count_after(self, flt: Filter, after_id: int) -> int:
        """How many records matching ``flt`` have an id above ``after_id`` (new arrivals)."""
        ...

    def is_empty(self) -> bool: ...

    def ids_matching(self, flt: Filter) -> list[int]: ...

    def interrupt(self) -> None:
        """Stop the query running on this store (from another thread)."""
        ...

    def reusable(self) -> bool:
        """Whether a pool may lend this store again (no transaction left open, connection alive)."""
        ...

    def describe_error(self, exc: BaseException) -> str | None:
        """The condition behind a backend's error, in one line; ``None`` when ``exc`` is not one."""
        ...

    def hosts(self, after_id: int = 0) -> list[str]:
        """The hosts the records above ``after_id`` came from, sorted (a console
        asks once, then only about the records that arrived since)."""
        ...

    def tab_summary(self, kind_name: str, flt: Filter, *, now: datetime | None = None) -> str: ...

    def system_series(self, since: str | None, until: str | None) -> dict[str, list[float]]: ...

    def ai_models(self, flt: Filter) -> list[ModelStats]: ...

    def alerts(self, *, after_id: int | None = None, since: str | None = None) -> list[tuple[int, str, str]]:
        """``(id, status, message)`` of the alert records above ``after_id``, or created at or after ``since``."""
        ...

    def has_groups(self) -> bool: ...

    def group_count(self, flt: GroupFilter) -> int: ...

    def group_page(self, flt: GroupFilter, sort: GroupSort, *, limit: int, after: Cursor | None = None,
                   offset: int = 0) -> list[dict[str, Any]]: ...

    def group_ids(self, flt: GroupFilter, *, limit: int | None = None) -> list[int]: ...

    def group_status_summary(self, flt: GroupFilter) -> str: ...

    def group_hourly_counts(self, group_ids: Iterable[int], now: datetime) -> dict[int, list[int]]: ...



def open_store(location: str | os.PathLike[str] | StoreURL, *, readonly: bool = False) -> Store:
    """The store at ``location`` (a path, ``sqlite:///path`` or ``postgresql://...``),
    created and upgraded unless ``readonly``."""
    url = location if isinstance(location, StoreURL) else parse_store_url(location)
    if url.backend == POSTGRESQL:
        try:
            from logconsole.store.postgres.store import PostgresStore
        except ImportError:
            raise StoreError(
                f"{url.redacted()}: PostgreSQL needs psycopg: pip install 'logconsole[postgresql]'") from None
        return PostgresStore.open(url, readonly=readonly)
    from logconsole.store.sqlite.store import SQLiteStore

    return SQLiteStore.open(url, readonly=readonly)


def group_action(store: Store, action: str, group_id: int, *, note: str | None = None,
                 by: str | None = None) -> GroupOutcome | None:
    """``resolve``, ``reopen`` or ``ignore`` one error group (its records with
    it) on either store; None when there is no such group."""
    if action == "resolve":
        return store.resolve_group(group_id, note=note, by=by)
    if action == "reopen":
        return store.unresolve_group(group_id, by=by)
    if action == "ignore":
        return store.ignore_group(group_id, note=note, by=by)
    raise ValueError(f"unknown group action {action!r}")


# -- console: a store a pool lends to one worker thread after another


def open_for_threads(location: str | os.PathLike[str] | StoreURL, *, readonly: bool = False) -> Store:
    """:func:`open_store` for a pool of worker threads: a SQLite connection that
    any thread may use (one at a time) with a capped page cache, so a few of
    them stay well inside the console's memory budget."""
    url = location if isinstance(location, StoreURL) else parse_store_url(location)
    if url.backend == POSTGRESQL:
        return open_store(url, readonly=readonly)
    from logconsole.store.db import connect
    from logconsole.store.sqlite.store import SQLiteStore

    assert url.path is not None
    conn = connect(url.path, readonly=readonly, check_same_thread=False)
    conn.execute("PRAGMA cache_size = -8000")
    return SQLiteStore(conn, url)


__all__ = ["Follower", "OffsetValues", "Store", "Writer", "group_action", "open_for_threads", "open_store"]
