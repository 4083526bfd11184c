"""What the console does to error groups: resolve, reopen, ignore (with a note), mark all, export.

A mixin of :class:`~logconsole.screens.main_screen.MainScreen`, placed before
:class:`~logconsole.screens.record_actions.RecordActions`: while the Errors tab
shows groups (``grouped``), the record actions' keys act on the marked groups,
else on the group under the cursor; otherwise they fall through to the record
actions.  A group action changes the group and its records in one transaction
(:mod:`logconsole.store.actions`), so resolving a group resolves its occurrences.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from logconsole.screens.data import STORE_ERRORS, store_error_text
from logconsole.screens.export import ExportScreen, groups_source
from logconsole.screens.note import NoteScreen
from logconsole.screens.record_actions import MARK_LIMIT, ActionDone, MarksFound, RecordActions
from logconsole.store import group_query as G
from logconsole.store.interface import group_action

_VERBS: dict[str, str] = {"resolve": "Resolved", "reopen": "Reopened", "ignore": "Ignored"}
"""What each group action (:meth:`~logconsole.store.interface.Store.group_action`) did, in a word."""


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class GroupActions(RecordActions):
    """Group actions; expects ``grouped`` from the screen."""

    if TYPE_CHECKING:
        grouped: bool

    def _group_targets(self) -> list[int]:
        if self._refuse_read_only():
            return []
        ids = self._targets()
        if not ids:
            self.notify("No group under the cursor", severity="warning")
        return ids

    def _ask_note(self, what: str, ids: list[int]) -> None:
        def done(note: str | None) -> None:
            if note is not None:
                self._group_action(what, ids, note or None, getpass.getuser())

        title = f"{what.capitalize()} {_plural(len(ids), 'group')}"
        self.app.push_screen(NoteScreen(len(ids), title), done)

    def action_resolve(self) -> None:
        if not self.grouped:
            return super().action_resolve()
        ids = self._group_targets()
        if ids:
            self._ask_note("resolve", ids)

    def action_unresolve(self) -> None:
        if not self.grouped:
            return super().action_unresolve()
        ids = self._group_targets()
        if ids:
            self._group_action("reopen", ids, None, getpass.getuser())

    def action_ignore(self) -> None:
        if not self.grouped and not self.read_only:
            self.notify("Ignore works on error groups: press o on the Errors tab", severity="warning")
            return
        ids = self._group_targets()
        if ids:
            self._ask_note("ignore", ids)

    def action_delete(self) -> None:
        if not self.grouped:
            return super().action_delete()
        if self._refuse_read_only():
            return
        self.notify("Groups are not deleted: enter shows a group's records, which x deletes",
                    severity="warning")

    @work(thread=True, group="actions")
    def _group_action(self, what: str, ids: list[int], note: str | None, by: str) -> None:
        verb = _VERBS[what]
        changed = records = 0
        try:
            with self.pool.store() as store:
                for gid in ids:
                    outcome = group_action(store, what, gid, note=note, by=by)
                    if outcome is not None:
                        changed += 1
                        records += outcome.records
        except STORE_ERRORS as exc:
            self.post_message(ActionDone(f"{verb} nothing: {store_error_text(exc)}", "error",
                                         reload=False, clear_marks=False))
            return
        text = f"{verb} {_plural(changed, 'group')}"
        if records:
            text += f" · {_plural(records, 'record')}"
        self.post_message(ActionDone(text, "information" if changed else "warning"))

    def action_mark_all(self) -> None:
        if not self.grouped:
            return super().action_mark_all()
        self.notify("Marking every matching group…", timeout=2)
        self._find_group_marks(self.view.flt)

    def action_export(self) -> None:
        if not self.grouped:
            return super().action_export()

        def done(path: Path | None) -> None:
            if path is not None:
                self.notify(f"Exported to {path}", timeout=5, markup=False)

        source = groups_source(self.view.flt, self.view.sort)  # type: ignore[arg-type]
        self.app.push_screen(ExportScreen(self.pool.location, now=self.fixed_now, source=source), done)

    @work(thread=True, exclusive=True, group="marks")
    def _find_group_marks(self, flt: G.GroupFilter) -> None:
        try:
            with self.pool.store() as store:
                ids = store.group_ids(flt, limit=MARK_LIMIT)
        except STORE_ERRORS as exc:
            self.post_message(ActionDone(f"cannot mark: {store_error_text(exc)}", "error",
                                         reload=False, clear_marks=False))
            return
        self.post_message(MarksFound(ids, flt))  # type: ignore[arg-type]
