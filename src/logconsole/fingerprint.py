"""The fingerprint of an error: what makes two errors "the same error".

Errors with the same fingerprint form one group (:mod:`logconsole.store.groups`).
The rule, applied by :func:`fingerprint` to every error record at ingest:

1. A ``fingerprint`` sent with the record wins: a string, or a list of strings
   as Sentry's SDKs send it (joined with `` | ``; an item ``{{ default }}``
   stands for the default fingerprint, so ``["checkout", "{{ default }}"]``
   splits the default group by a tag of the sender's choosing).
2. Otherwise it is ``error_type: message`` with the message's variable parts
   replaced by placeholders (:func:`message_template`): ISO times ``{time}``,
   e-mail addresses ``{email}``, UUIDs ``{uuid}``, MongoDB ObjectIds ``{oid}``,
   IP addresses ``{ip}``, hexadecimal numbers ``{hex}``, quoted strings
   ``{str}``, URL path segments that are ids (``/api/courses/94`` ->
   ``/api/courses/{id}``) and other numbers ``{n}``; numbers inside words
   (``E11000``, ``email_1``, ``utf8``) are part of the text, not variables;
3. followed by ``@ FILE in FUNCTION`` of the application frame nearest to
   where the error was raised, when the ``stack`` has one (:func:`app_frame`):
   the top frame of a Node or Java stack, the last of a Python traceback,
   skipping frames of libraries and the runtime (``node_modules``,
   ``site-packages``, ``java.*``, ``org.springframework.*`` ...).  The file is
   its last two path parts, so the same code deployed in another folder is
   the same error; the line number is left out, so an edit above the line
   does not split the group.

It is a pure function of the record, so it is tested on its own with a table
of real messages and stacks (``tests/test_fingerprint.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 500
"""Characters kept of a fingerprint (a sent one or the default)."""
_MESSAGE_CHARS = 300
"""Characters of the message template kept in a default fingerprint."""
DEFAULT_MARK = "{{ default }}"
"""In a sent list: the place of the default fingerprint."""
SEPARATOR = " | "

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID_SEGMENT = re.compile(
    rf"^(?:\d+|{_UUID}|[0-9a-fA-F]{{24}}|(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{{12,}}|[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\d[A-Za-z0-9_-]{{6,}})$"
)
"""A URL path segment that is an id: a number, a UUID, an ObjectId, a long hex
string, or a long token mixing letters and at least two digits (a slug like
``intro-to-python`` or ``v2`` is not)."""

_IPV6 = re.compile(r"(?<![\w:.])[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}(?![\w:])")


def _ipv6(match: re.Match[str]) -> str:
    """An IPv6 address: hex groups with ``::`` or seven colons, and a digit
    (so ``a:b:c`` in prose is left alone)."""
    text = match.group(0)
    is_address = ("::" in text or text.count(":") == 7) and any(c.isdigit() for c in text)
    return "{ip}" if is_address else text


_DIGIT = "0123456789"
_Step = tuple[re.Pattern[str], str, str]
"""A replacement: pattern, placeholder, and the characters of which the text
must hold one for the pattern to match at all (a cheap test that skips most
passes: messages without ``@`` have no e-mail address)."""

_BEFORE_QUOTES: tuple[_Step, ...] = (
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"), "{time}", "-"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "{email}", "@"),
    (re.compile(r"(?<![\w-])ObjectId\(\s*['\"]?[0-9a-fA-F]{24}['\"]?\s*\)"), "ObjectId({oid})", "("),
)
_AFTER_QUOTES: tuple[_Step, ...] = (
    (re.compile(_UUID), "{uuid}", "-"),
    (re.compile(r"\b[0-9a-fA-F]{24}\b"), "{oid}", _DIGIT),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "{ip}", "."),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "{hex}", "x"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}\b"), "{hex}", _DIGIT),
)
_QUOTED = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|`[^`\n]*`|“[^”\n]*”")
_URL_PATH = re.compile(r"(?:(?<=[\s(\[{=,:\"'])|^)(?:[a-z][a-z0-9+.-]*://[^/\s]+)?(/[^\s?#\"'<>)\]}]*)")
_NUMBER = re.compile(r"(?<![\w.{}-])-?\d+(?:[.,]\d+)*(?![\w}])")
_SPACES = re.compile(r"\s+")


def _template_path(match: re.Match[str]) -> str:
    whole = match.group(0)
    path = match.group(1)
    prefix = whole[: len(whole) - len(path)]
    parts = path.split("/")
    return prefix + "/".join("{id}" if part and _ID_SEGMENT.match(part) else part for part in parts)


def template_path(path: str) -> str:
    """``/api/courses/94/lessons/5f1d...`` -> ``/api/courses/{id}/lessons/{id}``
    (the query string is left out).  Used for a group's endpoints too."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    return "/".join("{id}" if part and _ID_SEGMENT.match(part) else part for part in path.split("/"))


