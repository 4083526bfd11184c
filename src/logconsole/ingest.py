"""The one step every record passes before the store: parse, validate, normalise,
redact, truncate.

Whatever door a record came through (socket, syslog, tailed file, ``import``,
the health sampler, the TUI), it becomes a *row* here: a dict of column name to
a value SQLite stores as is (JSON already encoded, booleans as 0/1, times in the
stored form).  Errors are :class:`IngestError` with the field and a reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from logconsole import json_decode
from logconsole import kinds as K
from logconsole.fingerprint import fingerprint, sent_fingerprint
from logconsole.redact import REDACTED, TextScrubber
from logconsole.timeutil import format_ts, to_stored, utcnow

MAX_JSON_CHARS = 10_000
MAX_DEPTH = 200
"""Deeper JSON than this is refused (with a reason) instead of exhausting the stack."""
_INT64 = (-(2**63), 2**63 - 1)

DEFAULT_SECRET_WORDS = frozenset(
    {
        "password", "passwd", "token", "secret", "key", "apikey", "cvv", "pin",
        "ssn", "authorization", "cookie",
    }
)

Row = dict[str, Any]


class IngestError(ValueError):
    """A record that cannot be stored, with the field at fault when there is one."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


_KEY_SPLIT = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def key_words(key: str) -> list[str]:
    """The words of a key: split on ``_``, ``-``, ``.``, spaces and camelCase."""
    return [w.lower() for w in _KEY_SPLIT.split(key) if w]


_BARE_PLURALS = frozenset({"tokens", "keys", "pins"})
"""Plurals that alone name a count or a list (``tokens``, ``keys``), not secrets."""
_COUNTING_WORDS = frozenset(
    {"used", "max", "min", "total", "prompt", "completion", "input", "output", "cached", "reasoning",
     "count", "num", "remaining", "limit"}
)
"""Words that make ``tokens`` a count: ``tokens_used``, ``max_tokens``, ``prompt_tokens``."""


class Redactor:
    """Hides values whose key names a secret, at any depth, and secrets inside
    the strings it keeps (:mod:`logconsole.redact`); remembers its verdicts."""

    __slots__ = ("words", "_cache", "scrub")

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        self.words = DEFAULT_SECRET_WORDS | {w.strip().lower() for w in extra_words if w.strip()}
        self._cache: dict[str, bool] = {}
        self.scrub = TextScrubber(self.is_secret, self.words).scrub
        """``scrub(text)``: ``text`` with the secrets inside it replaced."""

    def is_secret(self, key: str) -> bool:
        hit = self._cache.get(key)
        if hit is None:
            hit = self._names_secret(key_words(key))
            if len(self._cache) < 100_000:
                self._cache[key] = hit
        return hit

    def _names_secret(self, words: list[str]) -> bool:
        """A secret word, or its plural (``passwords``, ``api_keys``); ``tokens`` and
        ``keys`` alone or beside a counting word (``max_tokens``) are not."""
        for w in words:
            if w in self.words:
                return True
            if w[-1:] == "s" and w[:-1] in self.words:
                if w in _BARE_PLURALS and (len(words) == 1 or not _COUNTING_WORDS.isdisjoint(words)):
                    continue
                return True
        return _says_credit_card(words)

    def redact(self, value: Any, _depth: int = 0) -> Any:
        """A copy of ``value`` with every secret-keyed value replaced and every
        string kept scrubbed of the secrets inside it.

        Raises :class:`IngestError` for containers nested deeper than
        :data:`MAX_DEPTH`, before the stack runs out.
        """
        if isinstance(value, dict):
            if _depth >= MAX_DEPTH:
                raise IngestError(f"JSON nested deeper than {MAX_DEPTH} levels")
            return {
                k: (REDACTED if self.is_secret(str(k)) else self.redact(v, _depth + 1))
                for k, v in value.items()
            }
        if isinstance(value, list):
            if _depth >= MAX_DEPTH:
                raise IngestError(f"JSON nested deeper than {MAX_DEPTH} levels")
            return [self.redact(v, _depth + 1) for v in value]
        if isinstance(value, str):
            return self.scrub(value)
        return value


def _says_credit_card(words: list[str]) -> bool:
    if "creditcard" in words:
        return True
    return any(a == "credit" and b == "card" for a, b in zip(words, words[1:]))


DEFAULT_REDACTOR = Redactor()


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
"""One encoder for every call: ``json.dumps`` with options builds a new one each time."""


