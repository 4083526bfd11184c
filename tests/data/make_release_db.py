"""Write the database of a released schema that the upgrade tests start from.

``tests/data/release-v2.db`` was made by this script with logconsole at schema
version 2 (the store as of commit ac7f288)::

    .venv/bin/python tests/data/make_release_db.py tests/data/release-v2.db

It goes through the real doors of that release (``connect``, ``ingest``, the
writer, ``resolve``, ``delete_ids``), so the file holds exactly what a user's
database of that release holds: every kind, JSON fields, unicode, resolved
errors, a deleted record (a gap in the ids and a deleted FTS entry) and a
tailed file's offset.  Only the page size differs from a collector's file
(1 KiB instead of 4 KiB, to keep the committed file small).  Run on a later release it makes a database of that
release instead: the committed file, not this script, is the reference.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from logconsole.ingest import normalize
from logconsole.store.actions import delete_ids, resolve
from logconsole.store.db import connect
from logconsole.store.writer import insert_rows

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _at(minutes: int) -> str:
    return (NOW - timedelta(minutes=minutes)).isoformat()


def records() -> list[dict[str, Any]]:
    """Raw records as apps send them, a few of each kind."""
    users = (("u1", "Zoë Ångström"), ("u2", "Grace"), ("u3", "李小龍"))
    out: list[dict[str, Any]] = []
    for i in range(6):
        uid, name = users[i % 3]
        out.append({
            "type": "activity", "created_at": _at(600 - i * 7), "level": ("info", "warn", "debug", "error")[i % 4],
            "category": ("user", "payment", "course")[i % 3], "title": f"checkout café step {i}",
            "message": f"{name} opened the façade page {i} ✓", "user_id": uid, "user_name": name,
            "userEmail": f"{uid}@example.org", "ipAddress": f"10.0.0.{i}", "userAgent": "Mozilla/5.0",
            "endpoint": f"/api/orders/{i}", "method": ("get", "POST")[i % 2], "statusCode": (200, 201, 404)[i % 3],
            "duration": 12.5 * (i + 1),
            "requestData": {"page": i, "password": "hunter2", "filters": {"tag": "naïve", "ids": [1, 2, 3]}},
            "responseData": {"ok": i % 2 == 0, "items": [{"sku": f"A{i}", "price": 9.99}]},
        })
        out.append({
            "type": "error", "created_at": _at(590 - i * 7), "severity": ("low", "medium", "HIGH", "crit")[i % 4],
            "errorType": ("TimeoutError", "ValueError", "KeyError")[i % 3],
            "message": f"upstream gateway timed out after {i + 1} retries (zebra-{i})",
            "stack": "Traceback (most recent call last):\n  File \"app.py\", line 10, in handler\nTimeoutError: 東京",
            "endpoint": "/api/pay", "method": "POST", "statusCode": 504, "userId": uid,
            "ip_address": "192.0.2.7", "user_agent": "curl/8.0",
        })
        out.append({
            "type": "ai", "created_at": _at(580 - i * 7), "aiModel": ("gpt-4o", "claude-3", "llama-3")[i % 3],
            "prompt": f"Summarise the quarterly report for région {i}", "response": "Revenue grew 12 % 📈",
            "tokens": 100 + i, "latency_ms": 250.5 + i, "userId": uid, "userName": name,
            "conversationId": f"conv-{i % 2}", "status": ("success", "error")[i % 2],
            **({"errorMessage": "rate limited: quota exceeded"} if i % 2 else {}),
        })
        out.append({
            "type": "chat", "created_at": _at(570 - i * 7), "chatType": ("support", "group_chat", "user_to_user")[i % 3],
            "senderId": uid, "senderName": name, "receiverId": "u9", "receiverName": "Support Ünit",
            "conversationId": f"conv-{i % 2}", "message": f"hello, my parcel {i} is late — où est-il?",
            "isRead": i % 2 == 0,
        })
        out.append({
            "type": "system", "created_at": _at(560 - i * 7), "eventType": ("health_check", "disk_alert")[i % 2],
            "status": ("healthy", "warning", "critical")[i % 3], "message": f"disk usage on volume {i} is high",
            "systemMetrics": {"cpuUsage": 10.5 * i, "memoryUsage": 40 + i, "diskUsage": 91.2, "apiKey": "sk-x"},
            "requiresAction": i % 3 == 2,
            "host_tag": f"node-{i}", "nested": {"ünïcode": ["a", None, 1.5]},
        })
    out.append({"type": "activity", "created_at": _at(1), "message": "plain line without title"})
    return out


def build(path: Path) -> None:
    if path.exists():
        raise SystemExit(f"{path} exists; remove it first")
    conn = connect(path)
    insert_rows(conn, [normalize(r, now=NOW) for r in records()])
    errors = [r[0] for r in conn.execute("SELECT id FROM records WHERE type = 'error' ORDER BY id")]
    resolve(conn, errors[::2], note="raised the gateway timeout — fixed", by="ops", now=NOW)
    first_chat = conn.execute("SELECT min(id) FROM records WHERE type = 'chat'").fetchone()[0]
    delete_ids(conn, [first_chat])
    conn.execute(
        "INSERT INTO file_offsets (path, inode, offset, head, updated_at) VALUES (?, ?, ?, ?, ?)",
        ("/var/log/app.log", 1234, 5678, "first line of app.log", NOW.isoformat()),
    )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    conn.execute("PRAGMA page_size = 1024")  # a small file to commit; 4096 is the default
    conn.execute("VACUUM")
    conn.close()


if __name__ == "__main__":
    build(Path(sys.argv[1]))
