"""Alerts: the collector's rules (:mod:`logconsole.alert_rules`), evaluated on
each committed batch, and their actions.

After every successful commit the pipeline calls :meth:`AlertEngine.offer`
with the batch's ids and group events (new group, regression).  That only
appends to a bounded queue: when it is full (the rules cannot keep up) the
batch's evaluation is dropped and counted with a warning, so alerts never
block or slow ingest.  A task takes everything queued and, on a thread,
asks SQLite once per rule for the matches among the new ids
(``id BETWEEN first AND last AND <the rule's filter>``, on the rowid range,
through the query module's one filter compiler): the cost follows the batch,
never the table.

A rule that matches fires unless it fired less than its ``cooldown`` ago;
matches held back by the cool-down are counted and reported by the next
firing.  A firing:

- is stored as a ``system`` record (``event_type: alert``, ``requires_action:
  true``) through the same ingest as any record, so the console and scripts see
  it (no rule matches such a record, so an alert never fires another);
- runs the rule's ``command`` (an argv list, never a shell) in its own process
  group with the alert as JSON on stdin and ``LOGCONSOLE_ALERT_*`` variables,
  killed when it outlives ``timeout``;
- POSTs the JSON to the rule's ``url`` (urllib on a thread, with ``timeout``).

Hooks run as tasks of their own: a slow one delays nothing else.  A failed
or killed hook is logged and counted (``logconsole alerts`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logconsole import kinds as K
from logconsole.alert_rules import ALERT_EVENT, EVENT_TRIGGERS, Rule, RuleState, load_state, save_state
from logconsole.collectors.horizon import SharedHorizon
from logconsole.store.alert_reads import ids_sql, range_sql
from logconsole.store.db import connect
from logconsole.store.errors import describe
from logconsole.store.groups import GroupEvent
from logconsole.store.query import get, range_where_sql, to_record, where_sql
from logconsole.timeutil import format_ts, parse_ts, utcnow

log = logging.getLogger("logconsole.alerts")

DEFAULT_CAPACITY = 1000
"""Committed batches waiting for evaluation before more are dropped."""
SAVE_EVERY = 5.0
"""Seconds between two saves of the rules' counts when nothing fired."""
STDERR_KEPT = 300


@dataclass(slots=True)
class Firing:
    rule: Rule
    count: int
    suppressed: int
    record: dict[str, Any] | None
    group_id: int | None = None
    fired_at: str = field(default_factory=lambda: format_ts(utcnow()))

    def payload(self) -> dict[str, Any]:
        """The alert as hooks receive it (JSON on stdin, the POST body)."""
        return {
            "rule": self.rule.name, "trigger": self.rule.describe_trigger(),
            "condition": self.rule.describe_condition(), "message": self.message(),
            "count": self.count, "suppressed": self.suppressed, "fired_at": self.fired_at,
            "group_id": self.group_id, "record_id": self.record["id"] if self.record else None,
            "record": self.record,
        }

    def message(self) -> str:
        rule, record = self.rule, self.record
        what = K.summary(record) if record else ""
        if rule.trigger == "new_group":
            text = f"new error group #{self.group_id}: {what}"
        elif rule.trigger == "regression":
            text = f"error group #{self.group_id} regressed: {what}"
        elif rule.trigger == "count":
            text = f"{self.count} matching records within {rule.describe_trigger().rsplit(' ', 1)[-1]}; latest: {what}"
        else:
            text = what + (f" ({self.count} matching)" if self.count > 1 else "")
        if self.suppressed:
            text += f"; {self.suppressed} more matched during the cool-down"
        return text

    def environment(self) -> dict[str, str]:
        values = {
            "RULE": self.rule.name, "TRIGGER": self.rule.trigger, "MESSAGE": self.message(),
            "COUNT": str(self.count), "SUPPRESSED": str(self.suppressed), "FIRED_AT": self.fired_at,
            "RECORD_ID": str(self.record["id"]) if self.record else "",
            "GROUP_ID": "" if self.group_id is None else str(self.group_id),
        }
        return {f"LOGCONSOLE_ALERT_{k}": v for k, v in values.items()}

    def system_record(self) -> dict[str, Any]:
        """The ``system`` record that keeps this firing in the store."""
        alert = {k: v for k, v in self.payload().items() if k != "record"}
        severe = self.rule.trigger == "regression" or self.rule.name == "critical"
        return {
            "type": "system", "event_type": ALERT_EVENT, "requires_action": True,
            "status": "critical" if severe else "warning",
            "message": f"alert {self.rule.name}: {self.message()}", "extra": {"alert": alert},
        }


