"""The record list: a Line-API scroll view that stays instant at millions of rows.

Its virtual height is the row count (plus the header line), so the scrollbar
and page keys behave as if every row were there, but only pages of
:data:`~logconsole.screens.data.PAGE_SIZE` rows live in memory, in an LRU of
:data:`MAX_PAGES`.  :meth:`LogView.render_line` only reads that cache: a row
whose page is not loaded yet renders as dots and asks a thread worker for the
page, which arrives as a :class:`LogView.PageLoaded` message.  Workers never
touch the widget; they post messages.

Over a slow link every byte written to the terminal counts, so the view
repaints only lines whose content changed: it remembers the strip it last
handed out for each line, and a change of data (a page, a count, marks, the
cursor) refreshes just the lines that now read differently.  The clock's tick
repaints a row only when its relative time's text changes (``5m ago`` once a
minute); an idle console writes nothing.

Keys (when the list has focus):

| key | action |
| --- | --- |
| up/down, k/j | move the cursor |
| pageup/pagedown | a screen up / down |
| home/end, g/G | first / last row |
| space | mark or unmark the row |
| enter | open the detail pane (again: focus it) |
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from logconsole.screens import columns as C
from logconsole.screens.data import (
    PAGE_SIZE,
    STORE_ERRORS,
    ConnectionPool,
    Neighbours,
    count_after,
    fetch_page_rows,
    store_error_text,
)
from logconsole.store import query
from logconsole.store.interface import Store
from logconsole.store.query import Filter, Sort

MAX_PAGES = 20
"""Pages kept in memory (20 x 200 rows)."""

GUTTER = 2
"""Mark column plus a space."""

HEADER_LINES = 1


class LogView(ScrollView, can_focus=True):
    """A scrolling list of records matching a filter, read page by page."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="list.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="list.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="list.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="list.page_down"),
        Binding("home,g", "first", "First row", show=False, id="list.first"),
        Binding("end,G", "last", "Last row", show=False, id="list.last"),
        Binding("space", "toggle_mark", "Mark", id="list.mark"),
        Binding("enter", "select", "Detail", id="list.select"),
        Binding("tab", "screen.next_tab", "Next tab", show=False, id="list.next_tab"),
        Binding("shift+tab", "screen.previous_tab", "Previous tab", show=False, id="list.previous_tab"),
    ]

    TIME_FIELD: ClassVar[str] = "created_at"
    """The column whose relative time the clock keeps current."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--cursor", "log-view--marked", "log-view--header", "log-view--placeholder",
    }

    DEFAULT_CSS = """
    LogView {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        & > .log-view--cursor { background: $primary 30%; }
        &:focus > .log-view--cursor { background: $primary 60%; text-style: bold; }
        & > .log-view--marked { background: $warning 20%; }
        & > .log-view--header { background: $panel; color: $text-muted; }
        & > .log-view--placeholder { color: $text-muted; }
    }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False, repaint=False)
    """The row under the cursor; moving it repaints only the lines it leaves and reaches."""

    # ---------------------------------------------------------------- messages

    class PageLoaded(Message):
        """A page of rows read by a worker, and the newest id when it was read."""

        def __init__(self, generation: int, page: int, rows: list[dict[str, Any]], snapshot_id: int = 0) -> None:
            super().__init__()
            self.generation = generation
            self.page = page
            self.rows = rows
            self.snapshot_id = snapshot_id

    class Counted(Message):
        """The row count of the current query, and the id up to which it counted."""

        def __init__(self, generation: int, total: int, snapshot_id: int) -> None:
            super().__init__()
            self.generation = generation
            self.total = total
            self.snapshot_id = snapshot_id

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LogView.Counted) and message.generation >= self.generation

    class Failed(Message):
        """A read failed; the app shows ``error``."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class CursorMoved(Message):
        """The row under the cursor changed (``row`` None while its page loads)."""

        def __init__(self, view: LogView, row: dict[str, Any] | None) -> None:
            super().__init__()
            self.view = view
            self.row = row

        @property
        def control(self) -> LogView:
            return self.view

        def can_replace(self, message: Message) -> bool:
            """Held-down arrow keys: only the latest cursor position matters (never drop ``Selected``)."""
            return (type(self) is LogView.CursorMoved and isinstance(message, LogView.CursorMoved)
                    and message.view is self.view)

    class Selected(CursorMoved):
        """``enter`` on a row."""

    class SortRequested(Message):
        """The header of a sortable column was clicked."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    class MarksChanged(Message):
        """The set of marked ids changed."""

        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    # ---------------------------------------------------------------- state

    def __init__(
        self,
        pool: ConnectionPool,
        *,
        clock: Callable[[], datetime],
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.pool = pool
        self.clock = clock
        self.flt = Filter()
        self.sort = query.NEWEST
        self.columns: tuple[C.Column, ...] = C.columns_for(None)
        self.time_mode = "relative"
        self.generation = 0
        self.total: int | None = None
        """Rows matching the query up to :attr:`snapshot_id`; None until counted."""
        self.snapshot_id = 0
        """The newest id when this query's first page was read.  Every page of the
        query reads rows up to it, and the count counts up to it, so pages and
        count describe one moment; rows with a higher id are arrivals: they wait
        for :meth:`reload`."""
        self._snapshot_generation = 0
        """The generation whose first page set :attr:`snapshot_id`."""
        self._counted = 0
        """The generation whose count :attr:`total` is (:meth:`reload` keeps the
        previous count on screen until the new one is in)."""
        self.marks: set[int] = set()
        self._pages: OrderedDict[int, tuple[int, list[dict[str, Any]]]] = OrderedDict()
        self._pending: set[tuple[int, int]] = set()
        self._widths: list[int] = []
        self._now = clock()
        self._counting = 0
        """The generation whose count starts once its first page is in."""
        self._previous_count = 0
        self._count_lock = threading.Lock()
        self._counting_store: Store | None = None
        self._painted: dict[int, Strip] = {}
        """The strip last handed to Textual for each line of the widget (see :meth:`_repaint`)."""

    # ---------------------------------------------------------------- public API

    def show(self, flt: Filter, sort: Sort, columns: tuple[C.Column, ...]) -> None:
        """Show a new query from the top.  Rows of the previous query stay on screen
        until the new ones arrive, so typing a search never flashes an empty list."""
        self.flt, self.sort, self.columns = flt, sort, columns
        self._widths = []
        self._interrupt_count()
        self._previous_count = self.row_count
        self.generation += 1
        self.total = None
        self._pending.clear()
        self.set_reactive(LogView.cursor, 0)
        self.scroll_to(y=0, animate=False, immediate=True)
        self._start_count()
        self._repaint()

    def reload(self) -> None:
        """Read the same query again (after arrivals or changes), keeping the cursor's place."""
        self._interrupt_count()
        self.generation += 1
        self._pending.clear()
        self._start_count()
        self._repaint()

    def set_time_mode(self, mode: str, columns: tuple[C.Column, ...]) -> None:
        self.time_mode = mode
        self.columns = columns
        self._widths = []
        self.refresh()

    def row_at(self, index: int) -> dict[str, Any] | None:
        """The row at ``index`` if its page is cached (current or previous query)."""
        entry = self._pages.get(index // PAGE_SIZE)
        if entry is None:
            return None
        rows = entry[1]
        offset = index % PAGE_SIZE
        return rows[offset] if offset < len(rows) else None

    @property
    def current_row(self) -> dict[str, Any] | None:
        if not self.row_count:
            return None
        return self.row_at(self.cursor)

    @property
    def row_count(self) -> int:
        """Rows known so far: the count; until it is known, the first page's rows,
        or (before that page arrives) as many as the previous query showed."""
        if self.total is not None:
            return self.total
        first = self._pages.get(0)
        if first is not None and first[0] == self.generation:
            return len(first[1])
        return self._previous_count

    @property
    def reference(self) -> int | None:
        """The newest id the current query's rows and count were read up to
        (:attr:`snapshot_id`), or None while its first page is still being read.

        Records above it are arrivals.  0 is a reference too: the query was
        first read from an empty database, and every record since has arrived.
        """
        return self.snapshot_id if self._snapshot_generation == self.generation else None

    @property
    def at_top(self) -> bool:
        """True when the view shows the first rows (where live arrivals appear)."""
        return self.cursor == 0 and self.scroll_offset.y == 0

    def clear_marks(self) -> None:
        self.marks.clear()
        self.post_message(self.MarksChanged(0))
        self._repaint()

    def set_marks(self, ids: set[int]) -> None:
        self.marks = ids
        self.post_message(self.MarksChanged(len(ids)))
        self._repaint()

    # ---------------------------------------------------------------- workers

    def _start_count(self) -> None:
        """Read the first page, then count: the rows reach the screen before any
        slower work competes with them for the CPU."""
        self._counting = self.generation
        self._request(0)

    @work(thread=True, exclusive=True, group="count")
    def _count(self, generation: int, flt: Filter, top: int) -> None:
        """Count the query's rows up to ``top``, the newest id when its first page was read.

        The count runs after that page is in, so records may have been committed
        in between.  Counting only up to the first page's snapshot keeps the count,
        the rows on screen and :attr:`snapshot_id` describing one moment: the
        later records are arrivals, which the screen's poll finds and shows.
        Counting up to the newest id at count time instead would take them into
        the total without ever reading them, and the poll, comparing against
        that id, would never report them: rows silently missing under a right
        count.

        A count of a million rows takes a while; when the query changes first
        (the next search keystroke), :meth:`_interrupt_count` stops it so it
        does not compete with the new query for the CPU.
        """
        try:
            with self.pool.store() as store, store.snapshot():
                with self._count_lock:
                    self._counting_store = store
                try:
                    total = store.count(flt) - count_after(store, flt, top)
                finally:
                    with self._count_lock:
                        self._counting_store = None
        except STORE_ERRORS as exc:  # a worker reports, never crashes the console
            if generation == self.generation:
                self.post_message(self.Failed(f"cannot count records: {store_error_text(exc)}"))
            return
        self.post_message(self.Counted(generation, total, top))

    def _interrupt_count(self) -> None:
        """Stop a count still running for a query that is no longer shown."""
        with self._count_lock:
            if self._counting_store is not None:
                self._counting_store.interrupt()

    def _request(self, page: int) -> None:
        """Ask a worker for ``page`` of the current query.

        The query's first page fixes its moment (:attr:`snapshot_id`); any other
        page waits for it (the previous query's rows stay on screen meanwhile),
        so no page reads rows the count and the first page have not seen.
        """
        key = (self.generation, page)
        if key in self._pending:
            return
        known = self._snapshot_generation == self.generation
        if page and not known:
            return
        self._pending.add(key)
        before = self._pages.get(page - 1)
        after = self._pages.get(page + 1)
        neighbours = Neighbours(
            before=before[1][-1] if before and before[0] == self.generation and len(before[1]) == PAGE_SIZE else None,
            after=after[1][0] if after and after[0] == self.generation and after[1] else None,
        )
        total = self.total if self._counted == self.generation else None
        self._load(self.generation, self.flt, self.sort, page, total, neighbours, self.snapshot_id if known else 0)

    @work(thread=True, group="pages")
    def _load(
        self, generation: int, flt: Filter, sort: Sort, page: int, total: int | None,
        neighbours: Neighbours, snapshot_id: int,
    ) -> None:
        """Read a page bounded by the view's moment (``snapshot_id``).  A new
        query's first page fixes that moment: the store's horizon, read before
        the page, so that every record above it, even one committed late below
        the newest id of another host's batch, is an arrival to count."""
        try:
            with self.pool.store() as store:
                top = snapshot_id or store.horizon()
                with store.snapshot():
                    rows = fetch_page_rows(
                        store, flt, sort, page, total=total, neighbours=neighbours, snapshot_id=top,
                    )
        except STORE_ERRORS as exc:
            self.post_message(self.Failed(f"cannot read records: {store_error_text(exc)}"))
            return
        self.post_message(self.PageLoaded(generation, page, rows, top))

    def on_log_view_page_loaded(self, message: PageLoaded) -> None:
        message.stop()
        self._pending.discard((message.generation, message.page))
        if message.generation != self.generation:
            return
        if message.page == 0:
            # A new query's first page: drop what the previous query left behind.
            for page, (gen, _) in list(self._pages.items()):
                if gen != self.generation:
                    del self._pages[page]
            if self._snapshot_generation != self.generation:
                self.snapshot_id = message.snapshot_id
                self._snapshot_generation = self.generation
        self._pages[message.page] = (message.generation, message.rows)
        self._pages.move_to_end(message.page)
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        if message.page == 0 and self._counting == message.generation:
            self._counting = 0
            self._count(message.generation, self.flt, message.snapshot_id)
        self._update_virtual_size()
        self._repaint()
        if message.page == self.cursor // PAGE_SIZE:
            self._announce_cursor()

    def on_log_view_counted(self, message: Counted) -> None:
        if message.generation != self.generation:
            message.stop()
            return
        self.total = message.total
        self._counted = message.generation
        if self.cursor >= max(1, self.total):
            self.set_reactive(LogView.cursor, max(0, self.total - 1))
        self._update_virtual_size()
        self._repaint()
        self._announce_cursor()

    # ---------------------------------------------------------------- geometry

    def _update_virtual_size(self) -> None:
        size = Size(self.scrollable_content_region.width, self.row_count + HEADER_LINES)
        if size == self.virtual_size:
            return
        old = self.virtual_size
        viewport = self.container_size.height
        if size.width == old.width and (size.height > viewport) == (old.height > viewport):
            # Setting ``virtual_size`` repaints every line; a new row count that
            # neither shows nor hides the scrollbar changes only the scrollbar's
            # length (the lines repaint themselves if they change).
            self.set_reactive(LogView.virtual_size, size)
            if size.height > viewport:
                self.vertical_scrollbar.window_virtual_size = size.height
        else:
            self.virtual_size = size

    def on_resize(self, event: events.Resize) -> None:
        self._widths = []
        self._painted.clear()
        self._update_virtual_size()

    @property
    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - HEADER_LINES)

    def _layout(self) -> list[int]:
        if not self._widths:
            self._widths = C.layout(self.columns, max(1, self.scrollable_content_region.width - GUTTER))
        return self._widths

    # ---------------------------------------------------------------- rendering

    def render_line(self, y: int) -> Strip:
        strip = self._line(y)
        self._painted[y] = strip
        return strip

    def _repaint(self) -> None:
        """Refresh the lines that would now be drawn differently, and only those.

        Textual writes every refreshed line to the terminal in full; a
        ``refresh()`` of the whole list after each poll or page costs a screenful
        of escape sequences (10 KB at 120x40) even when nothing visible changed.
        """
        height = self.scrollable_content_region.height
        if not self._painted:
            self.refresh()
            return
        top = int(self.scroll_offset.y)
        for y in range(height):
            if self._painted.get(y) != self._line(y):
                self.refresh_line(top + y)

    def _line(self, y: int) -> Strip:
        """Line ``y`` of the widget (0 is the header) as it should look now."""
        width = self.scrollable_content_region.width
        base = self.rich_style
        widths = self._layout()
        if y < HEADER_LINES:
            header = C.header_text(self.columns, widths, self.sort.column, self.sort.descending)
            style = self.get_component_rich_style("log-view--header")
            return self._strip(Text("  ", end="") + header, width, base + style)
        index = self.scroll_offset.y + y - HEADER_LINES
        if index >= self.row_count:
            return Strip.blank(width, base)
        line_style = base
        if index == self.cursor:
            line_style = base + self.get_component_rich_style("log-view--cursor")
        row = self.row_at(index)
        page = index // PAGE_SIZE
        entry = self._pages.get(page)
        if entry is None or entry[0] != self.generation:
            self._request(page)
        else:
            self._pages.move_to_end(page)
            self._read_ahead(index, page)
        if row is None:
            dots = self.get_component_rich_style("log-view--placeholder")
            return self._strip(Text("  " + "· " * (width // 4), end=""), width, line_style + dots)
        marked = row["id"] in self.marks
        if marked and index != self.cursor:
            line_style = line_style + self.get_component_rich_style("log-view--marked")
        text = Text(end="")
        text.append("● " if marked else "  ", Style(bold=True))
        text.append_text(self.row_text(row, widths))
        return self._strip(text, width, line_style)

    def row_text(self, row: dict[str, Any], widths: list[int]) -> Text:
        """The cells of one row (a subclass showing other rows renders them its way)."""
        return C.row_text(row, self.columns, widths, time_mode=self.time_mode, now=self._now)

    def _read_ahead(self, index: int, page: int) -> None:
        """Ask for the neighbouring page before the user reaches it."""
        offset = index % PAGE_SIZE
        if offset > PAGE_SIZE - 50 and (page + 1) * PAGE_SIZE < self.row_count:
            nxt = self._pages.get(page + 1)
            if nxt is None or nxt[0] != self.generation:
                self._request(page + 1)
        elif offset < 50 and page > 0:
            prev = self._pages.get(page - 1)
            if prev is None or prev[0] != self.generation:
                self._request(page - 1)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        text.stylize_before(style)
        segments = [Segment(s.text, style + s.style if s.style else style) for s in text.render(self.app.console)]
        return Strip(segments).crop_extend(0, width, style)

    def refresh_clock(self) -> None:
        """Take the time again; repaint the time cells whose relative time now reads differently.

        Only the cell is refreshed, not its line: Textual then writes those few
        characters, so an idle list costs a few bytes a minute, not a screenful
        a second.
        """
        now = self.clock()
        before, self._now = self._now, now
        if now == before or self.time_mode != "relative":
            return
        cell = self._cell_span(self.TIME_FIELD)
        if cell is None:
            return
        x, width = cell
        top = int(self.scroll_offset.y)
        for y in range(HEADER_LINES, self.scrollable_content_region.height):
            index = top + y - HEADER_LINES
            row = self.row_at(index) if index < self.row_count else None
            if row is None:
                continue
            stored = row.get(self.TIME_FIELD) or ""
            if C.relative_time(stored, before) != C.relative_time(stored, now):
                self.refresh(Region(x, y, width, 1))

    def _cell_span(self, name: str) -> tuple[int, int] | None:
        """Where column ``name`` sits on a line: its first screen column and its width."""
        x = GUTTER
        for column, width in zip(self.columns, self._layout()):
            if column.name == name:
                return x, width
            x += width + 1
        return None

    # ---------------------------------------------------------------- cursor

    def watch_cursor(self, old: int, new: int) -> None:
        top = int(self.scroll_offset.y)
        body = self._body_height
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + body:
            self.scroll_to(y=new - body + 1, animate=False, immediate=True)
        if int(self.scroll_offset.y) == top:  # a scroll repaints every line by itself
            self._repaint()
        self._announce_cursor()

    def _announce_cursor(self) -> None:
        self.post_message(self.CursorMoved(self, self.current_row))

    def _move(self, index: int) -> None:
        last = self.row_count - 1
        self.cursor = max(0, min(index, last)) if last >= 0 else 0

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_page_up(self) -> None:
        self._move(self.cursor - self._body_height)

    def action_page_down(self) -> None:
        self._move(self.cursor + self._body_height)

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(self.row_count - 1)

    def action_toggle_mark(self) -> None:
        row = self.current_row
        if row is None:
            return
        rid = int(row["id"])
        if rid in self.marks:
            self.marks.discard(rid)
        else:
            self.marks.add(rid)
        self.post_message(self.MarksChanged(len(self.marks)))
        self._move(self.cursor + 1)
        self._repaint()

    def action_select(self) -> None:
        self.post_message(self.Selected(self, self.current_row))

    def on_click(self, event: events.Click) -> None:
        if event.y < HEADER_LINES:
            column = C.column_at(self.columns, self._layout(), event.x - GUTTER)
            if column is not None and column.sortable:
                self.post_message(self.SortRequested(column.name))
            return
        index = int(self.scroll_offset.y) + event.y - HEADER_LINES
        if 0 <= index < self.row_count:
            self.cursor = index
            if event.chain == 2:
                self.action_select()
