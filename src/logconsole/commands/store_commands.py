"""Commands that work on the database directly: import, query, export, resolve,
unresolve, delete, prune, stats, demo.

Each is a thin layer over :mod:`logconsole.importer`, :mod:`logconsole.store`
and :mod:`logconsole.demo`: it reads options, calls one function and says
what happened.  Data goes to stdout; messages, progress and rejected lines go
to stderr, so ``logconsole query -f jsonl | jq`` sees only records.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sqlite3
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from logconsole import demo as demo_records
from logconsole import kinds as K
from logconsole.cli_options import (
    CONTEXT_SETTINGS,
    build_filter,
    config_option,
    db_option,
    db_path_or_default,
    filter_options,
    open_db,
    settings_from,
    user_errors,
)
from logconsole.importer import (
    BATCH_SIZE,
    Rejection,
    SourceError,
    import_stream,
    kind_from_name,
    open_source,
)
from logconsole.ingest import Redactor
from logconsole.store import actions, export as exporter
from logconsole.store.db import file_size
from logconsole.store.query import NEWEST, OLDEST, Filter, Sort, count, counts_by, fetch_page, get, iter_rows
from logconsole.timeutil import format_ts, utcnow

F = TypeVar("F", bound=Callable[..., Any])

TABLE_LIMIT = 50
"""Rows a ``query`` table shows unless ``--limit`` says otherwise."""


# ---------------------------------------------------------------- shared pieces


def limit_option(f: F) -> F:
    return click.option(
        "--limit", "-n", type=click.IntRange(min=0), default=None, metavar="N",
        help="At most N records (0: no limit).",
    )(f)


def order_option(f: F) -> F:
    return click.option(
        "--order", type=click.Choice(["newest", "oldest"]), default="newest", show_default=True,
        help="Which records come first.",
    )(f)


def _sort(order: str) -> Sort:
    return OLDEST if order == "oldest" else NEWEST


@contextlib.contextmanager
def _existing_db(db_path: Path | None) -> Iterator[sqlite3.Connection]:
    """The database, which must exist already (reading commands never create one)."""
    path = db_path_or_default(db_path)
    if not path.exists():
        raise click.ClickException(
            f"no database at {path}; add records with `logconsole import` or `logconsole demo`"
        )
    if path.is_dir():
        raise click.ClickException(f"{path} is a directory, not a database file")
    conn = open_db(path)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def _db(db_path: Path | None) -> Iterator[sqlite3.Connection]:
    """The database, created when missing (for commands that add records)."""
    conn = open_db(db_path)
    try:
        yield conn
    finally:
        conn.close()


def _is_filtered(types: tuple[str, ...], since: str | None, until: str | None,
                 search: str | None, where: tuple[str, ...]) -> bool:
    return bool(types or since or until or search or where)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _interactive() -> bool:
    """Whether someone can answer a question: stdin is a terminal and this is not CI."""
    ci = os.environ.get("CI", "").strip().lower()
    if ci and ci not in ("0", "false", "no"):
        return False
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _say(message: str) -> None:
    click.echo(message, err=True)


# ---------------------------------------------------------------- import


@click.command("import", context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--type", "-t", "kind", metavar="TYPE",
              help=f"Type of records that do not say ({'|'.join(K.KIND_NAMES)}); "
              "by default taken from a file named after a collection (errorlogs.json).")
@click.option("--batch-size", type=click.IntRange(min=1), default=BATCH_SIZE, show_default=True,
              metavar="N",
              help="Records per transaction.")
@db_option
@config_option
@user_errors
def import_command(files: tuple[str, ...], kind: str | None, batch_size: int,
                   db_path: Path | None, config_path: Path | None) -> None:
    """Load records from JSON-lines files or JSON arrays (`-` reads stdin).

    Each record passes the same validation and redaction as records sent to
    the collector.  A record that cannot be stored is reported on stderr with
    its line number and reason; the others are stored, and the exit status
    is 1 when any was rejected.  mongoexport output (relaxed or canonical
    Extended JSON, --jsonArray, --pretty) loads as it is: `createdAt` is the
    record's time, and `_id`, `updatedAt` and `__v` are kept under `extra`.

    \b
    Examples:
        logconsole import app-2026-11.jsonl
        logconsole import --type error errorlogs.json
        mongoexport --collection=ailogs | logconsole import --type ai -
    """
    if kind is not None:
        try:
            kind = K.resolve_kind(kind).name
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    if sum(1 for f in files if f == "-") > 1:
        raise click.UsageError("stdin (-) can be read only once")
    settings = settings_from(config_path)
    redactor = Redactor(settings.secret_words)
    sources: list[tuple[str, IO[bytes], str | None]] = []
    try:
        for name in files:
            if name == "-":
                sources.append(("<stdin>", sys.stdin.buffer, kind))
            else:
                try:
                    sources.append((name, open_source(name), kind or kind_from_name(name)))
                except SourceError as exc:
                    raise click.ClickException(str(exc)) from None
        imported = rejected = 0
        sizes = [_size_of(stream) if name != "<stdin>" else None for name, stream, _ in sources]
        total_bytes = sum(s or 0 for s in sizes) if None not in sizes else 0
        done_bytes = 0
        with _db(db_path) as conn, _progress(total_bytes, "importing", unit="bytes") as progress:
            for (name, stream, file_kind), size in zip(sources, sizes):
                stored_before = imported

                def on_batch(n: int, stream: IO[bytes] = stream, base: int = done_bytes) -> None:
                    nonlocal imported
                    imported = stored_before + n
                    if progress is not None:
                        progress(base + stream.tell())

                try:
                    result = import_stream(
                        conn, stream, name, kind=file_kind, redactor=redactor,
                        batch_size=batch_size, on_reject=_report_rejection, on_batch=on_batch,
                    )
                except KeyboardInterrupt:
                    _say(f"interrupted: {_plural(imported, 'record')} were stored before the stop")
                    sys.exit(130)
                if len(sources) > 1:
                    _say(f"{name}: imported {result.imported:,}, rejected {result.rejected:,}")
                imported = stored_before + result.imported
                rejected += result.rejected
                done_bytes += size or 0
    finally:
        for name, stream, _ in sources:
            if name != "<stdin>":
                stream.close()
    _say(f"imported {_plural(imported, 'record')}, rejected {rejected:,}")
    if rejected:
        sys.exit(1)


def _size_of(stream: IO[bytes]) -> int | None:
    """Bytes in a regular file (None for pipes and terminals, which have no end to show)."""
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _report_rejection(rejection: Rejection) -> None:
    _say(str(rejection))


# ---------------------------------------------------------------- query


def _table_columns(spec: str | None, types: tuple[str, ...]) -> list[str]:
    from logconsole.table_view import default_columns

    if not spec:
        return default_columns(types)
    out = []
    for part in spec.split(","):
        name = part.strip()
        if not name:
            continue
        if name in ("summary", "level", "time"):
            out.append("created_at" if name == "time" else name)
            continue
        try:
            out.append(K.field_for(tuple(K.KINDS[t] for t in types) or None, name).name)
        except ValueError as exc:
            raise click.UsageError(f"--columns: {exc}") from None
    return out


@click.command(context_settings=CONTEXT_SETTINGS)
@filter_options
@limit_option
@order_option
@click.option("--format", "-f", "fmt", type=click.Choice(["table", *exporter.FORMATS]),
              default="table", show_default=True, help="Output format.")
@click.option("--columns", "-c", metavar="A,B,...",
              help="Table columns (field names, plus summary and level).")
@db_option
@user_errors
def query(types: tuple[str, ...], since: str | None, until: str | None, search: str | None,
          where: tuple[str, ...], limit: int | None, order: str, fmt: str,
          columns: str | None, db_path: Path | None) -> None:
    """Print matching records: a table that fits the terminal, or JSON / CSV.

    The table shows the newest 50 records unless --limit says otherwise; one
    --type shows that type's own columns.  The other formats print every
    match (use --limit to cap them) and are the same as `logconsole export`.

    \b
    Examples:
        logconsole query --type error --since 2h --where severity=critical
        logconsole query --search "payment declined" --limit 20
        logconsole query --type ai --format jsonl | jq .tokens_used
    """
    flt = build_filter(types, since, until, search, where)
    sort = _sort(order)
    with _existing_db(db_path) as conn:
        if fmt != "table":
            out = sys.stdout
            exporter.export(conn, flt, out, fmt, sort=sort, limit=limit or None)
            out.flush()
            return
        cols = _table_columns(columns, flt.types)
        page = TABLE_LIMIT if limit is None else limit
        rows = fetch_page(conn, flt, sort, limit=page) if page else list(iter_rows(conn, flt, sort))
        if not rows:
            _say("no records match")
            return
        _print_table(rows, cols)
        if limit is None and len(rows) == page:
            total = count(conn, flt)
            if total > page:
                _say(f"showing {page:,} of {total:,}; use --limit N for more (--limit 0 for all)")


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    from rich.console import Console

    from logconsole.table_view import record_table

    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    console.print(record_table(rows, columns, width=console.width))


# ---------------------------------------------------------------- export


@contextlib.contextmanager
def _output_file(path: Path) -> Iterator[IO[str]]:
    """A private (0600) file written next to ``path`` and moved over it when complete,
    so an interrupted export never leaves half a file under the real name."""
    if path.is_dir():
        raise click.ClickException(f"{path} is a directory")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=folder)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _progress(total: int, label: str, unit: str = "records") -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal and there is a total to
    show; otherwise nothing.  ``unit`` is ``records`` or ``bytes``."""
    if total <= 0 or not _stderr_is_terminal():
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


