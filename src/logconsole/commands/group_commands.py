"""Error groups on the command line: ``groups`` lists them, ``ignore`` hides one.

(``resolve --group`` and ``unresolve --group`` live with the record actions in
:mod:`.action_commands`; ``query --group`` with ``query``.)  Thin layers over
:mod:`logconsole.store.group_query` and :mod:`logconsole.store.actions`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from logconsole.cli_options import CONTEXT_SETTINGS, RECORD_ID, db_option, limit_option, user_errors
from logconsole.commands.command_helpers import existing_store, login_name, say
from logconsole.store import actions
from logconsole.store.export import write_groups
from logconsole.store.group_query import SORTS, make_group_filter, sort_of, to_group
from logconsole.store.interface import Store
from logconsole.store.query import QueryError

TABLE_LIMIT = 50
"""Groups a ``groups`` table shows unless ``--limit`` says otherwise."""
FORMATS = ("table", "jsonl", "json", "csv")


def _require_groups(store: Store) -> None:
    done = store.grouping_pending()
    if done is not None:
        say(f"note: the errors stored before the upgrade are still being grouped "
            f"({done}% done); counts will grow")


@click.command("groups", context_settings=CONTEXT_SETTINGS)
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="open|resolved|regressed|ignored, or unresolved (open and regressed) or all "
              "(repeatable, or comma-separated; default: all but ignored).")
@click.option("--since", "-S", metavar="TIME", help="Seen at or after this time (ISO 8601, 15m, 2h, 7d, today...).")
@click.option("--until", "-U", metavar="TIME", help="First seen before this time (same forms).")
@click.option("--search", "-s", metavar="TEXT",
              help="Words each found (any case) in the fingerprint, type, message or culprit.")
@click.option("--where", "-w", "where", multiple=True, metavar="FIELD=VALUE",
              help="Match a group field (repeatable): count>100, severity=critical, endpoints~/api/pay; "
              "also !=, >, >=, <, <=, ~ (contains).")
@click.option("--sort", "sort_name", type=click.Choice(list(SORTS)), default="last", show_default=True,
              help="First the latest seen (last), the newest groups by when first seen (first), "
              "the most records (count) or the most users (users).")
@click.option("--reverse", is_flag=True, help="The other way round (oldest, fewest first).")
@limit_option
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format.")
@db_option
@user_errors
def groups_command(statuses: tuple[str, ...], since: str | None, until: str | None, search: str | None,
                   where: tuple[str, ...], sort_name: str, reverse: bool, limit: int | None, fmt: str,
                   db_path: Path | None) -> None:
    """List error groups: errors with the same fingerprint, counted.

    A group's fingerprint is the error type, the message with its ids,
    numbers, addresses and quoted values made placeholders, and the
    application frame that raised it (or the fingerprint the app sent).
    The table shows the first 50 groups unless --limit says otherwise; the
    other formats print every match.  Ignored groups are left out unless
    --status asks for them.

    \b
    Examples:
        logconsole groups --since 24h --sort count
        logconsole groups --status unresolved --where severity=critical
        logconsole groups --search "jwt" --format jsonl | jq .count
        logconsole query --group 12        # the records of group 12
    """
    try:
        flt = make_group_filter(statuses=statuses, since=since, until=until, search=search, where=where)
        sort = sort_of(sort_name, ascending=reverse)
    except QueryError as exc:
        raise click.UsageError(str(exc)) from None
    with existing_store(db_path) as store:
        _require_groups(store)
        if fmt != "table":
            write_groups((to_group(g) for g in store.iter_groups(flt, sort, limit=limit or None)), sys.stdout, fmt)
            return
        page = TABLE_LIMIT if limit is None else limit
        rows = list(store.iter_groups(flt, sort, limit=page or None))
        if not rows:
            say("no groups match")
            return
        _print_table(rows)
        if limit is None and len(rows) == page:
            total = store.count_groups(flt)
            if total > page:
                say(f"showing {page:,} of {total:,} groups; use --limit N for more (--limit 0 for all)")


def _users(g: dict[str, Any]) -> str:
    return f"{g['users']:,}+" if g["users_approx"] else f"{g['users']:,}"


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from logconsole import kinds as K
    from logconsole.safe_text import visible
    from logconsole.table_view import short_time

    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    styles = {"regressed": "bold red", "resolved": "green", "ignored": "dim"}
    severity = K.ERROR.by_name["severity"]
    body = []
    for g in rows:
        title = f"{g['error_type']}: {g['message']}" if g["error_type"] else str(g["message"] or "")
        if g["culprit"]:
            title += f"  ({g['culprit']})"
        body.append((
            Text(str(g["id"]), style="dim"),
            Text(g["status"], style=styles.get(g["status"], "")),
            Text(f"{g['count']:,}"),
            Text(_users(g)),
            Text(short_time(g["last_seen"])),
            Text(g["severity"] or "", style=severity.style_of(g["severity"])),
            Text(visible(title[:400], newlines=False)),
        ))
    headers = ("id", "status", "count", "users", "last seen", "severity", "error")
    widths = [max(len(h), *(cells[c].cell_len for cells in body)) for c, h in enumerate(headers)]
    # The error gives way (down to 10 cells) before any other column is cut.
    widths[-1] = max(10, min(widths[-1], console.width - sum(widths[:-1]) - 3 * (len(headers) - 1)))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, header_style="bold")
    for header, width in zip(headers, widths):
        justify = "right" if header in ("id", "count", "users") else "left"
        table.add_column(header, justify=justify, no_wrap=True, overflow="ellipsis", width=width)  # type: ignore[arg-type]
    for cells in body:
        table.add_row(*cells)
    console.print(table)


@click.command("ignore", context_settings=CONTEXT_SETTINGS)
@click.option("--group", "-g", "group_ids", type=RECORD_ID, multiple=True, required=True, metavar="ID",
              help="The group to ignore (repeatable).")
@click.option("--note", "-m", metavar="TEXT", help="Why (kept with the group).")
@click.option("--by", metavar="NAME", default=None, help="Who ignores it [default: $USER].")
@db_option
@user_errors
def ignore(group_ids: tuple[int, ...], note: str | None, by: str | None, db_path: Path | None) -> None:
    """Hide error groups from the default group list.

    Their records stay as they are and new ones are still counted;
    `groups --status ignored` lists them and `unresolve --group ID` shows a
    group again.  Exits 1 when an id names no group.

    \b
    Example:
        logconsole ignore --group 31 --note "bots probing /wp-admin"
    """
    by = by or login_name()
    with existing_store(db_path, readonly=False) as store:
        report_groups(group_ids, lambda gid: store.ignore_group(gid, note=note, by=by), "ignored")


def report_groups(group_ids: tuple[int, ...], act: Callable[[int], actions.GroupOutcome | None],
                  done: str) -> None:
    """Act on each group, one line each (``group 12: resolved, 34 records``);
    exit 1 when an id named no group."""
    failed = False
    for gid in dict.fromkeys(group_ids):
        outcome = act(gid)
        if outcome is None:
            click.echo(f"group {gid}: not found")
            failed = True
            continue
        records = f", {outcome.records:,} record{'' if outcome.records == 1 else 's'}" if outcome.records else ""
        was = f" (was {outcome.before})" if outcome.before != outcome.after else ""
        click.echo(f"group {gid}: {done}{records}{was}")
    if failed:
        sys.exit(1)


COMMANDS: list[click.Command] = [groups_command, ignore]
