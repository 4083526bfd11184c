"""Decoding JSON at every door, refusing numbers JSON cannot hold.

Python's :mod:`json` reads ``NaN``, ``Infinity`` and ``-Infinity``, and turns
``1e999`` into infinity.  None of them can be written back as JSON: stored,
they make SQLite call the whole column malformed (every ``--where
metrics.cpu_usage>=90`` fails) and exports write invalid JSON.  So every door
(the socket, ``import``, tailed files, ``send``) decodes through :func:`loads`
or :func:`raw_decode` here, which refuse such a value with the path of the
field that holds it::

    field `metrics.cpu_usage`: NaN is not a number JSON can hold

Valid JSON decodes exactly as :func:`json.loads` would, at the same speed
(a decoded float is checked by one comparison).  Only when something is
refused is the text decoded a second time, to find where the value was.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["JsonValueError", "NumberRefused", "loads", "raw_decode", "find_unholdable"]

Hook = Callable[[dict[str, Any]], Any]


class JsonValueError(ValueError):
    """Valid JSON syntax holding a value that cannot be stored, with its field.

    ``field`` is the path (``metrics.cpu_usage``, ``tags[2]``; empty for the
    whole value); ``end`` is where the refused value's text ends when it was
    decoded from a position (:func:`raw_decode`), so a reader can go on.
    """

    def __init__(self, field: str, reason: str, end: int | None = None) -> None:
        super().__init__(f"field `{field}`: {reason}" if field else reason)
        self.field = field
        self.reason = reason
        self.end = end


class NumberRefused(ValueError):
    """Raised by a decoding hook (an Extended JSON ``$numberDecimal`` beyond
    double range, say) for a value that must be refused; ``text`` is how it
    was written."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


_MAX_INT_DIGITS = 4300
"""Python refuses to read longer integers (``sys.get_int_max_str_digits``)."""


def _refuse_constant(name: str) -> Any:
    raise NumberRefused(name)


def _checked_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf - inf is NaN; finite values give 0.0
        raise NumberRefused(text)
    return value


def _decoder(hook: Hook | None) -> json.JSONDecoder:
    return json.JSONDecoder(object_hook=hook, parse_float=_checked_float, parse_constant=_refuse_constant)


_DECODERS: dict[Hook | None, json.JSONDecoder] = {None: _decoder(None)}


def _decoder_for(hook: Hook | None) -> json.JSONDecoder:
    decoder = _DECODERS.get(hook)
    if decoder is None:
        decoder = _DECODERS[hook] = _decoder(hook)
    return decoder


def loads(text: str | bytes, *, object_hook: Hook | None = None) -> Any:
    """The JSON value of ``text``.

    Raises :class:`json.JSONDecodeError` for bad syntax,
    :class:`JsonValueError` (naming the field) for a number JSON cannot hold
    or an integer too long to read, ``UnicodeDecodeError`` and
    ``RecursionError`` as :func:`json.loads` does.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        return _decoder_for(object_hook).decode(text)
    except json.JSONDecodeError:
        raise
    except ValueError:
        _locate(text, 0, object_hook, whole=True)
        raise


def raw_decode(text: str, pos: int = 0, *, object_hook: Hook | None = None) -> tuple[Any, int]:
    """The JSON value starting at ``text[pos]`` and where it ends (like
    :meth:`json.JSONDecoder.raw_decode`); refusals as in :func:`loads`, with
    :attr:`JsonValueError.end` set."""
    try:
        return _decoder_for(object_hook).raw_decode(text, pos)
    except json.JSONDecodeError:
        raise
    except ValueError:
        _locate(text, pos, object_hook, whole=False)
        raise


# ---------------------------------------------------------------- finding what was refused


class _Refused:
    """Stands where a refused value was, in the second decoding."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _reason_for_number(text: str) -> str:
    if text.lstrip("+-") in ("NaN", "Infinity", "inf", "nan"):
        return f"{text} is not a number JSON can hold"
    return f"{text} is beyond the largest number JSON can hold"


def _marking_float(text: str) -> Any:
    value = float(text)
    return _Refused(_reason_for_number(text)) if value - value != 0.0 else value


def _marking_int(text: str) -> Any:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        return _Refused(f"an integer of {len(text.lstrip('-'))} digits is longer than JSON "
                        f"numbers can be read here ({_MAX_INT_DIGITS} digits)")
    return int(text)


def _marking_hook(hook: Hook | None) -> Hook | None:
    if hook is None:
        return None

    def marking(obj: dict[str, Any]) -> Any:
        try:
            return hook(obj)
        except NumberRefused as exc:
            return _Refused(_reason_for_number(exc.text))

    return marking


def _locate(text: str, pos: int, hook: Hook | None, *, whole: bool) -> None:
    """Decode again with refused values marked, and raise for the first one
    (returns only when there is none: the first error was something else)."""
    decoder = json.JSONDecoder(
        object_hook=_marking_hook(hook), parse_float=_marking_float, parse_int=_marking_int,
        parse_constant=lambda name: _Refused(_reason_for_number(name)),
    )
    if whole:
        value = decoder.decode(text)
        end = None
    else:
        value, end = decoder.raw_decode(text, pos)
    for path, marker in _walk(value, ""):
        raise JsonValueError(path, marker.reason, end)


def _walk(value: Any, path: str) -> Any:
    """``(path, marker)`` for every refused value inside ``value``."""
    if isinstance(value, _Refused):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


def find_unholdable(value: Any, path: str = "") -> JsonValueError | None:
    """The first float in ``value`` (a Python value about to be written as
    JSON) that JSON cannot hold, as the error naming it; ``None`` when all can be."""
    if isinstance(value, float):
        if not math.isfinite(value):
            text = "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
            return JsonValueError(path, f"{text} is not a number JSON can hold")
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_unholdable(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = find_unholdable(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None
