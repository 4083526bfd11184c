"""The filter dialog: a form with every field that makes sense for a tab's kind.

| key | does |
| --- | --- |
| ``enter`` (in a text box), ``ctrl+s`` | applies the filters |
| ``escape`` | cancels |
| ``tab`` / ``shift+tab`` | next / previous field |

Choices (level, severity, status, method, yes/no) are drop-downs; text fields
match exactly, or contain with a leading ``~`` (``~/api``), or differ with a
leading ``!=``.  Each value is read by :func:`logconsole.store.query.parse_condition`,
the same reader as ``--where``, so the dialog and the CLI agree on what a
filter means; a value it refuses is explained under the form.

*since* and *until* take every time ``--since`` and ``--until`` take
(:func:`logconsole.timeutil.parse_user_time`: ``2h``, ``90 minutes``,
``yesterday``, ``last week``, ``2026-11-20 09:15``, ...), shown in local time;
an unchanged box keeps the range it showed.

The dialog replaces the filter's conditions and time range, and keeps its
search and types.  Conditions the form cannot show (``metrics.cpu_usage>90``
from the command line) are listed and kept until *Clear*.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Select, Static

from logconsole import kinds as K
from logconsole.safe_text import visible
from logconsole.screens.dialog import Dialog, ErrorLine, plain
from logconsole.store.query import Condition, Filter, QueryError, parse_condition
from logconsole.timeutil import format_ts, parse_ts, parse_user_time, to_stored, utcnow

Editor = Literal["choice", "text", "range"]

_BOOL_CHOICES = ("yes", "no")
_TEXT_OPS = ("!=", "~")


@dataclass(frozen=True, slots=True)
class FormField:
    """One row of the form: which column, how it is edited, its choices and suggestions."""

    name: str
    label: str
    widget: Editor
    choices: tuple[str, ...] = ()
    suggest: tuple[str, ...] = ()


def form_fields(kind: K.Kind | None, hosts: tuple[str, ...] = ()) -> tuple[FormField, ...]:
    """The rows of the form for ``kind``: its fields marked ``filter`` in :mod:`logconsole.kinds`,
    and ``host`` (suggesting ``hosts``) when the records come from several hosts."""
    out = []
    for fld in K.filter_fields(kind):
        name, label = fld.name, fld.label
        if fld.type in ("int", "number"):
            out.append(FormField(name, label, "range"))
        elif name == "method":
            out.append(FormField(name, label, "choice", K.METHODS))
        elif fld.type == "enum":
            out.append(FormField(name, label, "choice", fld.values))
        elif fld.type == "bool":
            out.append(FormField(name, label, "choice", _BOOL_CHOICES))
        else:
            out.append(FormField(name, label, "text", suggest=fld.suggest))
    if hosts and not any(f.name == "host" for f in out):
        out.append(FormField("host", K.ALL_FIELDS["host"].label, "text", suggest=hosts))
    return tuple(out)


def _choice_of(field: FormField, cond: Condition) -> str | None:
    """The drop-down value showing ``cond``, or ``None`` when it cannot."""
    if cond.op != "=" or cond.value is None:
        return None
    if field.choices == _BOOL_CHOICES:
        return {1: "yes", 0: "no"}.get(cond.value)
    value = str(cond.value)
    return value if value in field.choices else None


def prefill(
    fields: Iterable[FormField], where: Iterable[Condition]
) -> tuple[dict[str, str], list[Condition]]:
    """Widget values (by widget id) that show ``where``, and the conditions they cannot."""
    by_name = {f.name: f for f in fields}
    values: dict[str, str] = {}
    rest: list[Condition] = []
    for cond in where:
        field = by_name.get(cond.column)
        shown: dict[str, str] = {}
        if field is not None and not cond.path and cond.value is not None:
            if field.widget == "choice":
                choice = _choice_of(field, cond)
                if choice is not None:
                    shown[f"f-{field.name}"] = choice
            elif field.widget == "text" and cond.op in ("=", *_TEXT_OPS):
                shown[f"f-{field.name}"] = ("" if cond.op == "=" else cond.op) + str(cond.value)
            elif field.widget == "range":
                if cond.op in (">=", "="):
                    shown[f"f-{field.name}-min"] = str(cond.value)
                if cond.op in ("<=", "="):
                    shown[f"f-{field.name}-max"] = str(cond.value)
        if shown and not shown.keys() & values.keys():
            values.update(shown)
        else:
            rest.append(cond)
    return values, rest


TIME_BOXES = (("since", "since"), ("until", "until"))
"""The time boxes: (filter attribute, label); widget ids ``f-since``, ``f-until``."""
TIME_PLACEHOLDER = "any (2h, yesterday, 2026-11-20 09:15)"


def shown_time(stored: str | None) -> str:
    """A stored time as the time box shows it: local, to the second (or finer
    when it has a fraction)."""
    if not stored:
        return ""
    local = parse_ts(stored).astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{local.microsecond:06d}" if local.microsecond else text


def split_text_op(raw: str) -> tuple[str, str]:
    """A text box's operator and value: ``~x`` contains, ``!=x`` differs, else equals."""
    op = next((o for o in _TEXT_OPS if raw.startswith(o)), "=")
    return op, raw[len(op):] if op != "=" else raw


