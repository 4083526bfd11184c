"""The request a record was written in: correlation ids in a context variable.

While :func:`correlation` is in force (the WSGI and ASGI middleware put one
around each request), every record :class:`~logconsole.client.LogClient`
sends carries its ``request_id``, ``trace_id`` and ``span_id``, whichever
kind it is and whether it comes from the client, the logging handler or the
middleware.  A :class:`contextvars.ContextVar` keeps one request's ids apart
from another's, in threads (WSGI servers) and in asyncio tasks (ASGI servers)
alike.  Standard library only.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

FIELDS = ("request_id", "trace_id", "span_id")
"""The correlation fields, as records carry them."""

_CAMEL = {"request_id": "requestId", "trace_id": "traceId", "span_id": "spanId"}

_current: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "logconsole_correlation", default=None)

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
MAX_REQUEST_ID = 200
"""Longest incoming ``X-Request-ID`` taken as given; a longer one is replaced."""
_REQUEST_ID = re.compile(r"^[\x21-\x7e]+$")


def current() -> Mapping[str, str]:
    """The correlation ids in force here (empty outside any :func:`correlation`)."""
    return _current.get() or {}


@contextmanager
def correlation(request_id: str | None = None, trace_id: str | None = None,
                span_id: str | None = None) -> Iterator[Mapping[str, str]]:
    """Tag every record sent inside the block with these ids (``None`` keeps
    the id of an enclosing block); yields the ids in force.

    ``with correlation(request_id=job.id): ...`` ties a background job's
    records together like the middleware ties a request's.
    """
    token = _current.set(merged(request_id=request_id, trace_id=trace_id, span_id=span_id))
    try:
        yield _current.get() or {}
    finally:
        _current.reset(token)


def merged(**ids: str | None) -> Mapping[str, str]:
    """The ids in force with ``ids`` over them (``None`` and empty ones left out)."""
    out = dict(current())
    out.update({name: str(value) for name, value in ids.items() if name in FIELDS and value})
    return out


def apply(record: dict[str, object]) -> None:
    """Add the ids in force to ``record`` where it has none of its own."""
    ids = _current.get()
    if not ids:
        return
    for name, value in ids.items():
        if name not in record and _CAMEL[name] not in record:
            record[name] = value


def new_request_id() -> str:
    """A fresh request id: 32 hex digits (a UUID4)."""
    return uuid.uuid4().hex


def parse_traceparent(header: str | None) -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of a W3C ``traceparent`` header
    (``00-<32 hex>-<16 hex>-<2 hex>``); ``None`` when it is missing, malformed,
    of the invalid version ``ff`` or has an all-zero id."""
    if not header:
        return None
    m = _TRACEPARENT.match(header.strip().lower())
    if m is None:
        return None
    version, trace_id, span_id, _flags = m.groups()
    if version == "ff" or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    return trace_id, span_id


def from_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """A request's ids from its (lower-case) headers: ``X-Request-ID`` when it
    is a printable token of reasonable length, else a new one; ``traceparent``
    when it is well formed."""
    given = (headers.get("x-request-id") or "").strip()
    ids = {"request_id": given if _REQUEST_ID.match(given) and len(given) <= MAX_REQUEST_ID else new_request_id()}
    trace = parse_traceparent(headers.get("traceparent"))
    if trace is not None:
        ids["trace_id"], ids["span_id"] = trace
    return ids


__all__ = ["FIELDS", "apply", "correlation", "current", "from_headers", "merged", "new_request_id",
           "parse_traceparent"]
