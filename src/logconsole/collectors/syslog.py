"""Syslog messages (RFC 3164 and RFC 5424) as raw records.

What real senders write to a Unix socket:

* ``logger -u SOCK`` (util-linux): ``<13>Nov 27 07:09:11 tag[pid]: message``
  (no hostname by default; ``--rfc3164`` adds one);
* ``logger -u SOCK --rfc5424``: ``<13>1 2026-11-27T07:09:11.74+00:00 host app
  procid msgid [sd-id k="v"] message``;
* Python's ``SysLogHandler``: ``<11>message`` or ``<11>ident: message`` (no
  timestamp, no hostname).

Severities 0-3 become ``error`` records (emerg/alert/crit -> critical, err ->
high); 4-7 become ``activity`` records (warning -> warn, notice and info ->
info, debug -> debug).  The app name goes to ``title``; the header fields are
kept under ``extra`` with journald-like names (``syslog_identifier``,
``syslog_pid``, ``syslog_facility``, ``syslog_hostname``, ``syslog_msgid``,
``syslog_structured_data``, ``syslog_timestamp``).

An RFC 3164 timestamp has no year and no zone, so such records are stamped
with the time the daemon received them (the header's text is kept as
``syslog_timestamp``); an RFC 5424 timestamp is exact and becomes
``created_at``.

:func:`parse_syslog` raises only :class:`SyslogError`.
"""

from __future__ import annotations

import re
from typing import Any

from logconsole.timeutil import parse_ts

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
_RFC3164_TS = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-3]\d \d\d:\d\d:\d\d ")
_TAG = re.compile(r"([^\s\[\]:]{1,128})(?:\[([^\]\s]{0,32})\])?: ?")
_HOST_TAG = re.compile(r"([^\s\[\]:]{1,255}) ([^\s\[\]:]{1,128})(?:\[([^\]\s]{0,32})\])?: ?")
_SD_ELEMENT = re.compile(r'\[([^\s=\]"]{1,32})((?:\s+[^\s=\]"]{1,32}="(?:[^"\\]|\\.)*")*)\s*\]', re.DOTALL)
_SD_PARAM = re.compile(r'([^\s=\]"]{1,32})="((?:[^"\\]|\\.)*)"', re.DOTALL)
_SD_UNESCAPE = re.compile(r'\\(["\\\]])')
_BOM = "\ufeff"


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
    record: dict[str, Any] = {"type": kind, level_field: level, "message": message}
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
    """``[TIMESTAMP ][HOSTNAME ]TAG[PID]: MSG``; every part but MSG optional."""
    out: dict[str, Any] = {}
    m = _RFC3164_TS.match(rest)
    if m:
        out["syslog_timestamp"] = rest[: m.end() - 1]
        rest = rest[m.end():]
        # After a timestamp: "host tag[pid]: msg" or (logger's local form) "tag[pid]: msg".
        tag = _TAG.match(rest)
        if not tag:
            host = _HOST_TAG.match(rest)
            if host:
                out["syslog_hostname"] = host.group(1)
                out["syslog_identifier"] = host.group(2)
                out["syslog_pid"] = _pid(host.group(3))
                out["message"] = rest[host.end():]
                return out
    else:
        tag = _TAG.match(rest)
    if tag:
        out["syslog_identifier"] = tag.group(1)
        out["syslog_pid"] = _pid(tag.group(2))
        rest = rest[tag.end():]
    out["message"] = rest
    return out


def _parse_5424(rest: str) -> dict[str, Any]:
    """``TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`` (``-`` is nil)."""
    parts = rest.split(" ", 5)
    while len(parts) < 6:
        parts.append("-")
    ts, host, app, procid, msgid, tail = parts
    out: dict[str, Any] = {}
    if ts != "-":
        try:
            parse_ts(ts)
        except ValueError:
            out["syslog_timestamp"] = ts
        else:
            out["created_at"] = ts
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


def _split_structured_data(tail: str) -> tuple[dict[str, dict[str, str]], str]:
    """The STRUCTURED-DATA part as ``{sd_id: {param: value}}`` and the MSG after it."""
    if tail.startswith("-"):
        return {}, tail[2:] if tail.startswith("- ") else tail[1:]
    sd: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(tail) and tail[pos] == "[":
        m = _SD_ELEMENT.match(tail, pos)
        if not m:
            break  # not well-formed: keep the rest as the message
        params = {k: _SD_UNESCAPE.sub(r"\1", v) for k, v in _SD_PARAM.findall(m.group(2))}
        sd[m.group(1)] = params
        pos = m.end()
    if not sd:
        return {}, tail
    message = tail[pos:]
    return sd, message.removeprefix(" ")


def _pid(text: str | None) -> int | str | None:
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else text
