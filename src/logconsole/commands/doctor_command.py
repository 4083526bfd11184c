"""``logconsole doctor``: check the database file, and recover what is readable."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from logconsole.cli_options import CONTEXT_SETTINGS, db_option, db_path_or_default, user_errors
from logconsole.commands.command_helpers import human_size, plural, progress_bar, say
from logconsole.store import doctor as store_doctor
from logconsole.store.db import file_size
from logconsole.store.url import StoreURL
from logconsole.store.wal import wal_size


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--recover", is_flag=True,
              help="Copy every readable record into a new file (the damaged one is kept as it is).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where --recover writes [default: NAME.recovered.db beside the database].")
@db_option
@user_errors
def doctor(recover: bool, output: Path | None, db_path: Path | StoreURL | None) -> None:
    """Check the database file; with --recover, copy what is readable into a new file.

    The check runs SQLite's integrity check and the full-text index's own
    check, changes nothing, and exits 1 when the file is damaged.  --recover
    copies the records row by row (stepping over the pages that cannot be
    read), the file offsets and the retention record into a new database
    with a fresh full-text index, says which ids could not be read, and
    leaves the damaged file untouched.

    \b
    Examples:
        logconsole doctor
        logconsole doctor --recover --output /srv/logs/logs.recovered.db
    """
    if isinstance(db_path, StoreURL):
        say(f"Error: `logconsole doctor` checks a SQLite database file, not {db_path.redacted()}: "
            "for PostgreSQL use the server's own tools (pg_amcheck checks tables and indexes, "
            "pg_dump copies what is readable)")
        sys.exit(2)
    path = db_path_or_default(db_path)
    if output is not None and not recover:
        raise click.UsageError("--output is where --recover writes; add --recover")
    if recover:
        _recover(path, output or store_doctor.default_output(path))
        return
    say(f"checking {path} ({human_size(file_size(path) - wal_size(path))}, "
        f"write-ahead log {human_size(wal_size(path))})")
    with _no_collector(path) as collector:
        if collector:
            say(f"{collector}: the full-text check, which holds writers up while it runs, is left out")
        found = store_doctor.diagnose(path, fts=not collector)
    _report("integrity", found.integrity)
    _report("full-text", found.fts)
    if found.damaged:
        click.echo(f"{path} is damaged: `logconsole doctor --recover` copies what is readable into a new file")
        sys.exit(1)
    click.echo(f"{path} is sound")


def _report(what: str, problems: list[str] | None) -> None:
    if problems is None:
        click.echo(f"{what:<12}not checked")
        return
    if not problems:
        click.echo(f"{what:<12}ok")
        return
    click.echo(f"{what:<12}{plural(len(problems), 'problem')}")
    for line in problems:
        click.echo(f"  {line}")


@contextlib.contextmanager
def _no_collector(path: Path) -> Iterator[str]:
    """Hold the database's collector lock while doctor works, so none starts
    meanwhile; yields "" when held, else which collector holds it."""
    from logconsole.collectors.daemon import DaemonError, InstanceLock, lock_path_for

    if not path.exists():
        yield ""
        return
    lock = InstanceLock(lock_path_for(path), f"database {path}")
    try:
        lock.acquire()
    except DaemonError:
        held = False
    else:
        held = True
    if not held:
        try:
            holder = lock.path.read_text().strip() or "?"
        except OSError:
            holder = "?"
        yield f"a collector is running on this database (pid {holder})"
        return
    try:
        yield ""
    finally:
        lock.release()


def _recover(path: Path, output: Path) -> None:
    with _no_collector(path) as collector:
        if collector:
            say(f"warning: {collector}; what it stores after the copy is not in it")
        say(f"copying what is readable from {path} into {output}")
        with progress_bar(_estimate(path), "recovering") as progress:
            result = store_doctor.recover(path, output, progress=progress)
    lost = sum(r.records or 0 for r in result.lost)
    click.echo(f"records     {result.records:,} copied")
    for r in result.lost:
        span = f"ids {r.first}-{r.last}" if r.last is not None else f"ids from {r.first} on"
        held = f"{plural(r.records, 'record')} listed by an index" if r.records is not None else "unknown how many"
        click.echo(f"  unreadable: {span} ({held})")
    for table, copied in result.tables.items():
        shown = plural(copied, "row") + " copied" if isinstance(copied, int) else copied
        click.echo(f"{table.replace('_', ' '):<11} {shown}")
    click.echo("full-text   rebuilt" if not result.fts else f"full-text   {'; '.join(result.fts)}")
    if result.lost:
        counted = "" if all(r.records is not None for r in result.lost) else " at least"
        click.echo(f"lost        {plural(lost, 'record')}{counted} in {plural(len(result.lost), 'unreadable range')}")
    else:
        click.echo("lost        nothing")
    click.echo(f"the damaged file is kept as it was: {path}")
    click.echo(f"to use the copy: stop the collector, move {path.name} (and its -wal and -shm files) aside, "
               f"then rename {output.name} to {path.name}")


def _estimate(path: Path) -> int:
    """Records to copy, for the progress bar: the highest id handed out (0: unknown)."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0


COMMANDS: list[click.Command] = [doctor]
