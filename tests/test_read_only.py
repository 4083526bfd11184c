"""Read-only means read-only: the console under ``--read-only`` and the reading
commands (``query``, ``export``, ``stats``) open every connection ``mode=ro``.

The database file is made mode 0400, but tests may run as root, which ignores
file modes; so each test also watches every SQLite connection the process
opens (``sqlite3.connect`` wrapped, the real connection returned) and, as it
opens, tries a write through it: a read-only connection answers "attempt to
write a readonly database" whoever the user is.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from textual.binding import Binding
from textual.widgets import Input
from tui_data import FIXED_NOW, make_db, make_store, settle

from logconsole.cli import cli
from logconsole.screens import keys as K
from logconsole.screens.app import LogConsoleApp
from logconsole.screens.main_screen import MainScreen
from logconsole.screens.search_bar import SearchBar

SIZE = (80, 24)
WRITES = {"resolve", "unresolve", "delete", "demo", "ignore"}
"""Actions that would change records: a read-only console refuses them with a message."""
QUITS = {"quit", "app.quit"}


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@dataclass(frozen=True, slots=True)
class Opened:
    """One connection the process opened, and what a write through it said."""

    database: str
    write_error: str | None
    """None when the write went through (it is rolled back)."""


def _try_write(conn: sqlite3.Connection) -> str | None:
    try:
        conn.execute("BEGIN")
        conn.execute("CREATE TABLE main.write_probe (x)")
    except sqlite3.OperationalError as exc:
        return str(exc)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return None


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Opened]]:
    """Every SQLite connection opened from now on, probed as it opens."""
    real = sqlite3.connect
    seen: list[Opened] = []

    def watched(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(database, *args, **kwargs)
        seen.append(Opened(str(database), _try_write(conn)))
        return conn

    monkeypatch.setattr(sqlite3, "connect", watched)
    yield seen


@pytest.fixture
def locked_db(db_path: Path) -> Iterator[Path]:
    """The seeded database, its file mode 0400 (restored afterwards for cleanup)."""
    make_db(db_path, hostile=True)
    os.chmod(db_path, 0o400)
    yield db_path
    os.chmod(db_path, 0o600)


def fingerprint(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_size


def assert_all_read_only(seen: list[Opened]) -> None:
    assert seen, "no connection was opened"
    for conn in seen:
        assert "mode=ro" in conn.database, f"{conn.database} was not opened read-only"
        assert conn.write_error is not None and "readonly" in conn.write_error, (
            f"a write through {conn.database} went through"
        )


def notes(app: LogConsoleApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


# ---------------------------------------------------------------- the console


def console_bindings() -> list[tuple[str, Binding]]:
    """(owner, binding) for every binding reachable from the main screen."""
    main_owners = {"MainScreen", "LogView", "LogConsoleApp", "DetailPane", "SearchBar"}
    return [(o.name, b) for o in K.owners() if o.name in main_owners for b in o.bindings]


async def _back_to_the_list(pilot: Any, app: LogConsoleApp, export_to: Path) -> None:
    """Finish whatever the last key opened, the way a user would."""
    await settle(pilot)
    name = type(app.screen).__name__
    if name == "ExportScreen":
        app.screen.query_one("#export-path", Input).value = str(export_to)
        await pilot.press("enter")
        for _ in range(100):
            if isinstance(app.screen, MainScreen):
                break
            await pilot.pause(0.02)
    elif name == "FilterScreen":
        await pilot.press("ctrl+s")
    elif name in ("HelpScreen", "CommandPalette"):
        await pilot.press("escape")
    elif not isinstance(app.screen, MainScreen):
        raise AssertionError(f"{name} opened in a read-only console")
    else:
        if app.screen.query_one(SearchBar).has_focus:
            await pilot.press("enter")
        else:
            return
    await settle(pilot)
    assert isinstance(app.screen, MainScreen)


async def _focus_owner(pilot: Any, app: LogConsoleApp, owner: str) -> None:
    """Put the focus where ``owner``'s keys are live."""
    screen = app.screen
    if owner == "DetailPane":
        screen.query_one("#list").focus()
        await pilot.press("enter")  # opens the pane
        await settle(pilot)
        await pilot.press("enter")  # and focuses it
    elif owner == "SearchBar":
        await pilot.press("slash")
        await pilot.press("e")
    else:
        screen.query_one("#list").focus()
        return
    await settle(pilot)


