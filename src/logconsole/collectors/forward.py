"""Forwarding: every committed record, on to an OTLP/HTTP logs endpoint.

One more reader of committed records.  The forwarder runs on a thread of its
own with its own connection, so a slow or dead endpoint never slows ingest:
the database is the spool.  Its loop:

1. read ``SELECT * FROM records WHERE id > cursor ORDER BY id LIMIT batch``;
2. encode the rows (:mod:`logconsole.otlp.outbound`), split in halves while
   the request is larger than ``max_bytes``, gzip, and POST them
   (``Content-Type: application/x-protobuf``, ``Content-Encoding: gzip``, the
   configured headers);
3. on a 2xx answer, write the cursor (the batch's last id) and the counts in
   one transaction (:mod:`logconsole.store.forward_state`; in the collector,
   the writer's next), and only then send the next batch.  Records the answer's ``partial_success`` says
   were rejected are counted, logged and not sent again.

When nothing is left it waits for the pipeline's word that a batch was
committed (:meth:`Forwarder.wake`), or ``poll`` seconds, so records stored by
others (``logconsole import``) are forwarded too.

What an answer means:

- 2xx: delivered.
- 400, 413, 422 (the request's content is refused): a batch of several
  records is split in halves and each sent again, so one bad record does not
  hold back the others; a single record refused is skipped, counted as
  rejected, logged and kept as the last error.
- anything else (a connection refused or reset, a timeout, 408, 429, 5xx,
  401/403/404 and other answers that say the endpoint or its credentials are
  wrong, a redirect): the same batch is tried again after a pause drawn at
  random between 0 and ``min(max_delay, 0.5 s x 2^attempt)`` (exponential
  backoff, full jitter), or after ``Retry-After`` when the answer names one;
  no pause is longer than ``max_delay``.

At least once: a batch is sent again when its answer was lost or the
collector stopped before the cursor was written, so a receiver may see the
records of the last unacknowledged batch twice (``logconsole.id`` tells them
apart), never more.  A record deleted before its turn (``delete``,
retention) is not forwarded; records are forwarded as they were committed
(resolving an error later does not send it again).  Retention is never held
back: every read is one short statement.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import json
import http.client
import logging
import random
import sqlite3
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from logconsole import kinds as K
from logconsole.collectors.horizon import SharedHorizon
from logconsole.config import ForwardSettings
from logconsole.otlp.outbound import export_request
from logconsole.store import forward_state
from logconsole.store.db import StoreError, connect
from logconsole.store.errors import describe
from logconsole.store.forward_state import ForwardState
from logconsole.store.query import dict_rows, to_record
from logconsole.store.transaction import transaction
from logconsole.timeutil import format_ts, utcnow

log = logging.getLogger("logconsole.forward")

FIRST_DELAY = 0.5
"""The backoff's first ceiling, in seconds (doubled on each failed attempt up to ``max_delay``)."""
REFUSED_CONTENT = frozenset({400, 413, 422})
"""Answers that refuse a request's content (split, then skip a lone record);
every other non-2xx answer is retried."""
COMPRESS_LEVEL = 5


def public_endpoint(url: str) -> str:
    """``url`` without user, password, query or fragment: what may be shown and stored."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without ``user:password@``, and those as a basic ``Authorization`` value."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.netloc.rsplit("@", 1)[1]
    pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return (urllib.parse.urlunsplit(parts._replace(netloc=netloc)),
            "Basic " + base64.b64encode(pair.encode()).decode())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one request."""

    status: int | None
    """The HTTP status, or None when no answer came (refused, reset, timed out)."""
    reason: str = ""
    rejected: int = 0
    """Records a 2xx answer's ``partial_success`` says were rejected."""
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused_content(self) -> bool:
        return self.status in REFUSED_CONTENT


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (urllib would repeat a POST as a GET, without its body)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (a number or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Exporter:
    """POSTs encoded batches to the endpoint (urllib: blocking, on the forwarder's thread)."""

    def __init__(self, cfg: ForwardSettings) -> None:
        self.cfg = cfg
        self.url, basic = split_credentials(cfg.endpoint)
        self.headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip",
                        "User-Agent": "logconsole", **({"Authorization": basic} if basic else {}),
                        **dict(cfg.headers)}
        self._opener = urllib.request.build_opener(_NoRedirects())

    def post(self, body: bytes) -> Outcome:
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.cfg.timeout) as answer:
                return self._accepted(answer.status, answer.read())
        except urllib.error.HTTPError as exc:
            with exc:
                detail = _short(exc.read(2048))
            reason = f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
            if 300 <= exc.code < 400:
                reason += f" (redirected to {exc.headers.get('Location', '?')}; set the endpoint to it)"
            return Outcome(exc.code, reason, retry_after=retry_after(exc.headers.get("Retry-After")))
        except urllib.error.URLError as exc:
            return Outcome(None, _reason(exc.reason))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return Outcome(None, _reason(exc))

    @staticmethod
    def _accepted(status: int, payload: bytes) -> Outcome:
        rejected, message = 0, ""
        if payload:
            response = ExportLogsServiceResponse()
            try:
                response.ParseFromString(payload)
            except Exception:  # an answer that is not protobuf (JSON, text) says nothing of rejections
                pass
            else:
                rejected = int(response.partial_success.rejected_log_records)
                message = response.partial_success.error_message
        reason = f"the endpoint rejected {rejected} records: {message or 'no reason given'}" if rejected else ""
        return Outcome(status, reason, rejected=rejected)