class FilterScreen(Dialog[Filter | None]):
    """Edits ``current.where`` for ``kind``; dismisses with the new filter or ``None``."""

    DEFAULT_CSS = """
    FilterScreen > .dialog {
        width: 70;
    }
    FilterScreen #filter-form {
        height: auto;
        max-height: 14;
        scrollbar-size-vertical: 1;
    }
    FilterScreen .filter-row {
        height: auto;
    }
    FilterScreen .filter-label {
        width: 17;
        color: $text-muted;
    }
    FilterScreen .filter-row Input, FilterScreen .filter-row Select {
        width: 1fr;
    }
    FilterScreen .filter-row .range-input {
        width: 10;
    }
    FilterScreen .range-to {
        width: auto;
        padding: 0 1;
    }
    FilterScreen #filter-kept {
        height: auto;
        color: $text-muted;
    }
    FilterScreen #filter-kept.-empty {
        display: none;
    }
    FilterScreen #filter-hint {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", priority=True, id="filters.apply"),
        Binding("escape", "cancel", "Cancel", id="filters.cancel"),
    ]

    def __init__(self, kind: K.Kind | None, current: Filter,
                 clock: Callable[[], datetime] = utcnow, hosts: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.kind = kind
        self.current = current
        self.clock = clock
        self.fields = form_fields(kind, hosts)
        self._initial, self._kept = prefill(self.fields, current.where)
        for attr, _ in TIME_BOXES:
            self._initial[f"f-{attr}"] = shown_time(getattr(current, attr))

    @property
    def types(self) -> tuple[str, ...]:
        return (self.kind.name,) if self.kind else self.current.types

    def compose(self) -> ComposeResult:
        title = f"Filter {self.kind.label}" if self.kind else "Filter"
        with Vertical(classes="dialog") as box:
            box.border_title = plain(title)
            with VerticalScroll(id="filter-form"):
                for field in self.fields:
                    with Horizontal(classes="filter-row"):
                        yield Static(plain(field.label), classes="filter-label")
                        yield from self._editor(field)
                for attr, label in TIME_BOXES:
                    with Horizontal(classes="filter-row"):
                        yield Static(plain(label), classes="filter-label")
                        yield Input(self._initial[f"f-{attr}"], placeholder=TIME_PLACEHOLDER,
                                    compact=True, id=f"f-{attr}")
            yield Static(plain("text: exact, ~ contains, != differs · ctrl+s applies"), id="filter-hint")
            yield Static("", markup=False, id="filter-kept")
            yield ErrorLine(id="filter-error")
            with Horizontal(classes="dialog--buttons"):
                yield Button("Apply", variant="primary", id="filter-apply")
                yield Button("Clear", id="filter-clear")
                yield Button("Cancel", id="filter-cancel")

    def _editor(self, field: FormField) -> ComposeResult:
        wid = f"f-{field.name}"
        if field.widget == "choice":
            yield Select(
                [(plain(c), c) for c in field.choices],
                prompt="any",
                value=self._initial.get(wid, Select.NULL),
                compact=True,
                id=wid,
            )
        elif field.widget == "range":
            yield Input(self._initial.get(f"{wid}-min", ""), placeholder="min", compact=True,
                        id=f"{wid}-min", classes="range-input")
            yield Static(plain("to"), classes="range-to")
            yield Input(self._initial.get(f"{wid}-max", ""), placeholder="max", compact=True,
                        id=f"{wid}-max", classes="range-input")
        else:
            hints = field.suggest
            suggester = SuggestFromList(hints, case_sensitive=False) if hints else None
            yield Input(self._initial.get(wid, ""), placeholder="any", compact=True, id=wid, suggester=suggester)

    def on_mount(self) -> None:
        self._show_kept()
        first = self.query("#filter-form Input, #filter-form Select").first()
        first.focus()

    def _show_kept(self) -> None:
        kept = self.query_one("#filter-kept", Static)
        text = ", ".join(visible(c.describe(), newlines=False) for c in self._kept)
        kept.update(plain(f"also kept: {text}" if text else ""))
        kept.set_class(not text, "-empty")

    # ------------------------------------------------------------ reading the form

    def conditions(self) -> tuple[Condition, ...]:
        """The form's conditions (then the kept ones); :class:`_FieldError` names a bad field."""
        out: list[Condition] = []
        for field in self.fields:
            wid = f"f-{field.name}"
            if field.widget == "choice":
                value = self.query_one(f"#{wid}", Select).value
                if value is not Select.NULL:
                    out.append(self._read(wid, field.label, field.name, "=", str(value)))
            elif field.widget == "range":
                for end, op in (("min", ">="), ("max", "<=")):
                    raw = self.query_one(f"#{wid}-{end}", Input).value.strip()
                    if raw:
                        out.append(self._read(f"{wid}-{end}", f"{field.label} {end}", field.name, op, raw))
            else:
                raw = self.query_one(f"#{wid}", Input).value.strip()
                if raw:
                    op, value = split_text_op(raw)
                    out.append(self._read(wid, field.label, field.name, op, value))
        return (*out, *self._kept)

    def time_range(self) -> tuple[str | None, str | None]:
        """``(since, until)`` in the stored form; :class:`_FieldError` names a bad box.

        A box still showing what it was opened with keeps the exact time it stood for.
        """
        now = self.clock()
        out: list[str | None] = []
        for attr, label in TIME_BOXES:
            wid = f"f-{attr}"
            raw = self.query_one(f"#{wid}", Input).value.strip()
            if not raw:
                out.append(None)
            elif raw == self._initial[wid]:
                out.append(getattr(self.current, attr))
            else:
                try:
                    out.append(format_ts(parse_user_time(raw, now)))
                except ValueError as exc:
                    raise _FieldError(wid, f"{label}: {exc}") from None
        since, until = out
        if since and until and to_stored(since) >= to_stored(until):
            raise _FieldError("f-until", "until: must be after since")
        return since, until

    def _read(self, wid: str, label: str, name: str, op: str, value: str) -> Condition:
        """``name op value`` as a condition; a refusal becomes a :class:`_FieldError`
        worded for the form (the field's label, not the ``--where`` it was read as)."""
        try:
            return parse_condition(f"{name}{op}{value}", self.types)
        except QueryError as exc:
            reason = re.sub(r"^--where '.*?': ", "", str(exc), count=1, flags=re.S)
            raise _FieldError(wid, f"{label}: {reason}") from None

    # ------------------------------------------------------------ actions

    @on(Input.Submitted)
    @on(Button.Pressed, "#filter-apply")
    def action_apply(self) -> None:
        try:
            where = self.conditions()
            since, until = self.time_range()
        except _FieldError as exc:
            self.query_one("#filter-error", ErrorLine).show(exc.message)
            self.query_one(f"#{exc.widget_id}").focus()
            return
        self.dismiss(self.current.with_(where=where, since=since, until=until))

    @on(Button.Pressed, "#filter-clear")
    def clear(self) -> None:
        """Empty every field and drop the kept conditions (applied with *Apply*)."""
        for select in self.query("#filter-form Select").results(Select):
            select.clear()
        for box in self.query("#filter-form Input").results(Input):
            box.value = ""
        self._kept = []
        self._show_kept()
        self.query_one("#filter-error", ErrorLine).clear()

    @on(Button.Pressed, "#filter-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class _FieldError(Exception):
    """A value the form cannot use, and the widget that holds it."""

    def __init__(self, widget_id: str, message: str) -> None:
        super().__init__(message)
        self.widget_id = widget_id
        self.message = message
