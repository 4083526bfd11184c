"""MongoDB Extended JSON v2 (relaxed and canonical) as plain JSON values.

``mongoexport`` writes BSON types as one-key objects: ``{"$oid": "..."}``,
``{"$date": "2026-11-20T09:15:00Z"}`` (relaxed) or
``{"$date": {"$numberLong": "1763630100000"}}`` (canonical),
``{"$numberInt": "500"}``, ``{"$numberDouble": "1.5"}`` and so on.  This module
turns each into the value a log record means by it: an object id becomes its
hex string, a date its ISO 8601 text, a number a number.  Objects that merely
have a key starting with ``$`` among others are left alone.

A number JSON cannot hold (``{"$numberDouble": "NaN"}``, ``"Infinity"``, a
``$numberDecimal`` beyond double range like ``"1e999"``) is refused like a bare
``NaN`` is (:mod:`logconsole.json_decode`): the record names the field and is
not stored.

Use :func:`loads`, or :func:`object_hook` with
:func:`logconsole.json_decode.loads` (it is applied bottom-up, so a canonical
``$date`` sees its ``$numberLong`` already decoded), or :func:`decode` on an
already parsed value.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from logconsole import json_decode
from logconsole.json_decode import NumberRefused
from logconsole.timeutil import format_ts, parse_ts

__all__ = ["decode", "loads", "object_hook", "may_contain"]


def may_contain(text: str | bytes) -> bool:
    """Whether ``text`` could hold Extended JSON at all (a cheap pre-check)."""
    return ('"$' in text) if isinstance(text, str) else (b'"$' in text)


def _number(text: Any) -> int | float:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return text
    return int(str(text))


def _double(text: Any) -> float | int:
    """``$numberDouble``: a float; ``Infinity``/``-Infinity``/``NaN`` are refused
    (:class:`NumberRefused`): JSON has no way to write them."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return text
    value = float(str(text))
    if not math.isfinite(value):
        raise NumberRefused(str(text))
    return value


def _decimal(text: Any) -> int | float | str:
    """``$numberDecimal``: an integer when it is one, else a float; refused
    (:class:`NumberRefused`) when it is not finite or beyond double range."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return str(text)
    if not value.is_finite():
        raise NumberRefused(str(text))
    if value == value.to_integral_value() and abs(value) < 2**63:
        return int(value)
    number = float(value)
    if not math.isfinite(number):
        raise NumberRefused(str(text))
    return number


def _date(value: Any) -> str:
    """``$date``: ISO text (relaxed), epoch milliseconds (canonical or legacy)."""
    if isinstance(value, bool):
        raise ValueError(f"$date must be a time, got {value!r}")
    if isinstance(value, (int, float)):
        return format_ts(_from_millis(value))
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return format_ts(parse_ts(value))
        return format_ts(_from_millis(float(value)))
    raise ValueError(f"$date must be a time, got {value!r}")


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _from_millis(ms: float) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ValueError(f"$date {ms!r} is out of range") from None


def _binary(value: Any) -> Any:
    if isinstance(value, dict) and "base64" in value:
        data = value["base64"]
        sub = str(value.get("subType", "00"))
        if sub in ("03", "04"):
            try:
                raw = base64.b64decode(data)
            except ValueError:
                return data
            if len(raw) == 16:
                h = raw.hex()
                return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return data
    return value


def _regex(value: Any) -> Any:
    if isinstance(value, dict) and "pattern" in value:
        return f"/{value['pattern']}/{value.get('options', '')}"
    return value


# One-key wrappers and what they mean.
_SINGLE: dict[str, Callable[[Any], Any]] = {
    "$oid": str,
    "$date": _date,
    "$numberInt": _number,
    "$numberLong": _number,
    "$numberDouble": _double,
    "$numberDecimal": _decimal,
    "$binary": _binary,
    "$uuid": str,
    "$regularExpression": _regex,
    "$symbol": str,
    "$code": str,
    "$timestamp": lambda v: format_ts(_from_millis(int(v["t"]) * 1000)) if isinstance(v, dict) and "t" in v else v,
    "$undefined": lambda v: None,
    "$minKey": lambda v: "MinKey",
    "$maxKey": lambda v: "MaxKey",
}


def object_hook(obj: dict[str, Any]) -> Any:
    """A :func:`json.loads` hook: an Extended JSON wrapper becomes its value.

    A wrapper whose contents cannot be read (``{"$date": "soon"}``) is kept as
    it is, so the record still loads and shows what it held.  A number JSON
    cannot hold raises :class:`NumberRefused`.
    """
    if len(obj) == 1:
        key = next(iter(obj))
        if key[:1] == "$":
            convert = _SINGLE.get(key)
            if convert is not None:
                try:
                    return convert(obj[key])
                except NumberRefused:
                    raise
                except (ValueError, TypeError, KeyError, OverflowError):
                    return obj
    elif len(obj) == 2:
        keys = set(obj)
        if keys == {"$code", "$scope"}:
            return str(obj["$code"])
        if keys == {"$regex", "$options"}:  # legacy regular expressions
            return f"/{obj['$regex']}/{obj['$options']}"
        if keys == {"$binary", "$type"}:  # legacy binary
            return obj["$binary"]
    return obj


def decode(value: Any) -> Any:
    """``value`` (parsed JSON) with every Extended JSON wrapper replaced, at any depth."""
    if isinstance(value, dict):
        return object_hook({k: decode(v) for k, v in value.items()})
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def loads(text: str | bytes) -> Any:
    """:func:`logconsole.json_decode.loads` that understands Extended JSON (fast
    when there is none)."""
    if may_contain(text):
        return json_decode.loads(text, object_hook=object_hook)
    return json_decode.loads(text)