def _has_any(text: str, chars: str) -> bool:
    return any(c in text for c in chars)


def _replace(text: str, steps: tuple[_Step, ...], digits: bool) -> str:
    for pattern, placeholder, needs in steps:
        if (digits if needs is _DIGIT else _has_any(text, needs)):
            text = pattern.sub(placeholder, text)
    return text


_CACHE_MAX = 5_000
"""Entries of each cache below; only texts up to :data:`_CACHED_CHARS` are kept,
so the caches stay within a few megabytes."""
_CACHED_CHARS = 1_000
_TEMPLATES: dict[str, str] = {}
"""Messages seen before and their templates: an app repeats its messages."""


def message_template(message: str) -> str:
    """``message`` with its variable parts replaced by placeholders (see the module)."""
    hit = _TEMPLATES.get(message)
    if hit is not None:
        return hit
    text = _SPACES.sub(" ", message).strip()
    digits = _has_any(text, _DIGIT)
    if "/" in text:
        text = _URL_PATH.sub(_template_path, text)
    text = _replace(text, _BEFORE_QUOTES, digits)
    if _has_any(text, "\"'`“"):
        text = _QUOTED.sub("{str}", text)
    if digits:
        text = _replace(text, _AFTER_QUOTES, digits)
        if ":" in text:
            text = _IPV6.sub(_ipv6, text)
        text = _NUMBER.sub("{n}", text)
    if len(message) <= _CACHED_CHARS:
        if len(_TEMPLATES) >= _CACHE_MAX:
            _TEMPLATES.clear()
        _TEMPLATES[message] = text
    return text


# ---------------------------------------------------------------- stacks


@dataclass(frozen=True, slots=True)
class Frame:
    """A stack frame as the fingerprint sees it: file (last two parts) and function."""

    file: str
    function: str

    def __str__(self) -> str:
        return f"{self.file} in {self.function}" if self.function else self.file


_NODE = re.compile(r"^\s*at (?:(?P<fn>[^()]+?) \()?(?P<loc>[^()\s]+)\)?\s*$")
_PYTHON = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+(?:, in (?P<fn>.+?))?\s*$')
_JAVA = re.compile(r"^\s*at (?P<fn>[\w$.<>/-]+)\((?P<file>[^:()]*)(?::\d+)?\)\s*$")

_ALIAS = re.compile(r" \[as [^\]]+\]$")
"""Node's ``Layer.handle [as handle_request]``: the name it was called by."""

_LIBRARY_PATHS = (
    "node_modules", "node:", "internal/", "<anonymous>", "site-packages", "dist-packages",
    "/lib/python", "<frozen", "<string>", "native", "webpack/bootstrap",
)
_LIBRARY_PACKAGES = (
    "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.", "scala.", "org.springframework.",
    "org.apache.", "org.hibernate.", "org.eclipse.jetty.", "io.netty.", "reactor.", "com.fasterxml.",
    "org.junit.", "io.undertow.",
)


def _short_file(path: str) -> str:
    path = path.removeprefix("file://").replace("\\", "/")
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[-2:]) if parts else path


