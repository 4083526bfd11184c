"""Pieces the database commands share: opening the database, talking to the
user on stderr, progress bars.  (Their options live in :mod:`logconsole.cli_options`.)
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from logconsole.cli_options import db_path_or_default, open_db
from logconsole.store.db import check_before_writing
from logconsole.store.interface import Store, open_store
from logconsole.store.sqlite.store import SQLiteStore
from logconsole.store.url import SQLITE, StoreURL


def existing_path(db_path: Path | None) -> Path:
    """The database file of ``--db``, which must exist (reading commands never create one)."""
    path = db_path_or_default(db_path)
    if not path.exists():
        raise click.ClickException(
            f"no database at {path}; add records with `logconsole import` or `logconsole demo`"
        )
    if path.is_dir():
        raise click.ClickException(f"{path} is a directory, not a database file")
    return path


@contextlib.contextmanager
def existing_db(db_path: Path | None, *, readonly: bool = False) -> Iterator[sqlite3.Connection]:
    """The database, which must exist already (reading commands never create one).

    ``readonly`` opens it ``mode=ro`` (``query``, ``export``, ``stats``): such a
    connection cannot write, so a command that only reads never changes the file.
    """
    conn = open_db(existing_path(db_path), readonly=readonly)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def existing_store(db: Path | StoreURL | None, *, readonly: bool = True) -> Iterator[Store]:
    """The store of ``--db`` (:mod:`logconsole.store.interface`), which must
    exist: a database file as :func:`existing_db` opens it, or a PostgreSQL
    database that holds logconsole's tables already (upgraded unless ``readonly``)."""
    if isinstance(db, StoreURL):
        if not readonly:  # a database without logconsole's tables is refused, not given them
            open_store(db, readonly=True).close()
        store: Store = open_store(db, readonly=readonly)
    else:
        path = existing_path(db)
        store = SQLiteStore(open_db(path, readonly=readonly), StoreURL(SQLITE, path=path))
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def writable_db(db_path: Path | None) -> Iterator[sqlite3.Connection]:
    """The database, created when missing (for commands that add records)."""
    conn = open_db(db_path)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def writable_store(db: Path | StoreURL | None, *, checked: bool = False) -> Iterator[Store]:
    """The store of ``--db``, created when missing (for commands that add records).

    ``checked``: a database file gets the quick check the doors that store
    records run first (:func:`logconsole.store.db.check_before_writing`), so
    nothing is added to a damaged file."""
    if isinstance(db, StoreURL):
        store: Store = open_store(db)
    else:
        path = db_path_or_default(db)
        conn = open_db(path)
        if checked:
            try:
                check_before_writing(conn, path)
            except BaseException:
                conn.close()
                raise
        store = SQLiteStore(conn, StoreURL(SQLITE, path=path))
    try:
        yield store
    finally:
        store.close()


def store_name(db: Path | StoreURL | None) -> str:
    """How messages name the store of ``--db``: its file, or its URL without the password."""
    return db.redacted() if isinstance(db, StoreURL) else str(db_path_or_default(db))


def login_name() -> str | None:
    """Who is acting (``--by``'s default): ``$USER``, else the login name (cron, containers)."""
    import getpass

    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return None


def is_filtered(types: tuple[str, ...], since: str | None, until: str | None,
                search: str | None, where: tuple[str, ...]) -> bool:
    """Whether any filter option was given."""
    return bool(types or since or until or search or where)


def plural(n: int, word: str) -> str:
    """``1 record``, ``1,234 records``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def human_size(size: int) -> str:
    """``812 B``, ``5.8 MB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def interactive() -> bool:
    """Whether someone can answer a question: stdin is a terminal and this is not CI."""
    ci = os.environ.get("CI", "").strip().lower()
    if ci and ci not in ("0", "false", "no"):
        return False
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def stderr_is_terminal() -> bool:
    """Whether progress bars can be drawn."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def say(message: str) -> None:
    """A message for the user, on stderr (stdout is for records)."""
    click.echo(message, err=True)


@contextlib.contextmanager
def progress_bar(total: int, label: str, unit: str = "records") -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal and there is a total to
    show; otherwise nothing.  ``unit`` is ``records`` or ``bytes``."""
    if total <= 0 or not stderr_is_terminal():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    amount = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    with Progress(
        TextColumn(label), BarColumn(), amount, TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, completed=n)
