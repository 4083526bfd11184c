"""Time: the one stored format, and reading what users and records give.

Records store times as ISO 8601 UTC with microseconds and a four-digit year,
always 27 characters (``2026-11-20T09:15:00.123456Z``, ``0999-05-01T00:00:00.000000Z``):
readable in any SQLite shell, and text order is time order for every year from
0001 to 9999.

Databases written before microseconds were kept hold 24-character times with
milliseconds (``2026-11-20T09:15:00.123Z``).  Between the two widths text order
is still time order, except inside one millisecond: ``.123Z`` sorts after every
``.123xxxZ``, because ``Z`` sorts after the digits.  Paging stays consistent
(it compares the same text it sorts), and :func:`bound_sql` writes time bounds
so that a record of either width is inside a bound exactly when its time is.

Epoch numbers tell their unit by magnitude (:func:`from_epoch`).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, time, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from pytimeparse import parse as _duration_seconds

UTC = timezone.utc

STORED_WIDTH = 27
"""Characters in a stored time (``YYYY-MM-DDTHH:MM:SS.ffffffZ``)."""
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
_LEGACY = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")

MAX_EPOCH_SECONDS = 253_402_300_799
"""9999-12-31T23:59:59Z, the last second a stored time can hold."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_UNITS = (  # (largest magnitude, microseconds per unit)
    (MAX_EPOCH_SECONDS, 1_000_000),                  # seconds
    (MAX_EPOCH_SECONDS * 1000 + 999, 1000),          # milliseconds (JavaScript's Date.now())
    (MAX_EPOCH_SECONDS * 10**6 + 999_999, 1),        # microseconds
    (MAX_EPOCH_SECONDS * 10**9 + 999_999_999, None),  # nanoseconds (Go's UnixNano, OTLP)
)
_TIME_FORMS = "an ISO 8601 time or epoch seconds"


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ts(dt: datetime) -> str:
    """The stored form of a time: ISO 8601, UTC, four-digit year, microseconds, ``Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
            f"{dt.second:02d}.{dt.microsecond:06d}Z")


def parse_ts(value: object) -> datetime:
    """A record's time: ISO 8601 (naive means UTC), or an epoch number (:func:`from_epoch`).

    Raises ``ValueError`` with a reason a user can act on.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError(f"expected {_TIME_FORMS}, got {value!r}")
    if isinstance(value, (int, float)):
        return from_epoch(value)
    if isinstance(value, str):
        text = value.strip()
        number = _epoch_number(text)
        if number is not None:
            return from_epoch(number)
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expected {_TIME_FORMS}, got {value!r}") from None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    raise ValueError(f"expected {_TIME_FORMS}, got {value!r}")


def _epoch_number(text: str) -> Decimal | None:
    """``text`` as an exact number when it is one (``1763630100.123456``)."""
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        return None


def from_epoch(number: int | float | Decimal) -> datetime:
    """The time an epoch number means; its unit is told by magnitude:

    * up to 253402300799 (9999-12-31T23:59:59Z): seconds;
    * up to 253402300799999: milliseconds;
    * up to 253402300799999999: microseconds;
    * up to 253402300799999999999: nanoseconds;
    * beyond: out of range.  Negative numbers (before 1970) go by their size too.

    So milliseconds before 1978-01-11 (below 253402300800) read as seconds:
    no clock that sends milliseconds is set that far back.
    """
    if isinstance(number, float):
        if not math.isfinite(number):
            raise ValueError("time is not a number")
        exact = Decimal(repr(number))  # 1763630100.123456 as written, not its binary neighbour
    else:
        exact = Decimal(number)
    size = abs(exact)
    for limit, micros in _EPOCH_UNITS:
        if size <= limit:
            break
    else:
        raise ValueError(f"time {number!r} is out of range (epoch seconds up to {MAX_EPOCH_SECONDS}, "
                         "or milliseconds, microseconds, nanoseconds)")
    us = exact * micros if micros is not None else exact / 1000
    try:
        return _EPOCH + timedelta(microseconds=int(us.to_integral_value(ROUND_FLOOR)))
    except OverflowError:
        raise ValueError(f"time {number!r} is out of range") from None


def to_stored(value: object) -> str:
    """Normalise any accepted time to the stored form (fast when already in the
    stored form, or in the millisecond form older versions stored and exported)."""
    if isinstance(value, str):
        if _CANONICAL.match(value):
            return value
        if _LEGACY.match(value):
            return value[:23] + "000Z"
    return format_ts(parse_ts(value))


