"""The five record kinds, declared once.

Everything else derives from this module: the store's columns and indexes, the
full-text index, validation in :mod:`logconsole.ingest`, export headers, the
CLI's ``--where`` coercion and the TUI's columns and filters.  A new field is
one line in :data:`KINDS`: an existing database gets its column (and, for an
``fts`` field, a rebuilt search index) the next time it is opened for writing
(:mod:`logconsole.store.migrations`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal["text", "int", "number", "bool", "enum", "json", "time"]


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a record kind, and how every screen and table shows it.

    ``values`` lists an enum's allowed values (lower case); ``synonyms`` maps
    other spellings to them (``warning`` -> ``warn``).  ``fts`` puts the field in
    the full-text index.  ``width`` is the preferred column width in tables.

    Presentation lives here too, so the console, the CLI table and the filter
    dialog agree: ``label`` names the field in forms and the detail pane
    (default: the name with spaces), ``short`` heads its table column (default:
    the label), ``styles`` colours values (Rich style text by value; for
    booleans the keys are ``true``/``false``), ``bands`` colours numbers
    (``(lowest, style)`` pairs, highest first), ``filter`` puts the field in the
    filter dialog and ``suggest`` lists values the dialog offers as you type.
    """

    name: str
    type: FieldType = "text"
    values: tuple[str, ...] = ()
    default: object = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    synonyms: tuple[tuple[str, str], ...] = ()
    fts: bool = False
    width: int = 0
    upper: bool = False
    label: str = ""
    short: str = ""
    styles: tuple[tuple[str, str], ...] = ()
    bands: tuple[tuple[float, str], ...] = ()
    filter: bool = False
    suggest: tuple[str, ...] = ()
    _style_by_value: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        label = self.label or self.name.replace("_", " ")
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "short", self.short or label)
        object.__setattr__(self, "_style_by_value", dict(self.styles))

    def style_of(self, value: object) -> str:
        """The Rich style of ``value`` in this field ("" when it is shown plain)."""
        if value is None:
            return ""
        if self.bands and isinstance(value, (int, float)) and not isinstance(value, bool):
            return next((style for lowest, style in self.bands if value >= lowest), "")
        if self.type == "bool":
            value = "true" if value else "false"
        return self._style_by_value.get(str(value), "")


@dataclass(frozen=True, slots=True)
class Kind:
    """A record kind: its fields, the columns shown by default and a label."""

    name: str
    label: str
    fields: tuple[Field, ...]
    columns: tuple[str, ...]
    """Default columns in tables, after ``id`` and ``created_at``."""
    level_field: str
    """The field that says how bad a record is (coloured in tables)."""
    summary_fields: tuple[str, ...]
    """Fields that, first non-empty wins, summarise a record in one line."""
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    field_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    required: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """Names of the fields a record of this kind must have."""

    def __post_init__(self) -> None:
        # Derived once: ingest and exports ask for these for every record.
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "field_names", tuple(f.name for f in self.fields))
        object.__setattr__(self, "required", tuple(f.name for f in self.fields if f.required))

    @property
    def filters(self) -> tuple[Field, ...]:
        """The fields of this kind's filter dialog: its level field first, then
        the others marked ``filter`` in declaration order."""
        marked = [f for f in self.fields if f.filter]
        return tuple(sorted(marked, key=lambda f: f.name != self.level_field))


LEVELS = ("debug", "info", "warn", "error", "critical")
SEVERITIES = ("low", "medium", "high", "critical")
SYSTEM_STATUSES = ("healthy", "warning", "error", "critical")
AI_STATUSES = ("success", "error")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

_LEVEL_SYNONYMS = (
    ("warning", "warn"),
    ("err", "error"),
    ("fatal", "critical"),
    ("crit", "critical"),
    ("trace", "debug"),
    ("notice", "info"),
    ("information", "info"),
)
_SEVERITY_SYNONYMS = (("crit", "critical"), ("fatal", "critical"), ("med", "medium"))

# How bad a value is, in colour: one palette for levels, severities and statuses.
PLAIN_LOW = "dim"
NOTICE = "cyan"
GOOD = "green"
WARN = "yellow"
BAD = "bold red"
WORST = "bold bright_white on red"

