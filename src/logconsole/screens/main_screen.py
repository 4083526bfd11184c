"""The console's main screen: tabs, the record list, search, filters, marks, live arrivals.

| key | action |
| --- | --- |
| ``0``-``5`` | tabs: All, Activity, Errors, AI, Chat, System (also ``tab`` / ``shift+tab`` in the list) |
| ``/`` | search (applied as you type; ``enter`` back to the list, ``escape`` cancels) |
| ``t`` ``w`` ``m`` ``a`` | today, this week, this month, all time |
| ``f`` / ``c`` | filter dialog / clear every filter |
| ``s`` / ``S`` | sort by the next column / flip the direction |
| ``T`` | relative or absolute times |
| ``enter`` | detail pane (``y`` copies the record as JSON, ``escape`` closes) |
| ``z`` | detail pane full screen (also ``enter`` on the same row again; ``escape`` back) |
| ``space`` / ``A`` | mark the row / mark every row matching the filters |
| ``escape`` | close the detail pane, else clear marks |
| ``o`` | Errors tab: occurrences or error groups (``enter`` on a group lists its occurrences) |
| ``r`` / ``u`` | resolve (asks for a note) / unresolve the marked or current errors (or groups) |
| ``i`` | ignore the marked or current groups (asks for a note) |
| ``x`` | delete the marked or current records (asks first) |
| ``e`` | export what is on screen |
| ``p`` | pause or resume live arrivals |
| ``d`` | demo records (empty database) |
| ``ctrl+r`` | refresh |
| ``?`` / ``:`` ``ctrl+p`` | every key / command palette |
| ``q`` | quit |

Database work runs in thread workers (``@work(thread=True)``) that post
messages; only message handlers change widgets.  The bindings live on this
screen, not on the app, so dialogs pushed above it never trigger them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static, Tab, Tabs

from logconsole import kinds as K
from logconsole.config import Settings
from logconsole.safe_text import visible
from logconsole.screens import columns as C
from logconsole.screens.data import (
    STORE_ERRORS,
    ConnectionPool,
    count_after,
    is_empty,
    max_id,
    store_error_text,
)
from logconsole.screens.detail import DetailPane, record_json
from logconsole.screens.filters import FilterScreen
from logconsole.screens.group_actions import GroupActions
from logconsole.screens.group_view import GROUP_SORT_LABELS, GroupView, group_columns
from logconsole.screens.help import HelpScreen
from logconsole.screens.keys import help_rows
from logconsole.screens.log_view import LogView
from logconsole.screens.panels import AIPanel, SystemPanel
from logconsole.screens.record_actions import ActionDone
from logconsole.screens.alert_notice import AlertNotice
from logconsole.screens.retention_notice import RetentionNotice
from logconsole.screens.search_bar import SearchBar
from logconsole.screens.view_state import TABS, ViewState, tab_kind, tab_label
from logconsole.store import group_query as G
from logconsole.store.query import Condition, Filter, QueryError, Sort
from logconsole.store.related import related_of

SUMMARY_EVERY = 5.0
"""Seconds between tab-summary refreshes while records keep arriving."""

FULL_POLL_EVERY = 10
"""Ticks between polls that run even when the database files look unchanged."""

WIDE = 120
"""From this width the detail pane opens at the side, below it at the bottom."""

EMPTY_HELP = (
    "No records yet.\n\n"
    "Get data into this database:\n"
    "  logconsole daemon              collect from apps (JSON lines or syslog on the socket)\n"
    "  logconsole import FILE ...     load JSON lines or a JSON array\n"
    "  logger -u SOCKET 'hello'       send a syslog line to the collector's socket\n\n"
    "Press d to add demo records."
)


class KindTabs(Tabs, can_focus=False):
    """The tab bar; never takes focus (``tab`` switches tabs from the list)."""


# ---------------------------------------------------------------- worker messages


@dataclass
class Polled(Message):
    """The database as the poller saw it: ``arrived`` counts the records of the
    list's query above its reference point, None when the list had none yet."""

    top_id: int
    empty: bool
    generation: int
    arrived: int | None
    files: object = None
    """:meth:`ConnectionPool.change_signature` taken before the poll read the database."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Polled)


@dataclass
class Summaries(Message):
    """A few words per tab (``tab_summary``)."""

    texts: dict[str, str]
    hosts: frozenset[str] = frozenset()
    """Hosts of the records stored above the last look (:attr:`MainScreen.hosts`)."""
    hosts_upto: int = 0
    """The newest id when they were read: the next look starts there."""


@dataclass
class PanelData(Message):
    """Statistics for the System or AI panel."""

    tab: str
    data: Any


class MainScreen(GroupActions, RetentionNotice, AlertNotice, Screen[None]):
    """Tabs over one record list; see the module docstring for the keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("0", "tab('all')", "All", show=False, id="tab.all"),
        *(Binding(str(i), f"tab('{name}')", K.KINDS[name].label, show=False, id=f"tab.{name}")
          for i, name in enumerate(K.KIND_NAMES, start=1)),
        # A priority binding: the app runs it before it hands on the next key, so
        # keys typed right after "/" find the search box already focused, in order.
        Binding("slash", "search", "Search", id="search", priority=True),
        Binding("f", "filter", "Filter", id="filter"),
        Binding("c", "clear_filters", "Clear filters", show=False, id="clear_filters"),
        Binding("R", "related", "Related records", show=False, id="related"),
        Binding("t", "range('today')", "Today", show=False, id="range.today"),
        Binding("w", "range('week')", "This week", show=False, id="range.week"),
        Binding("m", "range('month')", "This month", show=False, id="range.month"),
        Binding("a", "range('all')", "All time", show=False, id="range.all"),
        Binding("s", "sort_next", "Sort by next column", show=False, id="sort.next"),
        Binding("S", "sort_flip", "Flip sort direction", show=False, id="sort.flip"),
        Binding("T", "toggle_time", "Relative/absolute time", show=False, id="time"),
        Binding("y", "copy_record", "Copy record as JSON", show=False, id="copy"),
        Binding("z", "toggle_full_detail", "Detail full screen", show=False, id="detail_full"),
        Binding("A", "mark_all", "Mark all matching", show=False, id="mark_all"),
        Binding("escape", "escape", "Close detail / clear marks", show=False, id="escape"),
        Binding("r", "resolve", "Resolve", show=False, id="resolve"),
        Binding("u", "unresolve", "Unresolve", show=False, id="unresolve"),
        Binding("o", "toggle_groups", "Occurrences/groups", show=False, id="groups"),
        Binding("i", "ignore", "Ignore group", show=False, id="ignore"),
        Binding("x", "delete", "Delete", show=False, id="delete"),
        Binding("e", "export", "Export", show=False, id="export"),
        Binding("p", "toggle_live", "Pause/resume live", show=False, id="live"),
        Binding("d", "demo", "Demo records", show=False, id="demo"),
        Binding("ctrl+r", "refresh", "Refresh", show=False, id="refresh"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("colon", "app.command_palette", "Commands", show=False, id="palette"),
        Binding("q", "app.quit", "Quit", id="quit"),
    ]

    def __init__(self, pool: ConnectionPool, *, read_only: bool, clock: Any, fixed_now: datetime | None,
                 poll_interval: float, cursor_blink: bool, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.pool = pool
        self.read_only = read_only
        self.clock = clock
        self.fixed_now = fixed_now
        self.poll_interval = poll_interval
        self.cursor_blink = cursor_blink
        self.state = ViewState()
        self.time_mode = "relative"
        self.live = True
        self.arrived = 0
        self.empty: bool | None = None
        self.top_id = 0
        self.summaries: dict[str, str] = {}
        self.hosts: frozenset[str] = frozenset()
        """The hosts the records came from; more than one adds the host column and filter."""
        self._hosts_upto = 0
        self._stats_at = 0.0
        self._stats_key: object = None
        self._stats_top = 0
        self._after_count = False
        self._texts: dict[str, Text] = {}
        """What each status line shows (see :meth:`_set_line`)."""
        self._polled_files: object = None
        """The database files as the last poll that counted for the list found them."""
        self._quiet_ticks = 0
        self.group_mode = False
        """The Errors tab shows error groups instead of occurrences (``o``)."""
        self.group_sort = G.LATEST_FIRST
        self._open_latest: int | None = None
        """The group whose occurrences are being listed: its first (latest) opens in the detail pane."""

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield KindTabs(*(Tab(self._tab_title(t), id=f"tab-{t}") for t in TABS), id="tabs")
        yield Static(id="summary")
        with Container(id="panels"):
            yield SystemPanel(warning=self.settings.warning, critical=self.settings.critical, id="panel-system")
            yield AIPanel(id="panel-ai")
        with Container(id="main"):
            with Vertical(id="list-area"):
                yield LogView(self.pool, clock=self.clock, id="list")
                yield GroupView(self.pool, clock=self.clock, id="groups")
                yield Static(Text(EMPTY_HELP), id="empty")
            yield DetailPane(id="detail")
        search = SearchBar(id="search")
        search.cursor_blink = self.cursor_blink
        yield search
        yield Static(id="filters")
        yield Footer()

    @property
    def grouped(self) -> bool:
        """The list shows error groups (the Errors tab, switched with ``o``)."""
        return self.group_mode and self.state.tab == "error"

    @property
    def view(self) -> LogView:
        """The list on screen: the records, or the error groups."""
        return self.query_one("#groups" if self.grouped else "#list", LogView)

    @property
    def detail(self) -> DetailPane:
        return self.query_one("#detail", DetailPane)

    def on_mount(self) -> None:
        self.query_one("#search", SearchBar).display = False
        self.query_one("#empty").display = False
        self.query_one("#groups").display = False
        self.detail.display = False
        self._apply_width(self.app.size.width)
        self._show(reset=True)
        self.view.focus()
        if self.poll_interval > 0:
            self.set_interval(self.poll_interval, self._tick)

    def on_resize(self) -> None:
        self._apply_width(self.app.size.width)

    def _apply_width(self, width: int) -> None:
        self.query_one("#main").set_class(width >= WIDE, "-wide")
        self._update_tab_titles()

    def _tab_title(self, tab: str) -> Content:
        index = TABS.index(tab)
        title = f"{index} {tab_label(tab)}"
        summary = self.summaries.get(tab)
        if summary and self.app.size.width >= WIDE:
            title += f" · {summary}"
        return Content(title)

    def _update_tab_titles(self) -> None:
        tabs = self.query_one(KindTabs)
        for tab in TABS:
            widget = tabs.get_tab(f"tab-{tab}")
            title = self._tab_title(tab)
            if widget is not None and widget.label != title:  # a relabel repaints the whole tab bar
                widget.label = title

    # ---------------------------------------------------------------- showing

    def _now(self) -> datetime:
        return self.clock()

    def _reload(self) -> None:
        """Read the same view again (after the records changed), keeping the cursor's place."""
        self._stats_key = None  # the statistics changed too
        self._show(reset=False)

    def _show(self, *, reset: bool) -> None:
        """Point the list at the current view (``reset``: from the top)."""
        state = self.state
        self._show_list()
        if reset:
            self.arrived = 0
            if self.grouped:
                groups: Any = (self.group_filter(), self.group_sort)  # the group list's filter and sort
                self.view.show(*groups, group_columns(self.time_mode))
            else:
                self.view.show(state.filter(), state.sort, self._columns())
        else:
            self.view.reload()
        self._show_panels()
        self._update_status()
        self._after_count = True

    def group_filter(self) -> G.GroupFilter:
        """The Errors tab's filters as they apply to groups: time range, search,
        and the conditions on fields a group has too (severity, error type, …)."""
        state = self.state
        where = tuple(c for c in state.where.get("error", ())
                      if c.column in G.GROUP_FIELDS and c.column != "id" and not c.path)
        return G.GroupFilter(since=state.since, until=state.until, search=state.search or None, where=where)

    def _show_list(self) -> None:
        """Show the list the view wants (records or groups), focused if the other one was."""
        groups = self.query_one("#groups", GroupView)
        records = self.query_one("#list", LogView)
        if groups.display == self.grouped or self.empty:
            return
        had_focus = self.focused in (groups, records)
        groups.display, records.display = self.grouped, not self.grouped
        (records if self.grouped else groups).clear_marks()  # marks apply to the list on screen
        if had_focus:
            self.view.focus()

    def _show_panels(self) -> None:
        tab = self.state.tab
        wanted = {"system": "#panel-system", "ai": "#panel-ai"}.get(tab)
        shown = False
        for panel in self.query("#panels > *"):
            panel.display = f"#{panel.id}" == wanted
            shown = shown or panel.display
        self.query_one("#panels").display = shown

    @work(thread=True, exclusive=True, group="panel")
    def _load_panel(self, tab: str, flt: Filter) -> None:
        """Read a panel's statistics here; the panel draws them on the main thread."""
        try:
            with self.pool.store() as store:
                if tab == "system":
                    data: Any = store.system_series(flt.since, flt.until)
                else:
                    data = store.ai_models(flt)
        except STORE_ERRORS as exc:
            self.post_message(ActionDone(f"cannot load statistics: {store_error_text(exc)}", "error",
                                         reload=False, clear_marks=False))
            return
        self.post_message(PanelData(tab, data))

    def on_panel_data(self, message: PanelData) -> None:
        for panel in self.query(f"#panel-{message.tab}"):
            panel.set_data(message.data)  # type: ignore[attr-defined]

    def _update_status(self) -> None:
        view = self.view
        state = self.state
        total = "…" if view.total is None else f"{view.total:,}"
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{tab_label(state.tab)} ", "bold")
        summary = self.summaries.get(state.tab)
        if summary and not summary.replace(",", "").isdigit():  # a bare count repeats the total
            line.append(f"{visible(summary, newlines=False)} · ", "")
        noun = "group" if self.grouped else "record"
        line.append(f"{total} {noun}{'' if view.total == 1 else 's'}")
        sort = self.group_sort if self.grouped else state.sort
        labels = GROUP_SORT_LABELS if self.grouped else C.SHORT_LABELS
        label = labels.get(sort.column, sort.column)
        line.append(f" · by {label} {'↓' if sort.descending else '↑'}", "dim")
        if self.arrived:
            line.append(f"  ▲ {self.arrived:,} new", "bold reverse yellow")
        line.append("  ● live" if self.live else "  ⏸ paused", "green" if self.live else "yellow")
        if self.read_only:
            line.append("  read-only", "dim")
        self._set_line("#summary", line)

        words = state.describe()
        filters = Text(no_wrap=True, overflow="ellipsis")
        if words:
            filters.append("filters: ", "bold")
            filters.append(visible(" · ".join(words), newlines=False))
            filters.append("  c clears", "dim")
        else:
            filters.append("no filters · all time", "dim")
        if view.marks:
            filters.append(f"  {len(view.marks):,} marked", "bold reverse")
        self._set_line("#filters", filters)

    def _set_line(self, selector: str, text: Text) -> None:
        """Show ``text`` in a one-line status bar, unless it already shows exactly that.

        An update repaints the line, and a layout pass (which a line of fixed
        size does not need) would repaint the list's scrollbar too.
        """
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, Static).update(text, layout=False)

    # ---------------------------------------------------------------- list events

    def on_log_view_counted(self, message: LogView.Counted) -> None:
        self._update_status()
        if self._after_count:
            # Statistics wait for the list's first rows and count (see LogView._start_count).
            self._after_count = False
            self._refresh_stats()
            self._poll()

    def on_log_view_failed(self, message: LogView.Failed) -> None:
        self.notify(message.error, severity="error", markup=False)

    def on_log_view_marks_changed(self, message: LogView.MarksChanged) -> None:
        self._update_status()

    def on_log_view_cursor_moved(self, message: LogView.CursorMoved) -> None:
        if message.view is not self.view or self.grouped:
            return
        if self._open_latest is not None and message.row is not None \
                and message.row.get("group_id") == self._open_latest:  # not a row of the list before
            self._open_latest = None
            self.detail.display = True
        if self.detail.display and not isinstance(message, LogView.Selected):
            self.detail.show_row(message.row, self._now(), loading=self.view.row_count > 0)

    def on_log_view_selected(self, message: LogView.Selected) -> None:
        if message.row is None or message.view is not self.view:
            return
        if self.grouped:
            self.show_occurrences(int(message.row["id"]))
            return
        if self.detail.display and self.detail.row is not None and self.detail.row.get("id") == message.row.get("id"):
            self.action_toggle_full_detail()
            return
        self.detail.display = True
        self.detail.show_row(message.row, self._now())

    def on_log_view_sort_requested(self, message: LogView.SortRequested) -> None:
        if self.grouped:
            sort = self.group_sort
            descending = not sort.descending if sort.column == message.column else True
            self._set_group_sort(G.GroupSort(message.column, descending))
            return
        sort = self.state.sort
        if sort.column == message.column:
            self._set_sort(sort.flipped())
        else:
            self._set_sort(Sort(message.column, True))

    # ---------------------------------------------------------------- tabs

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        tab = str(event.tab.id).removeprefix("tab-")
        if tab != self.state.tab:
            self.state.tab = tab
            if self.grouped:
                self.action_close_detail()
            self.view.clear_marks()
            self._show(reset=True)

    def action_tab(self, tab: str) -> None:
        self.query_one(KindTabs).active = f"tab-{tab}"

    # ---------------------------------------------------------------- groups

    def action_toggle_groups(self) -> None:
        """Errors: occurrences or groups (from another tab: the Errors tab's groups)."""
        self.view.clear_marks()
        if self.state.tab != "error":
            self.group_mode = True
            self.action_tab("error")
            return
        self.group_mode = not self.group_mode
        if self.grouped:
            self.action_close_detail()
        self._show(reset=True)

    def show_occurrences(self, group_id: int) -> None:
        """The occurrences of group ``group_id``: the Errors tab's records with a
        ``group_id`` filter (``c`` clears it like any filter), newest first, and
        the latest one in the detail pane."""
        kept = tuple(c for c in self.state.where.get("error", ()) if c.column != "group_id")
        self.state.where["error"] = (*kept, Condition("group_id", "=", group_id))
        self.view.clear_marks()
        self.group_mode = False
        self._open_latest = group_id
        self._show(reset=True)

    def _set_group_sort(self, sort: G.GroupSort) -> None:
        self.group_sort = sort
        self._show(reset=True)

    def action_next_tab(self) -> None:
        self.query_one(KindTabs).action_next_tab()

    def action_previous_tab(self) -> None:
        self.query_one(KindTabs).action_previous_tab()

    # ---------------------------------------------------------------- search and filters

    def action_search(self) -> None:
        self.query_one("#search", SearchBar).open(self.state.search)

    @on(SearchBar.Applied)
    def _search_applied(self, message: SearchBar.Applied) -> None:
        text = message.text.strip()
        if (text, message.prefix) == (self.state.search, self.state.prefix):
            return
        self.state.search, self.state.prefix = text, message.prefix and bool(text)
        self._show(reset=True)

    @on(SearchBar.Closed)
    def _search_closed(self) -> None:
        self.view.focus()

    def action_range(self, name: str) -> None:
        self.state.set_range(name, self._now())
        self._show(reset=True)

    def action_clear_filters(self) -> None:
        self.state.clear()
        search = self.query_one("#search", SearchBar)
        search.value = ""
        search.display = False
        self._show(reset=True)
        self.notify("Filters cleared", timeout=2)

    def action_related(self) -> None:
        """The records sharing the cursor's record's request, trace, conversation
        or user (:func:`logconsole.store.related.related_of`), oldest first on the All tab."""
        row = self.detail.row if self.detail.display and self.detail.row else self.view.current_row
        if row is None:
            self.notify("No record to relate", severity="warning")
            return
        try:
            related = related_of(row)
        except QueryError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        self.state.show_related(related)
        if self.state.tab == "all":
            self._show(reset=True)
        else:
            self.action_tab("all")

    def action_filter(self) -> None:

        def done(result: Filter | None) -> None:
            if result is not None:
                self.state.apply_filter(result)
                search = self.query_one("#search", SearchBar)
                search.value = self.state.search
                search.display = bool(self.state.search)
                self._show(reset=True)

        hosts = tuple(sorted(self.hosts)) if self.several_hosts else ()
        self.app.push_screen(FilterScreen(self.state.kind, self.state.filter(), clock=self.clock, hosts=hosts), done)

    # ---------------------------------------------------------------- sorting and time

    @property
    def several_hosts(self) -> bool:
        """Whether the records come from more than one host (the host column shows)."""
        return len(self.hosts) > 1

    def _columns(self) -> tuple[C.Column, ...]:
        """The record list's columns for the current tab, time mode and hosts."""
        return C.columns_for(self.state.kind, self.time_mode, host=self.several_hosts)

    def _sortable(self) -> list[str]:
        return [c.name for c in self._columns() if c.sortable] + ["id"]

    def _set_sort(self, sort: Sort) -> None:
        self.state.with_sort(sort)
        self._show(reset=True)

    def action_sort_next(self) -> None:
        if self.grouped:
            columns = list(G.SORTS.values())
            current = self.group_sort
            index = columns.index(current.column) if current.column in columns else -1
            self._set_group_sort(G.GroupSort(columns[(index + 1) % len(columns)], current.descending))
            return
        names = list(dict.fromkeys(self._sortable()))
        current = self.state.sort
        index = names.index(current.column) if current.column in names else -1
        self._set_sort(Sort(names[(index + 1) % len(names)], current.descending))

    def action_sort_flip(self) -> None:
        if self.grouped:
            self._set_group_sort(G.GroupSort(self.group_sort.column, not self.group_sort.descending))
            return
        self._set_sort(self.state.sort.flipped())

    def action_toggle_time(self) -> None:
        self.time_mode = "absolute" if self.time_mode == "relative" else "relative"
        if self.grouped:
            self.view.set_time_mode(self.time_mode, group_columns(self.time_mode))
        else:
            self.view.set_time_mode(self.time_mode, self._columns())

    # ---------------------------------------------------------------- detail

    def action_copy_record(self) -> None:
        if self.grouped:
            group = self.view.current_row
            if group is None:
                self.notify("No group to copy", severity="warning")
                return
            self.app.copy_to_clipboard(json.dumps(G.to_group(group), ensure_ascii=False, indent=2))
            self.notify(f"Copied group #{group['id']} as JSON", timeout=3)
            return
        row = self.detail.row if self.detail.display and self.detail.row else self.view.current_row
        if row is None:
            self.notify("No record to copy", severity="warning")
            return
        self.app.copy_to_clipboard(record_json(row))
        self.notify(f"Copied record #{row['id']} as JSON", timeout=3)

    def action_escape(self) -> None:
        if self.detail.display:
            self.action_close_detail()
        elif self.view.marks:
            self.view.clear_marks()
            self.notify("Marks cleared", timeout=2)

    def action_close_detail(self) -> None:
        self.minimize()
        self.detail.display = False
        self.view.focus()

    def action_toggle_full_detail(self) -> None:
        """The detail pane fills the screen, so a stack or a JSON body reads
        without scrolling a small box; from full screen, back beside the list."""
        detail = self.detail
        if self.maximized is detail:
            self.minimize()
            return
        if self.grouped:
            self.notify("enter lists the group's occurrences; their details open from there", timeout=3)
            return
        if not detail.display:
            row = self.view.current_row
            if row is None:
                self.notify("No record to show", severity="warning")
                return
            detail.display = True
            detail.show_row(row, self._now())
        self.maximize(detail, container=False)
        detail.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """In full screen the detail pane's keys lead back to the list; beside it, they
        close it or make it fill the screen (so the footer names what each key does)."""
        if action == "search" and isinstance(self.focused, Input):
            return False  # "/" is a character in a text box (the search itself, a filter)
        full = self.maximized is not None
        if action in ("close_detail", "toggle_full_detail"):
            return not full
        if action == "minimize":
            return full
        return True

    def watch_maximized(self, before: Widget | None, after: Widget | None) -> None:
        """Leaving full screen (``escape``, ``z``) brings the list back, with the keys."""
        if before is self.detail and after is None:
            self.view.focus()

    def action_focus_list(self) -> None:
        self.view.focus()

    # ---------------------------------------------------------------- live

    def action_toggle_live(self) -> None:
        self.live = not self.live
        self.notify("Live arrivals on" if self.live else "Live arrivals paused", timeout=2)
        if self.live and self.arrived and self.view.at_top:
            self._show(reset=False)
            self.arrived = 0
        elif self.live:
            self._polled_files = None  # what arrived while paused is taken on the next tick
        self._update_status()

    def action_refresh(self) -> None:
        """Read the view again; the poll after its count looks for arrivals beyond the new reference."""
        self.arrived = 0
        self._show(reset=False)

    def _tick(self) -> None:
        """Once a second: relative times, then a poll, unless the database files
        are as the last poll found them (an idle console does no database work).
        Every :data:`FULL_POLL_EVERY` ticks the poll runs regardless."""
        self.view.refresh_clock()
        self._quiet_ticks += 1
        if self.pool.change_signature() == self._polled_files and self._quiet_ticks < FULL_POLL_EVERY:
            return
        self._poll()
        self.check_retention()
        self.check_alerts()

    def _poll(self) -> None:
        view = self.view
        self._quiet_ticks = 0
        if self.grouped:
            # Groups have no arrivals to count: the poll finds the newest id, and
            # a newer one than the list was read at reloads it (counts, regressions).
            self._poll_worker(Filter(), None, view.generation)
        else:
            self._poll_worker(view.flt, view.reference, view.generation)

    @work(thread=True, exclusive=True, group="poll")
    def _poll_worker(self, flt: Filter, reference: int | None, generation: int) -> None:
        """Read the newest id and count the query's records above ``reference``,
        the point its rows were read up to (None while unknown: nothing is counted)."""
        files = self.pool.change_signature()  # before reading: a commit after it changes it
        try:
            with self.pool.store() as store:
                top = max_id(store)
                empty = top == 0 and is_empty(store)
                arrived = None if reference is None else count_after(store, flt, reference) if top > reference else 0
        except STORE_ERRORS:
            return  # the database is busy or gone for a moment; the next tick retries
        self.post_message(Polled(top, empty, generation, arrived, files))

    def on_polled(self, message: Polled) -> None:
        if message.empty != self.empty:
            was_empty = self.empty is True
            self.empty = message.empty
            self.query_one("#empty").display = message.empty
            self.view.display = not message.empty
            if not message.empty:
                self.view.focus()
            if was_empty and not message.empty:
                self._reload()
        self.top_id = message.top_id
        view = self.view
        if self.grouped and message.generation == view.generation:
            reference = view.reference
            if self.live and reference is not None and message.top_id > reference:
                view.reload()
            self._polled_files = message.files
        elif message.generation == view.generation and message.arrived is not None:
            # The count is against the list's own reference point, so it is the
            # truth about this list: a 0 clears a badge that a reload made stale.
            if message.arrived and self.live and view.at_top:
                self.arrived = 0
                view.reload()
            else:
                self.arrived = message.arrived
            self._update_status()
            # Until the files change a poll would find the same, unless arrivals
            # wait (scrolled away, paused): each tick looks whether to take them in.
            self._polled_files = None if self.arrived else message.files
        self._refresh_stats()

    # ---------------------------------------------------------------- summaries

    def _refresh_stats(self) -> None:
        """Tab summaries and the panel: at once for a new view or after an action,
        at most every :data:`SUMMARY_EVERY` seconds while records keep arriving."""
        view_key = (self.state.tab, self.state.filter(), self.grouped)
        now = time.monotonic()
        if view_key == self._stats_key and (self.top_id == self._stats_top or now - self._stats_at < SUMMARY_EVERY):
            return
        self._stats_key, self._stats_at, self._stats_top = view_key, now, self.top_id
        self._summaries(self.state.shared_filter(), self.fixed_now, self.group_filter(), self._hosts_upto)
        if self.state.tab in ("system", "ai"):
            self._load_panel(self.state.tab, self.state.filter())

    @work(thread=True, exclusive=True, group="summaries")
    def _summaries(self, flt: Filter, now: datetime | None, groups: G.GroupFilter, hosts_after: int) -> None:
        """Each tab's few words; the Errors tab's count open and regressed groups, not rows.
        With them, the hosts of the records stored since the last look."""
        try:
            with self.pool.store() as store:
                texts = {t: store.tab_summary(t, flt, now=now) for t in TABS if tab_kind(t)}
                if store.has_groups():
                    texts["error"] = store.group_status_summary(groups)
                top = store.max_id()
                hosts = frozenset(store.hosts(hosts_after)) if top > hosts_after else frozenset()
        except STORE_ERRORS:
            return
        self.post_message(Summaries(texts, hosts, top))

    def on_summaries(self, message: Summaries) -> None:
        self.summaries = message.texts
        if message.hosts_upto > self._hosts_upto:
            self._hosts_upto = message.hosts_upto
            several = self.several_hosts
            self.hosts |= message.hosts
            if self.several_hosts != several and not self.grouped:
                self.view.set_time_mode(self.time_mode, self._columns())
        self._update_tab_titles()
        self._update_status()

    # ---------------------------------------------------------------- help

    def key_bindings(self) -> list[tuple[str, str]]:
        """Every key of the console in force (``[keys]`` applied) with what it does."""
        bindings = [b for source in (self.BINDINGS, LogView.BINDINGS, DetailPane.BINDINGS, SearchBar.BINDINGS)
                    for b in source if isinstance(b, Binding)]
        return [*help_rows(bindings, getattr(self.app, "keymap", {})), ("ctrl+p", "Command palette")]

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.key_bindings()))