@click.command(context_settings=CONTEXT_SETTINGS)
@filter_options
@limit_option
@order_option
@click.option("--format", "-f", "fmt", type=click.Choice(exporter.FORMATS), default="jsonl",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (created private, mode 0600) instead of stdout.")
@db_option
@user_errors
def export(types: tuple[str, ...], since: str | None, until: str | None, search: str | None,
           where: tuple[str, ...], limit: int | None, order: str, fmt: str,
           output: Path | None, db_path: Path | None) -> None:
    """Stream matching records as JSON lines, a JSON array or CSV.

    Memory stays flat however many records match.  Times are ISO 8601 UTC;
    in CSV, nested data is JSON text and cells a spreadsheet would run as a
    formula start with a quote.  Writing to a file shows a progress bar when
    stderr is a terminal.

    \b
    Examples:
        logconsole export --type error --since 7d --format csv -o errors.csv
        logconsole export --search timeout | jq -c 'select(.type == "ai")'
    """
    flt = build_filter(types, since, until, search, where)
    sort = _sort(order)
    with _existing_db(db_path) as conn:
        if output is None:
            out = sys.stdout
            exporter.export(conn, flt, out, fmt, sort=sort, limit=limit or None)
            out.flush()
            return
        total = count(conn, flt) if _stderr_is_terminal() else 0
        if limit:
            total = min(total, limit)
        with _output_file(output) as fh, _progress(total, f"exporting to {output.name}") as progress:
            n = exporter.export(conn, flt, fh, fmt, sort=sort, limit=limit or None, progress=progress)
    _say(f"exported {_plural(n, 'record')} to {output}")


# ---------------------------------------------------------------- resolve / unresolve


def _explain_skipped(conn: sqlite3.Connection, record_id: int, resolving: bool) -> tuple[str, bool]:
    """Why an action skipped a record, and whether that is a failure."""
    row = get(conn, record_id)
    if row is None:
        return "not found", True
    if row["type"] != "error":
        return f"not an error (it is {row['type']})", True
    return ("already resolved", False) if resolving else ("not resolved", False)


def _report_outcome(conn: sqlite3.Connection, ids: tuple[int, ...], outcome: actions.Outcome,
                    done: str, resolving: bool) -> None:
    failed = False
    changed = set(outcome.changed)
    missing = set(outcome.missing)
    for record_id in dict.fromkeys(ids):
        if record_id in changed:
            message = done
        elif record_id in missing:
            message, bad = "not found", True
            failed = True
        else:
            message, bad = _explain_skipped(conn, record_id, resolving)
            failed = failed or bad
        click.echo(f"{record_id}: {message}")
    if failed:
        sys.exit(1)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("ids", nargs=-1, required=True, type=int, metavar="ID...")
@click.option("--note", "-m", metavar="TEXT", help="What was done (stored as the resolution).")
@click.option("--by", metavar="NAME", default=None, help="Who resolved it [default: $USER].")
@db_option
@user_errors
def resolve(ids: tuple[int, ...], note: str | None, by: str | None, db_path: Path | None) -> None:
    """Mark error records resolved, with a note and who did it.

    Prints what happened to each id.  Exits 1 when an id has no record or is
    not an error; an error that was already resolved is left as it was.

    \b
    Example:
        logconsole resolve 1042 1043 --note "fixed in 2.14.1" --by ops
    """
    by = by or os.environ.get("USER") or _login_name()
    with _existing_db(db_path) as conn:
        outcome = actions.resolve(conn, ids, note=note, by=by)
        _report_outcome(conn, ids, outcome, "resolved", resolving=True)


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("ids", nargs=-1, required=True, type=int, metavar="ID...")
@db_option
@user_errors
def unresolve(ids: tuple[int, ...], db_path: Path | None) -> None:
    """Reopen resolved error records (their note, who and when are cleared).

    \b
    Example:
        logconsole unresolve 1042
    """
    with _existing_db(db_path) as conn:
        outcome = actions.unresolve(conn, ids)
        _report_outcome(conn, ids, outcome, "reopened", resolving=False)


# ---------------------------------------------------------------- delete


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("ids", nargs=-1, type=int, metavar="[ID]...")
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
    filtered = _is_filtered(types, since, until, search, where) or bool(limit)
    if ids and (filtered or everything):
        raise click.UsageError("give ids or a filter, not both")
    if everything and filtered:
        raise click.UsageError("--all deletes every record; leave out the filter, or --all")
    if not (ids or filtered or everything):
        raise click.UsageError("give ids or a filter; to delete everything use --all")
    flt = Filter(ids=ids) if ids else build_filter(types, since, until, search, where)
    with _existing_db(db_path) as conn:
        n = count(conn, flt)
        if limit:
            n = min(n, limit)
        missing = sorted(set(ids) - {r["id"] for r in iter_rows(conn, flt)}) if ids else []
        for record_id in missing:
            _say(f"{record_id}: not found")
        if n == 0:
            _say("no records match; nothing deleted")
            sys.exit(1 if missing else 0)
        if not yes:
            if not _interactive():
                raise click.ClickException("refusing to delete without --yes when not on a terminal")
            if not click.confirm(f"Delete {n:,} record{'' if n == 1 else 's'}?", default=False, err=True):
                _say("nothing deleted")
                sys.exit(1)
        if ids:
            deleted = len(actions.delete_ids(conn, ids).changed)
        elif limit:
            chosen = [r["id"] for r in iter_rows(conn, flt, _sort(order), limit=limit)]
            deleted = len(actions.delete_ids(conn, chosen).changed)
        else:
            deleted = actions.delete_matching(conn, flt)
    _say(f"deleted {_plural(deleted, 'record')}")
    if missing:
        sys.exit(1)


# ---------------------------------------------------------------- prune


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--days", type=click.FloatRange(min=0), default=None, metavar="DAYS",
              help="Keep this many days [default: retention_days from the config, else 90].")
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
    with _existing_db(db_path) as conn:
        if dry_run:
            cutoff = format_ts(utcnow() - timedelta(days=days))
            keep = " OR ".join(actions.RETENTION_KEEPS)
            n = conn.execute(
                f"SELECT count(*) FROM records WHERE created_at < ? AND NOT ({keep})", (cutoff,)
            ).fetchone()[0]
            _say(f"would delete {_plural(n, 'record')} older than {shown} days")
            return
        n = actions.prune(conn, days)
    _say(f"pruned {_plural(n, 'record')} older than {shown} days "
         "(unresolved errors and system records that require action are kept)")


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
    with _existing_db(db_path) as conn:
        numbers = collect_stats(conn, path)
    if as_json:
        click.echo(json.dumps(numbers, indent=2))
    else:
        click.echo("\n".join(_stats_text(numbers)))


# ---------------------------------------------------------------- demo


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--count", "-n", "how_many", type=click.IntRange(min=0), default=demo_records.DEFAULT_COUNT,
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
    with _db(db_path) as conn:
        if if_empty:
            existing = count(conn, Filter())
            if existing:
                _say(f"{path} already has {_plural(existing, 'record')}; no demo records added")
                return
        with _progress(how_many if how_many >= 50_000 else 0, "adding demo records") as progress:
            added = demo_records.fill(conn, how_many, seed=seed, progress=progress)
    _say(f"added {_plural(added, 'demo record')} to {path}")


COMMANDS: list[click.Command] = [
    import_command, query, export, resolve, unresolve, delete, prune, stats, demo,
]