def _reason(exc: object) -> str:
    if isinstance(exc, TimeoutError) or str(exc) == "timed out":
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _short(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace").strip()
    text = " ".join(text.split())
    return text[:200]


def as_record(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as a record; a JSON column that does not hold JSON (a damaged
    or hand-edited file) is forwarded as its text rather than holding back the rest."""
    try:
        return to_record(row)
    except ValueError:
        return to_record({k: json.dumps(v) if k in K.JSON_COLUMNS and isinstance(v, str) else v
                          for k, v in row.items()})


class Forwarder:
    """The forwarding thread (see the module's docstring)."""

    def __init__(self, db_path: Path, cfg: ForwardSettings, *,
                 store: Callable[[dict[str, str]], None] | None = None) -> None:
        """``store`` commits ``meta`` values (the cursor and the state), raising
        when it cannot; without one the forwarder writes them on its own
        connection.  The collector passes its writer's
        (:meth:`~logconsole.collectors.pipeline.Pipeline.write_meta`): a second
        connection taking the write lock would wait behind a busy writer for
        seconds, and make it wait."""
        self.db_path = db_path
        self.cfg = cfg
        self.endpoint = public_endpoint(cfg.endpoint)
        self.host = socket.gethostname()
        """Sent as the ``host.name`` of records that name no host (imported ones)."""
        self._post = Exporter(cfg).post
        self._store = store or self._store_here
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self.state: ForwardState | None = None
        self._failing_since: float | None = None

    # -- the daemon's side -------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="logconsole-forward", daemon=True)
        self._thread.start()

    def wake(self, *_: object) -> None:
        """Records were committed (the pipeline's ``on_commit``): look now. Never waits."""
        self._wake.set()

    def close(self, grace: float = 2.0) -> None:
        """Stop after the request in flight (waiting at most ``grace`` seconds for
        it; one left unanswered is sent again at the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(grace)
            if self._thread.is_alive():
                log.info("forwarding stopped with a request unanswered; its records go again at the next start")
            self._thread = None

    # -- the loop ----------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        try:
            while not self._stop.is_set():
                try:
                    self._forward_what_is_there()
                    attempt = 0
                except (sqlite3.Error, StoreError) as exc:
                    reason = describe(exc) if isinstance(exc, sqlite3.Error) else str(exc)
                    log.warning("forwarding cannot read the database: %s; trying again", reason)
                    self._close_connection()
                    self._pause(attempt, None)
                    attempt += 1
                except Exception:  # a bug must not end forwarding for good
                    log.exception("forwarding failed; trying again")
                    self._close_connection()
                    self._pause(attempt, None)
                    attempt += 1
        finally:
            self._close_connection()

    def _forward_what_is_there(self) -> None:
        conn = self._open()
        state = self.state
        assert state is not None
        while not self._stop.is_set() and self._active():
            self._wake.clear()
            rows = [as_record(r) for r in self._read(conn, state.cursor)]
            read_at = format_ts(utcnow())
            if rows:
                self._deliver(rows, read_at if len(rows) < self.cfg.batch else None)
                continue
            if state.caught_up_at is None or state.failing:
                state.caught_up_at, state.failing = read_at, False
                self._save()
            self._wake.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        """Seconds to wait for news once everything stored is sent."""
        return self.cfg.poll

    def _active(self) -> bool:
        """Whether this forwarder may go on (always, on SQLite)."""
        return True

    def _read(self, conn: Any, cursor: int) -> list[dict[str, Any]]:
        """The next batch of stored rows after ``cursor``, in id order."""
        return list(dict_rows(conn.execute(
            "SELECT * FROM records WHERE id > ? ORDER BY id LIMIT ?", (cursor, self.cfg.batch))))

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = connect(self.db_path, backfills=False)
            conn.execute("PRAGMA busy_timeout = 2000")
            self._conn = conn
            self.state = self._begin(conn)
        return self._conn

    def _stored_state(self, conn: Any) -> ForwardState | None:
        return forward_state.load(conn)

    def _last_id(self, conn: Any) -> int:
        """Where ``from = "end"`` starts."""
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0])

    def _begin(self, conn: Any) -> ForwardState:
        """The stored state for this endpoint, or a new one starting where ``from`` says."""
        state = self._stored_state(conn)
        if state is not None and state.endpoint == self.endpoint:
            log.info("forwarding to %s from record %d on", self.endpoint, state.cursor + 1)
            return state
        if self.cfg.start == "start":
            cursor = 0
        else:
            cursor = self._last_id(conn)
        fresh = ForwardState(self.endpoint, cursor)
        self.state = fresh
        self._save(must=True)
        was = f" (was {state.endpoint}, stopped at record {state.cursor})" if state is not None else ""
        log.info("forwarding to %s starts %s%s", self.endpoint,
                 "with every stored record" if self.cfg.start == "start"
                 else f"after record {cursor}, the last one stored (from = \"end\")" if cursor
                 else "with the first record stored", was)
        return fresh

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- one batch ---------------------------------------------------------------

    def _deliver(self, rows: Sequence[dict[str, Any]], caught_up: str | None) -> None:
        """Send ``rows`` (in id order) until each is delivered or refused for good;
        ``caught_up``: when they were read, if they were all there was."""
        pending: deque[Sequence[dict[str, Any]]] = deque([rows])
        attempt = 0
        while pending and not self._stop.is_set() and self._active():
            chunk = pending[0]
            try:
                message = export_request(chunk, service_name=self.cfg.service_name, host=self.host)
            except Exception as exc:  # a value the encoder cannot take: isolate its record, send the rest
                pending.popleft()
                if len(chunk) > 1:
                    half = len(chunk) // 2
                    pending.extendleft((chunk[half:], chunk[:half]))
                else:
                    log.exception("record %s cannot be encoded as OTLP", chunk[0].get("id"))
                    self._refused(chunk[0], Outcome(None, f"cannot be encoded: {type(exc).__name__}: {exc}"))
                continue
            if len(chunk) > 1 and message.ByteSize() > self.cfg.max_bytes:
                pending.popleft()
                half = len(chunk) // 2
                pending.extendleft((chunk[half:], chunk[:half]))
                continue
            outcome = self._post(gzip.compress(message.SerializeToString(), COMPRESS_LEVEL))
            if outcome.delivered:
                pending.popleft()
                if not pending and caught_up is not None:
                    self.state.caught_up_at = caught_up  # type: ignore[union-attr]
                self._acknowledged(chunk, outcome)
                attempt = 0
            elif outcome.refused_content and len(chunk) > 1:
                pending.popleft()
                half = len(chunk) // 2
                pending.extendleft((chunk[half:], chunk[:half]))
            elif outcome.refused_content:
                pending.popleft()
                if not pending and caught_up is not None:
                    self.state.caught_up_at = caught_up  # type: ignore[union-attr]
                self._refused(chunk[0], outcome)
                attempt = 0
            else:
                self._failed(outcome)
                self._pause(attempt, outcome.retry_after)
                attempt += 1

    def _acknowledged(self, chunk: Sequence[dict[str, Any]], outcome: Outcome) -> None:
        state = self.state
        assert state is not None
        if self._failing_since is not None:
            log.info("forwarding to %s works again after %.1f s", self.endpoint, time.monotonic() - self._failing_since)
            self._failing_since = None
        state.cursor = int(chunk[-1]["id"])
        state.sent += len(chunk) - min(outcome.rejected, len(chunk))
        state.last_sent_at = format_ts(utcnow())
        state.failing = False
        if outcome.rejected:
            state.rejected += outcome.rejected
            self._note_error(f"{outcome.reason} (records {chunk[0]['id']} to {chunk[-1]['id']}; not sent again)")
            log.warning("%s rejected %d of records %d to %d: %s; they are not sent again",
                        self.endpoint, outcome.rejected, chunk[0]["id"], chunk[-1]["id"], outcome.reason)
        self._save(must=True)

    def _refused(self, record: dict[str, Any], outcome: Outcome) -> None:
        state = self.state
        assert state is not None
        state.cursor = int(record["id"])
        state.rejected += 1
        self._note_error(f"record {record['id']} refused: {outcome.reason}; not sent again")
        state.failing = False
        log.warning("%s refused record %d: %s; it is not sent again", self.endpoint, record["id"], outcome.reason)
        self._save(must=True)

    def _failed(self, outcome: Outcome) -> None:
        state = self.state
        assert state is not None
        reason = outcome.reason or f"HTTP {outcome.status}"
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        if reason != state.last_error or not state.failing:
            log.warning("cannot forward to %s: %s; the records wait in the database and are sent again",
                        self.endpoint, reason)
        state.failing = True
        self._note_error(reason)
        self._save()

    def _note_error(self, reason: str) -> None:
        assert self.state is not None
        self.state.last_error = reason
        self.state.last_error_at = format_ts(utcnow())

    def _store_here(self, values: dict[str, str]) -> None:
        assert self._conn is not None
        with transaction(self._conn):
            self._conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())

    def _save(self, must: bool = False) -> None:
        """Write the state; with ``must`` (the cursor moved), keep trying until it
        is written or the forwarder stops: the next batch waits for it, so a
        restart never sends more than the last batch again."""
        assert self.state is not None
        values = forward_state.meta_values(self.state)
        attempt = 0
        while True:
            try:
                self._store(values)
                return
            except Exception as exc:  # the database refuses, or the collector is stopping
                reason = describe(exc) if isinstance(exc, sqlite3.Error) else (str(exc) or type(exc).__name__)
                if not must or self._stop.is_set():
                    log.debug("could not write the forward state: %s", reason)
                    return
                if attempt == 0:
                    log.warning("cannot write the forward cursor: %s; trying again", reason)
                self._pause(attempt, None)
                attempt += 1

    def _pause(self, attempt: int, asked: float | None) -> None:
        """Wait before the next attempt (full jitter; ``Retry-After`` when asked), or until stopped."""
        cap = self.cfg.max_delay
        delay = min(asked, cap) if asked is not None else random.uniform(0, min(cap, FIRST_DELAY * 2 ** min(attempt, 30)))
        self._stop.wait(delay)


__all__ = ["Exporter", "FleetForwarder", "Forwarder", "Outcome", "as_record", "public_endpoint", "retry_after", "split_credentials"]


class FleetForwarder(Forwarder):
    """Forwarding from a PostgreSQL database shared by a fleet of collectors:
    run by the fleet's leader only, on every host's records.

    The sending, splitting and backoff are :class:`Forwarder`'s; what differs
    is the reading and the cursor.  Ids come from one sequence for every host,
    so a batch can commit after a later-numbered one: reads never go past the
    commit horizon (:class:`~logconsole.collectors.horizon.SharedHorizon`,
    shared with the alert rules).  The cursor is written in a short
    transaction of its own (there is no single writer to queue it behind).  A
    new leader resumes from the cursor, so it sends the last unacknowledged
    batch again at most.
    """

    def __init__(self, location: Any, cfg: ForwardSettings, *, horizon: SharedHorizon) -> None:
        super().__init__(Path(), cfg, store=self._write_meta)
        self.location = location
        self.horizon = horizon
        self.interval = horizon.interval
        self.leading = threading.Event()
        self._pg: Any = None

    def set_leading(self, leading: bool) -> None:
        """The fleet's leadership was taken or lost (the daemon's lease)."""
        if leading:
            self.leading.set()
        else:
            self.leading.clear()
        self._wake.set()

    def _active(self) -> bool:
        return self.leading.is_set()

    def _idle_wait(self) -> float:
        return min(self.cfg.poll, self.interval)

    def _forward_what_is_there(self) -> None:
        if not self.leading.is_set():
            self._close_connection()
            self._wake.wait(self.cfg.poll)
            self._wake.clear()
            return
        import psycopg

        from logconsole.store.postgres.errors import describe as pg_describe

        try:
            super()._forward_what_is_there()
        except psycopg.Error as exc:
            raise StoreError(pg_describe(exc, self.location)) from None

    def _open(self) -> Any:
        if self._pg is None:
            from logconsole.store.postgres.store import PostgresStore

            self._pg = PostgresStore.open(self.location)
            try:
                self.state = self._begin(self._pg)
            except BaseException:
                self._close_connection()
                raise
        return self._pg

    def _close_connection(self) -> None:
        pg, self._pg = self._pg, None
        self.state = None if pg is not None else self.state
        if pg is not None:
            try:
                pg.close()
            except Exception:
                pass

    def _stored_state(self, conn: Any) -> ForwardState | None:
        return forward_state.from_meta(conn.meta_values((forward_state.CURSOR_KEY, forward_state.STATE_KEY)))

    def _last_id(self, conn: Any) -> int:
        return self.horizon.get()

    def _read(self, conn: Any, cursor: int) -> list[dict[str, Any]]:
        upto = self.horizon.get()
        if upto <= cursor:
            return []
        return conn.records_between(cursor, upto, self.cfg.batch)  # type: ignore[no-any-return]

    def _write_meta(self, values: dict[str, str]) -> None:
        if self._pg is None:
            raise StoreError("not connected")
        self._pg.write_meta(values)
