"""What is in the database, and something to look at: ``stats``, ``demo``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from logconsole import demo as demo_records
from logconsole import kinds as K
from logconsole.cli_options import (
    CONTEXT_SETTINGS,
    build_filter,
    config_option,
    db_option,
    settings_from,
    user_errors,
)
from logconsole.commands.command_helpers import (
    existing_store,
    human_size,
    plural,
    progress_bar,
    say,
    store_name,
    writable_store,
)
from logconsole.store.interface import Store
from logconsole.store.query import Filter
from logconsole.store.url import StoreURL
from logconsole.timeutil import format_ts, utcnow


# ---------------------------------------------------------------- stats


def collect_stats(store: Store, name: str, retention_days: float = 90) -> dict[str, Any]:
    """The numbers ``logconsole stats`` prints, as plain data.

    ``size_bytes`` is the database with its write-ahead log; ``database_bytes``
    and ``wal_bytes`` are the two files.  For PostgreSQL, ``size_bytes`` and
    ``database_bytes`` are the whole database (``pg_database_size``),
    ``records_bytes`` the record tables with their indexes, and there is no
    ``wal_bytes`` (the server's log is shared by its databases).  ``retention`` is the policy in force
    (``retention_days``: 0 keeps everything), how many stored records it
    would remove now, and the last run the store recorded.  ``forward`` is
    where forwarding stands (:func:`logconsole.store.forward_state.summary`),
    None when the collector never forwarded from this database.
    """
    by_type = store.counts_by("type")
    unresolved = store.counts_by("severity", build_filter(("error",), None, None, None, ("is_resolved=false",)))
    oldest, newest = store.time_span()
    now = utcnow()
    last_minute = store.count(Filter(since=format_ts(now - timedelta(minutes=1))))
    last_hour = store.count(Filter(since=format_ts(now - timedelta(hours=1))))
    last = store.last_retention_run()
    forwarding = store.forward_summary(now)
    sizes = store.sizes()
    return {
        "database": name,
        "size_bytes": sizes["database_bytes"] + sizes.get("wal_bytes", 0),
        **sizes,
        "records": sum(by_type.values()),
        "by_type": {name: by_type.get(name, 0) for name in K.KIND_NAMES},
        "unresolved_errors": {s: unresolved.get(s, 0) for s in reversed(K.SEVERITIES)},
        "oldest": oldest,
        "newest": newest,
        "last_minute": last_minute,
        "last_hour": last_hour,
        "retention": {
            "days": retention_days,
            "expired": store.count_expired(retention_days) if retention_days > 0 else 0,
            "last_run": None if last is None else {
                "started": last.started, "finished": last.finished, "days": last.days,
                "cutoff": last.cutoff, "removed": last.removed,
            },
        },
        "forward": forwarding,
    }


def _stats_text(s: dict[str, Any]) -> list[str]:
    from logconsole.table_view import short_time

    open_errors = s["unresolved_errors"]
    if "records_bytes" in s:
        place = (f"database    {s['database']} ({human_size(s['database_bytes'])}, "
                 f"records and their indexes {human_size(s['records_bytes'])})")
    else:
        place = (f"database    {s['database']} ({human_size(s['database_bytes'])}, "
                 f"write-ahead log {human_size(s['wal_bytes'])})")
    lines = [place, f"records     {s['records']:,}"]
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
    lines.extend(_retention_text(s["retention"]))
    if s.get("forward"):
        lines.extend(_forward_text(s["forward"]))
    return lines


def _forward_text(f: dict[str, Any]) -> list[str]:
    from logconsole.table_view import short_time

    lines = [f"forward     {f['endpoint']}: {f['sent']:,} sent, {f['rejected']:,} rejected; "
             f"lag {plural(f['lag_records'], 'record')} ({f['lag_seconds']:g} s)"]
    if f["last_error"]:
        state = " (failing now; retrying)" if f["failing"] else ""
        lines.append(f"last error  {short_time(f['last_error_at'])}: {f['last_error']}{state}")
    return lines


def _retention_text(r: dict[str, Any]) -> list[str]:
    from logconsole.table_view import short_time

    days = r["days"]
    if days > 0:
        policy = (f"retention   {days:g} days; {plural(r['expired'], 'record')} past it now "
                  "(unresolved errors and system records that require action are always kept)")
    else:
        policy = "retention   off (retention_days = 0): every record is kept"
    run = r["last_run"]
    if run is None:
        last = "last run    none recorded"
    else:
        when = short_time(run["finished"] or run["started"])
        state = "" if run["finished"] else " (did not finish)"
        last = (f"last run    {when}{state}: removed {plural(run['removed'], 'record')} "
                f"older than {run['days']:g} days")
    return [policy, last]


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as one JSON object.")
@db_option
@config_option
@user_errors
def stats(as_json: bool, db_path: Path | StoreURL | None, config_path: Path | None) -> None:
    """Counts per type, unresolved errors by severity, database and
    write-ahead log sizes, oldest and newest record, how many records arrived
    lately, and retention: the policy, and what its last run removed.

    The ingest rate counts records whose time falls in the last minute and
    the last hour.  The policy is retention_days from the config file.

    \b
    Examples:
        logconsole stats
        logconsole stats --json | jq .unresolved_errors
    """
    days = settings_from(config_path).retention_days
    with existing_store(db_path) as store:
        numbers = collect_stats(store, store_name(db_path), days)
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
def demo(how_many: int, seed: int | None, if_empty: bool, db_path: Path | StoreURL | None) -> None:
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
    name = store_name(db_path)
    with writable_store(db_path) as store:
        if if_empty:
            existing = store.count(Filter())
            if existing:
                say(f"{name} already has {plural(existing, 'record')}; no demo records added")
                return
        with progress_bar(how_many if how_many >= 50_000 else 0, "adding demo records") as progress:
            added = demo_records.fill(store.writer(), how_many, seed=seed, progress=progress)
    say(f"added {plural(added, 'demo record')} to {name}")


COMMANDS: list[click.Command] = [stats, demo]
