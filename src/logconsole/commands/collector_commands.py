"""``logconsole daemon``, ``logconsole send`` and ``logconsole health``."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from logconsole.cli_options import (
    FiniteFloat,
    alert_rules_from,
    config_option,
    days_option,
    db_option,
    db_path_or_default,
    settings_from,
    socket_option,
    socket_path_or_default,
)
from logconsole.config import (
    BUSY_TIMEOUT_RANGE,
    HEALTH_INTERVAL_RANGE,
    MAX_RECORD_BYTES_RANGE,
    RETRY_MAX_DELAY_RANGE,
    SYNC_TIMEOUT_RANGE,
    ConfigError,
    Settings,
    parse_mode,
)
from logconsole.kinds import KIND_NAMES
from logconsole.ingest import IngestError, decode_json
from logconsole.store.url import StoreURL


def _mode(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_mode(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def _listen(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:
        from logconsole.collectors.otlp import parse_listen

        try:
            parse_listen(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@click.command()
@db_option
@socket_option
@config_option
@click.option("--socket-mode", callback=_mode, metavar="MODE",
              help="Socket file mode, octal [default: 0600, or 0660 with --socket-group].")
@click.option("--socket-group", metavar="GROUP", help="Group that may write to the socket.")
@click.option("--health-interval", type=FiniteFloat(*HEALTH_INTERVAL_RANGE), metavar="SECONDS",
              help="Seconds between health samples (1 to 86400) [default: 300].")
@click.option("--watch", multiple=True, metavar="PATH_OR_GLOB",
              help="Tail these log files (repeatable; added to the config's list).")
@click.option("--watch-type", type=click.Choice(KIND_NAMES, case_sensitive=False),
              help="Record type of tailed lines that do not name one [default: activity].")
@days_option("--retention-days", "Delete records older than this, daily (0 keeps everything; at most 365000) [default: 90].")
@click.option("--max-record-bytes", type=click.IntRange(*MAX_RECORD_BYTES_RANGE), metavar="BYTES",
              help="Largest message accepted on the socket [default: 1048576].")
@click.option("--idle-timeout", type=FiniteFloat(0.1, 604800), default=900.0, show_default=True,
              metavar="SECONDS", help="Close connections that send nothing for this long.")
@click.option("--sync-timeout", type=FiniteFloat(*SYNC_TIMEOUT_RANGE), metavar="SECONDS",
              help="Answer a sync with the reason when its records are not committed within this "
              "(they stay queued) [default: 30].")
@click.option("--busy-timeout", type=FiniteFloat(*BUSY_TIMEOUT_RANGE), metavar="SECONDS",
              help="How long one commit waits for a lock held by another process [default: 5].")
@click.option("--retry-max-delay", type=FiniteFloat(*RETRY_MAX_DELAY_RANGE), metavar="SECONDS",
              help="Longest pause between attempts to commit while the database refuses [default: 5].")
@click.option("--check-seconds", type=FiniteFloat(0, 3600), default=10.0, show_default=True,
              metavar="SECONDS", help="Time allowed for the database check at start (0: no check).")
@click.option("--idle-checkpoint", type=FiniteFloat(0, 86400), default=5.0, show_default=True,
              metavar="SECONDS", help="Truncate the write-ahead log after this long without records (0: never).")
@click.option("--otlp", "otlp_listen", metavar="HOST:PORT", callback=_listen,
              help="Also accept OpenTelemetry logs over HTTP (POST /v1/logs), e.g. 127.0.0.1:4318 "
              "[default: the config's [otlp] listen, else off].")
@click.option("--host", "host", envvar="LOGCONSOLE_HOST", show_envvar=True, metavar="NAME",
              help="Host name stamped on records that name none [default: this machine's name].")
@click.option("--lease-interval", type=FiniteFloat(0.1, 3600), default=None, hidden=True,
              help="On PostgreSQL: seconds between checks of the fleet's leadership.")
@click.option("-v", "--verbose", count=True, help="Log debug detail too (connections closed when idle, failed lines).")
def daemon(
    db_path: Path | None, socket_path: Path | None, config_path: Path | None,
    socket_mode: int | None, socket_group: str | None, health_interval: float | None,
    watch: tuple[str, ...], watch_type: str | None, retention_days: float | None,
    max_record_bytes: int | None, idle_timeout: float, sync_timeout: float | None,
    busy_timeout: float | None, retry_max_delay: float | None, check_seconds: float,
    idle_checkpoint: float, otlp_listen: str | None, host: str | None, lease_interval: float | None, verbose: int,
) -> None:
    """Run the collector in the foreground.

    Listens on the socket for JSON lines and syslog (`logger -u SOCKET`,
    Python's SysLogHandler), samples system health, tails --watch files and
    applies retention daily. SIGTERM or Ctrl-C stores what was sent and exits 0.
    While the database refuses writes (disk full, locked by another process)
    records wait in memory and are retried; stopped then, the daemon writes
    them to DB.spill.jsonl, exits 1, and stores them at its next start.
    A damaged database is refused at start (see `logconsole doctor`).
    With --db postgresql://..., one collector per host writes to a shared
    database, and one of them at a time runs retention for all.
    With --otlp, any OpenTelemetry SDK logs into it: point
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT at http://HOST:PORT/v1/logs.

    \b
    Examples:
        logconsole daemon --watch '/var/log/myapp/*.log' --health-interval 60
        logconsole daemon --otlp 127.0.0.1:4318
        logconsole daemon --db postgresql://logs@db.example/logs
    """
    from logconsole.collectors.daemon import DaemonError, DaemonOptions, run_daemon
    from logconsole.collectors.pipeline import WriterTimings

    settings = settings_from(config_path)
    rules = alert_rules_from(settings)
    group = socket_group if socket_group is not None else settings.socket_group
    mode = socket_mode
    if mode is None:
        configured = "socket_mode" in settings.raw.get("daemon", {})
        mode = settings.socket_mode if configured or not group else 0o660
    listen = settings.otlp_listen if otlp_listen is None else otlp_listen
    if listen and otlp_listen is None:
        from logconsole.collectors.otlp import parse_listen

        try:
            parse_listen(listen)
        except ValueError as exc:
            raise click.ClickException(f"{settings.source}: [otlp] listen: {exc}") from None
    if host is not None and not host.strip():
        raise click.BadParameter("the host name is empty", param_hint="--host")
    opts = DaemonOptions(
        db_path=db_path if isinstance(db_path, StoreURL) else db_path_or_default(db_path),
        socket_path=socket_path_or_default(socket_path),
        settings=settings,
        socket_mode=mode,
        socket_group=group,
        health_interval=health_interval or settings.health_interval,
        watch=(*settings.watch, *watch),
        watch_type=(watch_type or settings.watch_type).lower(),
        retention_days=settings.retention_days if retention_days is None else retention_days,
        max_record_bytes=max_record_bytes or settings.max_record_bytes,
        idle_timeout=idle_timeout,
        timings=WriterTimings(
            sync_timeout=settings.sync_timeout if sync_timeout is None else sync_timeout,
            busy_timeout=settings.busy_timeout if busy_timeout is None else busy_timeout,
            retry_max_delay=settings.retry_max_delay if retry_max_delay is None else retry_max_delay,
        ),
        check_seconds=check_seconds,
        idle_checkpoint=idle_checkpoint,
        alert_rules=rules,
        otlp_listen=listen,
        otlp_token=settings.otlp_token,
        otlp_max_request_bytes=settings.otlp_max_request_bytes,
        host=(host or "").strip(),
        **({"lease_interval": lease_interval} if lease_interval is not None else {}),
    )
    try:
        code = run_daemon(opts, verbose)
    except DaemonError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@click.command()
@socket_option
@click.argument("records", nargs=-1, metavar="[JSON]...")
@click.option("--timeout", type=FiniteFloat(0.1, 86400), default=60.0, show_default=True, metavar="SECONDS",
              help="Seconds to wait for the collector to commit.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def send(socket_path: Path | None, records: tuple[str, ...], timeout: float, quiet: bool) -> None:
    """Send records to the collector and wait until they are stored.

    Each argument is one JSON record; without arguments, JSON lines are read
    from standard input. Exits 0 once the collector has committed them; on a
    rejected record prints the collector's reason with the record's number
    and exits 1; when the database does not take them within the collector's
    sync timeout, prints why (disk is full, database is locked by another
    process) and exits 1 (the collector keeps them and stores them later).

    \b
    Example:
        logconsole send '{"type": "error", "severity": "high", "message": "disk full"}'
    """
    from logconsole.collectors.wire import NoCollector, send_lines

    path = socket_path_or_default(socket_path)
    lines: Iterable[bytes]
    if records:
        compact: list[bytes] = []
        for n, text in enumerate(records, 1):
            try:
                value = decode_json(text)
            except IngestError as exc:
                raise click.ClickException(f"argument {n}: {exc.reason}") from None
            compact.append(json.dumps(value, ensure_ascii=False).encode())
        lines, unit = compact, "argument"
    else:
        # Blank lines are sent too, so the collector's line numbers are the input's.
        lines, unit = (raw.rstrip(b"\r\n") for raw in sys.stdin.buffer), "line"
    try:
        result = send_lines(path, lines, timeout=timeout)
    except NoCollector as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot reach the collector at {path}: {exc.strerror or exc}") from None
    for line, reason in result.rejected:
        click.echo(f"{unit} {line}: {reason}", err=True)
    stored = (result.sync or {}).get("stored", 0)
    if result.error and result.retrying:
        click.echo(f"Error: not stored yet: {result.error}; the collector keeps the records and "
                   "stores them once the database takes writes again (do not send them again)", err=True)
    elif result.error:
        click.echo(f"Error: {result.error}", err=True)
    if not result.ok:
        if result.rejected:
            click.echo(f"{len(result.rejected)} rejected, {stored} stored", err=True)
        raise click.exceptions.Exit(1)
    if not quiet:
        click.echo(f"stored {stored} record{'s' if stored != 1 else ''}", err=True)


@click.command()
@db_option
@socket_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@click.option("--no-store", is_flag=True, help="Only print the sample.")
def health(db_path: Path | None, socket_path: Path | None, config_path: Path | None,
           as_json: bool, no_store: bool) -> None:
    """Take one system-health sample now, print it and store it.

    Stored through the collector when one is running, else straight into the
    database.

    \b
    Example:
        logconsole health --json
    """
    settings = settings_from(config_path)
    try:
        from logconsole.collectors.health import HealthSampler
    except ImportError as exc:
        raise click.ClickException(f"health sampling is unavailable: {exc}") from None
    try:
        record = HealthSampler(settings).sample()
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"health sample failed: {exc}") from None
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(format_health(record))
    if not no_store:
        where = _store_record(record, db_path, socket_path, settings)
        click.echo(f"stored {where}", err=True)


def format_health(record: dict[str, Any]) -> str:
    """A health record as a readable two-column table."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"system health: {record.get('status', '?')}"), title_justify="left",
                  show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key in ("status", "event_type", "message", "requires_action"):
        if key in record:
            table.add_row(key, Text(str(record[key])))
    metrics = record.get("metrics") or {}
    for key, value in metrics.items():
        shown = json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, (dict, list)) else str(value)
        table.add_row(key, Text(shown))
    console = Console(width=100, no_color=True, highlight=False)
    with console.capture() as cap:
        console.print(table)
    return "\n".join(line.rstrip() for line in cap.get().rstrip().splitlines())


