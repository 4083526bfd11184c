"""Telling the user when an alert fires.

A mixin of :class:`~logconsole.screens.main_screen.MainScreen`: on each poll
tick, :meth:`AlertNotice.check_alerts` reads, in a thread worker, the alert
records (``system`` records with ``event_type: alert``, stored by the
collector for every firing, :mod:`logconsole.collectors.alerts`) committed
since the last look, and the handler shows each as a notification.  Only
alerts fired after the console opened (``opened_at``) are news, however late
the first look comes; later reads walk the new rows only (``id > last seen``
on the rowid range), so an idle tick costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.message import Message

from logconsole.screens.data import STORE_ERRORS, ConnectionPool
from logconsole.timeutil import format_ts, utcnow

MAX_TOLD = 3
"""Alerts shown one by one per tick; more are told as a count."""

@dataclass
class AlertsSeen(Message):
    """Alert records stored since the last look: ``(id, status, message)``."""

    alerts: list[tuple[int, str, str]]
    start: int | None = None
    """On the first look: the newest id then, where later looks begin."""


class AlertNotice:
    """Notifies about alert firings; expects ``pool`` and Textual's screen methods."""

    pool: ConnectionPool
    _alerts_after: int | None = None

    def check_alerts(self) -> None:
        """Read the new alert records in a worker (called on each poll tick)."""
        self._read_alerts(self._alerts_after)

    @work(thread=True, exclusive=True, group="alerts")
    def _read_alerts(self, after: int | None) -> None:
        try:
            with self.pool.store() as store:
                if after is None:
                    top = store.max_id()
                    opened = format_ts(getattr(self.app, "opened_at", None) or utcnow())  # type: ignore[attr-defined]
                    seen = AlertsSeen(store.alerts(since=opened), start=int(top))
                    self.post_message(seen)  # type: ignore[attr-defined]
                    return
                rows = store.alerts(after_id=after)
        except STORE_ERRORS:
            return  # the list reports database trouble; this is only news
        if rows:
            self.post_message(AlertsSeen(rows))  # type: ignore[attr-defined]

    def on_alerts_seen(self, message: AlertsSeen) -> None:
        alerts = message.alerts
        self._alerts_after = max([self._alerts_after or 0, message.start or 0, *(a[0] for a in alerts)])
        for _, status, text in alerts[:MAX_TOLD]:
            severity = "error" if status == "critical" else "warning"
            self.notify(text, title="Alert", severity=severity, timeout=15, markup=False)  # type: ignore[attr-defined]
        if len(alerts) > MAX_TOLD:
            self.notify(f"{len(alerts) - MAX_TOLD} more alerts: the System tab lists them "
                        "(event_type=alert)", title="Alert", severity="warning", timeout=15, markup=False)  # type: ignore[attr-defined]


__all__ = ["AlertNotice", "AlertsSeen"]
