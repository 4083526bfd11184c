"""Logging to the logconsole collector from Python: standard library only.

Three ways in, all through one :class:`LogClient`:

* the client itself (:mod:`logconsole.client.log_client`), a method per record
  type (``activity``, ``error``, ``ai``, ``chat``, ``system``; also under the
  original service's names, ``createActivityLog`` and friends) and
  :meth:`LogClient.time_ai_call`;
* :class:`LogHandler` (:mod:`logconsole.client.handler`), a
  :class:`logging.Handler` (ERROR and above become ``error`` records with the
  stack, the rest ``activity`` records);
* :class:`WSGIMiddleware` and :class:`ASGIMiddleware`
  (:mod:`logconsole.client.middleware`), which record every request like the
  original request interceptor did, and tag every record written while
  serving a request with its ``request_id`` (and ``trace_id``/``span_id``
  from a ``traceparent`` header);
* :func:`correlation` (:mod:`logconsole.client.request_context`), which tags the
  records of any block of code the same way.

This package must stay importable without third-party packages: an
application that logs through it does not pull in the console.  What it shares
with the collector (the sync line, reading answers) is in
:mod:`logconsole.protocol`.
"""

from __future__ import annotations

from logconsole.client.request_context import correlation
from logconsole.client.handler import CorrelationFilter, LogHandler
from logconsole.client.log_client import AiCall, LogClient, encode_record, get_client
from logconsole.client.middleware import ASGIMiddleware, WSGIMiddleware

__all__ = [
    "ASGIMiddleware",
    "AiCall",
    "CorrelationFilter",
    "LogClient",
    "LogHandler",
    "WSGIMiddleware",
    "correlation",
    "encode_record",
    "get_client",
]
