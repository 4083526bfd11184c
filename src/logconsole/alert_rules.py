"""Alert rules: read from ``config.toml``, checked, and compiled into the
query module's :class:`~logconsole.store.query.Filter`.

A rule is a ``[[alerts]]`` table::

    [[alerts]]
    name = "payments failing"
    type = "error"                      # the CLI's filter options: type, where, search
    where = ["service=payments"]
    search = "declined"
    trigger = "count >= 20 within 5m"   # or "any", "new_group", "regression", "requires_action"
    cooldown = "10m"                    # default 10 minutes
    command = ["/usr/local/bin/page-oncall", "--team", "payments"]   # argv, never a shell
    url = "https://hooks.example.com/logconsole"
    timeout = 10                        # seconds a hook may take before it is killed

Four rules are built in and on by default (:data:`BUILTIN`): ``new_group``,
``regression``, ``critical`` (a critical error) and ``requires_action`` (a
system record that requires action).  A ``[[alerts]]`` table with a built-in's
name changes it (adds a command, a url, a cool-down) or switches it off
(``enabled = false``).

No rule ever matches an alert's own record (a ``system`` record with
``event_type = "alert"``): a firing cannot make another.

Who fired when, and how often, is kept in the ``meta`` table under
``alert:NAME`` (:func:`load_state`, :func:`save_state`), written by the
collector and read by ``logconsole alerts``.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from logconsole.store.query import Condition, Filter, QueryError, make_filter
from logconsole.timeutil import parse_duration

ALERT_EVENT = "alert"
"""The ``event_type`` of the system record every firing stores."""
DEFAULT_COOLDOWN = 600.0
DEFAULT_TIMEOUT = 10.0
TIMEOUT_RANGE = (0.01, 3600.0)
EVENT_TRIGGERS = ("new_group", "regression")
"""Triggers fired by the writer's group events rather than by matching records."""
TRIGGERS = ("any", "count", *EVENT_TRIGGERS, "requires_action")
KEYS = ("name", "type", "where", "search", "trigger", "cooldown", "command", "url", "timeout", "enabled")
_COUNT_RE = re.compile(r"^count\s*>=\s*(\d+)\s+within\s+(.+)$", re.I)

NOT_AN_ALERT = Condition("event_type", "!=", ALERT_EVENT)
"""Every rule's last condition: an alert's own record never matches."""


class RuleError(ValueError):
    """A rule that cannot be used; the message names the rule and the key."""


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    trigger: str
    """``any``, ``count``, ``new_group``, ``regression`` or ``requires_action``."""
    flt: Filter
    threshold: int = 1
    """``count``: matches within :attr:`window` that fire the rule."""
    window: float = 300.0
    cooldown: float = DEFAULT_COOLDOWN
    command: tuple[str, ...] = ()
    url: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    enabled: bool = True
    builtin: bool = False

    def describe_trigger(self) -> str:
        if self.trigger == "count":
            return f"count >= {self.threshold} within {_seconds_text(self.window)}"
        return self.trigger

    def describe_condition(self) -> str:
        f = self.flt
        parts = []
        if f.types:
            parts.append("type=" + ",".join(f.types))
        parts += [c.describe() for c in f.where if c != NOT_AN_ALERT]
        if f.search:
            parts.append(f"search={f.search!r}")
        return " ".join(parts) or "every record"


