"""The console's data side without a screen: pages, arrivals, columns, view state."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len
from tui_data import FIXED_NOW, HOSTILE_MESSAGE, bulk_rows, hostile_record

from logconsole import kinds as K
from logconsole.ingest import normalize
from logconsole.screens import columns as C
from logconsole.screens.data import (
    ConnectionPool,
    Neighbours,
    count_after,
    fetch_page_rows,
    max_id,
)
from logconsole.screens.view_state import ViewState
from logconsole.store import query
from logconsole.store.query import Filter, Sort
from logconsole.store.sqlite.store import SQLiteStore
from logconsole.store.url import parse_store_url
from logconsole.store.writer import insert_row, insert_rows


def as_store(conn: sqlite3.Connection) -> SQLiteStore:
    """The store interface over a test's own connection."""
    return SQLiteStore(conn, parse_store_url(conn.execute("PRAGMA database_list").fetchone()[2]))

PAGE = 50


@pytest.fixture
def filled(conn: sqlite3.Connection) -> sqlite3.Connection:
    insert_rows(conn, bulk_rows(1000))
    return conn


def ids(rows: list[dict]) -> list[int]:
    return [r["id"] for r in rows]


@pytest.mark.parametrize("sort", [query.NEWEST, query.OLDEST, Sort("duration_ms", True), Sort("severity", False)])
def test_every_path_to_a_page_reads_the_same_rows(filled: sqlite3.Connection, sort: Sort) -> None:
    flt = Filter()
    total = query.count(filled, flt)
    pages = total // PAGE
    by_offset = [query.fetch_page(filled, flt, sort, limit=PAGE, offset=p * PAGE) for p in range(pages)]
    for p in range(pages):
        from_top = fetch_page_rows(as_store(filled), flt, sort, p, total=None, page_size=PAGE)
        nearest_end = fetch_page_rows(as_store(filled), flt, sort, p, total=total, page_size=PAGE)
        assert ids(from_top) == ids(nearest_end) == ids(by_offset[p]), p
        if p:
            after_prev = fetch_page_rows(as_store(filled), flt, sort, p, total=total, page_size=PAGE,
                                         neighbours=Neighbours(before=by_offset[p - 1][-1]))
            assert ids(after_prev) == ids(by_offset[p])
        if p < pages - 1:
            before_next = fetch_page_rows(as_store(filled), flt, sort, p, total=total, page_size=PAGE,
                                          neighbours=Neighbours(after=by_offset[p + 1][0]))
            assert ids(before_next) == ids(by_offset[p])


def test_the_last_page_may_be_short(filled: sqlite3.Connection) -> None:
    flt = Filter(types=("error",))
    total = query.count(filled, flt)
    last = (total - 1) // PAGE
    rows = fetch_page_rows(as_store(filled), flt, query.NEWEST, last, total=total, page_size=PAGE)
    assert len(rows) == total - last * PAGE
    assert ids(rows) == ids(query.fetch_page(filled, flt, query.NEWEST, limit=PAGE, offset=last * PAGE))


def test_arrivals_do_not_shift_pages_of_a_counted_view(filled: sqlite3.Connection) -> None:
    flt = Filter()
    snapshot = max_id(as_store(filled))
    before = fetch_page_rows(as_store(filled), flt, query.NEWEST, 3, total=None, page_size=PAGE, snapshot_id=snapshot)
    for i in range(7):
        insert_row(filled, normalize({"type": "chat", "message": f"new {i}"}, now=FIXED_NOW + timedelta(hours=1)))
    assert count_after(as_store(filled), flt, snapshot) == 7
    assert count_after(as_store(filled), Filter(types=("error",)), snapshot) == 0
    after = fetch_page_rows(as_store(filled), flt, query.NEWEST, 3, total=None, page_size=PAGE, snapshot_id=snapshot)
    assert ids(after) == ids(before)


def test_pool_reuses_connections_across_threads(db_path: Path, filled: sqlite3.Connection) -> None:
    import threading

    pool = ConnectionPool(db_path)
    seen: list[tuple[int, int]] = []

    def use() -> None:
        with pool.store() as store:
            seen.append((id(store), max_id(store)))

    for _ in range(3):
        t = threading.Thread(target=use)
        t.start()
        t.join()
    assert len({s for s, _ in seen}) == 1
    assert [top for _, top in seen] == [1000] * 3
    pool.close()


