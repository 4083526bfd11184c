"""The export dialog: the current view to JSON lines, JSON or CSV, with progress.

| key | does |
| --- | --- |
| ``enter`` | exports (asks first when the file exists) |
| ``escape`` | cancels (also stops an export under way) |

Rows go through :func:`logconsole.store.export.export`, the same code as
``logconsole export``, with the filter and sort on screen; the group list's
through :func:`~logconsole.store.export.export_groups`, as ``logconsole groups
--format`` writes them (an :class:`ExportSource` says which).  The work runs in a
thread with its own read-only connection (an export never writes the
database, whether or not the console is read-only) and writes to a hidden file beside the target,
renamed into place at the end, so a failed or cancelled export leaves no half
file behind.  The file is created private (``0600``): it holds logs.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, ProgressBar, RadioButton, RadioSet, Static
from textual.worker import get_current_worker

from logconsole import kinds as K
from logconsole.screens.confirm import ConfirmScreen
from logconsole.screens.data import STORE_ERRORS, store_error_text, store_location
from logconsole.screens.dialog import Dialog, ErrorLine, plain
from logconsole.store import group_query as G
from logconsole.store.db import StoreError
from logconsole.store.export import FORMATS, write, write_groups
from logconsole.store.interface import Store, open_store
from logconsole.store.query import NEWEST, Filter, Sort, keyset_pages
from logconsole.store.url import StoreURL
from logconsole.timeutil import UTC, utcnow


@dataclass(frozen=True, slots=True)
class ExportSource:
    """What an export writes: how to count it and how to write it, and its name."""

    what: str
    """The file name's word for it (``errors``, ``records``, ``error-groups``)."""
    noun: str
    count: Callable[[Store], int]
    write: Callable[[Store, TextIO, str, Callable[[int], None] | None], int]


def _records_word(flt: Filter) -> str:
    return K.KINDS[flt.types[0]].label.lower() if len(flt.types) == 1 else "records"


def records_source(flt: Filter, sort: Sort = NEWEST) -> ExportSource:
    """The records ``flt`` matches, in ``sort`` order."""
    return ExportSource(
        _records_word(flt), "record",
        lambda store: store.count(flt),
        lambda store, out, fmt, progress: write(store.iter_rows(flt, sort), out, fmt, types=flt.types,
                                                progress=progress),
    )


def groups_source(flt: G.GroupFilter, sort: G.GroupSort) -> ExportSource:
    """The error groups ``flt`` matches, in ``sort`` order."""
    return ExportSource(
        "error-groups", "group", lambda store: store.group_count(flt),
        lambda store, out, fmt, progress: write_groups(
            (G.to_group(g) for g in _iter_groups(store, flt, sort)), out, fmt, progress=progress),
    )


def _iter_groups(store: Store, flt: G.GroupFilter, sort: G.GroupSort) -> Iterator[dict[str, Any]]:
    """Every group ``flt`` matches, a keyset page at a time."""
    return keyset_pages(lambda size, after: store.group_page(flt, sort, limit=size, after=after),
                        lambda row: G.group_cursor(row, sort), page_size=1000)


def default_path(flt: Filter | ExportSource, fmt: str, now: datetime | None = None) -> str:
    """``./logconsole-errors-20261127-0915.jsonl``: what, when (UTC), which format."""
    what = flt.what if isinstance(flt, ExportSource) else _records_word(flt)
    stamp = (now or utcnow()).astimezone(UTC).strftime("%Y%m%d-%H%M")
    return f"./logconsole-{what}-{stamp}.{fmt}"


def with_format(path: str, fmt: str) -> str:
    """``path`` with its export suffix switched to ``fmt`` (other suffixes are the user's)."""
    stem, dot, suffix = path.rpartition(".")
    if dot and suffix in FORMATS and "/" not in suffix:
        return f"{stem}.{fmt}"
    return path


