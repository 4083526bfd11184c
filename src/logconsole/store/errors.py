"""What went wrong with the database, said the same way at every door.

SQLite's own messages name the symptom of the last call ("cannot rollback -
no transaction is active", "database or disk is full", "database disk image
is malformed"); users need the condition: the disk is full, another process
holds the lock, the file is damaged.  :func:`describe` gives that sentence,
:func:`is_transient` tells a condition that passes (retry and wait) from one
that will not.
"""

from __future__ import annotations

# Primary result codes (the low byte of an extended code).
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_NOMEM = 7
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
SQLITE_IOERR_SHMSIZE = SQLITE_IOERR | (19 << 8)
"""The ``-shm`` file could not grow: in practice, its disk is full."""

DISK_FULL = "disk is full"
LOCKED = "database is locked by another process"
DAMAGED = "database file is damaged (run `logconsole doctor`)"
NOT_A_DATABASE = "file is not a database (or its header is damaged: run `logconsole doctor`)"


def primary_code(exc: BaseException) -> int | None:
    """SQLite's primary result code of ``exc``, when it carries one."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc).lower()
    if "database or disk is full" in text or "disk is full" in text:
        return SQLITE_FULL
    if "database is locked" in text or "database table is locked" in text:
        return SQLITE_BUSY
    if "malformed" in text:
        return SQLITE_CORRUPT
    if "file is not a database" in text:
        return SQLITE_NOTADB
    return None


def describe(exc: BaseException) -> str:
    """One line a person can act on."""
    code = primary_code(exc)
    if code == SQLITE_FULL or getattr(exc, "sqlite_errorcode", None) == SQLITE_IOERR_SHMSIZE:
        return DISK_FULL
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return LOCKED
    if code == SQLITE_CORRUPT:
        return DAMAGED
    if code == SQLITE_NOTADB:
        return NOT_A_DATABASE
    if code == SQLITE_READONLY:
        return f"database is read-only: {exc}"
    if code == SQLITE_IOERR:
        return f"disk input/output error: {exc}"
    return f"database error: {exc}"


def is_transient(exc: BaseException) -> bool:
    """Whether waiting may cure it: a lock held elsewhere, a full disk, an I/O error.

    A damaged file or a bug in a statement does not pass by waiting.
    """
    return primary_code(exc) in (SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM)


def is_damaged(exc: BaseException) -> bool:
    """Whether ``exc`` says the file is not a sound database."""
    return primary_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB)
