"""What is in the database, and something to look at: ``stats``, ``demo``."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from logconsole import demo as demo_records
from logconsole import kinds as K
from logconsole.cli_options import CONTEXT_SETTINGS, build_filter, db_option, db_path_or_default, user_errors
from logconsole.commands.command_helpers import existing_db, plural, progress_bar, say, writable_db
from logconsole.store.db import file_size
from logconsole.store.query import Filter, count, counts_by
from logconsole.timeutil import format_ts, utcnow


# ---------------------------------------------------------------- stats


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def collect_stats(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
    """The numbers ``logconsole stats`` prints, as plain data."""
    by_type = counts_by(conn, "type")
    unresolved = counts_by(conn, "severity", build_filter(("error",), None, None, None,
                                                           ("is_resolved=false",)))
    oldest, newest = conn.execute("SELECT min(created_at), max(created_at) FROM records").fetchone()
    now = utcnow()
    last_minute = count(conn, Filter(since=format_ts(now - timedelta(minutes=1))))
    last_hour = count(conn, Filter(since=format_ts(now - timedelta(hours=1))))
    return {
        "database": str(path),
        "size_bytes": file_size(path),
        "records": sum(by_type.values()),
        "by_type": {name: by_type.get(name, 0) for name in K.KIND_NAMES},
        "unresolved_errors": {s: unresolved.get(s, 0) for s in reversed(K.SEVERITIES)},
        "oldest": oldest,
        "newest": newest,
        "last_minute": last_minute,
        "last_hour": last_hour,
    }


def _stats_text(s: dict[str, Any]) -> list[str]:
    from logconsole.table_view import short_time

    open_errors = s["unresolved_errors"]
    lines = [
        f"database    {s['database']} ({_human_size(s['size_bytes'])})",
        f"records     {s['records']:,}",
    ]
    width = max(len(f"{n:,}") for n in s["by_type"].values())
    for name, n in s["by_type"].items():
        lines.append(f"  {K.KINDS[name].label:<10}{n:>{width + 2},}")
    lines.append(
        f"unresolved  {sum(open_errors.values()):,} errors ("
        + ", ".join(f"{sev} {n:,}" for sev, n in open_errors.items()) + ")"
    )
    lines.append(f"oldest      {short_time(s['oldest']) or '-'}")
    lines.append(f"newest      {short_time(s['newest']) or '-'}")
    lines.append(f"ingest rate {s['last_minute']:,} in the last minute, {s['last_hour']:,} in the last hour")
    return lines


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as one JSON object.")
@db_option
@user_errors
def stats(as_json: bool, db_path: Path | None) -> None:
    """Counts per type, unresolved errors by severity, database size,
    oldest and newest record, and how many records arrived lately.

    The ingest rate counts records whose time falls in the last minute and
    the last hour.

    \b
    Examples:
        logconsole stats
        logconsole stats --json | jq .unresolved_errors
    """
    path = db_path_or_default(db_path)
    with existing_db(db_path) as conn:
        numbers = collect_stats(conn, path)
    if as_json:
        click.echo(json.dumps(numbers, indent=2))
    else:
        click.echo("\n".join(_stats_text(numbers)))


# ---------------------------------------------------------------- demo


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--count", "-n", "how_many", type=click.IntRange(0, 10_000_000), default=demo_records.DEFAULT_COUNT,
              show_default=True, help="How many records to add.")
@click.option("--seed", type=int, default=None, help="Same seed, same records (for repeatable demos).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has records.")
@db_option
@user_errors
def demo(how_many: int, seed: int | None, if_empty: bool, db_path: Path | None) -> None:
    """Fill the database with realistic records of all five types.

    A month of a small learning platform: traffic that follows the working
    day, a few incidents with bursts of errors and unhealthy samples, AI
    calls with each model's token and latency spread, conversations, and
    health curves.  They pass the same ingest step as real records.

    \b
    Examples:
        logconsole demo --if-empty
        logconsole demo --count 100000 --seed 7 --db /tmp/demo.db
    """
    path = db_path_or_default(db_path)
    with writable_db(db_path) as conn:
        if if_empty:
            existing = count(conn, Filter())
            if existing:
                say(f"{path} already has {plural(existing, 'record')}; no demo records added")
                return
        with progress_bar(how_many if how_many >= 50_000 else 0, "adding demo records") as progress:
            added = demo_records.fill(conn, how_many, seed=seed, progress=progress)
    say(f"added {plural(added, 'demo record')} to {path}")


COMMANDS: list[click.Command] = [stats, demo]