def encode_json(value: Any) -> str:
    """Compact JSON text, as stored.

    A float JSON cannot hold (NaN, infinity) raises
    :class:`~logconsole.json_decode.JsonValueError` naming where it is.
    """
    try:
        return _ENCODER.encode(value)
    except ValueError:
        found = json_decode.find_unholdable(value)
        if found is not None:
            raise found from None
        raise


def bounded_json(value: Any) -> str:
    """JSON text of ``value``, or the truncation marker when it is too large."""
    text = encode_json(value)
    if len(text) > MAX_JSON_CHARS:
        return encode_json({"truncated": True, "size": len(text)})
    return text


def _bounded(value: Any) -> Any:
    text = encode_json(value)
    if len(text) > MAX_JSON_CHARS:
        return {"truncated": True, "size": len(text)}
    return value


def _extra_value(key: str, value: Any, redactor: Redactor) -> Any:
    """A value kept under ``extra`` as stored: redacted by its key or within, size-bounded."""
    return REDACTED if redactor.is_secret(key) else _bounded(redactor.redact(value))


class Trusted:
    """Fields the collector vouches for (a socket peer's pid, uid, gid and process
    name), prepared once for every record that carries them.

    A connection's trusted fields are the same for all its records, so their
    redaction and JSON text are worked out here once, not per record;
    :func:`normalize` splices the text into each record's ``extra``.  Prepared
    with one redactor; :func:`normalize` prepares them again if given another.
    """

    __slots__ = ("fields", "members", "redactor")

    def __init__(self, fields: Mapping[str, Any], redactor: Redactor | None = None) -> None:
        self.fields = {str(k): v for k, v in fields.items()}
        self.redactor = redactor or DEFAULT_REDACTOR
        text = encode_json({k: _extra_value(k, v, self.redactor) for k, v in self.fields.items()})
        self.members = text[1:-1]
        """The fields as JSON object members, without the braces."""

    def __bool__(self) -> bool:
        return bool(self.fields)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce(field: K.Field, value: Any) -> Any:
    """``value`` as ``field`` stores it, or :class:`IngestError` saying why not.

    Used by ingest and by query filters, so a value means the same in both.
    """
    t = field.type
    name = field.name
    if t == "text":
        if isinstance(value, str):
            return value.upper() if field.upper else value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return str(value)
            except ValueError:  # an integer too long to print
                pass
        raise IngestError(f"field `{name}` must be a string, got {_show(value)}", name)
    if t == "enum":
        if not isinstance(value, str):
            raise IngestError(f"field `{name}` must be one of {', '.join(field.values)}, got {_show(value)}", name)
        hit = _enum_table(field).get(value.strip().lower())
        if hit is None:
            raise IngestError(f"field `{name}` must be one of {', '.join(field.values)}, got {_show(value)}", name)
        return hit
    if t == "int":
        if isinstance(value, bool):
            raise IngestError(f"field `{name}` must be an integer, got {_show(value)}", name)
        number: int | None = None
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                pass
        if number is not None:
            if _INT64[0] <= number <= _INT64[1]:
                return number
            raise IngestError(f"field `{name}` must be an integer that fits in 64 bits, got {_show(value)}", name)
        raise IngestError(f"field `{name}` must be an integer, got {_show(value)}", name)
    if t == "number":
        if isinstance(value, bool):
            raise IngestError(f"field `{name}` must be a number, got {_show(value)}", name)
        if isinstance(value, int):
            # SQLite integers are 64-bit; a larger number is kept as a float.
            return value if _INT64[0] <= value <= _INT64[1] else _finite_float(name, value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise IngestError(f"field `{name}` must be a finite number, got {_show(value)}", name)
            return value
        if isinstance(value, str):
            try:
                num = float(value.strip())
            except ValueError:
                pass
            else:
                if math.isfinite(num):
                    return int(num) if num.is_integer() else num
        raise IngestError(f"field `{name}` must be a number, got {_show(value)}", name)
    if t == "bool":
        if isinstance(value, bool):
            return 1 if value else 0
        if isinstance(value, int) and value in (0, 1):
            return value
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "yes", "1", "on", "y", "t"):
                return 1
            if low in ("false", "no", "0", "off", "n", "f"):
                return 0
        raise IngestError(f"field `{name}` must be true or false, got {_show(value)}", name)
    if t == "time":
        return _stored_time(name, value)
    if t == "json":
        return value
    raise AssertionError(f"unknown field type {t}")  # pragma: no cover


