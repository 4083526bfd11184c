"""What the console is showing: tab, time range, search, conditions, sort.

Plain data, no Textual: the screen keeps one :class:`ViewState` and derives the
store :class:`~logconsole.store.query.Filter` from it, so the list, the
export dialog, "mark all" and the tab summaries always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from logconsole import kinds as K
from logconsole.store.query import NEWEST, OLDEST, Condition, Filter, Related, Sort
from logconsole.timeutil import format_ts, start_of_range

TABS: tuple[str, ...] = ("all", *K.KIND_NAMES)
"""Tab ids in order: the overview, then one per kind (keys ``0``-``5``)."""

RANGE_LABELS = {"today": "today", "week": "this week", "month": "this month", "all": "all time"}


def tab_kind(tab: str) -> K.Kind | None:
    return K.KINDS.get(tab)


def tab_label(tab: str) -> str:
    kind = tab_kind(tab)
    return kind.label if kind else "All"


@dataclass(slots=True)
class ViewState:
    """The console's view; time range and search are shared by every tab,
    conditions and sort belong to a tab (their fields differ per kind)."""

    tab: str = "all"
    range_name: str = "all"
    since: str | None = None
    until: str | None = None
    search: str = ""
    prefix: bool = False
    where: dict[str, tuple[Condition, ...]] = field(default_factory=dict)
    sorts: dict[str, Sort] = field(default_factory=dict)
    related: Related | None = None
    """Only the records related to one record, on every tab."""
    sort_before_related: Sort | None = None
    """The All tab's sort before related records put it oldest first."""

    @property
    def kind(self) -> K.Kind | None:
        return tab_kind(self.tab)

    @property
    def sort(self) -> Sort:
        return self.sorts.get(self.tab, NEWEST)

    def shared_filter(self) -> Filter:
        """Range and search only (for tab summaries, whose kinds differ)."""
        return Filter(since=self.since, until=self.until, search=self.search or None,
                      prefix_search=self.prefix, related=self.related)

    def filter(self) -> Filter:
        """The current tab's filter."""
        kind = self.kind
        return self.shared_filter().with_(
            types=(kind.name,) if kind else (), where=self.where.get(self.tab, ()),
        )

    def set_range(self, name: str, now: datetime) -> None:
        start = start_of_range(name, now)
        self.range_name = name
        self.since = format_ts(start) if start else None
        self.until = None

    def apply_filter(self, flt: Filter) -> None:
        """Take what a filter dialog returned: conditions for this tab, range and search for all."""
        self.where[self.tab] = flt.where
        if (flt.since, flt.until) != (self.since, self.until):
            self.range_name = "custom" if (flt.since or flt.until) else "all"
            self.since, self.until = flt.since, flt.until
        self.search = flt.search or ""
        self.prefix = False

    def show_related(self, related: Related) -> None:
        """Show the records related to one record, oldest first on the All tab
        (the caller switches to it); the sort it had comes back on :meth:`clear`."""
        if self.related is None:
            self.sort_before_related = self.sorts.get("all")
        self.related = related
        self.sorts["all"] = OLDEST

    def clear(self) -> None:
        """Forget every filter of every tab (sorts stay, but for the order
        related records set)."""
        self.range_name, self.since, self.until = "all", None, None
        self.search, self.prefix = "", False
        self.where.clear()
        if self.related is not None:
            self.related = None
            if self.sort_before_related is None:
                self.sorts.pop("all", None)
            else:
                self.sorts["all"] = self.sort_before_related
            self.sort_before_related = None

    def describe(self) -> list[str]:
        """The active filters in a few words each."""
        out = [f"related: {self.related.describe()}"] if self.related is not None else []
        if self.range_name == "custom":
            if self.since:
                out.append(f"since {self.since[:16].replace('T', ' ')}")
            if self.until:
                out.append(f"until {self.until[:16].replace('T', ' ')}")
        elif self.range_name != "all":
            out.append(RANGE_LABELS[self.range_name])
        if self.search:
            out.append(f"search {self.search!r}")
        out.extend(c.describe() for c in self.where.get(self.tab, ()))
        return out

    def with_sort(self, sort: Sort) -> None:
        self.sorts[self.tab] = sort
