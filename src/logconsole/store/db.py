"""Opening the database: private file modes, pragmas, and the upgrade (:mod:`.migrations`)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from logconsole.store.migrations import SchemaError, refuse_newer, upgrade


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message says why."""


def _precreate(path: Path, group_readable: bool) -> None:
    """Create the file (and its folder) before SQLite does, with private modes.

    SQLite gives the ``-wal`` and ``-shm`` files the mode of the database file.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = 0o640 if group_readable else 0o600
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except FileExistsError:
        return
    os.close(fd)
    os.chmod(path, mode)  # the umask may have taken bits away; never adds any


def connect(
    path: str | os.PathLike[str],
    *,
    readonly: bool = False,
    group_readable: bool = False,
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """Open (creating and migrating unless ``readonly``) the store at ``path``."""
    path = Path(path)
    if readonly:
        if not path.exists():
            raise StoreError(f"no database at {path}")
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=check_same_thread, isolation_level=None)
    else:
        try:
            _precreate(path, group_readable)
        except OSError as exc:
            raise StoreError(f"cannot create database {path}: {exc.strerror}") from None
        conn = sqlite3.connect(path, check_same_thread=check_same_thread, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        refuse_newer(conn)  # before anything writes: a newer database is left untouched
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -32000")
        conn.execute("PRAGMA temp_store = MEMORY")
        if not readonly:
            upgrade(conn)
    except SchemaError as exc:
        conn.close()
        raise StoreError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"cannot open {path}: {exc}") from None
    return conn


def file_size(path: str | os.PathLike[str]) -> int:
    """Bytes on disk of the database with its WAL."""
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.path.getsize(f"{os.fspath(path)}{suffix}")
        except OSError:
            pass
    return total
