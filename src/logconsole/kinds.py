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
    """One field of a record kind.

    ``values`` lists an enum's allowed values (lower case); ``synonyms`` maps
    other spellings to them (``warning`` -> ``warn``).  ``fts`` puts the field in
    the full-text index.  ``width`` is the preferred column width in tables.
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

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


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


def _user_fields() -> tuple[Field, ...]:
    return (
        Field("user_id", width=12),
        Field("user_name", fts=True, width=14),
    )


def _request_fields() -> tuple[Field, ...]:
    return (
        Field("endpoint", fts=True, width=24),
        Field("method", upper=True, width=6),
        Field("status_code", "int", width=4),
    )


ACTIVITY = Kind(
    name="activity",
    label="Activity",
    fields=(
        Field("level", "enum", LEVELS, default="info", synonyms=_LEVEL_SYNONYMS, width=5),
        Field("category", width=8),
        Field("title", fts=True, width=30),
        Field("message", fts=True, width=40),
        *_user_fields(),
        Field("user_email", width=18),
        Field("ip_address", width=15),
        Field("user_agent", width=20),
        *_request_fields(),
        Field("duration_ms", "number", aliases=("duration",), width=7),
        Field("request_data", "json"),
        Field("response_data", "json"),
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
            synonyms=_SEVERITY_SYNONYMS, width=8,
        ),
        Field("error_type", fts=True, width=18),
        Field("message", required=True, fts=True, width=40),
        Field("stack", fts=True),
        *_request_fields(),
        Field("user_id", width=12),
        Field("ip_address", width=15),
        Field("user_agent", width=20),
        Field("is_resolved", "bool", default=False, width=3),
        Field("resolution"),
        Field("resolved_at", "time"),
        Field("resolved_by", width=12),
    ),
    columns=("severity", "is_resolved", "error_type", "endpoint", "message"),
    level_field="severity",
    summary_fields=("message", "error_type"),
)

AI = Kind(
    name="ai",
    label="AI",
    fields=(
        Field("ai_model", required=True, aliases=("model",), fts=True, width=14),
        Field("prompt", fts=True, width=30),
        Field("response", fts=True, width=30),
        Field("tokens_used", "int", aliases=("tokens",), width=6),
        Field("response_time_ms", "number", aliases=("response_time", "latency_ms"), width=7),
        *_user_fields(),
        Field("conversation_id", width=12),
        Field("status", "enum", AI_STATUSES, default="success", width=7),
        Field("error_message", fts=True, width=30),
    ),
    columns=("ai_model", "status", "tokens_used", "response_time_ms", "prompt"),
    level_field="status",
    summary_fields=("prompt", "error_message", "response", "ai_model"),
)

CHAT = Kind(
    name="chat",
    label="Chat",
    fields=(
        Field("chat_type", width=12),
        Field("sender_id", width=10),
        Field("sender_name", fts=True, width=14),
        Field("receiver_id", width=10),
        Field("receiver_name", fts=True, width=14),
        Field("conversation_id", width=12),
        Field("message", required=True, fts=True, width=40),
        Field("is_read", "bool", default=False, width=3),
    ),
    columns=("chat_type", "sender_name", "receiver_name", "message"),
    level_field="chat_type",
    summary_fields=("message",),
)

SYSTEM = Kind(
    name="system",
    label="System",
    fields=(
        Field("event_type", fts=True, width=16),
        Field(
            "status", "enum", SYSTEM_STATUSES, default="healthy",
            synonyms=(("warn", "warning"), ("crit", "critical"), ("ok", "healthy")), width=8,
        ),
        Field("message", fts=True, width=40),
        Field("metrics", "json", aliases=("system_metrics",)),
        Field("requires_action", "bool", default=False, width=3),
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
    Field("created_at", "time", aliases=("timestamp", "time"), width=19),
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
