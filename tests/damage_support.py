"""Really damaged database files, for the tests of what survives damage.

Garbage is written over whole pages of a real database (found through the
``dbstat`` table), so SQLite itself reports "database disk image is malformed"
when a statement reaches them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from logconsole.ingest import normalize
from logconsole.store.db import connect
from logconsole.store.writer import insert_rows


def filled_db(path: Path, n: int = 3000, *, message: str = "record {i} about timeouts and retries") -> Path:
    """A database of ``n`` activity records (ids 1..n), checkpointed into the main file."""
    conn = connect(path)
    insert_rows(conn, [normalize({"type": "activity", "title": f"t{i}", "message": message.format(i=i),
                                  "created_at": "2026-11-01T00:00:00Z"}) for i in range(1, n + 1)])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def pages_of(path: Path, table: str, pagetype: str = "leaf") -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno", (table, pagetype))]
    finally:
        conn.close()


def overwrite_pages(path: Path, pages: list[int], fill: int = 0xA5) -> None:
    conn = sqlite3.connect(path)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:
        for page in pages:
            fh.seek((page - 1) * size)
            fh.write(bytes([fill]) * size)


def damage_records(path: Path, count: int = 3) -> list[int]:
    """Overwrite ``count`` leaf pages from the middle of the records table; the pages."""
    leaves = pages_of(path, "records")
    middle = len(leaves) // 2
    victims = leaves[middle:middle + count]
    overwrite_pages(path, victims)
    return victims


def damage_indexes(path: Path) -> list[int]:
    """Overwrite a leaf page from the middle of every index on records (counts read indexes alone)."""
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'records'")]
    conn.close()
    victims = []
    for name in names:
        leaves = pages_of(path, name)
        if leaves:
            victims.append(leaves[len(leaves) // 2])
    overwrite_pages(path, victims)
    return victims


def is_malformed(path: Path) -> bool:
    """Whether SQLite itself says the file is damaged when the records are read."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("SELECT count(*), sum(length(message)) FROM records NOT INDEXED").fetchone()
    except sqlite3.DatabaseError as exc:
        return "malformed" in str(exc)
    finally:
        conn.close()
    return False
