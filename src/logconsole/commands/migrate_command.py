"""``logconsole migrate-store``: copy records from one store to another.

SQLite to PostgreSQL when a team moves to a central database, and back (all
of it, or a slice by ``--type``/``--since``/``--until``/``--search``/``--where``)
to take records home.  Records keep their ids, groups and resolutions; the
copy goes in id order in batches, each one transaction, so an interrupted
copy is resumed by running the same command again (it starts after the
highest id the target holds).
"""

from __future__ import annotations

import click

from logconsole.cli_options import CONTEXT_SETTINGS, build_filter, user_errors
from logconsole.commands.command_helpers import plural, progress_bar, say
from logconsole.paths import default_db_path
from logconsole.store.interface import Store, open_store
from logconsole.store.query import Cursor, Filter, Sort
from logconsole.store.url import StoreURL, StoreURLError, parse_store_url

BATCH = 5_000
"""Records per batch (one transaction in the target)."""
BY_ID = Sort("id", descending=False)


def copy_store(source: Store, target: Store, flt: Filter = Filter(), *, batch: int = BATCH,
               on_batch: object = None) -> int:
    """Copy the records of ``source`` matching ``flt`` with ids above the
    target's highest, then the error groups; returns how many records.

    A full copy takes the groups as they are; a slice recounts them from the
    records it took (:meth:`~logconsole.store.interface.Store.refresh_groups`).
    """
    start = target.max_id()
    after = Cursor(start, start) if start else None
    copied = 0
    while True:
        page = source.page(flt, BY_ID, limit=batch, after=after)
        if not page:
            break
        target.copy_records(page)
        copied += len(page)
        if callable(on_batch):
            on_batch(copied)
        if len(page) < batch:
            break
        after = Cursor(page[-1]["id"], int(page[-1]["id"]))
    target.copy_groups(source.groups(), source.group_users())
    if flt != Filter():
        target.refresh_groups()
    return copied


@click.command("migrate-store", context_settings=CONTEXT_SETTINGS)
@click.option("--from", "source_url", metavar="URL", envvar="LOGCONSOLE_DB", show_envvar=True,
              help="The store to copy from: a SQLite file or postgresql://... "
              "[default: $XDG_DATA_HOME/logconsole/logs.db].")
@click.option("--to", "target_url", required=True, metavar="URL",
              help="The store to copy into (created when missing).")
@click.option("--type", "-t", "types", multiple=True, metavar="TYPE", help="Only records of this type (repeatable).")
@click.option("--since", "-S", metavar="TIME", help="Only records from this time.")
@click.option("--until", "-U", metavar="TIME", help="Only records before this time.")
@click.option("--search", "-s", metavar="TEXT", help="Only records matching this search.")
@click.option("--where", "-w", multiple=True, metavar="FIELD=VALUE", help="Only records where this holds (repeatable).")
@click.option("--batch", type=click.IntRange(1, 100_000), default=BATCH, show_default=True,
              help="Records per transaction.")
@user_errors
def migrate_store(source_url: str | None, target_url: str, types: tuple[str, ...], since: str | None,
                  until: str | None, search: str | None, where: tuple[str, ...], batch: int) -> None:
    """Copy records, error groups and resolutions between stores.

    Ids are kept.  Run it again to resume an interrupted copy: it starts after
    the highest id the target holds.  Passwords in URLs are never printed.

    \b
    Examples:
        logconsole migrate-store --to postgresql://logs@db.internal/logs
        logconsole migrate-store --from postgresql://logs@db.internal/logs --to slice.db --since 2d -t error
    """
    flt = build_filter(types, since, until, search, where)
    source_url = source_url or str(default_db_path())
    try:
        source_loc, target_loc = parse_store_url(source_url), parse_store_url(target_url)
    except StoreURLError as exc:
        raise click.UsageError(str(exc)) from None
    if source_loc == target_loc:
        raise click.UsageError("--from and --to name the same store")
    if source_loc.path is not None and not source_loc.path.exists():
        raise click.ClickException(f"no database at {source_loc.path}")
    try:
        _migrate(source_loc, target_loc, flt, batch)
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "psycopg":
            raise
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"PostgreSQL: {reason}") from None


def _migrate(source_loc: StoreURL, target_loc: StoreURL, flt: Filter, batch: int) -> None:
    source = open_store(source_loc, readonly=True)
    try:
        target = open_store(target_loc)
        try:
            start = target.max_id()
            if start:
                say(f"{target_loc.redacted()} holds records up to id {start}: copying those after it")
            total = source.count(flt)
            with progress_bar(total, "copying") as advance:
                copied = copy_store(source, target, flt, batch=batch, on_batch=advance)
        finally:
            target.close()
    finally:
        source.close()
    say(f"copied {plural(copied, 'record')} from {source_loc.redacted()} to {target_loc.redacted()}")


COMMANDS: list[click.Command] = [migrate_store]
