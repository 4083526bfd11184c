"""Syslog messages (RFC 3164 and RFC 5424) as raw records.

What real senders write to a Unix socket:

* ``logger -u SOCK`` (util-linux): ``<13>Nov 27 07:09:11 tag[pid]: message``
  (no hostname by default; ``--rfc3164`` adds one);
* ``logger -u SOCK --rfc5424``: ``<13>1 2026-11-27T07:09:11.74+00:00 host app
  procid msgid [sd-id k="v"] message``;
* Python's ``SysLogHandler``: ``<11>message`` or ``<11>ident: message`` (no
  timestamp, no hostname);
* relays (rsyslog, syslog-ng, network gear): ``<PRI>`` and a BSD timestamp
  (``Jan  5``, ``Jan 5``, ``JAN 05``, fractional seconds, a year before or after
  the time) or an RFC 3339 one (rsyslog's forward format), then a hostname
  (a name, IPv4, IPv6, ``[IPv6]``), then an optional ``tag[pid]:``.

Severities 0-3 become ``error`` records (emerg/alert/crit -> critical, err ->
high); 4-7 become ``activity`` records (warning -> warn, notice and info ->
info, debug -> debug).  The app name goes to ``title``; the header fields are
kept under ``extra`` with journald-like names (``syslog_identifier``,
``syslog_pid``, ``syslog_facility``, ``syslog_hostname``, ``syslog_msgid``,
``syslog_structured_data``, ``syslog_timestamp``).  A message without MSG (RFC
5424 makes it optional) gets :data:`NO_MESSAGE`, so it is stored, not refused.

A BSD timestamp has no zone (and usually no year), so such records are stamped
with the time the daemon received them (the header's text is kept as
``syslog_timestamp``); an RFC 3339 timestamp is exact and becomes
``created_at`` as sent, every fractional digit included.

:func:`parse_syslog` raises only :class:`SyslogError`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)
SEVERITY_NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

# syslog severity -> (record type, field, value)
_SEVERITY_MAP: tuple[tuple[str, str, str], ...] = (
    ("error", "severity", "critical"),
    ("error", "severity", "critical"),
    ("error", "severity", "critical"),
    ("error", "severity", "high"),
    ("activity", "level", "warn"),
    ("activity", "level", "info"),
    ("activity", "level", "info"),
    ("activity", "level", "debug"),
)

_PRI = re.compile(r"<([0-9]{1,3})>")
_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_CLOCK = r"\d\d:\d\d:\d\d(?:\.\d{1,9})?"
_BSD_TS = re.compile(
    rf"{_MONTH} {{1,2}}(?:[0-3]?\d)(?: \d{{4}})? {_CLOCK}(?: \d{{4}})?(?= |\Z)"
)
"""``Mmm dd hh:mm:ss`` with the day as ``5``, `` 5`` or ``05``, any case, an
optional fraction and an optional year before or after the time."""
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")
_RFC3339_HEADER = re.compile(_RFC3339.pattern + r"(?= |\Z)")
_TAG = re.compile(r"([^\s\[\]:]{1,128})(?:\[([^\]\s]{0,32})\])?: ?")
_HOSTNAME = re.compile(r"[\w.\-]{1,255}")
_IPV6ISH = re.compile(r"\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%\w]*\]?")
_SD_ELEMENT = re.compile(r'\[([^\s=\]"]{1,32})((?:\s+[^\s=\]"]{1,32}="(?:[^"\\]|\\.)*")*)\s*\]', re.DOTALL)
_SD_PARAM = re.compile(r'([^\s=\]"]{1,32})="((?:[^"\\]|\\.)*)"', re.DOTALL)
_SD_UNESCAPE = re.compile(r'\\(["\\\]])')
_BOM = "\ufeff"
NO_MESSAGE = "(no message)"


class SyslogError(ValueError):
    """The text does not start with a valid ``<PRI>``."""


def parse_pri(text: str) -> tuple[int, int, int]:
    """``(facility, severity, header length)`` of a leading ``<PRI>``."""
    m = _PRI.match(text)
    if not m:
        raise SyslogError(f"invalid syslog priority {text[:8]!r}: expected <0> to <191>")
    pri = int(m.group(1))
    if pri > 191 or (len(m.group(1)) > 1 and m.group(1)[0] == "0"):
        raise SyslogError(f"invalid syslog priority <{m.group(1)}>: expected <0> to <191>")
    return pri >> 3, pri & 7, m.end()


def parse_syslog(text: str) -> dict[str, Any]:
    """One syslog message as a raw record for :func:`logconsole.ingest.normalize`."""
    facility, severity, pos = parse_pri(text)
    rest = text[pos:]
    if rest.startswith("1 "):
        fields = _parse_5424(rest[2:])
    else:
        fields = _parse_3164(rest)
    message = fields.pop("message").rstrip("\r\n\0")
    if message.startswith(_BOM):
        message = message[1:]
    kind, level_field, level = _SEVERITY_MAP[severity]
    record: dict[str, Any] = {"type": kind, level_field: level, "message": message or NO_MESSAGE}
    app = fields.get("syslog_identifier")
    if app:
        record["title"] = app
    record["syslog_facility"] = FACILITIES[facility] if facility < len(FACILITIES) else str(facility)
    record["syslog_severity"] = SEVERITY_NAMES[severity]
    created = fields.pop("created_at", None)
    if created:
        record["created_at"] = created
    record.update({k: v for k, v in fields.items() if v not in (None, "")})
    return record


def _parse_3164(rest: str) -> dict[str, Any]:
    """``[TIMESTAMP HOSTNAME ][TAG[PID]: ]MSG``, read as leniently as rsyslog does.

    Without a timestamp (Python's ``SysLogHandler``) there is no hostname
    either.  After one, a word followed by ``:`` is the tag (logger's local
    form, no hostname); otherwise a word that can be a host name or an IP
    address is the hostname, and a tag may follow it.
    """
    out: dict[str, Any] = {}
    # Some senders put a space between <PRI> and the timestamp.
    at = 1 if rest.startswith(" ") and rest[1:2].isalnum() else 0
    m = _RFC3339_HEADER.match(rest, at)
    if m:
        ts = m.group()
        out["created_at" if _exact_time(ts) else "syslog_timestamp"] = ts
    else:
        m = _BSD_TS.match(rest, at)
        if m:
            out["syslog_timestamp"] = m.group()
    if m:
        rest = rest[m.end() + 1:]
        word = rest.split(" ", 1)[0]
        host = _ip_host(word)
        if host is None and not _TAG.match(rest) and _HOSTNAME.fullmatch(word):
            host = word
        if host is not None:
            out["syslog_hostname"] = host
            rest = rest[len(word) + 1:]
    tag = _TAG.match(rest)
    if tag:
        out["syslog_identifier"] = tag.group(1)
        out["syslog_pid"] = _pid(tag.group(2))
        rest = rest[tag.end():]
    elif "syslog_hostname" in out:
        rest = rest.lstrip(" ")
    if (m or tag) and rest.lstrip(" ").startswith("["):
        # rsyslog puts structured data in its own RFC 3164 messages.
        sd, after = _split_structured_data(rest.lstrip(" "), need_params=True)
        if sd:
            out["syslog_structured_data"] = sd
            rest = after
    out["message"] = rest
    return out


def _ip_host(word: str) -> str | None:
    """``word`` as a hostname when it is an IPv6 address (``[...]`` unwrapped)."""
    if not _IPV6ISH.fullmatch(word):
        return None
    bare = word[1:-1] if word.startswith("[") and word.endswith("]") else word
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        return None
    return bare


def _exact_time(text: str) -> bool:
    """Whether ``text`` is an RFC 3339 time that names one instant."""
    if not _RFC3339.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:  # e.g. month 13, or a leap second
        return False
    return True


def _parse_5424(rest: str) -> dict[str, Any]:
    """``TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`` (``-`` is nil)."""
    parts = rest.split(" ", 5)
    while len(parts) < 6:
        parts.append("-")
    ts, host, app, procid, msgid, tail = parts
    out: dict[str, Any] = {}
    if ts != "-":
        out["created_at" if _exact_time(ts) else "syslog_timestamp"] = ts
    for key, value in (("syslog_hostname", host), ("syslog_identifier", app), ("syslog_msgid", msgid)):
        if value != "-":
            out[key] = value
    if procid != "-":
        out["syslog_pid"] = _pid(procid)
    sd, message = _split_structured_data(tail)
    if sd:
        out["syslog_structured_data"] = sd
    out["message"] = message
    return out


def _split_structured_data(tail: str, *, need_params: bool = False) -> tuple[dict[str, dict[str, str]], str]:
    """The STRUCTURED-DATA part as ``{sd_id: {param: value}}`` and the MSG after it.

    ``need_params``: every element must have a parameter, so that ``[error]``
    at the start of an RFC 3164 message stays text.
    """
    if tail.startswith("-"):
        return {}, tail[2:] if tail.startswith("- ") else tail[1:]
    sd: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(tail) and tail[pos] == "[":
        m = _SD_ELEMENT.match(tail, pos)
        if not m or (need_params and not m.group(2).strip()):
            break  # not well-formed: keep the rest as the message
        params = {k: _SD_UNESCAPE.sub(r"\1", v) for k, v in _SD_PARAM.findall(m.group(2))}
        sd[m.group(1)] = params
        pos = m.end()
    if not sd or (need_params and pos < len(tail) and tail[pos] != " "):
        return {}, tail
    message = tail[pos:]
    return sd, message.removeprefix(" ")


def _pid(text: str | None) -> int | str | None:
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else text