LEVEL_STYLES = (("debug", PLAIN_LOW), ("info", NOTICE), ("warn", WARN), ("error", BAD), ("critical", WORST))
SEVERITY_STYLES = (("low", PLAIN_LOW), ("medium", WARN), ("high", BAD), ("critical", WORST))
SYSTEM_STATUS_STYLES = (("healthy", GOOD), ("warning", WARN), ("error", BAD), ("critical", WORST))
AI_STATUS_STYLES = (("success", GOOD), ("error", BAD))
HTTP_STATUS_BANDS = ((500, "red"), (400, "yellow"), (0, "green"))

HEALTH_EVENT = "health_sample"
"""The ``event_type`` of the system records the health sampler writes."""


def _user_fields() -> tuple[Field, ...]:
    return (
        Field("user_id", width=12, filter=True),
        Field("user_name", fts=True, width=14),
    )


CORRELATION_FIELDS: tuple[str, ...] = ("request_id", "trace_id", "span_id")
"""Fields that tie a record to the request (and the distributed trace) it was
written in: every kind has them, so one request's records join across kinds."""


def _correlation_fields() -> tuple[Field, ...]:
    return (
        Field("request_id", width=12, label="request id", short="request"),
        Field("trace_id", width=32, label="trace id", short="trace"),
        Field("span_id", width=16, label="span id", short="span"),
    )


def _host_field() -> Field:
    """Where the record was collected: the collector's host name unless the
    record says (OpenTelemetry's ``host.name``), so a fleet's records stay apart."""
    return Field("host", width=12)


def _request_fields() -> tuple[Field, ...]:
    return (
        Field("endpoint", fts=True, width=24, filter=True),
        Field("method", upper=True, width=6, filter=True),
        Field("status_code", "int", width=4, label="status code", short="code",
              bands=HTTP_STATUS_BANDS, filter=True),
    )


ACTIVITY = Kind(
    name="activity",
    label="Activity",
    fields=(
        Field("level", "enum", LEVELS, default="info", synonyms=_LEVEL_SYNONYMS, width=5,
              styles=LEVEL_STYLES, filter=True),
        Field("category", width=8, filter=True,
              suggest=("user", "security", "course", "payment", "admin", "ai", "chat", "system")),
        Field("title", fts=True, width=30),
        Field("message", fts=True, width=40),
        *_user_fields(),
        Field("user_email", width=18),
        Field("ip_address", width=15),
        Field("user_agent", width=20),
        *_request_fields(),
        Field("duration_ms", "number", aliases=("duration",), width=7, short="ms"),
        Field("request_data", "json"),
        Field("response_data", "json"),
        *_correlation_fields(),
        _host_field(),
    ),
    columns=("level", "category", "method", "status_code", "duration_ms", "title"),
    level_field="level",
    summary_fields=("title", "message", "endpoint"),
)

ERROR = Kind(
    name="error",
    label="Errors",
    fields=(
        Field(
            "severity", "enum", SEVERITIES, default="medium",
            synonyms=_SEVERITY_SYNONYMS, width=8, styles=SEVERITY_STYLES, filter=True,
        ),
        Field("error_type", fts=True, width=18, filter=True),
        Field("message", required=True, fts=True, width=40),
        Field("stack", fts=True),
        *_request_fields(),
        Field("user_id", width=12, filter=True),
        Field("ip_address", width=15),
        Field("user_agent", width=20),
        Field("is_resolved", "bool", default=False, width=3, label="resolved",
              styles=(("true", GOOD),), filter=True),
        Field("resolution"),
        Field("resolved_at", "time"),
        Field("resolved_by", width=12),
        Field("fingerprint", width=30),
        Field("group_id", "int", width=6, label="group"),
        *_correlation_fields(),
        _host_field(),
    ),
    columns=("severity", "is_resolved", "error_type", "endpoint", "message"),
    level_field="severity",
    summary_fields=("message", "error_type"),
)