async def test_read_only_console_never_writes_whatever_key_is_pressed(
    locked_db: Path, opened: list[Opened], tmp_path: Path,
) -> None:
    before = fingerprint(locked_db)
    export_to = tmp_path / "export.jsonl"
    await press_every_key(LogConsoleApp(locked_db, read_only=True, now=FIXED_NOW, cursor_blink=False,
                                        poll_interval=0), export_to)
    assert fingerprint(locked_db) == before
    assert_all_read_only(opened)


async def test_read_only_console_on_postgresql_never_writes_whatever_key_is_pressed(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL every connection the console opens is a read-only session
    (``default_transaction_read_only``): a write through it is refused, and
    the database is the same afterwards."""
    from logconsole.store.postgres.store import PostgresStore

    make_store(pg_url, hostile=True)
    before = pg_fingerprint(pg_url)
    real = PostgresStore.open.__func__  # type: ignore[attr-defined]
    refusals: list[str | None] = []

    def watched(cls: type[PostgresStore], location: Any, *, readonly: bool = False) -> PostgresStore:
        store = real(cls, location, readonly=readonly)
        refusals.append(_try_pg_write(store))
        return store

    monkeypatch.setattr(PostgresStore, "open", classmethod(watched))
    await press_every_key(LogConsoleApp(pg_url, read_only=True, now=FIXED_NOW, cursor_blink=False,
                                        poll_interval=0), tmp_path / "export.jsonl")
    assert refusals and all(r is not None and "read-only" in r for r in refusals), refusals
    assert pg_fingerprint(pg_url) == before


def _try_pg_write(store: Any) -> str | None:
    import psycopg

    try:
        with store.conn.transaction():
            store.conn.execute("CREATE TEMP TABLE write_probe (x int)")
            raise _RolledBack
    except psycopg.Error as exc:
        return str(exc)
    except _RolledBack:
        return None


class _RolledBack(Exception):
    """The probe's write went through (and is rolled back)."""


def pg_fingerprint(url: str) -> str:
    """Every row of the tables a console could change, hashed."""
    import psycopg

    with psycopg.connect(url) as conn:
        return str(conn.execute(
            "SELECT md5((SELECT string_agg(r::text, '|' ORDER BY id) FROM records r) || "
            "(SELECT coalesce(string_agg(g::text, '|' ORDER BY id), '') FROM error_groups g) || "
            "(SELECT coalesce(string_agg(m::text, '|' ORDER BY key), '') FROM meta m))").fetchone()[0])  # type: ignore[index]


async def press_every_key(app: LogConsoleApp, export_to: Path) -> None:
    """Press every key of a read-only console: each change is refused, each dialog
    finished the way a user would; then quit."""
    pressed: set[str] = set()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for owner, binding in console_bindings():
            if binding.id in QUITS:
                continue
            await _focus_owner(pilot, app, owner)
            app.clear_notifications()
            await pilot.press(binding.key.split(",")[0])
            if binding.id in WRITES:
                await settle(pilot)
                assert isinstance(app.screen, MainScreen), f"{binding.id} opened {type(app.screen).__name__}"
                assert any("read-only" in n for n in notes(app)), f"{binding.id} was not refused"
            await _back_to_the_list(pilot, app, export_to)
            pressed.add(str(binding.id))
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    every = {str(b.id) for _, b in console_bindings()} - QUITS
    assert pressed == every
    assert export_to.exists() and all(json.loads(line) for line in export_to.read_text().splitlines())


async def test_the_export_dialog_reads_read_only_even_in_a_writing_console(
    db_path: Path, opened: list[Opened], tmp_path: Path,
) -> None:
    make_db(db_path)
    out = tmp_path / "all.jsonl"
    app = LogConsoleApp(db_path, now=FIXED_NOW, cursor_blink=False, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        opened.clear()  # the console's own pool may write; the dialog never needs to
        await pilot.press("e")
        await settle(pilot)
        app.screen.query_one("#export-path", Input).value = str(out)
        await pilot.press("enter")
        for _ in range(100):
            if isinstance(app.screen, MainScreen):
                break
            await pilot.pause(0.02)
    assert len(out.read_text().splitlines()) == 40
    assert_all_read_only(opened)


# ---------------------------------------------------------------- the reading commands


@pytest.mark.parametrize("args", [
    ["query"], ["query", "--format", "jsonl"], ["export"], ["export", "--format", "csv"], ["stats"],
    ["stats", "--json"],
], ids=" ".join)
def test_reading_commands_open_the_database_read_only(
    locked_db: Path, opened: list[Opened], args: list[str],
) -> None:
    before = fingerprint(locked_db)
    result = CliRunner().invoke(cli, [*args, "--db", str(locked_db)])
    assert result.exit_code == 0, result.output
    assert fingerprint(locked_db) == before
    assert_all_read_only(opened)
