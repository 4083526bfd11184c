"""Time: the one stored format, and parsing what users and records give.

Records store ``created_at`` as ISO 8601 UTC with milliseconds
(``2026-11-20T09:15:00.000Z``): readable in any SQLite shell, and it sorts as
text in time order.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

UTC = timezone.utc

_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
_RELATIVE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|weeks?)\s*(?:ago)?\s*\Z", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EPOCH_MS_THRESHOLD = 1e11  # larger epoch numbers are milliseconds (JavaScript's Date.now())


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ts(dt: datetime) -> str:
    """The stored form of a time: ISO 8601, UTC, milliseconds, ``Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


def parse_ts(value: object) -> datetime:
    """A record's time: ISO 8601 (naive means UTC), or epoch seconds/milliseconds.

    Raises ``ValueError`` with a reason a user can act on.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError(f"expected an ISO 8601 time or epoch seconds, got {value!r}")
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            return _from_epoch(float(text))
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"expected an ISO 8601 time or epoch seconds, got {value!r}"
            ) from None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    raise ValueError(f"expected an ISO 8601 time or epoch seconds, got {value!r}")


def _from_epoch(seconds: float) -> datetime:
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError("time is not a number")
    if abs(seconds) > _EPOCH_MS_THRESHOLD:
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"time {seconds!r} is out of range") from None


def to_stored(value: object) -> str:
    """Normalise any accepted time to the stored form (fast when already stored form)."""
    if isinstance(value, str) and _CANONICAL.match(value):
        return value
    return format_ts(parse_ts(value))


def parse_user_time(text: str, now: datetime | None = None) -> datetime:
    """A time typed by a user: ``15m``, ``2h``, ``7d``, ``today``, ``yesterday``, ``now``,
    an ISO date or time (naive means local time, as journalctl does), or epoch seconds.
    """
    now = now or utcnow()
    raw = text.strip()
    lower = raw.lower()
    if lower == "now":
        return now
    if lower in ("today", "yesterday"):
        local_midnight = datetime.combine(now.astimezone().date(), time()).astimezone()
        if lower == "yesterday":
            local_midnight -= timedelta(days=1)
        return local_midnight.astimezone(UTC)
    m = _RELATIVE.match(lower)
    if m:
        amount = float(m.group(1))
        unit = m.group(2)[0]
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    try:
        return _from_epoch(float(raw))
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}: use ISO 8601 (2026-11-20 or 2026-11-20T09:15), "
            "a relative time (15m, 2h, 7d), 'today' or 'yesterday'"
        ) from None
    if isinstance(dt, date) and not isinstance(dt, datetime):  # pragma: no cover - fromisoformat gives datetime
        dt = datetime.combine(dt, time())
    if dt.tzinfo is None:
        dt = dt.astimezone()  # naive: local time
    return dt.astimezone(UTC)


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
