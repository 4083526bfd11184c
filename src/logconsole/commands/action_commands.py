"""Changing what is stored: ``resolve``, ``unresolve``, ``delete``, ``prune``.

Thin layers over :mod:`logconsole.store.actions` that say, per id, what
happened, and never delete without asking (or ``--yes``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from logconsole.cli_options import (
    CONTEXT_SETTINGS,
    RECORD_ID,
    F,
    build_filter,
    config_option,
    days_option,
    db_option,
    filter_options,
    limit_option,
    order_option,
    settings_from,
    sort_of,
    user_errors,
)
from logconsole.commands.command_helpers import (
    existing_store,
    interactive,
    is_filtered,
    login_name,
    plural,
    say,
)
from logconsole.commands.group_commands import report_groups
from logconsole.store import actions
from logconsole.store.interface import Store
from logconsole.store.query import Condition, Filter


# ---------------------------------------------------------------- resolve / unresolve


def _explain_skipped(store: Store, record_id: int, resolving: bool) -> tuple[str, bool]:
    """Why an action skipped a record, and whether that is a failure."""
    row = store.get(record_id)
    if row is None:
        return "not found", True
    if row["type"] != "error":
        return f"not an error (it is {row['type']})", True
    return ("already resolved", False) if resolving else ("not resolved", False)


def _report_outcome(store: Store, ids: tuple[int, ...], outcome: actions.Outcome,
                    done: str, resolving: bool) -> None:
    """One line per id saying what happened; exit 1 when an id was unusable."""
    failed = False
    changed = set(outcome.changed)
    for record_id in dict.fromkeys(ids):
        if record_id in changed:
            message, bad = done, False
        else:
            message, bad = _explain_skipped(store, record_id, resolving)
        failed = failed or bad
        click.echo(f"{record_id}: {message}")
    if failed:
        sys.exit(1)


def _group_option(f: F) -> F:
    """``--group ID`` (repeatable): act on error groups instead of records."""
    return click.option("--group", "-g", "group_ids", type=RECORD_ID, multiple=True, metavar="GROUP",
                        help="Act on error groups (repeatable) instead of record ids.")(f)


def _ids_or_groups(ids: tuple[int, ...], group_ids: tuple[int, ...]) -> None:
    if ids and group_ids:
        raise click.UsageError("give record ids or --group, not both")
    if not ids and not group_ids:
        raise click.UsageError("give record ids, or --group ID for an error group")


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("ids", nargs=-1, type=RECORD_ID, metavar="[ID]...")
@_group_option
@click.option("--note", "-m", metavar="TEXT", help="What was done (stored as the resolution).")
@click.option("--by", metavar="NAME", default=None, help="Who resolved it [default: $USER].")
@db_option
@user_errors
def resolve(ids: tuple[int, ...], group_ids: tuple[int, ...], note: str | None, by: str | None,
            db_path: Path | None) -> None:
    """Mark error records, or whole error groups, resolved, with a note and who did it.

    Prints what happened to each id.  Exits 1 when an id has no record or is
    not an error; an error that was already resolved is left as it was.
    With --group, the group and all its unresolved records are resolved in
    one step; a new occurrence afterwards marks the group regressed.
    Resolving records one by one leaves their group's status as it is.

    \b
    Examples:
        logconsole resolve 1042 1043 --note "fixed in 2.14.1" --by ops
        logconsole resolve --group 12 --note "fixed in 2.14.1"
    """
    _ids_or_groups(ids, group_ids)
    by = by or login_name()
    with existing_store(db_path, readonly=False) as store:
        if group_ids:
            report_groups(group_ids, lambda gid: store.resolve_group(gid, note=note, by=by), "resolved")
            return
        outcome = store.resolve(ids, note=note, by=by)
        _report_outcome(store, ids, outcome, "resolved", resolving=True)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("ids", nargs=-1, type=RECORD_ID, metavar="[ID]...")
@_group_option
@click.option("--by", metavar="NAME", default=None, help="Who reopens a group [default: $USER].")
@db_option
@user_errors
def unresolve(ids: tuple[int, ...], group_ids: tuple[int, ...], by: str | None, db_path: Path | None) -> None:
    """Reopen resolved error records (their note, who and when are cleared).

    With --group, the group (resolved, regressed or ignored) is open again,
    and so are the records its resolution resolved.

    \b
    Examples:
        logconsole unresolve 1042
        logconsole unresolve --group 12
    """
    _ids_or_groups(ids, group_ids)
    with existing_store(db_path, readonly=False) as store:
        if group_ids:
            who = by or login_name()
            report_groups(group_ids, lambda gid: store.unresolve_group(gid, by=who), "reopened")
            return
        outcome = store.unresolve(ids)
        _report_outcome(store, ids, outcome, "reopened", resolving=False)


# ---------------------------------------------------------------- delete


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("ids", nargs=-1, type=RECORD_ID, metavar="[ID]...")
@filter_options
@limit_option
@order_option
@click.option("--all", "everything", is_flag=True, help="Delete every record.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@db_option
@user_errors
def delete(ids: tuple[int, ...], types: tuple[str, ...], since: str | None, until: str | None,
           search: str | None, where: tuple[str, ...], limit: int | None, order: str,
           everything: bool, yes: bool, db_path: Path | None) -> None:
    """Delete records by id or by filter.

    Asks for confirmation, showing how many records would go, unless --yes is
    given.  Without a terminal to ask on (a script, CI) it refuses unless
    --yes is given.  A bare `delete` does nothing: give ids, a filter, or --all.

    \b
    Examples:
        logconsole delete 1042 1043
        logconsole delete --type chat --until 30d --yes
        logconsole delete --type error --where is_resolved=true
    """
    filtered = is_filtered(types, since, until, search, where) or bool(limit)
    if ids and (filtered or everything):
        raise click.UsageError("give ids or a filter, not both")
    if everything and filtered:
        raise click.UsageError("--all deletes every record; leave out the filter, or --all")
    if not (ids or filtered or everything):
        raise click.UsageError("give ids or a filter; to delete everything use --all")
    flt = Filter(ids=ids) if ids else build_filter(types, since, until, search, where)
    with existing_store(db_path, readonly=False) as store:
        if not ids:
            flt = _as_of_now(store, flt)
        n = store.count(flt)
        if limit:
            n = min(n, limit)
        missing = sorted(set(ids) - {r["id"] for r in store.iter_rows(flt)}) if ids else []
        for record_id in missing:
            say(f"{record_id}: not found")
        if n == 0:
            say("no records match; nothing deleted")
            sys.exit(1 if missing else 0)
        if not yes:
            if not interactive():
                raise click.ClickException("refusing to delete without --yes when not on a terminal")
            if not click.confirm(f"Delete {n:,} record{'' if n == 1 else 's'}?", default=False, err=True):
                say("nothing deleted")
                sys.exit(1)
        if ids:
            deleted = len(store.delete_ids(ids).changed)
        elif limit:
            chosen = [r["id"] for r in store.iter_rows(flt, sort_of(order), limit=limit)]
            deleted = len(store.delete_ids(chosen).changed)
        else:
            deleted = store.delete_matching(flt)
    say(f"deleted {plural(deleted, 'record')}")
    if missing:
        sys.exit(1)


def _as_of_now(store: Store, flt: Filter) -> Filter:
    """``flt`` limited to the records stored now, so records that arrive while
    the user reads the question are not deleted with the ones counted."""
    newest = store.max_id()
    return flt.with_(where=(*flt.where, Condition("id", "<=", newest)))


# ---------------------------------------------------------------- prune


@click.command(context_settings=CONTEXT_SETTINGS)
@days_option("--days", "Keep this many days, 0 to 365000 [default: retention_days from the config, else 90].")
@click.option("--dry-run", is_flag=True, help="Only say how many records would go.")
@db_option
@config_option
@user_errors
def prune(days: float | None, dry_run: bool, db_path: Path | None, config_path: Path | None) -> None:
    """Apply retention now: delete records older than --days.

    Unresolved errors and system records that require action are kept
    whatever their age.  The collector applies the same rule by itself.

    \b
    Examples:
        logconsole prune
        logconsole prune --days 30 --dry-run
    """
    if days is None:
        days = settings_from(config_path).retention_days
    shown = f"{days:g}"
    with existing_store(db_path, readonly=False) as store:
        if dry_run:
            n = store.count_expired(days)
            say(f"would delete {plural(n, 'record')} older than {shown} days")
            return
        n = store.prune_now(days)
    say(f"pruned {plural(n, 'record')} older than {shown} days "
         "(unresolved errors and system records that require action are kept)")


COMMANDS: list[click.Command] = [resolve, unresolve, delete, prune]
