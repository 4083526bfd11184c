"""Where forwarding stands, kept in the ``meta`` table.

The forwarder (:mod:`logconsole.collectors.forward`) writes, in one
transaction after every batch the endpoint acknowledged (in the collector,
the writer's next one: :meth:`~logconsole.collectors.pipeline.Pipeline.write_meta`):

- ``forward.cursor``: the id of the last record forwarded (the next batch is
  ``id > cursor``);
- ``forward.state``: a JSON object with the endpoint the cursor belongs to
  (without credentials), the records sent and rejected, when the last batch
  went, up to when every committed record has gone, and the last error.

``logconsole stats`` (another process) reads both, and the lag from the
records table (:func:`lag`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from logconsole.store.transaction import transaction
from logconsole.timeutil import parse_ts, utcnow

CURSOR_KEY = "forward.cursor"
STATE_KEY = "forward.state"


@dataclass(slots=True)
class ForwardState:
    """The forwarder's progress towards one endpoint."""

    endpoint: str
    """The endpoint, without user, password or query."""
    cursor: int = 0
    sent: int = 0
    """Records the endpoint accepted."""
    rejected: int = 0
    """Records the endpoint refused for good (counted, logged, not sent again)."""
    last_sent_at: str | None = None
    caught_up_at: str | None = None
    """A time before which every committed record has been forwarded (when the
    forwarder last read all there was, and then delivered it)."""
    last_error: str | None = None
    last_error_at: str | None = None
    failing: bool = False
    """Whether the last attempt failed (the error is current, batches are being retried)."""

    def as_json(self) -> str:
        data = asdict(self)
        del data["cursor"]
        return json.dumps(data)


def load(conn: sqlite3.Connection) -> ForwardState | None:
    """The stored state, or None when nothing was ever forwarded from this store."""
    return from_meta(dict(conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", (CURSOR_KEY, STATE_KEY))))


def from_meta(found: Mapping[str, str]) -> ForwardState | None:
    """The state held by the ``meta`` values ``found`` (either store), or None when absent or unreadable."""
    if STATE_KEY not in found or CURSOR_KEY not in found:
        return None
    try:
        data = json.loads(found[STATE_KEY])
        known = {f.name for f in fields(ForwardState)} - {"cursor"}
        state = ForwardState(**{k: v for k, v in data.items() if k in known})
        state.cursor = int(found[CURSOR_KEY])
    except (ValueError, TypeError, AttributeError):
        return None
    return state


def meta_values(state: ForwardState) -> dict[str, str]:
    """The ``meta`` rows that hold ``state``: written together, in one transaction."""
    return {CURSOR_KEY: str(state.cursor), STATE_KEY: state.as_json()}


def save(conn: sqlite3.Connection, state: ForwardState) -> None:
    """Write the cursor and the state together (one short transaction)."""
    with transaction(conn):
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta_values(state).items())


def lag(conn: sqlite3.Connection, state: ForwardState, now: datetime | None = None) -> tuple[int, float]:
    """``(records, seconds)`` not yet forwarded.

    Records: those stored with an id past the cursor.  Seconds: how long the
    oldest of them has waited, from its own time or from when the forwarder
    was last caught up, whichever is later (an imported record may carry a
    time long past); 0 when nothing waits.
    """
    count, first = conn.execute("SELECT count(*), min(id) FROM records WHERE id > ?", (state.cursor,)).fetchone()
    if not count:
        return 0, 0.0
    (created,) = conn.execute("SELECT created_at FROM records WHERE id = ?", (first,)).fetchone()
    return lag_of(state, int(count), created, now)


def lag_of(state: ForwardState, count: int, first_created: str, now: datetime | None = None) -> tuple[int, float]:
    """:func:`lag` from what a store found: ``count`` records past the cursor,
    the first of them stored with the time ``first_created``."""
    if not count:
        return 0, 0.0
    since = parse_ts(first_created)
    if state.caught_up_at:
        since = max(since, parse_ts(state.caught_up_at))
    seconds = ((now or utcnow()) - since).total_seconds()
    return int(count), round(max(0.0, seconds), 1)


def summary(conn: sqlite3.Connection, now: datetime | None = None) -> dict[str, Any] | None:
    """What ``stats`` shows about forwarding, or None when nothing was ever forwarded."""
    state = load(conn)
    if state is None:
        return None
    records, seconds = lag(conn, state, now)
    return {**asdict(state), "lag_records": records, "lag_seconds": seconds}


__all__ = [
    "CURSOR_KEY", "STATE_KEY", "ForwardState", "from_meta", "lag", "lag_of", "load", "meta_values", "save",
    "summary",
]
