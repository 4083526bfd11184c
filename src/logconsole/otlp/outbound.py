"""Records as OpenTelemetry log records: the forwarder's side of :mod:`.names`.

:func:`export_request` turns stored records (as :func:`logconsole.store.query.to_record`
gives them) into one ``ExportLogsServiceRequest``.  Nothing is lost: every
non-null field is the body, a field of the log record itself, a resource
attribute or an attribute, and a receiver that reads :mod:`.names` gets the
record back as it was.

- ``created_at`` is ``time_unix_nano``, and ``observed_time_unix_nano`` too:
  the collector stamps the time it received a record that named none, and a
  record's own time is all the store keeps.
- The severity number comes from the activity level, the error severity, or
  the ``status`` of AI calls and system records (:data:`.names.STATUS_NUMBERS`);
  chat messages are INFO.  ``severity_text`` is the record's own word
  (``warn``, ``high``, ``warning``, ``success``); chat messages have none.
- ``trace_id`` and ``span_id`` become the log record's own ids when they are
  hex of the right length (32 and 16 digits, not all zero); any other value
  goes as the attribute ``logconsole.trace_id`` / ``logconsole.span_id``.
- Records are grouped by resource: ``host.name`` from the ``host`` field,
  ``service.name`` from an ``extra`` member named ``service.name`` (when there
  is none, the resource has no ``service.name``, or ``service_name`` when the
  caller gives one).
- ``extra`` members are attributes under their own names; a member whose name
  is already taken by a field's attribute goes as ``logconsole.extra.<name>``.
- JSON values become ``AnyValue``: objects ``kvlist_value``, arrays
  ``array_value``, integers ``int_value`` (beyond 64 bits, their digits as a
  string), other numbers ``double_value``, booleans ``bool_value``, null an
  empty value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from logconsole import __version__
from logconsole import kinds as K
from logconsole.otlp import names as N

SCOPE_NAME = N.OWN_SCOPE
EXTRA_PREFIX = N.PREFIX + "extra."
"""Where an ``extra`` member goes when a field's attribute already has its name."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64 = (-(1 << 63), (1 << 63) - 1)
_HEX = frozenset("0123456789abcdefABCDEF")
_SKIPPED = frozenset({"id", "type", "created_at", "extra", "host", "trace_id", "span_id"})
"""Fields carried by the log record or its resource rather than as attributes."""