def _seconds_text(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _builtin(name: str, trigger: str, *, types: tuple[str, ...] = (), where: tuple[str, ...] = ()) -> Rule:
    flt = make_filter(types=types, where=where)
    return Rule(name, trigger, flt.with_(where=(*flt.where, NOT_AN_ALERT)), builtin=True)


BUILTIN: tuple[Rule, ...] = (
    _builtin("new_group", "new_group", types=("error",)),
    _builtin("regression", "regression", types=("error",)),
    _builtin("critical", "any", types=("error",), where=("severity=critical",)),
    _builtin("requires_action", "requires_action", types=("system",), where=("requires_action=true",)),
)


def _duration(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise RuleError(f"{what}: expected seconds or a duration like \"10m\", got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value).total_seconds()
        except ValueError as exc:
            raise RuleError(f"{what}: {exc}") from None
    else:
        raise RuleError(f"{what}: expected seconds or a duration like \"10m\", got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise RuleError(f"{what}: must be a duration of zero or more, got {value!r}")
    return seconds


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{what}: expected a string or a list of strings, got {value!r}")
    return tuple(value)


def _trigger(value: Any) -> tuple[str, int, float]:
    if not isinstance(value, str):
        raise RuleError(f"trigger: expected a string, got {value!r}")
    text = value.strip()
    if text.lower() in TRIGGERS and text.lower() != "count":
        return text.lower(), 1, 300.0
    m = _COUNT_RE.match(text)
    if m:
        threshold = int(m.group(1))
        if threshold < 1:
            raise RuleError(f"trigger: the count must be 1 or more, got {value!r}")
        window = _duration(m.group(2), "trigger")
        if window <= 0:
            raise RuleError(f"trigger: the window must be longer than zero, got {value!r}")
        return "count", threshold, window
    raise RuleError(f"trigger: expected any, \"count >= N within 5m\", new_group, regression or "
                    f"requires_action, got {value!r}")


def _rule(table: Any, index: int, builtins: dict[str, Rule]) -> Rule:
    if not isinstance(table, dict):
        raise RuleError(f"rule {index + 1}: must be a table, got {table!r}")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"rule {index + 1}: name: every rule needs a name (a non-empty string)")
    name = name.strip()
    try:
        return _read(name, table, builtins.get(name))
    except RuleError as exc:
        raise RuleError(f"rule {name!r}: {exc}") from None


def _read(name: str, table: dict[str, Any], base: Rule | None) -> Rule:
    unknown = [k for k in table if k not in KEYS]
    if unknown:
        raise RuleError(f"{unknown[0]}: unknown key; a rule takes {', '.join(KEYS)}")
    if base is None:
        if "trigger" not in table:
            raise RuleError("trigger: missing; say any, \"count >= N within 5m\", new_group, regression "
                            "or requires_action")
        base = Rule(name, "any", Filter())
    rule = base
    if "trigger" in table:
        trigger, threshold, window = _trigger(table["trigger"])
        rule = replace(rule, trigger=trigger, threshold=threshold, window=window)
    if any(k in table for k in ("type", "where", "search")):
        types = _strings(table.get("type", list(base.flt.types)), "type")
        where = _strings(table.get("where", []), "where")
        search = table.get("search")
        if search is not None and not isinstance(search, str):
            raise RuleError(f"search: expected a string, got {search!r}")
        for key, kwargs in (("type", {"types": types}), ("where", {"types": types, "where": where})):
            try:
                make_filter(**kwargs)  # type: ignore[arg-type]
            except QueryError as exc:
                raise RuleError(f"{key}: {exc}") from None
        flt = make_filter(types=types, where=where, search=search)
        keep = tuple(c for c in base.flt.where if c != NOT_AN_ALERT) if "where" not in table else ()
        rule = replace(rule, flt=flt.with_(where=(*keep, *flt.where)))
    if NOT_AN_ALERT not in rule.flt.where:
        rule = replace(rule, flt=rule.flt.with_(where=(*rule.flt.where, NOT_AN_ALERT)))
    if "cooldown" in table:
        rule = replace(rule, cooldown=_duration(table["cooldown"], "cooldown"))
    if "timeout" in table:
        timeout = _duration(table["timeout"], "timeout")
        if not TIMEOUT_RANGE[0] <= timeout <= TIMEOUT_RANGE[1]:
            raise RuleError(f"timeout: must be between 0.01 and 3600 seconds, got {table['timeout']!r}")
        rule = replace(rule, timeout=timeout)
    if "command" in table:
        command = table["command"]
        if isinstance(command, str):
            raise RuleError("command: must be a list (the program and its arguments, never run through a "
                            f"shell), e.g. [\"notify-send\", \"logconsole\"]; got {command!r}")
        command = _strings(command, "command")
        if not command or not command[0]:
            raise RuleError("command: the list must start with the program to run")
        rule = replace(rule, command=command)
    if "url" in table:
        url = table["url"]
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
            raise RuleError(f"url: expected an http:// or https:// address, got {url!r}")
        rule = replace(rule, url=url)
    if "enabled" in table:
        if not isinstance(table["enabled"], bool):
            raise RuleError(f"enabled: expected true or false, got {table['enabled']!r}")
        rule = replace(rule, enabled=table["enabled"])
    return rule


def parse_rules(data: dict[str, Any], source: Path | None = None) -> tuple[Rule, ...]:
    """The rules of a parsed config file: the built-ins (as changed there) and
    its ``[[alerts]]``; :class:`RuleError` names the file, the rule and the key."""
    where = f"{source}: " if source else ""
    tables = data.get("alerts", [])
    if not isinstance(tables, list):
        raise RuleError(f"{where}alerts: write each rule as an [[alerts]] table")
    builtins = {r.name: r for r in BUILTIN}
    rules: dict[str, Rule] = dict(builtins)
    seen: set[str] = set()
    for i, table in enumerate(tables):
        try:
            rule = _rule(table, i, builtins)
        except RuleError as exc:
            raise RuleError(f"{where}[[alerts]] {exc}") from None
        if rule.name in seen:
            raise RuleError(f"{where}[[alerts]] rule {rule.name!r}: name: two rules have this name")
        seen.add(rule.name)
        rules[rule.name] = rule
    return tuple(rules.values())


# ---------------------------------------------------------------- state


STATE_PREFIX = "alert:"


@dataclass(slots=True)
class RuleState:
    """What ``logconsole alerts`` shows about a rule; persisted in ``meta``."""

    last_fired: str | None = None
    firings: int = 0
    matched: int = 0
    suppressed: int = 0
    """Matches held back by the cool-down since the last firing."""
    failures: int = 0
    """Hooks (commands, URLs) that failed or timed out."""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps({"last_fired": self.last_fired, "firings": self.firings, "matched": self.matched,
                           "suppressed": self.suppressed, "failures": self.failures})


def load_state(conn: sqlite3.Connection) -> dict[str, RuleState]:
    return states_from(conn.execute("SELECT key, value FROM meta WHERE key >= ? AND key < ?",
                                    (STATE_PREFIX, STATE_PREFIX[:-1] + chr(ord(":") + 1))))


def states_from(pairs: Iterable[tuple[str, str]]) -> dict[str, RuleState]:
    """Each rule's state from the ``meta`` rows ``(key, value)`` under :data:`STATE_PREFIX` (either store)."""
    out: dict[str, RuleState] = {}
    for key, value in pairs:
        try:
            data = json.loads(value)
            out[key[len(STATE_PREFIX):]] = RuleState(
                data.get("last_fired"), int(data.get("firings", 0)), int(data.get("matched", 0)),
                int(data.get("suppressed", 0)), int(data.get("failures", 0)))
        except (ValueError, TypeError, AttributeError):
            continue
    return out


def save_state(conn: sqlite3.Connection, states: dict[str, RuleState]) -> None:
    """Write every rule's state (one short transaction)."""
    from logconsole.store.transaction import transaction

    with transaction(conn):
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         [(STATE_PREFIX + name, s.as_json()) for name, s in states.items()])