def _is_library_path(path: str) -> bool:
    return any(mark in path for mark in _LIBRARY_PATHS)


_FRAMES: dict[str, Frame | None] = {}
"""Stacks seen before and their application frames: the same code path gives
the same stack, line numbers and all."""


def app_frame(stack: str) -> Frame | None:
    """The application frame nearest to where the error was raised, or ``None``."""
    if stack in _FRAMES:
        return _FRAMES[stack]
    frame = _find_app_frame(stack)
    if len(stack) <= _CACHED_CHARS:
        if len(_FRAMES) >= _CACHE_MAX:
            _FRAMES.clear()
        _FRAMES[stack] = frame
    return frame


def _find_app_frame(stack: str) -> Frame | None:
    python: list[Frame] = []
    for line in stack.splitlines():
        text = line.lstrip()
        if text.startswith('File "'):
            m = _PYTHON.match(line)
            if m and not _is_library_path(m["file"]):
                python.append(Frame(_short_file(m["file"]), (m["fn"] or "").strip()))
        elif text.startswith("Caused by:"):
            break
        elif text.startswith("at ") and not python:
            frame = _java_frame(line) or _node_frame(line)
            if frame is not None and frame is not _SKIP:
                return frame
    return python[-1] if python else None


_SKIP = Frame("", "")
"""A frame read and skipped (a library's)."""


def _java_frame(line: str) -> Frame | None:
    m = _JAVA.match(line)
    if m is None or "." not in m["fn"]:
        return None
    fn = m["fn"].split("/")[-1]  # java.base/java.lang.Thread.run
    if fn.startswith(_LIBRARY_PACKAGES):
        return _SKIP
    return Frame(m["file"] or fn.rsplit(".", 2)[0], fn)


def _node_frame(line: str) -> Frame | None:
    m = _NODE.match(line)
    if m is None:
        return None
    file = m["loc"]
    for _ in range(2):  # :line:column
        head, sep, tail = file.rpartition(":")
        if sep and tail.isdigit():
            file = head
    if _is_library_path(file):
        return None
    fn = (m["fn"] or "").strip()
    for prefix in ("async ", "new "):
        fn = fn.removeprefix(prefix)
    if "[as " in fn:
        fn = _ALIAS.sub("", fn)
    return Frame(_short_file(file), fn or "<anonymous>")


# ---------------------------------------------------------------- the rule


def default_fingerprint(error_type: object, message: object, stack: object) -> str:
    """The fingerprint of an error that did not send one (rule 2 and 3)."""
    kind = str(error_type).strip() if error_type else ""
    text = message_template(str(message))[:_MESSAGE_CHARS] if message else ""
    head = f"{kind}: {text}" if kind and text else kind or text
    frame = app_frame(stack) if isinstance(stack, str) and stack else None
    out = f"{head} @ {frame}" if frame is not None else head
    return out[:MAX_LENGTH]


def sent_fingerprint(value: object) -> list[str] | None:
    """A ``fingerprint`` as sent, as a list of strings; ``None`` when none was
    sent (null, empty); :class:`ValueError` saying why when it is unusable."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise ValueError("must be a string or a list of strings")


def fingerprint(record: Mapping[str, Any], sent: list[str] | None = None) -> str:
    """The fingerprint of the error ``record`` (a row or a raw record with
    canonical names); ``sent`` is what :func:`sent_fingerprint` made of the
    record's own ``fingerprint``."""
    if sent:
        default = None
        parts = []
        for part in sent:
            if part.strip() == DEFAULT_MARK:
                if default is None:
                    default = default_fingerprint(record.get("error_type"), record.get("message"), record.get("stack"))
                parts.append(default)
            else:
                parts.append(part)
        return SEPARATOR.join(parts)[:MAX_LENGTH]
    return default_fingerprint(record.get("error_type"), record.get("message"), record.get("stack"))


__all__ = [
    "DEFAULT_MARK", "Frame", "MAX_LENGTH", "app_frame", "default_fingerprint", "fingerprint",
    "message_template", "sent_fingerprint", "template_path",
]
