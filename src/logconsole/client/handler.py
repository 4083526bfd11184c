"""Python ``logging`` into the collector: :class:`LogHandler`.  Standard library only."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

from logconsole.client import request_context
from logconsole.client.log_client import LogClient, _stamp, get_client

_LOG_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}

_LEVELS = ((logging.ERROR, "error"), (logging.WARNING, "warn"), (logging.INFO, "info"), (0, "debug"))


class LogHandler(logging.Handler):
    """Python ``logging`` into the collector.

    ERROR and above become ``error`` records (``critical`` severity for
    CRITICAL, ``high`` for ERROR) with ``error_type`` and ``stack`` from
    ``exc_info``; lower levels become ``activity`` records with the matching
    level.  The logger's name, module, function and line go under ``extra``,
    with anything passed as ``logging``'s own ``extra=``.
    """

    def __init__(
        self,
        client: LogClient | None = None,
        level: int = logging.NOTSET,
        *,
        category: str | None = None,
    ) -> None:
        super().__init__(level)
        self.client = client
        self.category = category

    def emit(self, record: logging.LogRecord) -> None:
        try:
            client = self.client or get_client()
            fields = self.fields(record)
            client.log(fields.pop("type"), fields)
        except Exception:
            self.handleError(record)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record ``record`` becomes (with its ``type``)."""
        extra: dict[str, Any] = {
            "logger": record.name,
            "module": record.module,
            "function": record.funcName,
            "line": record.lineno,
        }
        ids: dict[str, Any] = {}
        for key, value in record.__dict__.items():
            if key in request_context.FIELDS:
                if value:
                    ids[key] = value  # stamped by CorrelationFilter, or logging's extra=
            elif key not in _LOG_RECORD_ATTRS and not key.startswith("_"):
                extra[key] = value
        created = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "message": record.getMessage(),
            "created_at": _stamp(created),
            "extra": extra,
            **ids,
        }
        if record.levelno >= logging.ERROR:
            out["type"] = "error"
            out["severity"] = "critical" if record.levelno >= logging.CRITICAL else "high"
            if record.exc_info and record.exc_info[0] is not None:
                out["error_type"] = record.exc_info[0].__name__
                out["stack"] = "".join(traceback.format_exception(*record.exc_info))
            elif record.stack_info:
                out["stack"] = record.stack_info
        else:
            out["type"] = "activity"
            out["level"] = next(name for floor, name in _LEVELS if record.levelno >= floor)
            out["title"] = record.name
            if self.category:
                out["category"] = self.category
            if record.exc_info and record.exc_info[0] is not None:
                extra["stack"] = "".join(traceback.format_exception(*record.exc_info))
        return out


class CorrelationFilter(logging.Filter):
    """Stamps the correlation ids in force (:func:`~logconsole.client.correlation`,
    the middleware's request) on each log record where it is made.

    Needed where records are emitted on another thread than the one that
    logged them: put it on a :class:`logging.handlers.QueueHandler`, and the
    :class:`LogHandler` behind the ``QueueListener`` still sends each record
    with its request's ids.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in request_context.current().items():
            if not getattr(record, name, None):
                setattr(record, name, value)
        return True