def bound_sql(column: str, op: str, stored: str) -> tuple[str, list[Any]]:
    """SQL for ``column >= stored`` (``op`` ``>=``) or ``column < stored`` (``<``)
    that holds for a record exactly when its time does, whether the record was
    stored with microseconds or, by an older version, with milliseconds.

    A bound inside a millisecond (``.123456``) is where the widths disagree: the
    millisecond record ``.123Z`` means ``.123000`` (before the bound) but sorts
    after it as text.  So ``>=`` leaves that one text out, and ``<`` lets it in;
    the range part stays a plain comparison an index can serve.
    """
    stored = to_stored(stored)
    legacy = stored[:23] + "Z"
    aligned = stored[23:26] == "000"
    if op == ">=":
        if aligned:
            return f"{column} >= ?", [stored]
        return f"({column} >= ? AND {column} != ?)", [stored, legacy]
    if op == "<":
        if aligned:
            return f"{column} < ?", [stored]
        return f"({column} <= ? AND ({column} < ? OR {column} = ?))", [legacy, stored, legacy]
    raise ValueError(f"unknown bound {op!r}")


# ---------------------------------------------------------------- what people type

_LAST = re.compile(r"last\s+(second|minute|hour|day|week)\Z")
_LAST_UNIT = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_AGO = re.compile(r"\s*\bago\Z")
_DURATION_FORMS = "90s, 15m, 2h, 1h30m, 7d, 2w, '2 hours', '30 minutes', '1 day 4 hours'"
USER_TIME_FORMS = (
    "ISO 8601 (2026-11-20, 2026-11-20T09:15, 2026-11-20T09:15:00+02:00), "
    f"a time ago ({_DURATION_FORMS}), today, yesterday, 'last week', now, or epoch seconds"
)


class DurationTooLong(ValueError):
    """A duration that was read but is longer than any time can be apart."""


def parse_duration(text: str) -> timedelta:
    """A length of time written with units: ``90s``, ``15m``, ``1h30m``,
    ``2 hours``, ``1.5d``, ``1 day, 4 hours`` (read by pytimeparse).

    Raises ``ValueError`` saying which forms work.  Clock forms (``4:30``) are
    refused: ``4:30`` reads as a time of day as often as a duration.
    """
    raw = text.strip()
    seconds = None
    if raw and raw[0] not in "+-" and ":" not in raw:
        seconds = _duration_seconds(raw)
    if seconds is None:
        raise ValueError(f"cannot read duration {text!r}: use units, e.g. {_DURATION_FORMS}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise DurationTooLong(f"duration {text!r} is too long") from None


def parse_user_time(text: str, now: datetime | None = None) -> datetime:
    """A time typed by a user (``--since``, ``--until``, the filter dialog).

    * ``now``;
    * ``today``, ``yesterday``: local midnight starting that day (as journalctl);
    * ``last second|minute|hour|day|week``: that long before now (as GNU date:
      ``last week`` is 7 days ago, same time of day);
    * a duration, with or without ``ago`` (:func:`parse_duration`): that long before now;
    * ISO 8601, with an offset or ``Z``; without one it is local time (as journalctl);
    * a number: an epoch time (:func:`from_epoch`).

    Raises ``ValueError`` listing the forms.
    """
    now = now or utcnow()
    raw = text.strip()
    lower = " ".join(raw.lower().split())
    if lower == "now":
        return now
    if lower in ("today", "yesterday"):
        local_midnight = datetime.combine(now.astimezone().date(), time()).astimezone()
        if lower == "yesterday":
            local_midnight = datetime.combine(local_midnight.date() - timedelta(days=1), time()).astimezone()
        return local_midnight.astimezone(UTC)
    last = _LAST.match(lower)
    if last:
        return now - timedelta(seconds=_LAST_UNIT[last.group(1)])
    number = _epoch_number(raw)
    if number is not None:
        return from_epoch(number)
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        pass
    else:
        if dt.tzinfo is None:
            dt = dt.astimezone()  # naive: local time
        return dt.astimezone(UTC)
    try:
        span = parse_duration(_AGO.sub("", lower))
    except DurationTooLong:
        raise ValueError(f"time {text!r} is before the year 1") from None
    except ValueError:
        raise ValueError(f"cannot read time {text!r}: use {USER_TIME_FORMS}") from None
    try:
        return now - span
    except OverflowError:
        raise ValueError(f"time {text!r} is before the year 1") from None


def start_of_range(name: str, now: datetime | None = None) -> datetime | None:
    """Start of a quick range: ``today``, ``week``, ``month`` (local calendar), ``all`` -> None."""
    now = now or utcnow()
    local = now.astimezone()
    day = datetime.combine(local.date(), time()).astimezone()
    if name == "today":
        start = day
    elif name == "week":
        start = day - timedelta(days=local.weekday())
    elif name == "month":
        start = day.replace(day=1)
    elif name == "all":
        return None
    else:
        raise ValueError(f"unknown range {name!r}")
    return start.astimezone(UTC)