def check_target(text: str) -> Path:
    """The file the user typed, or :class:`ValueError` saying why it cannot be written."""
    if not text.strip():
        raise ValueError("Type the path of the file to write.")
    path = Path(text.strip()).expanduser()
    parent = path.parent
    try:
        if path.is_dir():
            raise ValueError(f"{path} is a folder; add a file name.")
        if not parent.is_dir():
            raise ValueError(f"The folder {parent} does not exist.")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"Cannot write in {parent}: permission denied.")
        path.exists()
    except OSError as exc:
        raise ValueError(f"Cannot write {path}: {exc.strerror or exc}") from None
    return path


class _Cancelled(Exception):
    """The user stopped the export."""


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


def write_export(
    location: Path | str | StoreURL, flt: Filter | ExportSource, sort: Sort | None, path: Path, fmt: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Export the records ``flt`` matches (or an :class:`ExportSource`) to ``path``
    through a hidden temp file renamed into place; returns the count."""
    source = flt if isinstance(flt, ExportSource) else records_source(flt, sort or NEWEST)
    tmp = _temp_beside(path)
    store = open_store(store_location(location), readonly=True)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with open(fd, "w", encoding="utf-8", newline="") as out:
                n = source.write(store, out, fmt, progress)
            os.replace(tmp, path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            text = store.describe_error(exc) if not isinstance(exc, sqlite3.Error) else None
            if text is not None:
                raise StoreError(text) from exc
            raise
    finally:
        store.close()
    return n


class FormatButton(RadioButton):
    """A format choice whose mark is a shape, not only a colour: ``●`` chosen,
    ``○`` not, so the choice shows with ``NO_COLOR`` and on monochrome terminals."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # noqa: N802 (Textual's name)
        return "●" if self.value else "○"


class ExportScreen(Dialog[Path | None]):
    """Exports ``flt`` (sorted by ``sort``) from ``db_path``; dismisses with the
    written path, or ``None`` when cancelled.  ``now`` fixes the clock of the
    suggested file name (tests)."""

    DEFAULT_CSS = """
    ExportScreen RadioSet {
        layout: horizontal;
        width: 100%;
        height: auto;
        border: none;
        padding: 0;
    }
    ExportScreen RadioSet:focus {
        border: none;
        background: $boost;
    }
    ExportScreen RadioButton {
        width: auto;
        margin-right: 2;
    }
    ExportScreen #export-count {
        height: auto;
        margin-bottom: 1;
    }
    ExportScreen ProgressBar {
        height: 1;
        margin-top: 1;
    }
    ExportScreen ProgressBar.-idle {
        display: none;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="export.cancel"),
    ]

    @dataclass
    class Counted(Message):
        """How many rows the export will write (from the count worker)."""

        total: int | None
        """``None`` when the database cannot be read."""

    @dataclass
    class Progressed(Message):
        """Rows written so far (from the export worker)."""

        done: int

    @dataclass
    class Finished(Message):
        """The export ended: ``path`` on success, ``error`` on failure."""

        path: Path | None
        error: str | None = None

    def __init__(self, location: Path | str | StoreURL, flt: Filter | None = None, sort: Sort | None = None, *,
                 now: datetime | None = None, source: ExportSource | None = None) -> None:
        super().__init__()
        self.location = store_location(location)
        self.source = source or records_source(flt or Filter(), sort or NEWEST)
        self.now = now
        self.total: int | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = plain("Export")
            yield Static(plain(f"Counting {self.source.noun}s…"), id="export-count")
            yield Static(plain("Format:"))
            with RadioSet(id="export-format"):
                for fmt in FORMATS:
                    yield FormatButton(plain(fmt), value=fmt == FORMATS[0], id=f"fmt-{fmt}")
            yield Static(plain("File:"))
            yield Input(default_path(self.source, FORMATS[0], self.now), id="export-path")
            yield ErrorLine(id="export-error")
            yield ProgressBar(show_eta=False, id="export-progress", classes="-idle")
            with Horizontal(classes="dialog--buttons"):
                yield Button("Export", variant="primary", id="export-ok")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()
        self._count()

    @property
    def fmt(self) -> str:
        pressed = self.query_one("#export-format", RadioSet).pressed_button
        return str(pressed.id).removeprefix("fmt-") if pressed else FORMATS[0]

    # ------------------------------------------------------------ counting

    @work(thread=True, exclusive=True, group="export-count")
    def _count(self) -> None:
        try:
            store = open_store(self.location, readonly=True)
            try:
                total = self.source.count(store)
            except Exception as exc:
                if store.describe_error(exc) is None:
                    raise
                total = None
            finally:
                store.close()
        except STORE_ERRORS:
            total = None  # the export itself will say what is wrong
        self.post_message(self.Counted(total))

    @on(Counted)
    def _counted(self, message: Counted) -> None:
        self.total = message.total
        label = self.query_one("#export-count", Static)
        if message.total is None:
            label.update(plain(f"Cannot count the {self.source.noun}s."))
            return
        noun = self.source.noun if message.total == 1 else f"{self.source.noun}s"
        label.update(plain(f"{message.total:,} {noun} in the current view"))
        self.query_one("#export-progress", ProgressBar).update(total=max(message.total, 1))

    # ------------------------------------------------------------ choosing

    @on(RadioSet.Changed, "#export-format")
    def _format_changed(self) -> None:
        box = self.query_one("#export-path", Input)
        box.value = with_format(box.value, self.fmt)

    @on(Input.Changed, "#export-path")
    def _path_changed(self, event: Input.Changed) -> None:
        """A typed export suffix (``.csv``) picks that format."""
        self.query_one("#export-error", ErrorLine).clear()
        suffix = event.value.rpartition(".")[2]
        if suffix in FORMATS and suffix != self.fmt:
            self.query_one(f"#fmt-{suffix}", RadioButton).value = True

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def submit(self) -> None:
        if self.running:
            return
        try:
            path = check_target(self.query_one("#export-path", Input).value)
        except ValueError as exc:
            self._fail(str(exc))
            return
        if path.exists():
            def answered(yes: bool | None) -> None:
                if yes:
                    self._start(path)
                else:
                    self.query_one("#export-path", Input).focus()

            self.app.push_screen(
                ConfirmScreen("File exists", f"{path} exists. Replace it?"), answered
            )
            return
        self._start(path)

    # ------------------------------------------------------------ exporting

    def _start(self, path: Path) -> None:
        self.running = True
        for widget in self.query("#export-format, #export-path, #export-ok"):
            widget.disabled = True
        bar = self.query_one("#export-progress", ProgressBar)
        bar.remove_class("-idle")
        bar.update(progress=0)
        self._export(path, self.fmt)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, path: Path, fmt: str) -> None:
        worker = get_current_worker()

        def progress(done: int) -> None:
            if worker.is_cancelled:
                raise _Cancelled
            self.post_message(self.Progressed(done))

        try:
            write_export(self.location, self.source, None, path, fmt, progress)
        except _Cancelled:
            return
        except OSError as exc:
            self.post_message(self.Finished(None, f"Cannot write {path}: {exc.strerror or exc}"))
        except (StoreError, sqlite3.Error, ValueError) as exc:
            self.post_message(self.Finished(None, f"Export failed: {store_error_text(exc)}"))
        else:
            self.post_message(self.Finished(path.absolute()))

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        self.query_one("#export-progress", ProgressBar).update(progress=message.done)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self.running = False
        if message.path is not None:
            self.dismiss(message.path)
            return
        for widget in self.query("#export-format, #export-path, #export-ok"):
            widget.disabled = False
        self.query_one("#export-progress", ProgressBar).add_class("-idle")
        self._fail(message.error or "Export failed.")

    def _fail(self, message: str) -> None:
        self.query_one("#export-error", ErrorLine).show(message)
        self.query_one("#export-path", Input).focus()

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        """Close the dialog; an export under way stops and removes its temp file."""
        self.workers.cancel_group(self, "export")
        self.dismiss(None)