@dataclass(slots=True)
class _Runtime:
    window: deque[tuple[float, int]] = field(default_factory=deque)
    last_fired: float | None = None


class Evaluator:
    """Rules against a range of new ids: the matching logic, no I/O but SQLite.

    Also used by ``logconsole alerts test``.
    """

    def __init__(self, conn: sqlite3.Connection, rules: Sequence[Rule], states: dict[str, RuleState] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conn = conn
        self._take_rules(rules, states, clock)
        self._where = {r.name: where_sql(conn, r.flt) for r in self.rules}
        self._in_range = {r.name: range_where_sql(conn, r.flt, "{col} BETWEEN ? AND ?") for r in self.rules
                          if r.trigger not in EVENT_TRIGGERS}

    def _take_rules(self, rules: Sequence[Rule], states: dict[str, RuleState] | None,
                    clock: Callable[[], float]) -> None:
        """The enabled rules, each with its state (kept, or new) and its runtime."""
        self.rules = [r for r in rules if r.enabled]
        self.states = states if states is not None else {}
        for r in self.rules:
            self.states.setdefault(r.name, RuleState())
        self.clock = clock
        self._runtime = {r.name: _Runtime() for r in self.rules}

    def _matching_ids(self, rule: Rule, ids: list[int]) -> set[int]:
        where, params = self._where[rule.name]
        return {row[0] for row in self.conn.execute(ids_sql(where), [json.dumps(ids), *params])}

    def _count_in_range(self, rule: Rule, first: int, last: int) -> tuple[int, int | None]:
        where, bind = self._in_range[rule.name]
        n, latest = self.conn.execute(range_sql(where), bind((first, last))).fetchone()
        return int(n), latest

    def _get(self, record_id: int) -> dict[str, Any] | None:
        return get(self.conn, record_id)

    def matches(self, rule: Rule, ids: range, events: Sequence[GroupEvent]) -> tuple[int, int | None, int | None]:
        """``(how many, the latest matching record's id, its group)`` of a batch."""
        if rule.trigger in EVENT_TRIGGERS:
            wanted = [e for e in events if e.kind == rule.trigger]
            if not wanted:
                return 0, None, None
            found = self._matching_ids(rule, [e.record_id for e in wanted])
            wanted = [e for e in wanted if e.record_id in found]
            if not wanted:
                return 0, None, None
            return len(wanted), wanted[-1].record_id, wanted[-1].group_id
        if not ids:
            return 0, None, None
        n, latest = self._count_in_range(rule, ids[0], ids[-1])
        return n, latest, None

    def evaluate(self, ids: range, events: Sequence[GroupEvent]) -> list[Firing]:
        now = self.clock()
        firings = []
        for rule in self.rules:
            n, latest, group_id = self.matches(rule, ids, events)
            if not n:
                continue
            count = self._decide(rule, n, now)
            if count is None:
                continue
            row = self._get(latest) if latest is not None else None
            if group_id is None and row is not None:
                group_id = row.get("group_id")
            state = self.states[rule.name]
            firing = Firing(rule, count, state.suppressed, to_record(row) if row else None, group_id)
            state.suppressed = 0
            state.last_fired = firing.fired_at
            firings.append(firing)
        return firings

    def _decide(self, rule: Rule, n: int, now: float) -> int | None:
        """Count ``n`` new matches; the count to fire with, or ``None`` (below the
        threshold, or held back by the cool-down)."""
        state, rt = self.states[rule.name], self._runtime[rule.name]
        state.matched += n
        total = n
        if rule.trigger == "count":
            rt.window.append((now, n))
            while rt.window and rt.window[0][0] <= now - rule.window:
                rt.window.popleft()
            total = sum(k for _, k in rt.window)
        if rt.last_fired is not None and now - rt.last_fired < rule.cooldown:
            state.suppressed += n
            return None
        if total < rule.threshold:
            return None
        rt.window.clear()
        rt.last_fired = now
        state.firings += 1
        return total


class StoreEvaluator(Evaluator):
    """The :class:`Evaluator` on a :class:`~logconsole.store.interface.Store`
    (PostgreSQL, read by the fleet's leader): the same decisions, the reads
    through the store's ``# -- alerts`` methods."""

    def __init__(self, store: Any, rules: Sequence[Rule], states: dict[str, RuleState] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._take_rules(rules, states, clock)
        self._resume_cooldowns()

    def _resume_cooldowns(self) -> None:
        """Start each rule's cool-down from its last firing kept in ``meta``: a
        new leader of the fleet does not fire again what the last one held back."""
        now = utcnow()
        for rule in self.rules:
            last = self.states[rule.name].last_fired
            if not last:
                continue
            try:
                age = (now - parse_ts(last)).total_seconds()
            except ValueError:
                continue
            if 0 <= age < rule.cooldown:
                self._runtime[rule.name].last_fired = self.clock() - age

    def _matching_ids(self, rule: Rule, ids: list[int]) -> set[int]:
        return set(self.store.alert_matching_ids(rule.flt, ids))

    def _count_in_range(self, rule: Rule, first: int, last: int) -> tuple[int, int | None]:
        n, latest = self.store.alert_count_in_range(rule.flt, first, last)
        return int(n), latest

    def _get(self, record_id: int) -> dict[str, Any] | None:
        return self.store.get(record_id)  # type: ignore[no-any-return]


@dataclass(slots=True)
class AlertCounters:
    dropped: int = 0
    """Committed batches not evaluated because the queue was full."""
    firings: int = 0
    failures: int = 0


class AlertEngine:
    """The collector's alert task: a bounded queue of committed batches, the
    :class:`Evaluator` on a thread, and the actions."""

    def __init__(
        self, db_path: Path, rules: Sequence[Rule], *,
        store: Callable[[dict[str, Any]], Awaitable[None]],
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.db_path = db_path
        self.rules = tuple(r for r in rules if r.enabled)
        self.store = store
        self.capacity = capacity
        self.counters = AlertCounters()
        self._queue: deque[tuple[range, list[GroupEvent]]] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._hooks: set[asyncio.Task[None]] = set()
        self._conn: sqlite3.Connection | None = None
        self._evaluator: Evaluator | None = None
        self._conn_lock = threading.Lock()
        """One thread at a time on the connection: cancelling the task does not
        stop an evaluation already running on its thread."""
        self._saved = 0.0
        self._dirty = False
        self._save_soon = False
        """A hook failed: save the counts without waiting for the next batch."""

    # -- the pipeline's side ---------------------------------------------------

    def offer(self, ids: range, events: list[GroupEvent]) -> None:
        """A batch was committed: queue it for evaluation, never waiting."""
        if not self.rules:
            return
        if len(self._queue) >= self.capacity:
            self.counters.dropped += 1
            if self.counters.dropped == 1 or self.counters.dropped % 1000 == 0:
                log.warning("alert rules cannot keep up: %d committed batches were not evaluated "
                            "(ingest is never held back for alerts)", self.counters.dropped)
            return
        self._queue.append((ids, events))
        self._ready.set()

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        if self.rules:
            self._task = asyncio.create_task(self._run(), name="alerts")

    async def close(self, grace: float = 2.0) -> None:
        """Stop evaluating; give running hooks ``grace`` seconds, kill the rest; save the counts."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._hooks:
            _, pending = await asyncio.wait(self._hooks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.to_thread(self._save_and_close)

    # -- evaluation ------------------------------------------------------------

    def _open(self) -> Evaluator:
        if self._evaluator is None:
            self._conn = connect(self.db_path, check_same_thread=False, backfills=False)
            self._conn.execute("PRAGMA busy_timeout = 2000")
            self._evaluator = Evaluator(self._conn, self.rules, load_state(self._conn))
        return self._evaluator

    def _take(self) -> tuple[range, list[GroupEvent]]:
        """Everything queued, as one id range (from the first batch's first id to the last one's last)."""
        first = last = None
        events: list[GroupEvent] = []
        while self._queue:
            ids, evs = self._queue.popleft()
            events.extend(evs)
            if ids:
                first = ids[0] if first is None else min(first, ids[0])
                last = ids[-1] if last is None else max(last, ids[-1])
        return (range(first, last + 1) if first is not None and last is not None else range(0)), events

    def _evaluate(self, ids: range, events: list[GroupEvent]) -> list[Firing]:
        with self._conn_lock:
            firings = self._open().evaluate(ids, events) if ids or events else []
            self._dirty = True
            now = time.monotonic()
            if firings or self._save_soon or now - self._saved >= SAVE_EVERY:
                self._save_soon = False
                self._save()
                self._saved = now
            return firings

    def _save_and_close(self) -> None:
        with self._conn_lock:
            self._save()
            conn, self._conn, self._evaluator = self._conn, None, None
            if conn is not None:
                conn.close()

    def _save(self) -> None:
        if self._conn is None or self._evaluator is None or not self._dirty:
            return
        try:
            save_state(self._conn, self._evaluator.states)
            self._dirty = False
        except sqlite3.Error as exc:
            log.warning("could not save the alert rules' counts: %s", describe(exc))

    async def _run(self) -> None:
        while True:
            while not self._queue and not self._save_soon:
                self._ready.clear()
                await self._ready.wait()
            ids, events = self._take()
            try:
                firings = await asyncio.to_thread(self._evaluate, ids, events)
            except Exception as exc:  # a refusing database or a bug must not end alerting
                log.warning("alert rules were not evaluated on ids %s: %s", ids,
                            describe(exc) if isinstance(exc, sqlite3.Error) else exc)
                continue
            for firing in firings:
                await self._fire(firing)

    # -- actions ---------------------------------------------------------------

    async def _fire(self, firing: Firing) -> None:
        self.counters.firings += 1
        log.info("alert %s: %s", firing.rule.name, firing.message())
        try:
            await self.store(firing.system_record())
        except Exception as exc:
            log.error("the record of alert %s was not stored: %s", firing.rule.name, exc)
        data = json.dumps(firing.payload(), ensure_ascii=False).encode()
        if firing.rule.command:
            self._spawn(self._run_command(firing, data))
        if firing.rule.url:
            self._spawn(self._post(firing, data))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._hooks.add(task)
        task.add_done_callback(self._hooks.discard)

    def _failed(self, rule: Rule, what: str) -> None:
        self.counters.failures += 1
        if self._evaluator is not None:
            self._evaluator.states[rule.name].failures += 1
            self._save_soon = True
            self._ready.set()
        log.warning("alert %s: %s", rule.name, what)

    async def _run_command(self, firing: Firing, data: bytes) -> None:
        rule = firing.rule
        try:
            proc = await asyncio.create_subprocess_exec(
                *rule.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, env={**os.environ, **firing.environment()},
                start_new_session=True,
            )
        except OSError as exc:
            self._failed(rule, f"cannot run {rule.command[0]}: {exc.strerror or exc}")
            return
        try:
            _, err = await asyncio.wait_for(proc.communicate(data), rule.timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            if isinstance(exc, asyncio.CancelledError):
                self._failed(rule, f"{rule.command[0]} was killed: the collector stopped")
                raise
            self._failed(rule, f"{rule.command[0]} did not finish within {rule.timeout:g} s and was killed")
            return
        if proc.returncode:
            tail = err.decode(errors="replace").strip()[-STDERR_KEPT:]
            self._failed(rule, f"{rule.command[0]} exited with status {proc.returncode}" + (f": {tail}" if tail else ""))

    async def _post(self, firing: Firing, data: bytes) -> None:
        rule = firing.rule
        assert rule.url is not None
        try:
            await asyncio.to_thread(_post_json, rule.url, data, rule.timeout)
        except Exception as exc:
            self._failed(rule, f"POST {rule.url} failed: {exc}")


def _post_json(url: str, data: bytes, timeout: float) -> None:
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "logconsole"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http and https only)
        response.read(65536)


ALERTS_CURSOR_KEY = "alerts.cursor"
"""``meta`` key of the last record id the fleet's alert rules evaluated (PostgreSQL)."""
CHUNK = 10_000
"""Ids evaluated at a time by the fleet's leader."""


class FleetAlertEngine(AlertEngine):
    """Alert rules on a PostgreSQL database shared by a fleet of collectors:
    evaluated by the fleet's leader only, on every host's records.

    Every ``interval`` seconds, while :attr:`leading`, the leader reads the
    commit horizon (:class:`~logconsole.collectors.horizon.SharedHorizon`,
    shared with forwarding), evaluates the
    ids in ``(cursor, horizon]`` a :data:`CHUNK` at a time with the group
    events the writers stored with them, fires, and only then writes the
    cursor (``alerts.cursor`` in ``meta``).  A new leader resumes from the
    cursor: a leader that dies between a firing and its cursor makes the next
    one fire it again (at least once), and nothing committed is passed over.
    """

    def __init__(self, location: Any, rules: Sequence[Rule], *,
                 store: Callable[[dict[str, Any]], Awaitable[None]],
                 horizon: SharedHorizon, chunk: int = CHUNK) -> None:
        super().__init__(Path(), rules, store=store)
        self.location = location
        self.horizon = horizon
        self.interval = horizon.interval
        self.chunk = chunk
        self.leading = False
        self._pg: Any = None
        self._cursor = 0

    def offer(self, ids: range, events: list[GroupEvent]) -> None:
        """Nothing to do: the leader reads every host's batches from the database."""

    def set_leading(self, leading: bool) -> None:
        """The fleet's leadership was taken or lost (the daemon's lease)."""
        if leading != self.leading:
            self.leading = leading
            self._ready.set()

    # -- on the thread

    def _open(self) -> Evaluator:
        if self._evaluator is None:
            from logconsole.store.postgres.store import PostgresStore

            pg = PostgresStore.open(self.location)
            try:
                found = pg.meta_values((ALERTS_CURSOR_KEY,))
                if ALERTS_CURSOR_KEY in found:
                    self._cursor = int(found[ALERTS_CURSOR_KEY])
                    log.info("alert rules evaluated for the fleet from record %d on", self._cursor + 1)
                else:
                    self._cursor = self.horizon.get()
                    pg.write_meta({ALERTS_CURSOR_KEY: str(self._cursor)})
                    log.info("alert rules evaluated for the fleet from record %d on", self._cursor + 1)
                self._evaluator = StoreEvaluator(pg, self.rules, pg.alert_states())
            except BaseException:
                pg.close()
                raise
            self._pg = pg
        return self._evaluator

    def _horizon(self) -> int:
        with self._conn_lock:
            self._open()
        return self.horizon.get()

    def _step(self, upto: int) -> tuple[list[Firing], int]:
        """Evaluate the next chunk up to ``upto``: its firings and its last id."""
        with self._conn_lock:
            evaluator = self._open()
            first, end = self._cursor + 1, min(upto, self._cursor + self.chunk)
            events = self._pg.group_events(self._cursor, end)
            firings = evaluator.evaluate(range(first, end + 1), events)
            self._dirty = True
            return firings, end

    def _advance(self, end: int, fired: bool) -> None:
        """The chunk up to ``end`` was evaluated and its firings acted on: write the cursor."""
        with self._conn_lock:
            self._pg.write_meta({ALERTS_CURSOR_KEY: str(end)})
            self._cursor = end
            self._pg.trim_group_events(end)
            now = time.monotonic()
            if fired or self._save_soon or now - self._saved >= SAVE_EVERY:
                self._save_soon = False
                self._save()
                self._saved = now

    def _save(self) -> None:
        if self._pg is None or self._evaluator is None or not self._dirty:
            return
        try:
            self._pg.save_alert_states(self._evaluator.states)
            self._dirty = False
        except Exception as exc:
            log.warning("could not save the alert rules' counts: %s", self._reason(exc))

    def _save_and_close(self) -> None:
        with self._conn_lock:
            if self._pg is not None and not self._pg.conn.closed:
                self._save()
            pg, self._pg, self._evaluator = self._pg, None, None
            if pg is not None:
                with contextlib.suppress(Exception):
                    pg.close()

    def _reason(self, exc: BaseException) -> str:
        import psycopg

        from logconsole.store.postgres.errors import describe as pg_describe

        return pg_describe(exc, self.location) if isinstance(exc, psycopg.Error) else str(exc)

    # -- the task

    async def _run(self) -> None:
        failed = ""
        while True:
            if not self.leading:
                await asyncio.to_thread(self._save_and_close)
                self._ready.clear()
                await self._ready.wait()
                continue
            try:
                upto = await asyncio.to_thread(self._horizon)
                while self.leading and self._cursor < upto:
                    firings, end = await asyncio.to_thread(self._step, upto)
                    for firing in firings:
                        await self._fire(firing)
                    await asyncio.to_thread(self._advance, end, bool(firings))
                if self._save_soon:
                    await asyncio.to_thread(self._advance, self._cursor, False)
                failed = ""
            except Exception as exc:  # a server gone or a bug must not end alerting
                reason = self._reason(exc)
                if reason != failed:
                    log.warning("alert rules were not evaluated after record %d: %s; trying again",
                                self._cursor, reason)
                failed = reason
                await asyncio.to_thread(self._save_and_close)
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self.interval)
