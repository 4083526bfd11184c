"""Records in and out of the database: ``import``, ``query``, ``export``.

Each command is a thin layer over :mod:`logconsole.importer` and
:mod:`logconsole.store`: it reads options, calls one function and says what
happened.  Data goes to stdout; messages, progress and rejected lines go to
stderr, so ``logconsole query -f jsonl | jq`` sees only records.

:data:`COMMANDS` also gathers the other commands that work on the database
directly (:mod:`.action_commands`, :mod:`.overview_commands`, :mod:`.doctor_command`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click
from click.core import ParameterSource

from logconsole import kinds as K
from logconsole.cli_options import (
    CONTEXT_SETTINGS,
    RECORD_ID,
    FiniteFloat,
    build_filter,
    config_option,
    db_option,
    filter_options,
    is_pg_error,
    limit_option,
    order_option,
    settings_from,
    sort_of,
    user_errors,
)
from logconsole.commands import (
    action_commands, alert_commands, doctor_command, group_commands, migrate_command, overview_commands,
)
from logconsole.commands.command_helpers import (
    existing_store,
    plural,
    progress_bar,
    say,
    stderr_is_terminal,
    writable_store,
)
from logconsole.importer import (
    BATCH_SIZE,
    ImportResult,
    Rejection,
    SourceError,
    import_stream,
    kind_from_name,
    open_source,
)
from logconsole.config import Settings
from logconsole.ingest import Redactor
from logconsole.paths import default_config_path
from logconsole.store import export as exporter
from logconsole.store.follow import DEFAULT_INTERVAL
from logconsole.store.interface import Writer
from logconsole.store.query import RELATED_FIELDS, Filter, parse_types
from logconsole.store.related import related_of
from logconsole.store.url import StoreURL

TABLE_LIMIT = 50
"""Rows a ``query`` table shows unless ``--limit`` says otherwise."""
FOLLOW_LIMIT = 10
"""Matches ``query --follow`` prints before the new ones, unless ``--limit`` says otherwise."""


# ---------------------------------------------------------------- import


@click.command("import", context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--type", "-t", "kind", metavar="TYPE",
              help=f"Type of records that do not say ({'|'.join(K.KIND_NAMES)}); "
              "by default taken from a file named after a collection (errorlogs.json).")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=BATCH_SIZE, show_default=True,
              metavar="N", help="Records per transaction.")
@click.option("--check", is_flag=True,
              help="Only read and validate: report what would be rejected, store nothing.")
@db_option
@config_option
@user_errors
def import_command(files: tuple[str, ...], kind: str | None, batch_size: int, check: bool,
                   db_path: Path | StoreURL | None, config_path: Path | None) -> None:
    """Load records from JSON-lines files or JSON arrays (`-` reads stdin).

    Each record passes the same validation and redaction as records sent to
    the collector.  A record that cannot be stored is reported on stderr with
    its line number and reason; the others are stored, and the exit status
    is 1 when any was rejected.  Records older than the retention period are
    stored, and counted in a warning: the collector's retention removes them
    unless retention_days says otherwise.  mongoexport output (relaxed or canonical
    Extended JSON, --jsonArray, --pretty) loads as it is: `createdAt` is the
    record's time, and `_id`, `updatedAt` and `__v` are kept under `extra`.

    \b
    Examples:
        logconsole import app-2026-11.jsonl
        logconsole import --type error errorlogs.json
        logconsole import --check dump/*.json
        mongoexport --collection=ailogs | logconsole import --type ai -
    """
    if kind is not None:
        try:
            kind = K.resolve_kind(kind).name
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    if files.count("-") > 1:
        raise click.UsageError("stdin (-) can be read only once")
    settings = settings_from(config_path)
    redactor = Redactor(settings.secret_words)
    expired = 0
    with contextlib.ExitStack() as stack:
        sources = [_open(name, kind, stack) for name in files]
        for source in sources:
            if kind is None and source.kind is not None:
                say(f"{source.name}: records without a type are read as {source.kind} "
                    "(from the file name; --type says otherwise)")
        store = None if check else stack.enter_context(writable_store(db_path, checked=True))
        before = 0
        if store is not None:
            before = store.max_id()
        total = ImportResult()
        try:
            _import_all(None if store is None else store.writer(), sources, total, redactor=redactor,
                        batch_size=batch_size)
        except KeyboardInterrupt:
            if not check:
                say(f"interrupted: {plural(total.imported, 'record')} were stored before the stop")
            sys.exit(130)
        except Exception as exc:
            if isinstance(exc, sqlite3.Error) or is_pg_error(exc):
                say(f"stopped: {plural(total.imported, 'record')} were stored before the database refused "
                    "the next batch")
            raise
        if store is not None and total.imported and settings.retention_days > 0:
            expired = store.count_expired(settings.retention_days, after_id=before)
    done = "would import" if check else "imported"
    say(f"{done} {plural(total.imported, 'record')}, rejected {total.rejected:,}")
    if expired:
        say(_retention_warning(expired, total.imported, settings))
    if total.rejected:
        sys.exit(1)


def _retention_warning(expired: int, imported: int, settings: Settings) -> str:
    """Says which imported records the collector's retention will remove, and how to keep them."""
    config = settings.source or default_config_path()
    return (
        f"{expired:,} of the {imported:,} imported records are older than the retention period "
        f"({settings.retention_days:g} days) and will be removed by the collector's next retention run; "
        f"to keep them, set retention_days under [store] in {config} (0 keeps everything) "
        "or run the collector with --retention-days"
    )


@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    stream: IO[bytes]
    kind: str | None
    size: int | None
    """Bytes, for a regular file; pipes and terminals have no end to show."""


def _open(name: str, kind: str | None, stack: contextlib.ExitStack) -> _Source:
    """A source to import: a file (closed with ``stack``) or ``-`` for stdin."""
    if name == "-":
        return _Source("<stdin>", sys.stdin.buffer, kind, None)
    try:
        stream = stack.enter_context(open_source(name))
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    st = os.fstat(stream.fileno())
    return _Source(name, stream, kind or kind_from_name(name), st.st_size if stat.S_ISREG(st.st_mode) else None)


def _import_all(writer: Writer | None, sources: list[_Source], total: ImportResult, *,
                redactor: Redactor, batch_size: int) -> None:
    """Import every source in turn, adding to ``total`` as batches are stored
    (so an interruption can say what was stored), with one progress bar."""
    sizes = [s.size for s in sources]
    total_bytes = 0 if None in sizes else sum(s or 0 for s in sizes)
    done_bytes = 0
    with progress_bar(total_bytes, "importing", unit="bytes") as progress:
        for source in sources:
            before = total.imported

            def on_batch(n: int, source: _Source = source, before: int = before,
                         base: int = done_bytes) -> None:
                total.imported = before + n
                if progress is not None:
                    progress(base + source.stream.tell())

            result = import_stream(
                writer, source.stream, source.name, kind=source.kind, redactor=redactor,
                batch_size=batch_size, on_reject=_report_rejection, on_batch=on_batch,
            )
            total.imported = before + result.imported
            total.rejected += result.rejected
            done_bytes += source.size or 0
            if len(sources) > 1:
                verb = "imported" if writer is not None else "would import"
                say(f"{source.name}: {verb} {result.imported:,}, rejected {result.rejected:,}")


def _report_rejection(rejection: Rejection) -> None:
    say(str(rejection))


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
@click.option("--group", "-g", "group_id", type=RECORD_ID, default=None, metavar="ID",
              help="Only the records of this error group (see `logconsole groups`).")
@click.option("--related", "-r", "related_id", type=RECORD_ID, default=None, metavar="ID",
              help="The records related to record ID: its request, else trace, conversation, "
              "or user within an hour; oldest first unless --order says otherwise.")
@click.option("--by", "related_by", type=click.Choice(RELATED_FIELDS), default=None,
              help="What --related joins on (default: the first of these the record has).")
@click.option("--follow", "-F", is_flag=True,
              help="Print the last matches (--limit, default 10), then each new match as it is committed.")
@click.option("--poll-interval", type=FiniteFloat(0.01, 60), default=DEFAULT_INTERVAL, hidden=True,
              help="Seconds between two looks for new records while following.")
@db_option
@user_errors
def query(types: tuple[str, ...], since: str | None, until: str | None, search: str | None,
          where: tuple[str, ...], limit: int | None, order: str, fmt: str,
          columns: str | None, group_id: int | None, related_id: int | None, related_by: str | None,
          follow: bool, poll_interval: float, db_path: Path | StoreURL | None) -> None:
    """Print matching records: a table that fits the terminal, or JSON / CSV.

    The table shows the newest 50 records unless --limit says otherwise; one
    --type shows that type's own columns.  The other formats print every
    match (use --limit to cap them) and are the same as `logconsole export`.

    \b
    Examples:
        logconsole query --type error --since 2h --where severity=critical
        logconsole query --search "payment declined" --limit 20
        logconsole query --type ai --format jsonl | jq .tokens_used
        logconsole query --group 12 --limit 5
        logconsole query --related 4812
        logconsole query --related 4812 --by user_id --type ai
        logconsole query --follow --type error
        logconsole query -F -f jsonl --where severity=critical | jq .message
    """
    if group_id is not None:
        if types and "error" not in parse_types(types):
            raise click.UsageError("--group lists error records; leave out --type or give --type error")
        types, where = ("error",), (*where, f"group_id={group_id}")
    flt = build_filter(types, since, until, search, where)
    if related_by is not None and related_id is None:
        raise click.UsageError("--by says what --related joins on; give --related ID too")
    if related_id is not None:
        with existing_store(db_path) as store:
            row = store.get(related_id)
        if row is None:
            raise click.ClickException(f"no record with id {related_id}")
        rel = related_of(row, related_by)
        flt = flt.with_(related=rel)
        if click.get_current_context().get_parameter_source("order") == ParameterSource.DEFAULT:
            order = "oldest"
        say(f"related to record {related_id}: {rel.describe()}")
    sort = sort_of(order)
    if columns and fmt != "table":
        raise click.UsageError("--columns is for the table; JSON and CSV carry every field")
    if follow:
        _follow(flt, fmt, columns, FOLLOW_LIMIT if limit is None else limit, poll_interval, db_path)
        return
    with existing_store(db_path) as store:
        if fmt != "table":
            out = sys.stdout
            exporter.write(store.iter_rows(flt, sort, limit=limit or None), out, fmt, types=flt.types)
            out.flush()
            return
        cols = _table_columns(columns, flt.types)
        page = TABLE_LIMIT if limit is None else limit
        rows = store.page(flt, sort, limit=page) if page else list(store.iter_rows(flt, sort))
        if not rows:
            say("no records match")
            return
        _print_table(rows, cols)
        if limit is None and len(rows) == page:
            total = store.count(flt)
            if total > page:
                say(f"showing {page:,} of {total:,}; use --limit N for more (--limit 0 for all)")


def _print_table(rows: list[dict[str, Any]], columns: list[str], *, header: bool = True) -> None:
    from rich.console import Console

    from logconsole.table_view import record_table

    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    table = record_table(rows, columns, width=console.width)
    table.show_header = header
    console.print(table)


def _follow(flt: Filter, fmt: str, columns: str | None, limit: int, interval: float,
            db_path: Path | StoreURL | None) -> None:
    """``query --follow``: the last ``limit`` matches, then new ones as they are
    committed, until interrupted (ctrl-c) or the reader goes (``| head``): both exit 0."""
    if fmt == "json":
        raise click.UsageError("--follow prints a stream: use --format jsonl (or table, csv)")
    with existing_store(db_path) as store:  # the store must exist; the follower opens (and reopens) it itself
        follower = store.follower(flt, interval=interval)
    cols = _table_columns(columns, flt.types)
    header = True
    out = sys.stdout

    def emit(rows: list[dict[str, Any]]) -> None:
        nonlocal header
        if fmt == "table":
            _print_table(rows, cols, header=header)
        else:
            exporter.write(rows, out, fmt, types=flt.types, header=header)
        header = False
        out.flush()

    try:
        first = follower.start(limit)
        if first:
            emit(first)
        for rows in follower:
            emit(rows)
    except KeyboardInterrupt:
        pass
    finally:
        follower.close()


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


@click.command(context_settings=CONTEXT_SETTINGS)
@filter_options
@limit_option
@order_option
@click.option("--format", "-f", "fmt", type=click.Choice(exporter.FORMATS), default="jsonl",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (created private, mode 0600); - is stdout.")
@db_option
@user_errors
def export(types: tuple[str, ...], since: str | None, until: str | None, search: str | None,
           where: tuple[str, ...], limit: int | None, order: str, fmt: str,
           output: Path | None, db_path: Path | StoreURL | None) -> None:
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
    sort = sort_of(order)
    if output == Path("-"):
        output = None
    with existing_store(db_path) as store:
        if output is None:
            out = sys.stdout
            exporter.write(store.iter_rows(flt, sort, limit=limit or None), out, fmt, types=flt.types)
            out.flush()
            return
        total = store.count(flt) if stderr_is_terminal() else 0
        if limit:
            total = min(total, limit)
        with _output_file(output) as fh, progress_bar(total, f"exporting to {output.name}") as progress:
            n = exporter.write(store.iter_rows(flt, sort, limit=limit or None), fh, fmt, types=flt.types,
                               progress=progress)
    say(f"exported {plural(n, 'record')} to {output}")


COMMANDS: list[click.Command] = [
    import_command, query, export, *action_commands.COMMANDS, *group_commands.COMMANDS,
    *overview_commands.COMMANDS,
    *doctor_command.COMMANDS, *alert_commands.COMMANDS, *migrate_command.COMMANDS,
]