AI = Kind(
    name="ai",
    label="AI",
    fields=(
        Field("ai_model", required=True, aliases=("model",), fts=True, width=14, label="model", filter=True),
        Field("prompt", fts=True, width=30),
        Field("response", fts=True, width=30),
        Field("tokens_used", "int", aliases=("tokens",), width=6, short="tokens"),
        Field("response_time_ms", "number", aliases=("response_time", "latency_ms"), width=7, short="ms"),
        *_user_fields(),
        Field("conversation_id", width=12, filter=True),
        Field("status", "enum", AI_STATUSES, default="success", width=7, styles=AI_STATUS_STYLES, filter=True),
        Field("error_message", fts=True, width=30),
        *_correlation_fields(),
        _host_field(),
    ),
    columns=("ai_model", "status", "tokens_used", "response_time_ms", "prompt"),
    level_field="status",
    summary_fields=("prompt", "error_message", "response", "ai_model"),
)

CHAT = Kind(
    name="chat",
    label="Chat",
    fields=(
        Field("chat_type", width=12, short="chat", filter=True, suggest=("user_to_user", "group_chat", "support")),
        Field("sender_id", width=10, filter=True),
        Field("sender_name", fts=True, width=14, short="from"),
        Field("receiver_id", width=10, filter=True),
        Field("receiver_name", fts=True, width=14, short="to"),
        Field("conversation_id", width=12, filter=True),
        Field("message", required=True, fts=True, width=40),
        Field("is_read", "bool", default=False, width=3, label="read", filter=True),
        *_correlation_fields(),
        _host_field(),
    ),
    columns=("chat_type", "sender_name", "receiver_name", "message"),
    level_field="chat_type",
    summary_fields=("message",),
)

SYSTEM = Kind(
    name="system",
    label="System",
    fields=(
        Field("event_type", fts=True, width=16, short="event", filter=True, suggest=(HEALTH_EVENT,)),
        Field(
            "status", "enum", SYSTEM_STATUSES, default="healthy",
            synonyms=(("warn", "warning"), ("crit", "critical"), ("ok", "healthy")), width=8,
            styles=SYSTEM_STATUS_STYLES, filter=True,
        ),
        Field("message", fts=True, width=40),
        Field("metrics", "json", aliases=("system_metrics",)),
        Field("requires_action", "bool", default=False, width=3, short="action",
              styles=(("true", BAD),), filter=True),
        *_correlation_fields(),
        _host_field(),
    ),
    columns=("status", "requires_action", "event_type", "message"),
    level_field="status",
    summary_fields=("message", "event_type"),
)

KINDS: dict[str, Kind] = {k.name: k for k in (ACTIVITY, ERROR, AI, CHAT, SYSTEM)}
KIND_NAMES: tuple[str, ...] = tuple(KINDS)

KIND_SYNONYMS = {
    "errors": "error", "activities": "activity", "activitylogs": "activity",
    "errorlogs": "error", "ailogs": "ai", "chatlogs": "chat", "systemlogs": "system",
    "health": "system", "messages": "chat",
}

# Fields every record has, whatever its kind.
COMMON_FIELDS: tuple[Field, ...] = (
    Field("id", "int", width=7),
    Field("type", "enum", KIND_NAMES, width=8),
    Field("created_at", "time", aliases=("timestamp", "time"), width=19, label="time"),
    Field("extra", "json"),
)


def _union_fields() -> dict[str, Field]:
    """Every field of every kind by name (a name means the same type everywhere)."""
    out: dict[str, Field] = {f.name: f for f in COMMON_FIELDS}
    for kind in KINDS.values():
        for f in kind.fields:
            seen = out.get(f.name)
            if seen is not None and seen.type != f.type and {seen.type, f.type} != {"enum", "text"}:
                raise TypeError(f"field {f.name} has two types: {seen.type} and {f.type}")
            out.setdefault(f.name, f)
    return out


ALL_FIELDS: dict[str, Field] = _union_fields()
"""Every column of the records table, in a stable order."""

COLUMN_NAMES: tuple[str, ...] = tuple(ALL_FIELDS)
FTS_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(f.name for k in KINDS.values() for f in k.fields if f.fts)
)
JSON_COLUMNS = frozenset(n for n, f in ALL_FIELDS.items() if f.type == "json")
BOOL_COLUMNS = frozenset(n for n, f in ALL_FIELDS.items() if f.type == "bool")