def _store_record(record: dict[str, Any], db_path: Path | StoreURL | None, socket_path: Path | None,
                  settings: Settings) -> str:
    """Store through a running collector if there is one, else directly."""
    from logconsole.collectors.wire import NoCollector, send_lines
    from logconsole.ingest import IngestError, Redactor, normalize
    from logconsole.store.db import StoreError, connect
    from logconsole.store.errors import describe
    from logconsole.store.writer import insert_rows

    path = socket_path_or_default(socket_path)
    line = json.dumps(record, ensure_ascii=False, default=str).encode()
    try:
        result = send_lines(path, [line], timeout=30)
    except (NoCollector, OSError):
        pass
    else:
        if result.ok:
            return f"through the collector at {path}"
        reason = result.rejected[0][1] if result.rejected else result.error
        raise click.ClickException(f"the collector did not store the sample: {reason}")
    try:
        row = normalize(record, redactor=Redactor(settings.secret_words), host=socket.gethostname())
    except IngestError as exc:
        raise click.ClickException(f"health sample rejected: {exc}") from None
    if isinstance(db_path, StoreURL):
        from logconsole.cli_options import pg_error_line
        from logconsole.store.interface import open_store

        try:
            store = open_store(db_path)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        try:
            store.insert([row])
        except Exception as exc:
            raise click.ClickException(f"cannot store the sample: {pg_error_line(exc, db_path)}") from None
        finally:
            store.close()
        return f"in {db_path.redacted()}"
    db = db_path_or_default(db_path)
    try:
        conn = connect(db)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        insert_rows(conn, [row])
    except sqlite3.Error as exc:
        raise click.ClickException(f"cannot store the sample in {db}: {describe(exc)}") from None
    finally:
        conn.close()
    return f"in {db}"


COMMANDS: list[click.Command] = [daemon, send, health]