def time_unix_nano(created_at: str) -> int:
    """A stored time (ISO 8601, UTC, microseconds) as nanoseconds since the epoch."""
    dt = datetime.fromisoformat(created_at)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return ((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000


def hex_id(value: object, digits: int) -> bytes | None:
    """``value`` as the bytes of a trace (32 digits) or span (16) id, or None
    when it is not such an id (all zeros is not a valid id either)."""
    if not isinstance(value, str) or len(value) != digits or not _HEX.issuperset(value):
        return None
    raw = bytes.fromhex(value)
    return raw if any(raw) else None


def severity(record: Mapping[str, Any]) -> tuple[int, str]:
    """``(severity_number, severity_text)`` of a record."""
    kind = record["type"]
    if kind == "activity":
        level = record.get("level") or "info"
        return N.LEVEL_NUMBERS.get(level, N.INFO_NUMBER), level
    if kind == "error":
        sev = record.get("severity") or "medium"
        return N.SEVERITY_NUMBERS.get(sev, N.ERROR_NUMBER), sev
    statuses = N.STATUS_NUMBERS.get(kind)
    status = record.get("status")
    if statuses is not None and status:
        return statuses.get(status, N.INFO_NUMBER), status
    return N.INFO_NUMBER, ""


def set_value(out: AnyValue, value: Any) -> None:
    """Write a JSON value into ``out`` (None leaves it empty: OpenTelemetry's null)."""
    if value is None:
        return
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            out.int_value = value
        else:
            out.string_value = str(value)
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, Mapping):
        kvlist = out.kvlist_value
        kvlist.SetInParent()
        for key, member in value.items():
            kv = kvlist.values.add()
            kv.key = str(key)
            set_value(kv.value, member)
    elif isinstance(value, (list, tuple)):
        array = out.array_value
        array.SetInParent()
        for member in value:
            set_value(array.values.add(), member)
    else:
        out.string_value = str(value)


def _attributes(kind: str) -> tuple[tuple[str, str], ...]:
    """``(field, attribute)`` for the fields of ``kind`` carried as attributes."""
    spec = K.KINDS[kind]
    body = N.BODY_FIELDS.get(kind)
    out = []
    for name in spec.field_names:
        if name in _SKIPPED:
            continue
        if kind in ("activity", "error") and name == spec.level_field:
            continue  # the severity number and text carry it
        if name == body and name not in N.CONVENTIONS.get(kind, {}):
            continue
        out.append((name, N.attribute_for(kind, name)))
    return tuple(out)


_ATTRIBUTES: dict[str, tuple[tuple[str, str], ...]] = {kind: _attributes(kind) for kind in K.KINDS}


def fill_log_record(lr: LogRecord, record: Mapping[str, Any]) -> None:
    """Write one record (without its host and service: the resource's) into ``lr``."""
    kind = record["type"]
    when = time_unix_nano(record["created_at"])
    lr.time_unix_nano = when
    lr.observed_time_unix_nano = when
    number, text = severity(record)
    lr.severity_number = number  # type: ignore[assignment]
    if text:
        lr.severity_text = text
    body = record.get(N.BODY_FIELDS.get(kind, ""))
    if body is not None:
        set_value(lr.body, body)
    attrs = lr.attributes
    taken = {N.KIND_ATTRIBUTE, N.ID_ATTRIBUTE}
    kv = attrs.add()
    kv.key = N.KIND_ATTRIBUTE
    kv.value.string_value = kind
    kv = attrs.add()
    kv.key = N.ID_ATTRIBUTE
    kv.value.int_value = int(record["id"])
    for name, digits in (("trace_id", 32), ("span_id", 16)):
        value = record.get(name)
        if value is None:
            continue
        raw = hex_id(value, digits)
        if raw is not None:
            setattr(lr, name, raw)
        else:
            kv = attrs.add()
            kv.key = N.PREFIX + name
            taken.add(kv.key)
            set_value(kv.value, value)
    for name, attribute in _ATTRIBUTES.get(kind, ()):
        value = record.get(name)
        if value is None:
            continue
        kv = attrs.add()
        kv.key = attribute
        taken.add(attribute)
        set_value(kv.value, value)
    extra = record.get("extra")
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            if key == N.SERVICE_RESOURCE:
                continue
            kv = attrs.add()
            kv.key = EXTRA_PREFIX + key if key in taken else key
            set_value(kv.value, value)
    elif extra is not None:  # not an object (a damaged file): kept whole
        kv = attrs.add()
        kv.key = N.PREFIX + "extra"
        set_value(kv.value, extra)


def resource_of(record: Mapping[str, Any], service_name: str | None = None,
                host: str | None = None) -> tuple[str | None, str | None]:
    """``(host.name, service.name)`` of the resource a record belongs to;
    ``host`` (the forwarding machine) for a record that names none."""
    extra = record.get("extra")
    service = extra.get(N.SERVICE_RESOURCE) if isinstance(extra, Mapping) else None
    if service is not None and not isinstance(service, str):
        service = str(service)
    return record.get("host") or host, service if service is not None else service_name


def export_request(records: Iterable[Mapping[str, Any]], *,
                   service_name: str | None = None, host: str | None = None) -> ExportLogsServiceRequest:
    """One export request holding ``records``, one ``ResourceLogs`` per
    (host, service) in order of first appearance, records in the given order;
    ``host`` stands for the host of records that name none (imported ones)."""
    request = ExportLogsServiceRequest()
    scopes: dict[tuple[str | None, str | None], Any] = {}
    for record in records:
        key = resource_of(record, service_name, host)
        scope = scopes.get(key)
        if scope is None:
            resource_logs = request.resource_logs.add()
            host, service = key
            for attribute, value in ((N.HOST_RESOURCE, host), (N.SERVICE_RESOURCE, service)):
                if value is not None:
                    kv = resource_logs.resource.attributes.add()
                    kv.key = attribute
                    kv.value.string_value = str(value)
            scope = scopes[key] = resource_logs.scope_logs.add()
            scope.scope.name = SCOPE_NAME
            scope.scope.version = __version__
        fill_log_record(scope.log_records.add(), record)
    return request


__all__ = ["EXTRA_PREFIX", "SCOPE_NAME", "export_request", "fill_log_record", "hex_id", "resource_of",
           "set_value", "severity", "time_unix_nano"]
