"""How a logconsole record is spelled as an OpenTelemetry log record, both ways.

One table, read by the receiver (OTLP -> record) and the forwarder (record ->
OTLP), so a record forwarded to another logconsole comes back with every field.

- ``created_at`` is the log record's ``time_unix_nano``; ``trace_id`` and
  ``span_id`` are its own trace and span ids; ``host`` is the resource's
  ``host.name``.
- The kind is the attribute ``logconsole.type``.
- A field with an OpenTelemetry semantic convention uses it
  (:data:`CONVENTIONS`); every other field is ``logconsole.<field>``.
- The level of activity records and the severity of errors are the log
  record's severity number (:data:`LEVEL_NUMBERS`, :data:`SEVERITY_NUMBERS`).
  The ``status`` of AI calls and system records sets it too
  (:data:`STATUS_NUMBERS`) and stays the attribute ``logconsole.status``;
  chat messages are INFO.
- ``extra`` members are attributes under their own names.
- The record's main text (:data:`BODY_FIELDS`) is the log record's body; it
  is not repeated as an attribute unless a convention names one for it (an
  error's message is also ``exception.message``).
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "logconsole."
KIND_ATTRIBUTE: Final = "logconsole.type"
ID_ATTRIBUTE: Final = "logconsole.id"
"""The record's id in the store it was forwarded from (a receiver may dedupe on it)."""
HOST_RESOURCE: Final = "host.name"
OWN_SCOPE: Final = "logconsole"
"""The instrumentation scope of records logconsole forwards: a receiver keeps
no scope for it (the record's own fields say where it came from)."""
SERVICE_RESOURCE: Final = "service.name"

CONVENTIONS: Final[dict[str, dict[str, str]]] = {
    # kind -> field -> attribute (OpenTelemetry semantic conventions)
    "activity": {
        "method": "http.request.method",
        "endpoint": "http.route",
        "status_code": "http.response.status_code",
        "user_id": "user.id",
        "user_name": "user.name",
        "user_email": "user.email",
        "ip_address": "client.address",
        "user_agent": "user_agent.original",
    },
    "error": {
        "error_type": "exception.type",
        "message": "exception.message",
        "stack": "exception.stacktrace",
        "method": "http.request.method",
        "endpoint": "http.route",
        "status_code": "http.response.status_code",
        "user_id": "user.id",
        "ip_address": "client.address",
        "user_agent": "user_agent.original",
    },
    "ai": {
        "ai_model": "gen_ai.request.model",
        "conversation_id": "gen_ai.conversation.id",
        "user_id": "user.id",
        "user_name": "user.name",
        "error_message": "error.message",
    },
    "chat": {},
    "system": {},
}

# Other spellings a receiver accepts for a field (the first listed is preferred).
ALSO_ACCEPTED: Final[dict[str, tuple[str, ...]]] = {
    "endpoint": ("url.path", "http.target"),
    "method": ("http.method",),
    "status_code": ("http.status_code",),
    "ai_model": ("gen_ai.response.model",),
    "prompt": ("gen_ai.input.messages", "gen_ai.prompt"),
    "response": ("gen_ai.output.messages", "gen_ai.completion"),
}

BODY_FIELDS: Final[dict[str, str]] = {
    # kind -> the field that is the log record's body
    "activity": "message",
    "error": "message",
    "ai": "prompt",
    "chat": "message",
    "system": "message",
}

DURATIONS_IN_SECONDS: Final[dict[str, tuple[str, ...]]] = {
    # field (milliseconds) -> attributes that carry it in seconds, the conventions' unit
    "duration_ms": ("http.server.request.duration",),
    "response_time_ms": ("gen_ai.client.operation.duration",),
}

EXCEPTION_PREFIX: Final = "exception."
"""A log record with an attribute under this prefix reports an exception: an error."""
GENAI_MODELS: Final = ("gen_ai.request.model", "gen_ai.response.model")
"""A log record naming a model is a GenAI record: an ``ai`` record."""
ERROR_TYPE: Final = "error.type"
"""On a GenAI record: the call failed (``status`` ``error``)."""
SCOPE_NAME: Final = "otel.scope.name"
SCOPE_VERSION: Final = "otel.scope.version"
EVENT_NAME: Final = "event.name"
"""Where a receiver keeps the instrumentation scope and the event name (under ``extra``)."""

GENAI_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GENAI_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"

# logconsole value -> OpenTelemetry severity number (SeverityNumber)
LEVEL_NUMBERS: Final[dict[str, int]] = {"debug": 5, "info": 9, "warn": 13, "error": 17, "critical": 21}
SEVERITY_NUMBERS: Final[dict[str, int]] = {"low": 13, "medium": 17, "high": 18, "critical": 21}
STATUS_NUMBERS: Final[dict[str, dict[str, int]]] = {
    # kind -> status -> severity number, for kinds whose ``status`` says how bad a record is
    "ai": {"success": 9, "error": 17},
    "system": {"healthy": 9, "warning": 13, "error": 17, "critical": 21},
}
INFO_NUMBER: Final = 9
"""SEVERITY_NUMBER_INFO: chat messages (no field says how bad one is)."""
ERROR_NUMBER: Final = 17
"""SEVERITY_NUMBER_ERROR: from here up a log record is an error."""

TEXT_NUMBERS: Final[dict[str, int]] = {
    "trace": 1, "debug": 5, "info": 9, "information": 9, "notice": 10, "warn": 13, "warning": 13,
    "error": 17, "err": 17, "critical": 21, "crit": 21, "fatal": 21, "alert": 22, "emergency": 23,
}
"""Severity texts (lower case) a receiver reads when a log record has no severity number."""


def number_of(number: int, text: str) -> int:
    """A log record's severity number, from its text when the number is unspecified."""
    if number > 0 or not text:
        return number
    return TEXT_NUMBERS.get(text.strip().lower(), 0)


def level_of(number: int) -> str:
    """The activity level of a severity number (0, unspecified, is ``info``)."""
    if number <= 0:
        return "info"
    if number < 9:
        return "debug"
    if number < 13:
        return "info"
    if number < 17:
        return "warn"
    if number < 21:
        return "error"
    return "critical"


def severity_of(number: int) -> str:
    """The error severity of a severity number (an error below ERROR, by its
    ``exception.*`` attributes, is ``low``; unspecified is ``medium``)."""
    if number <= 0:
        return "medium"
    if number < 17:
        return "low"
    if number == 17:
        return "medium"
    if number < 21:
        return "high"
    return "critical"


def attribute_for(kind: str, field: str) -> str:
    """The attribute that carries ``field`` of a ``kind`` record."""
    return CONVENTIONS.get(kind, {}).get(field, PREFIX + field)