_ENUM_TABLES: dict[int, tuple[K.Field, dict[str, str]]] = {}
"""Per field (by identity; the entry holds the field, so its id is never reused)."""


def _enum_table(field: K.Field) -> dict[str, str]:
    """Lower-case spelling -> stored value, synonyms included, built once per field."""
    hit = _ENUM_TABLES.get(id(field))
    if hit is not None and hit[0] is field:
        return hit[1]
    table = {v: v for v in field.values}
    for other, value in field.synonyms:
        table.setdefault(other, value)
    _ENUM_TABLES[id(field)] = (field, table)
    return table


def _kind_defaults() -> dict[str, tuple[tuple[str, Any], ...]]:
    """Each kind's fields with a default, and the stored form of that default."""
    return {
        k.name: tuple((f.name, coerce(f, f.default)) for f in k.fields if f.default is not None)
        for k in K.KINDS.values()
    }


def _finite_float(name: str, value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        raise IngestError(f"field `{name}` must be a finite number, got {_show(value)}", name) from None


def _stored_time(name: str, value: Any) -> str:
    try:
        return to_stored(value)
    except OverflowError:  # a valid time whose UTC form is past year 9999
        raise IngestError(f"field `{name}`: time {_show(value)} is out of range", name) from None
    except ValueError as exc:
        raise IngestError(f"field `{name}`: {exc}", name) from None


def _utf8_safe(text: str) -> str:
    """``text`` as SQLite can store it: lone surrogates (valid in JSON's ``\\ud800``,
    not in UTF-8) become ``?`` instead of failing the whole batch at insert."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _json_column(name: str, value: Any, redactor: Redactor) -> str:
    """A JSON field as stored: redacted, then the size rule applied."""
    try:
        return bounded_json(redactor.redact(_snake_metrics(value) if name == "metrics" else value))
    except IngestError as exc:
        raise IngestError(f"field `{name}`: {exc.reason}", name) from None
    except json_decode.JsonValueError as exc:
        path = f"{name}.{exc.field}" if exc.field and exc.field[0] != "[" else f"{name}{exc.field}"
        raise IngestError(f"field `{path}`: {exc.reason}", path) from None
    except ValueError as exc:  # e.g. an integer too long to print
        raise IngestError(f"field `{name}` cannot be stored as JSON: {exc}", name) from None


def normalize(
    raw: Mapping[str, Any],
    *,
    kind: str | None = None,
    now: datetime | str | None = None,
    redactor: Redactor = DEFAULT_REDACTOR,
    trusted: Mapping[str, Any] | Trusted | None = None,
    host: str | None = None,
) -> Row:
    """Turn one decoded record into a row ready for the store.

    ``kind`` is the type to use when the record does not name one (``--type``).
    ``now`` stamps records without ``created_at``.  ``trusted`` fields (the
    sender's pid, uid, process name from socket credentials) go into ``extra``
    over anything the record claimed under the same names; a door that sends
    many records with the same ones passes them prepared (:class:`Trusted`).
    ``host`` is the collecting machine's name, stamped on records that name none.
    """
    if not isinstance(raw, Mapping):
        raise IngestError(f"a record must be a JSON object, got {type(raw).__name__}")
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        canon = K.canonical_name(key)
        if canon == "extra" and isinstance(value, Mapping):
            for ek, ev in value.items():
                extra[str(ek)] = ev
        elif canon in K.ALL_FIELDS and canon != "extra":
            fields[canon] = value
        else:
            extra[key] = value

    type_value = fields.pop("type", None)
    if type_value is None or type_value == "":
        if kind is None:
            raise IngestError(
                f"field `type` is required: one of {', '.join(K.KIND_NAMES)}", "type"
            )
        type_value = kind
    if not isinstance(type_value, str):
        raise IngestError(f"field `type` must be one of {', '.join(K.KIND_NAMES)}, got {_show(type_value)}", "type")
    try:
        spec = K.resolve_kind(type_value)
    except ValueError:
        raise IngestError(
            f"field `type` must be one of {', '.join(K.KIND_NAMES)}, got {_show(type_value)}", "type"
        ) from None

    fields.pop("id", None)  # the store assigns ids
    sent: list[str] | None = None
    if spec is K.ERROR:
        fields.pop("group_id", None)  # the store assigns groups, by fingerprint
        try:
            sent = sent_fingerprint(fields.pop("fingerprint", None))
        except ValueError as exc:
            raise IngestError(f"field `fingerprint` {exc}, got {_show(raw.get('fingerprint'))}", "fingerprint") from None
    row: Row = {"type": spec.name}
    created = fields.pop("created_at", None)
    if created is None or created == "":
        row["created_at"] = now if isinstance(now, str) else format_ts(now or utcnow())
    else:
        row["created_at"] = _stored_time("created_at", created)

    by_name = spec.by_name
    for name, value in fields.items():
        f = by_name.get(name)
        if f is None:
            # A field of another kind: keep it, like any unknown field.
            extra[name] = value
            continue
        t = f.type
        if t == "text" and type(value) is str and not f.upper:
            row[name] = value  # the common case, without a call
        elif value is None or (value == "" and t != "text"):
            continue
        elif t == "json":
            row[name] = _json_column(name, value, redactor)
        else:
            row[name] = coerce(f, value)

    if host and not row.get("host"):
        row["host"] = host
    for name in spec.required:
        value = row.get(name)
        if value is None:
            raise IngestError(f"field `{name}` is required for {spec.name} records", name)
        if value == "":
            raise IngestError(f"field `{name}` must not be empty", name)
    for name, default in _DEFAULTS[spec.name]:
        if name not in row:
            row[name] = default
    scrub = redactor.scrub
    for name in _FREE_TEXT[spec.name]:
        value = row.get(name)
        if type(value) is str:
            row[name] = scrub(value)
    if spec is K.ERROR:
        # From the scrubbed text, so a secret never reaches a group's key.
        row["fingerprint"] = fingerprint(row, [scrub(s) for s in sent] if sent else None)

    vouched = ""
    if trusted:
        if not isinstance(trusted, Trusted) or trusted.redactor is not redactor:
            trusted = Trusted(trusted.fields if isinstance(trusted, Trusted) else trusted, redactor)
        if extra:
            for name in trusted.fields:
                extra.pop(name, None)
        vouched = trusted.members
    if extra:
        try:
            text = encode_json({k: _extra_value(k, v, redactor) for k, v in extra.items()})
        except IngestError as exc:
            raise IngestError(f"unknown fields: {exc.reason}", "extra") from None
        except json_decode.JsonValueError as exc:
            found = json_decode.find_unholdable(extra) or exc  # named from the top of `extra`
            raise IngestError(str(found), found.field or "extra") from None
        except ValueError as exc:
            raise IngestError(f"unknown fields cannot be stored as JSON: {exc}", "extra") from None
        row["extra"] = f"{text[:-1]},{vouched}}}" if vouched else text
    elif vouched:
        row["extra"] = f"{{{vouched}}}"
    for name, value in row.items():
        if type(value) is str and not value.isascii():
            row[name] = _utf8_safe(value)
    return row


def _snake_metrics(value: Any) -> Any:
    """The original system's ``systemMetrics`` keys (``cpuUsage``) in snake_case."""
    if isinstance(value, Mapping):
        return {K.snake_case(str(k)): v for k, v in value.items()}
    return value


_DEFAULTS = _kind_defaults()
_PROSE_FIELDS = ("message", "stack", "title", "endpoint", "prompt", "response", "error_message", "resolution")
_FREE_TEXT = {k.name: tuple(n for n in _PROSE_FIELDS if n in k.by_name) for k in K.KINDS.values()}
"""Each kind's prose fields, scrubbed for secrets inside the text; names and
identifiers (``user_id``, ``ai_model``) are stored as sent."""


def json_error(exc: json.JSONDecodeError) -> str:
    """What is wrong with a JSON text, in the one wording every door uses."""
    return f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"


def decode_json(text: str | bytes) -> Any:
    """The JSON value of ``text``, or :class:`IngestError` saying what is wrong
    (naming the field that holds a number JSON cannot hold)."""
    try:
        return json_decode.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(json_error(exc)) from None
    except json_decode.JsonValueError as exc:
        raise IngestError(str(exc), exc.field or None) from None
    except UnicodeDecodeError:
        raise IngestError("invalid UTF-8") from None
    except RecursionError:
        raise IngestError("invalid JSON: nested too deeply") from None


def parse_line(line: str | bytes, *, kind: str | None = None, **opts: Any) -> Row:
    """Decode one JSON line and normalise it."""
    return normalize(decode_json(line), kind=kind, **opts)