def resolve_kind(name: str) -> Kind:
    """The kind called ``name`` (case-insensitive, plural and collection names too)."""
    key = name.strip().lower()
    key = KIND_SYNONYMS.get(key, key)
    try:
        return KINDS[key]
    except KeyError:
        raise ValueError(
            f"unknown type {name!r}; expected one of: {', '.join(KIND_NAMES)}"
        ) from None


def field_for(kinds: tuple[Kind, ...] | None, name: str) -> Field:
    """The field ``name`` (canonical or alias) among ``kinds``, or a clear error."""
    canon = canonical_name(name)
    pool = kinds or tuple(KINDS.values())
    for k in pool:
        f = k.by_name.get(canon)
        if f is not None:
            return f
    common = {f.name: f for f in COMMON_FIELDS}
    if canon in common:
        return common[canon]
    known = sorted({f.name for k in pool for f in k.fields} | set(common))
    where = ", ".join(k.name for k in pool) if kinds else "any type"
    raise ValueError(f"unknown field {name!r} for {where}; known fields: {', '.join(known)}")


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``userId`` -> ``user_id``, ``X-Api-Key`` -> ``x_api_key``."""
    return _CAMEL.sub("_", name).replace("-", "_").lower()


def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for f in ALL_FIELDS.values():
        table[f.name] = f.name
    for kind in KINDS.values():
        for f in (*kind.fields, *COMMON_FIELDS):
            for alias in f.aliases:
                table.setdefault(alias, f.name)
    return table


_ALIASES = _alias_table()
_CANONICAL_CACHE: dict[str, str] = dict(_ALIASES)
"""Keys seen before and their canonical names: every record of an app repeats
the same keys, and ingest asks for each one."""
_CANONICAL_CACHE_MAX = 50_000


def canonical_name(key: str) -> str:
    """The canonical field name for ``key`` (snake_case, camelCase or an alias).

    Unknown keys come back snake_cased; callers decide whether they are fields.
    """
    hit = _CANONICAL_CACHE.get(key)
    if hit is not None:
        return hit
    snake = snake_case(key)
    name = _ALIASES.get(snake, snake)
    if len(_CANONICAL_CACHE) < _CANONICAL_CACHE_MAX:
        _CANONICAL_CACHE[key] = name
    return name


def field_of(record: dict[str, object], name: str) -> Field | None:
    """The field ``name`` as the record's own kind declares it (``status`` differs
    between AI and system records), else any kind's; None when unknown."""
    kind = KINDS.get(str(record.get("type")))
    found = kind.by_name.get(name) if kind is not None else None
    return found or ALL_FIELDS.get(name)


def level_of(record: dict[str, object]) -> object:
    """The value of the field that says how bad the record is, whatever its kind."""
    kind = KINDS.get(str(record.get("type")))
    return record.get(kind.level_field) if kind is not None else None


def style_of(record: dict[str, object], name: str) -> str:
    """The Rich style of the record's ``name`` value (``level``: its level field's)."""
    if name == "level":
        kind = KINDS.get(str(record.get("type")))
        if kind is None:
            return ""
        name = kind.level_field
    field = field_of(record, name)
    return field.style_of(record.get(name)) if field is not None else ""


def filter_fields(kind: Kind | None) -> tuple[Field, ...]:
    """The filter dialog's fields for ``kind``; for every kind at once, the
    filter fields that several kinds share (user, endpoint, conversation...)."""
    if kind is not None:
        return kind.filters
    seen: dict[str, list[Field]] = {}
    for k in KINDS.values():
        for f in k.filters:
            seen.setdefault(f.name, []).append(f)
    return tuple(fs[0] for fs in seen.values() if len(fs) > 1 and fs[0].type != "enum")


def summary(record: dict[str, object]) -> str:
    """A one-line summary of a record, from its kind's summary fields."""
    kind = KINDS.get(str(record.get("type")))
    if kind is None:
        return ""
    for name in kind.summary_fields:
        value = record.get(name)
        if value:
            return str(value)
    return ""
