"""Every reusable click option and option type of the commands, declared once.

Every path option honours its environment variable (``LOGCONSOLE_DB``,
``LOGCONSOLE_SOCKET``, ``LOGCONSOLE_CONFIG``) so a script can set them once.
Numbers are checked by click before a command runs (:class:`FiniteFloat`,
:data:`RECORD_ID`, ranges with both ends), so ``--days nan`` is a one-line
usage error, never a traceback.
"""

from __future__ import annotations

import functools
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from logconsole.alert_rules import Rule, RuleError, parse_rules
from logconsole.config import ConfigError, Settings, configured_store_url, load_settings
from logconsole.kinds import KIND_NAMES
from logconsole.paths import default_db_path, default_socket_path
from logconsole.store.retention import MAX_RETENTION_DAYS
from logconsole.store.db import StoreError, connect
from logconsole.store.errors import describe as describe_db_error
from logconsole.store.query import NEWEST, OLDEST, Filter, QueryError, Sort, make_filter
from logconsole.store.url import POSTGRESQL, StoreURL, StoreURLError, parse_store_url

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

SQLITE_MAX_INT = 2**63 - 1


class FiniteFloat(click.FloatRange):
    """A float within a range that must be finite (click's ``FloatRange`` lets
    ``nan`` through, and ``inf`` when there is no upper end)."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


RECORD_ID = click.IntRange(1, SQLITE_MAX_INT)
"""A record id as the store can hold it."""


class DbLocation(click.ParamType):
    """``--db``: a database file (a :class:`~pathlib.Path`, as ``click.Path``
    gives it; ``sqlite:///path`` too), or a ``postgresql://`` URL, kept as
    text (a path would fold its ``//``).  A command that works on a file
    only refuses a URL in :func:`db_path_or_default`."""

    name = "path"
    _file = click.Path(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (Path, StoreURL)):
            return value
        try:
            location = parse_store_url(str(value))
        except StoreURLError as exc:
            self.fail(str(exc), param, ctx)
        if location.backend == POSTGRESQL:
            return location
        return self._file.convert(location.path, param, ctx)


def _configured_store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Which store a command uses, the one rule: ``--db``, else ``LOGCONSOLE_DB``
    (click has read both into ``value``), else the config's ``[store] url``,
    else ``None`` (the default file).  The config is the one ``--config`` names
    when the command has that option and it was given first, else
    ``LOGCONSOLE_CONFIG``, else the default config file."""
    if value is not None:
        return value
    config = ctx.params.get("config_path")
    try:
        url = configured_store_url(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if url is None:
        return None
    try:
        return DbLocation().convert(url, param, ctx)
    except click.BadParameter as exc:
        raise click.ClickException(f"the config's [store] url: {exc.message}") from None


def db_option(f: F) -> F:
    return click.option(
        "--db", "db_path", type=DbLocation(),
        envvar="LOGCONSOLE_DB", default=None, show_envvar=True, callback=_configured_store,
        help="Database file or postgresql:// URL [default: the config's [store] url, "
        "else $XDG_DATA_HOME/logconsole/logs.db].",
    )(f)


def socket_option(f: F) -> F:
    return click.option(
        "--socket", "socket_path", type=click.Path(dir_okay=False, path_type=Path),
        envvar="LOGCONSOLE_SOCKET", default=None, show_envvar=True,
        help="Collector socket [default: $XDG_RUNTIME_DIR/logconsole/logconsole.sock].",
    )(f)


def config_option(f: F) -> F:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
        envvar="LOGCONSOLE_CONFIG", default=None, show_envvar=True,
        help="Config file [default: $XDG_CONFIG_HOME/logconsole/config.toml].",
    )(f)


def db_path_or_default(path: Path | StoreURL | None) -> Path:
    """The database file of ``--db`` (or the default one); a one-line error for
    a PostgreSQL URL, which only the commands on the store interface take."""
    if isinstance(path, StoreURL):
        command = click.get_current_context(silent=True)
        name = f"`logconsole {command.info_name}`" if command is not None else "this command"
        raise click.ClickException(
            f"{name} works on a SQLite database file only, not {path.redacted()}")
    return path or default_db_path()


def socket_path_or_default(path: Path | None) -> Path:
    return path or default_socket_path()


def settings_from(path: Path | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def alert_rules_from(settings: Settings) -> tuple[Rule, ...]:
    """The alert rules of the config file (with the built-ins), or a one-line error
    naming the rule and the key."""
    try:
        return parse_rules(settings.raw, settings.source)
    except RuleError as exc:
        raise click.ClickException(str(exc)) from None


def open_db(path: Path | None, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the database or fail with a one-line error."""
    try:
        return connect(db_path_or_default(path), readonly=readonly)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def filter_options(f: F) -> F:
    """``--type``, ``--since``, ``--until``, ``--search``, ``--where`` (query, export, delete)."""
    decorators = [
        click.option("--type", "-t", "types", multiple=True, metavar="TYPE",
                     help=f"Record type: {'|'.join(KIND_NAMES)} (repeatable; default all)."),
        click.option("--since", "-S", metavar="TIME",
                     help="From this time: ISO 8601, a time ago (15m, 1h30m, '2 hours'), "
                     "today, yesterday, 'last week'."),
        click.option("--until", "-U", metavar="TIME", help="Before this time (same forms as --since)."),
        click.option("--search", "-s", "search", metavar="TEXT",
                     help="Full-text search (FTS5 syntax, or plain words)."),
        click.option("--where", "-w", "where", multiple=True, metavar="FIELD=VALUE",
                     help="Exact match on a field (repeatable); also !=, >, >=, <, <=, ~ (contains)."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def limit_option(f: F) -> F:
    """``--limit N`` (0: no limit)."""
    return click.option(
        "--limit", "-n", type=click.IntRange(0, SQLITE_MAX_INT), default=None, metavar="N",
        help="At most N records (0: no limit).",
    )(f)


def order_option(f: F) -> F:
    """``--order newest|oldest``."""
    return click.option(
        "--order", type=click.Choice(["newest", "oldest"]), default="newest", show_default=True,
        help="Which records come first.",
    )(f)


def sort_of(order: str) -> Sort:
    """The sort ``--order`` names."""
    return OLDEST if order == "oldest" else NEWEST


def days_option(name: str, help: str) -> Callable[[F], F]:
    """A number of days to keep (``prune --days``, ``daemon --retention-days``)."""
    return click.option(name, type=FiniteFloat(0, MAX_RETENTION_DAYS), default=None, metavar="DAYS", help=help)


def build_filter(types: tuple[str, ...], since: str | None, until: str | None,
                 search: str | None, where: tuple[str, ...], ids: tuple[int, ...] = ()) -> Filter:
    try:
        return make_filter(types=types, since=since, until=until, search=search, where=where, ids=ids)
    except QueryError as exc:
        raise click.UsageError(str(exc)) from None


def is_pg_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from PostgreSQL's driver (told without importing it:
    a SQLite-only run never loads psycopg)."""
    return type(exc).__module__.split(".")[0] == "psycopg"


def pg_error_line(exc: BaseException, location: object) -> str:
    """A PostgreSQL error as one line naming the database (its password left out)."""
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    where = location.redacted() if isinstance(location, StoreURL) else "PostgreSQL"
    return f"{where}: {reason}"


def user_errors(f: F) -> F:
    """Turn store and query errors into one-line click errors (never a traceback)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except (QueryError, ConfigError, StoreError) as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.Error as exc:
            raise click.ClickException(describe_db_error(exc)) from None
        except BrokenPipeError:
            # `logconsole export | head`: the reader left; that is not an error.
            import os
            import sys
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return None
        except Exception as exc:
            if not is_pg_error(exc):
                raise
            raise click.ClickException(pg_error_line(exc, kwargs.get("db_path"))) from None

    return wrapper  # type: ignore[return-value]
