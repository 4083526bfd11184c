"""Marks and what the console does to records: resolve, unresolve, delete, export, demo.

A mixin of :class:`~logconsole.screens.main_screen.MainScreen`: the actions ask
through the dialogs (note, confirm, export), run the store action in a thread
worker, and post :class:`ActionDone`; the handler notifies and reloads the list.
When the console is read-only, the changing actions say so and do nothing.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message

from logconsole import demo
from logconsole.screens.confirm import ConfirmScreen
from logconsole.screens.data import STORE_ERRORS, ConnectionPool, store_error_text
from logconsole.screens.export import ExportScreen
from logconsole.screens.note import NoteScreen
from logconsole.screens.view_state import ViewState
from logconsole.store import actions
from logconsole.store.query import Filter

if TYPE_CHECKING:
    from logconsole.screens.log_view import LogView

MARK_LIMIT = 100_000
"""Most records "mark all" will hold (their ids live in memory)."""


@dataclass
class ActionDone(Message):
    """A bulk action finished; ``reload`` when the records changed."""

    text: str
    severity: str = "information"
    reload: bool = True
    clear_marks: bool = True


@dataclass
class MarksFound(Message):
    """The ids of every record matching ``flt`` ("mark all")."""

    ids: list[int]
    flt: Filter


@dataclass
class PollNow(Message):
    """Poll the database now (after the console itself added records)."""


class RecordActions:
    """Marks and bulk actions; expects the attributes declared below from the screen."""

    pool: ConnectionPool
    read_only: bool
    state: ViewState
    fixed_now: datetime | None
    empty: bool | None
    view: LogView
    app: Any
    notify: Any

    if TYPE_CHECKING:  # provided by the screen

        def _reload(self) -> None: ...

        def _poll(self) -> None: ...

        def post_message(self, message: Message) -> bool: ...

    def _targets(self) -> list[int]:
        if self.view.marks:
            return sorted(self.view.marks)
        row = self.view.current_row
        return [int(row["id"])] if row else []

    def _refuse_read_only(self) -> bool:
        if self.read_only:
            self.notify("read-only: this console cannot change records", severity="warning")
        return self.read_only

    def _change_targets(self) -> list[int]:
        """The ids a changing action works on (marked, else the current row);
        empty, with the reason said, when there are none or the console is read-only."""
        if self._refuse_read_only():
            return []
        ids = self._targets()
        if not ids:
            self.notify("No record under the cursor", severity="warning")
        return ids

    def action_mark_all(self) -> None:
        self.notify("Marking every matching record…", timeout=2)
        self._find_marks(self.view.flt)

    @work(thread=True, exclusive=True, group="marks")
    def _find_marks(self, flt: Filter) -> None:
        try:
            with self.pool.store() as store:
                n = store.count(flt)
                if n > MARK_LIMIT:
                    self.post_message(ActionDone(
                        f"{n:,} records match: too many to mark here (at most {MARK_LIMIT:,}). "
                        "Narrow the filters (`logconsole delete` takes the same filters).",
                        "warning", reload=False, clear_marks=False))
                    return
                ids = store.ids_matching(flt)
        except STORE_ERRORS as exc:
            self.post_message(ActionDone(f"cannot mark: {store_error_text(exc)}", "error",
                                         reload=False, clear_marks=False))
            return
        self.post_message(MarksFound(ids, flt))

    def on_marks_found(self, message: MarksFound) -> None:
        if message.flt != self.view.flt:
            return  # the user moved on to another view while the ids were read
        self.view.set_marks(set(message.ids))
        self.notify(f"Marked {len(message.ids):,} matching records", timeout=3)

    def action_resolve(self) -> None:
        ids = self._change_targets()
        if not ids:
            return

        def done(note: str | None) -> None:
            if note is not None:
                self._resolve(ids, note, getpass.getuser())

        self.app.push_screen(NoteScreen(len(ids)), done)

    def action_unresolve(self) -> None:
        ids = self._change_targets()
        if ids:
            self._unresolve(ids)

    @work(thread=True, group="actions")
    def _resolve(self, ids: list[int], note: str, by: str) -> None:
        self._run_action(lambda store: store.resolve(ids, note=note or None, by=by), "Resolved")

    @work(thread=True, group="actions")
    def _unresolve(self, ids: list[int]) -> None:
        self._run_action(lambda store: store.unresolve(ids), "Reopened")

    def _run_action(self, run: Any, verb: str) -> None:
        """Run a store action in this worker thread and post what it did."""
        try:
            with self.pool.store() as store:
                outcome: actions.Outcome = run(store)
        except STORE_ERRORS as exc:
            self.post_message(ActionDone(f"{verb} nothing: {store_error_text(exc)}", "error",
                                         reload=False, clear_marks=False))
            return
        text = f"{verb} {len(outcome.changed):,} record{'s' if len(outcome.changed) != 1 else ''}"
        extra = []
        if outcome.skipped:
            extra.append(f"{len(outcome.skipped):,} skipped (not errors, or already so)")
        if outcome.missing:
            extra.append(f"{len(outcome.missing):,} gone")
        if extra:
            text += " · " + ", ".join(extra)
        self.post_message(ActionDone(text, "information" if outcome.changed else "warning"))

    def action_delete(self) -> None:
        ids = self._change_targets()
        if not ids:
            return
        n = len(ids)
        body = f"Delete {n:,} record{'s' if n != 1 else ''}? This cannot be undone."

        def done(yes: bool | None) -> None:
            if yes:
                self._delete(ids)

        self.app.push_screen(ConfirmScreen("Delete records", body), done)

    @work(thread=True, group="actions")
    def _delete(self, ids: list[int]) -> None:
        self._run_action(lambda store: store.delete_ids(ids), "Deleted")

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, severity=message.severity, markup=False)  # type: ignore[arg-type]
        if message.clear_marks:
            self.view.clear_marks()
        if message.reload:
            self._reload()

    def action_export(self) -> None:

        def done(path: Path | None) -> None:
            if path is not None:
                self.notify(f"Exported to {path}", timeout=5, markup=False)

        self.app.push_screen(
            ExportScreen(self.pool.location, self.state.filter(), self.state.sort, now=self.fixed_now), done)

    def action_demo(self) -> None:
        if self._refuse_read_only():
            return
        if not self.empty:
            self.notify("Demo records are offered for an empty database; run `logconsole demo` to add more",
                        severity="warning", markup=False)
            return
        if self.pool.is_postgres:
            self.notify("Demo records go into a SQLite database only; run `logconsole demo --db FILE`",
                        severity="warning", markup=False)
            return
        self._demo()

    @work(thread=True, exclusive=True, group="actions")
    def _demo(self) -> None:
        try:
            with self.pool.connection() as conn:
                added = demo.fill(conn, now=self.fixed_now)
        except STORE_ERRORS as exc:
            self.post_message(ActionDone(f"demo failed: {store_error_text(exc)}", "error",
                                         reload=False, clear_marks=False))
            return
        self.post_message(ActionDone(f"Added {added:,} demo records"))
        self.post_message(PollNow())

    def on_poll_now(self, message: PollNow) -> None:
        self._poll()
