"""OTLP/HTTP log requests in: a request body becomes raw records for ingest.

Pure functions, no I/O: the HTTP door (:mod:`logconsole.collectors.otlp`)
reads the body and answers; everything between is here, so each rule can be
tried with a table of cases.

* :func:`media_type` and :func:`inflate`: which encoding, and the body
  un-gzipped within a size bound (a gzip bomb is :class:`TooLarge`, found
  before it fills memory);
* :func:`parse_request`: an ``ExportLogsServiceRequest`` from protobuf or from
  OTLP's JSON encoding, whose ``traceId`` and ``spanId`` are hex where a plain
  protobuf JSON parser expects base64 (:func:`hex_ids_to_base64`);
* :func:`log_records`: each log record as an :class:`Incoming` raw record,
  mapped to one of the five kinds by the table in docs/protocol.md ("OpenTelemetry
  (OTLP/HTTP)") and :mod:`logconsole.otlp.names`;
* :func:`response_body` and :func:`status_body`: the answers, in the request's
  encoding.
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from logconsole import kinds as K
from logconsole.ingest import IngestError, decode_json, encode_json
from logconsole.otlp import names as N
from logconsole.timeutil import format_ts

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)

DEFAULT_MAX_REQUEST_BYTES = 20 << 20
"""The largest request body, as sent and once un-gzipped (the OpenTelemetry
Collector's default too)."""


class BodyError(ValueError):
    """A body that is not an OTLP logs request (answered 400)."""


class TooLarge(ValueError):
    """A body over the size limit, as sent or once un-gzipped (answered 413)."""


class Unsupported(ValueError):
    """A content type or content encoding this door does not take (answered 415)."""


# -- the body -----------------------------------------------------------------


def media_type(content_type: str | None) -> str:
    """``application/x-protobuf`` or ``application/json`` from a Content-Type
    header (parameters such as ``charset`` ignored), else :class:`Unsupported`."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        shown = f"{media!r}" if media else "none"
        raise Unsupported(f"content type {shown} is not accepted; send {PROTOBUF} or {JSON}")
    return media


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` decoded from its Content-Encoding (``gzip`` or none), at most
    ``limit`` bytes; :class:`TooLarge` past it, :class:`BodyError` for a
    damaged stream, :class:`Unsupported` for another encoding."""
    coding = (encoding or "").strip().lower()
    if len(body) > limit:
        raise TooLarge(f"the body is larger than {limit} bytes")
    if coding in ("", "identity"):
        return body
    if coding not in ("gzip", "x-gzip"):
        raise Unsupported(f"content encoding {coding!r} is not accepted; send gzip or none")
    stream = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = stream.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BodyError(f"the gzip body is damaged: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"the body is larger than {limit} bytes once un-gzipped")
    if not stream.eof:
        raise BodyError("the gzip body is cut short")
    return out


def parse_request(body: bytes, media: str) -> ExportLogsServiceRequest:
    """The logs request in ``body`` (protobuf or OTLP JSON), or :class:`BodyError`."""
    request = ExportLogsServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise BodyError(f"not an OTLP logs request in protobuf: {exc or 'cannot decode'}") from None
        return request
    try:
        value = decode_json(body)
    except IngestError as exc:
        raise BodyError(exc.reason) from None
    if not isinstance(value, dict):
        raise BodyError(f"an OTLP logs request is a JSON object, got {type(value).__name__}")
    hex_ids_to_base64(value)
    try:
        json_format.ParseDict(value, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise BodyError(f"not an OTLP logs request in JSON: {exc}") from None
    return request


_ID_KEYS = ("traceId", "spanId", "trace_id", "span_id")


def hex_ids_to_base64(request: dict[str, Any]) -> None:
    """Rewrite, in place, the log records' hex ``traceId``/``spanId`` (OTLP JSON)
    as the base64 a protobuf JSON parser reads for ``bytes`` fields.

    The one deviation of OTLP's JSON from the protobuf JSON mapping that
    :func:`json_format.ParseDict` gets wrong; its others (lowerCamelCase or
    original field names, enums as numbers, 64-bit integers as strings or
    numbers, unknown fields ignored) it reads as OTLP means them.
    """
    for r, resource in enumerate(_members(request, "resourceLogs", "resource_logs")):
        for s, scope in enumerate(_members(resource, "scopeLogs", "scope_logs")):
            for i, record in enumerate(_members(scope, "logRecords", "log_records")):
                for key in _ID_KEYS:
                    value = record.get(key)
                    if not isinstance(value, str) or not value:
                        continue
                    try:
                        raw = bytes.fromhex(value)
                    except ValueError:
                        where = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}].{key}"
                        raise BodyError(f"{where} must be hex, got {value[:40]!r}") from None
                    record[key] = base64.b64encode(raw).decode("ascii")


def _members(parent: Any, *keys: str) -> list[dict[str, Any]]:
    if not isinstance(parent, dict):
        return []
    for key in keys:
        found = parent.get(key)
        if isinstance(found, list):
            return [item for item in found if isinstance(item, dict)]
    return []


# -- the answers ---------------------------------------------------------------


def response_body(media: str, rejected: int = 0, message: str = "") -> bytes:
    """An ``ExportLogsServiceResponse``: ``partial_success`` set when records were rejected."""
    response = ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return _encode(response, media)


def status_body(media: str, code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` with ``code`` (a gRPC code) and ``message``: the
    body of a failed OTLP/HTTP answer."""
    if media == JSON:
        return encode_json({"code": code, "message": message}).encode()
    text = message.encode("utf-8", "replace")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low = number & 0x7F
        number >>= 7
        if number:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _encode(message: Message, media: str) -> bytes:
    if media == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


# -- log records -> raw records ------------------------------------------------


@dataclass(slots=True)
class Incoming:
    """One log record as a raw record for :func:`logconsole.ingest.normalize`,
    or the reason it cannot be one (``raw`` is then None)."""

    raw: dict[str, Any] | None
    origin: dict[str, str] = field(default_factory=dict)
    """Field -> the attribute it was read from, to name it in a rejection."""
    problem: str = ""


def rejection(index: int, exc: IngestError, origin: Mapping[str, str]) -> str:
    """What is wrong with the request's ``index``-th log record (counted from 0,
    across resources and scopes), naming the attribute behind the field."""
    source = origin.get(exc.field or "")
    return f"log record {index}: {exc.reason}" + (f" (attribute {source})" if source else "")


def log_records(request: ExportLogsServiceRequest) -> Iterator[Incoming]:
    """Every log record of ``request``, in order, mapped to a raw record."""
    for resource_logs in request.resource_logs:
        resource, host = _resource(resource_logs)
        for scope_logs in resource_logs.scope_logs:
            scope = dict(resource)
            # A scope is kept, unless it is logconsole's own (forwarded records
            # say everything in their fields).
            if scope_logs.scope.name != N.OWN_SCOPE:
                if scope_logs.scope.name:
                    scope[N.SCOPE_NAME] = scope_logs.scope.name
                if scope_logs.scope.version:
                    scope[N.SCOPE_VERSION] = scope_logs.scope.version
            for record in scope_logs.log_records:
                yield map_record(record, scope, host)


def _resource(resource_logs: Any) -> tuple[dict[str, Any], str | None]:
    """A resource's attributes (kept under ``extra``) and its ``host.name``."""
    attributes = {kv.key: _value(kv.value) for kv in resource_logs.resource.attributes}
    host = attributes.pop(N.HOST_RESOURCE, None)
    return attributes, host if isinstance(host, str) and host else None


_EXPLICIT = frozenset(K.ALL_FIELDS) - {"id", "extra"}
"""Fields a ``logconsole.<field>`` attribute sets (the store assigns ids)."""
_TEXT_FIELDS = frozenset(name for name, f in K.ALL_FIELDS.items() if f.type in ("text", "enum"))


def map_record(record: Any, context: Mapping[str, Any], host: str | None) -> Incoming:
    """One ``LogRecord`` as a raw record.

    ``context`` holds its resource's attributes (and scope), kept under
    ``extra``; ``host`` is the resource's ``host.name``.  Explicit
    ``logconsole.type`` and ``logconsole.<field>`` attributes (a record
    forwarded by another logconsole) win over what the conventions suggest.
    """
    attrs = {kv.key: _value(kv.value) for kv in record.attributes}
    raw: dict[str, Any] = {}
    origin: dict[str, str] = {}

    explicit: dict[str, Any] = {}
    if any(key.startswith(N.PREFIX) for key in attrs):
        for key in [k for k in attrs if k.startswith(N.PREFIX)]:
            name = key[len(N.PREFIX):]
            if key == N.ID_ATTRIBUTE:
                del attrs[key]
            elif name in _EXPLICIT:
                explicit[name] = attrs.pop(key)
                origin[name] = key

    number = N.number_of(record.severity_number, record.severity_text)
    kind = _kind_of(explicit.get("type"), attrs, number)
    spec = K.KINDS.get(kind) if kind is not None else None

    if spec is not None:
        for name, attribute in N.CONVENTIONS[spec.name].items():
            if attribute in attrs:
                raw[name] = attrs.pop(attribute)
                origin[name] = attribute
        for name, others in N.ALSO_ACCEPTED.items():
            if name in spec.by_name and name not in raw:
                for attribute in others:
                    if attribute in attrs:
                        raw[name] = attrs.pop(attribute)
                        origin[name] = attribute
                        break
        for name, others in N.DURATIONS_IN_SECONDS.items():
            if name in spec.by_name:
                for attribute in others:
                    seconds = attrs.get(attribute)
                    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
                        del attrs[attribute]
                        raw[name] = seconds * 1000
                        origin[name] = attribute
                        break
        for name in raw:
            if name in _TEXT_FIELDS and isinstance(raw[name], (list, dict)):
                raw[name] = encode_json(raw[name])
        _kind_fields(spec.name, raw, origin, attrs, number, _body(record.body))

    raw.update(explicit)
    if kind is not None:
        raw["type"] = kind if "type" not in explicit else explicit["type"]
    elif "type" in explicit:
        raw["type"] = explicit["type"]

    problem = _ids(record, raw)
    if problem:
        return Incoming(None, origin, problem)
    if "created_at" not in raw:
        nanos = record.time_unix_nano or record.observed_time_unix_nano
        if nanos:
            raw["created_at"] = format_ts(_EPOCH + timedelta(microseconds=nanos // 1000))
    if host and "host" not in raw:
        raw["host"] = host
        origin["host"] = N.HOST_RESOURCE

    extra = dict(context)
    if record.event_name:
        extra[N.EVENT_NAME] = record.event_name
    extra.update(attrs)
    if extra:
        raw["extra"] = extra
    return Incoming(raw, origin)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _kind_of(explicit: Any, attrs: Mapping[str, Any], number: int) -> str | None:
    """The kind by the conventions; an explicit ``logconsole.type`` wins (None
    when it names no kind: ingest then refuses the record, naming it)."""
    if explicit is not None:
        try:
            return K.resolve_kind(explicit).name if isinstance(explicit, str) else None
        except ValueError:
            return None
    if number >= N.ERROR_NUMBER or any(key.startswith(N.EXCEPTION_PREFIX) for key in attrs):
        return "error"
    if any(attrs.get(key) for key in N.GENAI_MODELS):
        return "ai"
    return "activity"


def _kind_fields(
    kind: str, raw: dict[str, Any], origin: dict[str, str], attrs: dict[str, Any], number: int, body: Any,
) -> None:
    """The fields each kind reads beyond its attribute table: the body, how bad
    the record is (from the severity number), tokens."""
    if kind == "activity":
        raw["level"] = N.level_of(number)
    elif kind == "error":
        raw["severity"] = N.severity_of(number)
        # The log line is the message (as logconsole's own handler makes it);
        # the exception's own message stays under `extra` when it says more.
        thrown = raw.pop("message", None)
        if isinstance(body, str) and body:
            raw["message"] = body
            origin.pop("message", None)
            if thrown is not None and thrown != body:
                attrs[N.CONVENTIONS["error"]["message"]] = thrown
        elif thrown not in (None, ""):
            raw["message"] = thrown
        elif body is not None:
            raw["message"] = encode_json(body)
            origin.pop("message", None)
        elif raw.get("error_type"):
            raw["message"] = raw["error_type"]
            origin["message"] = origin.get("error_type", "")
        return
    elif kind == "ai":
        tokens = [attrs.get(N.GENAI_INPUT_TOKENS), attrs.get(N.GENAI_OUTPUT_TOKENS)]
        counted = [t for t in tokens if isinstance(t, int) and not isinstance(t, bool)]
        if counted:
            raw["tokens_used"] = sum(counted)
        if attrs.get(N.ERROR_TYPE):
            raw["status"] = "error"
    if body is not None and body != "":
        # The body is the kind's main text (an AI record's prompt); when an
        # attribute already gave that, ingest keeps the body under `extra`.
        text = body if isinstance(body, str) else encode_json(body)
        field = N.BODY_FIELDS[kind]
        raw["message" if raw.get(field) not in (None, "", text) else field] = text


def _ids(record: Any, raw: dict[str, Any]) -> str:
    """Set ``trace_id``/``span_id`` as lower-case hex (all zero: none); the
    reason when one has the wrong length."""
    for name, value, size in (("trace_id", record.trace_id, 16), ("span_id", record.span_id, 8)):
        if not value or name in raw or not any(value):
            continue
        if len(value) != size:
            return f"{name} must be {size} bytes, got {len(value)}"
        raw[name] = value.hex()
    return ""


def _body(value: AnyValue) -> Any:
    return _value(value) if value.WhichOneof("value") else None


def _value(value: AnyValue) -> Any:
    """An ``AnyValue`` as JSON can hold it (bytes as base64, as OTLP JSON spells them)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "bool_value":
        return value.bool_value
    if which == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else str(number)
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None

