"""Telling the user when retention removed records.

A mixin of :class:`~logconsole.screens.main_screen.MainScreen`: on each poll
tick, :meth:`RetentionNotice.check_retention` reads the run the store recorded
(:func:`logconsole.store.retention.last_run`) in a thread worker, and the
handler notifies once while a run that removes records is under way and once
when it has finished.  Only runs still going, or finished since the console
opened (``opened_at``, taken before it started a collector), are news.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual import work
from textual.message import Message

from logconsole.screens.data import STORE_ERRORS, ConnectionPool
from logconsole.store.retention import RetentionRun
from logconsole.timeutil import format_ts


@dataclass
class RetentionSeen(Message):
    """The retention run the store recorded last."""

    run: RetentionRun

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RetentionSeen)


def notice_text(run: RetentionRun) -> str:
    """What the console says about a run that removed records."""
    kept = "unresolved errors and system records that require action are kept"
    if run.finished is None:
        return (f"Retention is removing records older than {run.days:g} days: "
                f"{run.removed:,} so far ({kept}).")
    return (f"Retention removed {run.removed:,} record{'' if run.removed == 1 else 's'} "
            f"older than {run.days:g} days ({kept}). `logconsole stats` shows the policy; "
            "retention_days in config.toml changes it.")


class RetentionNotice:
    """Notifies about retention runs; expects ``pool`` and Textual's screen methods."""

    pool: ConnectionPool
    _retention_told: set[tuple[str, bool]]

    def check_retention(self) -> None:
        """Read the last run in a worker (called on each poll tick)."""
        self._read_retention()

    @work(thread=True, exclusive=True, group="retention")
    def _read_retention(self) -> None:
        try:
            with self.pool.store() as store:
                run = store.last_retention_run()
        except STORE_ERRORS:
            return  # the list reports database trouble; this is only news
        if run is not None and run.removed:
            self.post_message(RetentionSeen(run))  # type: ignore[attr-defined]

    def on_retention_seen(self, message: RetentionSeen) -> None:
        run = message.run
        opened: datetime | None = getattr(self.app, "opened_at", None)  # type: ignore[attr-defined]
        if run.finished is not None and opened is not None and run.finished < format_ts(opened):
            return  # before this console opened: `stats` has it
        told = getattr(self, "_retention_told", None)
        if told is None:
            told = self._retention_told = set()
        key = (run.started, run.finished is not None)
        if key in told:
            return
        told.add(key)
        self.notify(notice_text(run), severity="warning", timeout=12, markup=False)  # type: ignore[attr-defined]


__all__ = ["RetentionNotice", "RetentionSeen", "notice_text"]
