"""One source of truth per field: the CLI table, the console's list, its detail
pane and its filter dialog name and colour a field the same way, the way
:mod:`logconsole.kinds` declares it."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text

from logconsole import kinds as K
from logconsole.screens import columns as C
from logconsole.screens.detail import render_record
from logconsole.screens.filters import form_fields
from logconsole.table_view import record_table
from tui_data import FIXED_NOW


def _row(kind: str, **values: Any) -> dict[str, Any]:
    return {"id": 1, "type": kind, "created_at": "2026-11-20T11:00:00.000Z", **values}


def _styles(value: Any) -> tuple[Style, ...]:
    """Every style set on a Text (its own and its spans')."""
    text = value if isinstance(value, Text) else Text(str(value))
    return tuple(Style.parse(s) if isinstance(s, str) else s for s in (text.style, *(sp.style for sp in text.spans)) if s)


@pytest.mark.parametrize("kind", K.KINDS.values(), ids=lambda k: k.name)
def test_cli_and_console_headings_are_the_fields_short_names(kind: K.Kind) -> None:
    console_labels = {c.name: c.label for c in C.columns_for(kind)}
    table = record_table([_row(kind.name)], ["created_at", *kind.columns], width=300)
    cli_labels = dict(zip(["created_at", *kind.columns], (str(c.header) for c in table.columns)))
    for name in kind.columns:
        assert cli_labels[name] == console_labels[name] == K.ALL_FIELDS[name].short, name
    assert cli_labels["created_at"] == console_labels["created_at"] == "time"


def test_the_filter_dialog_and_the_detail_pane_use_the_fields_labels() -> None:
    for kind in K.KINDS.values():
        for ff in form_fields(kind):
            assert ff.label == kind.by_name[ff.name].label
    assert {f.name: f.label for f in form_fields(K.ERROR)}["is_resolved"] == "resolved"
    console = Console(width=100, record=True, color_system=None)
    console.print(render_record(_row("ai", ai_model="gpt-4o", status="success"), FIXED_NOW))
    assert "model" in console.export_text() and "ai model" not in console.export_text()


CASES = [
    ("activity", "level", value) for value in K.LEVELS
] + [
    ("error", "severity", value) for value in K.SEVERITIES
] + [
    ("system", "status", value) for value in K.SYSTEM_STATUSES
] + [
    ("ai", "status", value) for value in K.AI_STATUSES
]


@pytest.mark.parametrize(("kind", "name", "value"), CASES, ids=lambda v: str(v))
def test_a_value_has_one_colour_in_the_cli_and_the_console(kind: str, name: str, value: str) -> None:
    row = _row(kind, **{name: value})
    declared = Style.parse(K.KINDS[kind].by_name[name].style_of(value))
    assert declared != Style.null(), f"{kind}.{name}={value} has no colour"
    table = record_table([row], [name], width=80)
    cli_cell = list(table.columns[0].cells)[0]
    assert declared in _styles(cli_cell)
    assert C.cell_style(row, name) == declared
    assert C.cell_style(row, "level") == declared  # the overview's level column
    overview = list(record_table([row], ["level"], width=80).columns[0].cells)[0]
    assert declared in _styles(overview)


def test_info_is_one_colour_everywhere() -> None:
    row = _row("activity", level="info")
    cli = list(record_table([row], ["level"], width=80).columns[0].cells)[0]
    assert C.cell_style(row, "level") in _styles(cli)


def test_http_codes_and_flags_are_coloured_alike() -> None:
    for code, colour in ((503, "red"), (404, "yellow"), (200, "green")):
        row = _row("activity", status_code=code)
        cli = list(record_table([row], ["status_code"], width=80).columns[0].cells)[0]
        assert C.cell_style(row, "status_code") == Style.parse(colour)
        assert Style.parse(colour) in _styles(cli)
    assert C.cell_style(_row("error", is_resolved=1), "is_resolved") == Style.parse(K.GOOD)
    assert C.cell_style(_row("error", is_resolved=0), "is_resolved") is None