def test_read_only_pool_cannot_write(db_path: Path, filled: sqlite3.Connection) -> None:
    pool = ConnectionPool(db_path, readonly=True)
    with pool.connection() as c, pytest.raises(sqlite3.OperationalError):
        c.execute("DELETE FROM records")
    pool.close()


# ---------------------------------------------------------------- columns


def test_relative_times() -> None:
    at = FIXED_NOW
    assert C.relative_time("2026-11-20T11:59:30.000Z", at) == "30s ago"
    assert C.relative_time("2026-11-20T11:00:00.000Z", at) == "1h ago"
    assert C.relative_time("2026-11-18T12:00:00.000Z", at) == "2d ago"
    assert C.relative_time("2026-05-20T12:00:00.000Z", at) == "6mo ago"
    assert C.relative_time("2023-11-20T12:00:00.000Z", at) == "3y ago"
    assert C.relative_time("2026-11-20T12:30:00.000Z", at) == "now"


def test_cells_fit_their_columns_even_with_wide_characters() -> None:
    assert C.fit("日本語テキスト", 6) == "日本 …"  # a wide character never straddles the edge
    assert cell_len(C.fit("日本語テキスト", 6)) == 6
    assert C.fit("42", 5, "right") == "   42"


@pytest.mark.parametrize("kind", [None, *K.KINDS.values()], ids=lambda k: k.name if k else "all")
def test_a_row_fills_exactly_the_width(kind: K.Kind | None) -> None:
    cols = C.columns_for(kind)
    widths = C.layout(cols, 78)
    row = normalize(hostile_record() if kind is None or kind.name == "error" else
                    {"type": kind.name, "message": "m", "ai_model": "x"}, now=FIXED_NOW)
    row["id"] = 1
    text = C.row_text(row, cols, widths, time_mode="relative", now=FIXED_NOW)
    assert cell_len(text.plain) == 78
    assert C.header_text(cols, widths, "created_at", True).cell_len == 78


def test_hostile_cells_are_plain_and_visible() -> None:
    row = normalize(hostile_record(), now=FIXED_NOW)
    row["id"] = 1
    cols = C.columns_for(K.ERROR)
    text = C.row_text(row, cols, C.layout(cols, 400), time_mode="relative", now=FIXED_NOW)
    assert "[bold red]x[/] \\e]52;c;ZXZpbA==\\a clear\\e[2J over\\rwrite back\\bspace" in text.plain
    assert not any(ch in text.plain for ch in "\x1b\x07\r\x08")
    assert HOSTILE_MESSAGE not in text.plain


def test_levels_are_coloured() -> None:
    assert C.cell_style({"type": "error", "severity": "critical"}, "severity") is not None
    assert C.cell_style({"type": "activity", "level": "warn"}, "level") is not None
    assert C.cell_style({"type": "error", "severity": "critical"}, "level") is not None  # overview column
    assert C.cell_style({"status_code": 503}, "status_code") is not None


def test_header_click_finds_the_column() -> None:
    cols = C.columns_for(K.AI)
    widths = C.layout(cols, 80)
    x = sum(widths[:3]) + 3
    found = C.column_at(cols, widths, x)
    assert found is not None and found.name == "tokens_used"


# ---------------------------------------------------------------- view state


def test_view_state_builds_the_tab_filter() -> None:
    state = ViewState()
    state.set_range("today", FIXED_NOW)
    state.search = "timeout"
    state.tab = "error"
    state.where["error"] = (query.parse_condition("severity=critical", ["error"]),)
    flt = state.filter()
    assert flt.types == ("error",) and flt.search == "timeout" and flt.since is not None
    assert [c.describe() for c in flt.where] == ["severity=critical"]
    assert state.describe() == ["today", "search 'timeout'", "severity=critical"]
    state.tab = "ai"
    assert state.filter().where == () and state.filter().search == "timeout"
    state.clear()
    assert state.filter() == Filter(types=("ai",))
