"""Seeded records for the console's tests: every kind, fixed times, a hostile record.

Shared by the console tests and snapshots.  Times are relative to :data:`FIXED_NOW`,
which the tests pass to the app as its clock, so relative times and quick ranges
never depend on when the tests run.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from logconsole.ingest import normalize
from logconsole.store.db import connect
from logconsole.store.interface import Store, open_store
from logconsole.store.writer import insert_rows

FIXED_NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
"""The tests' clock: a Friday, so "this week" and "this month" both reach back."""

HOSTILE_MESSAGE = "[bold red]x[/] \x1b]52;c;ZXZpbA==\x07 clear\x1b[2J over\rwrite back\x08space"
"""Markup and escape sequences that must be shown literally, never obeyed."""

ENDPOINTS = ("/api/login", "/api/courses", "/api/pay", "/api/chat", "/api/ai/ask")
USERS = (("u1", "Ada"), ("u2", "Grace"), ("u3", "Linus"), ("u4", "Barbara"))
MODELS = ("gpt-4o", "claude-3", "llama-3")


def _ago(minutes: float) -> str:
    return (FIXED_NOW - timedelta(minutes=minutes)).isoformat()


def seeded_records(n_per_kind: int = 8, seed: int = 7) -> list[dict[str, Any]]:
    """Raw records (as an app would send them), oldest first, spread over ~40 days."""
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n_per_kind):
        # minutes ago: a few today, some this week, some this month, some older
        age = [5, 30, 90, 60 * 30, 60 * 24 * 3, 60 * 24 * 10, 60 * 24 * 25, 60 * 24 * 40][i % 8] + i
        user_id, user_name = USERS[i % len(USERS)]
        endpoint = ENDPOINTS[i % len(ENDPOINTS)]
        out.append({
            "type": "activity", "created_at": _ago(age + 1), "level": ("info", "warn", "debug", "error")[i % 4],
            "category": ("user", "payment", "course", "security")[i % 4], "title": f"{('login', 'purchase', 'enrol', 'logout')[i % 4]} {user_name}",
            "message": f"user {user_name} did thing {i}", "user_id": user_id, "user_name": user_name,
            "endpoint": endpoint, "method": ("GET", "POST")[i % 2], "status_code": (200, 201, 404, 500)[i % 4],
            "duration_ms": round(rnd.uniform(3, 900), 1),
            "request_data": {"page": i, "password": "hunter2", "tags": ["a", "b"]},
        })
        out.append({
            "type": "error", "created_at": _ago(age + 2), "severity": ("low", "medium", "high", "critical")[i % 4],
            "error_type": ("TimeoutError", "ValueError", "KeyError", "DatabaseError")[i % 4],
            "message": f"{('upstream timed out', 'bad value', 'missing key', 'deadlock detected')[i % 4]} #{i}",
            "stack": "Traceback (most recent call last):\n  File \"app.py\", line 10, in handler\n    run()\nValueError: bad value",
            "endpoint": endpoint, "method": "POST", "status_code": 500, "user_id": user_id,
            "is_resolved": i % 3 == 0,
            **({"resolution": "patched the retry", "resolved_by": "ops", "resolved_at": _ago(age)} if i % 3 == 0 else {}),
        })
        out.append({
            "type": "ai", "created_at": _ago(age + 3), "ai_model": MODELS[i % 3],
            "prompt": f"Explain topic {i} briefly", "response": f"Topic {i} is ...",
            "tokens_used": 100 + 37 * i, "response_time_ms": 200 + 50 * i, "user_id": user_id,
            "user_name": user_name, "conversation_id": f"c{i % 3}", "status": "error" if i % 5 == 4 else "success",
            **({"error_message": "rate limited"} if i % 5 == 4 else {}),
        })
        out.append({
            "type": "chat", "created_at": _ago(age + 4), "chat_type": ("user_to_user", "group_chat", "support")[i % 3],
            "sender_id": user_id, "sender_name": user_name, "receiver_id": USERS[(i + 1) % 4][0],
            "receiver_name": USERS[(i + 1) % 4][1], "conversation_id": f"c{i % 3}",
            "message": f"hello number {i}", "is_read": i % 2 == 0,
        })
        out.append({
            "type": "system", "created_at": _ago(age + 5), "event_type": "health_check",
            "status": ("healthy", "healthy", "warning", "critical")[i % 4],
            "message": f"cpu {40 + 7 * i}% memory {50 + 4 * i}%",
            "metrics": {"cpu_usage": 40 + 7 * i, "memory_usage": 50 + 4 * i, "disk_usage": 61},
            "requires_action": i % 4 == 3,
        })
    out.sort(key=lambda r: r["created_at"])
    return out


def hostile_record() -> dict[str, Any]:
    """An error record whose every text field tries to paint the terminal."""
    return {
        "type": "error", "created_at": _ago(1), "severity": "critical", "error_type": "[red]Injected[/red]",
        "message": HOSTILE_MESSAGE, "stack": "line1\x1b[31m red\nline2 \x9b31m",
        "endpoint": "/x\x1b]0;title\x07", "is_resolved": False,
    }


def fill(conn: sqlite3.Connection, records: list[dict[str, Any]]) -> int:
    """Store raw records through the one ingest step and the writer."""
    return insert_rows(conn, [normalize(r, now=FIXED_NOW) for r in records])


def fill_store(store: Store, records: list[dict[str, Any]]) -> int:
    """Store raw records through the one ingest step and the store's writer: the
    same records in a SQLite file or a PostgreSQL database."""
    return len(store.insert([normalize(r, now=FIXED_NOW) for r in records]))


def make_store(location: Path | str, *, n_per_kind: int = 8, hostile: bool = False) -> Path | str:
    """:func:`make_db` for any store (a file path or a ``postgresql://`` URL)."""
    store = open_store(location)
    try:
        records = seeded_records(n_per_kind)
        if hostile:
            records.append(hostile_record())
        fill_store(store, records)
    finally:
        store.close()
    return location


def make_db(path: Path, *, n_per_kind: int = 8, hostile: bool = False) -> Path:
    """A database at ``path`` holding the seeded records (and the hostile one)."""
    conn = connect(path)
    try:
        records = seeded_records(n_per_kind)
        if hostile:
            records.append(hostile_record())
        fill(conn, records)
    finally:
        conn.close()
    return path


def bulk_rows(n: int, *, seed: int = 1, now: datetime = FIXED_NOW) -> list[dict[str, Any]]:
    """``n`` stored rows (already normalised) cycling through the seeded records, one a second."""
    base = seeded_records(8, seed)
    rows = [normalize(r, now=now) for r in base]
    out = []
    start = now - timedelta(seconds=n)
    for i in range(n):
        row = dict(rows[i % len(rows)])
        row["created_at"] = (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        out.append(row)
    return out


async def settle(pilot: Any, rounds: int = 20) -> None:
    """Wait until the app's workers are done and their messages handled.

    Exclusive workers cancel the ones they replace; waiting on those raises
    ``WorkerCancelled``, which only means a newer one took over.
    """
    from textual.worker import WorkerCancelled, WorkerState

    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        busy = [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        if not busy:
            await pilot.pause()
            busy = [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
            if not busy:
                return
        try:
            await app.workers.wait_for_complete(busy)
        except WorkerCancelled:
            pass
    raise AssertionError("workers did not settle")


def screen_text(app: Any) -> str:
    """What the terminal shows, as plain text lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)
