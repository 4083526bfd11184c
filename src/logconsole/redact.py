"""Secrets inside free text: found by their shape, replaced before storage.

:class:`logconsole.ingest.Redactor` hides a value by its *key*; prose has no
keys, so a password in a message, a token in a query string or a card number
in a stack trace needs this second look.  :class:`TextScrubber` replaces with
``[REDACTED]``:

* ``name=value``, ``"name": value`` (JSON, Python dicts) and ``Name: value``
  (headers) when the name is a secret by the key rule (so ``?password=x``,
  ``"client_secret": "x"``, ``X-Api-Key: x``; ``shipping=x`` stays).  A
  ``Name: value`` at the start of a line hides the rest of the line (a header);
  in the middle of a line it hides one word, and a bare ``key``, ``token`` or
  ``pin`` there is prose (``Missing key: user_id``) and stays.  Names ending in
  ``Error``, ``Exception`` or ``Warning`` are exception classes
  (``KeyError: 'id'``), not secrets;
* ``Bearer <token>`` and ``Basic <base64 of user:password>``, any case;
* JSON Web Tokens (``eyJ...``), private-key blocks (``-----BEGIN ... PRIVATE
  KEY-----`` to its end, or to the end of the text when cut), the password of
  a URL (``scheme://user:password@host``);
* AWS access key ids, GitHub, Slack, Stripe, Google API and ``sk-`` keys;
* card numbers: 13 to 19 digits (spaces or dashes between them allowed)
  starting with 2 to 6 and passing the Luhn check (``4111 1111 1111 1111``);
  an order number that fails the check stays.

Speed matters (every record passes here): each rule runs only when a cheap
substring test says it could match, and the name verdicts are the key rule's
cached ones.  Scrubbing twice gives the same text as scrubbing once.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterable

REDACTED = "[REDACTED]"

_NAME = r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}"
_ASSIGN = re.compile(rf"(?<![A-Za-z0-9_.\-])({_NAME})[ \t]?=[ \t]?")
"""``name=value``: URL query strings, form bodies, ``key=value`` log lines (the
value is measured after, so that ``a=b=c`` also finds ``b=``)."""
_ASSIGN_VALUE = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|[^\s&;,\"'<>(){}\[\]]+")
_QUOTED = re.compile(
    r"""(["'])([^"'\n]{1,64})\1([ \t]*:[ \t]*)("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\s,}\]"'{\[]+)"""
)
"""``"name": value`` or ``'name': value``: JSON and Python dicts written into text."""
_COLON = re.compile(rf"(?<![A-Za-z0-9_.\-])({_NAME}):[ \t]*")
"""``Name: value``: headers, YAML-ish log lines (the value is measured after)."""
_INLINE_VALUE = re.compile(r"(?:(?i:bearer|basic|token|digest)[ \t]+)?[^\s,;\"']+")
_LINE_VALUE = re.compile(r"[^\r\n]+")
_AUTH = re.compile(r"\b((?i:bearer|basic))([ \t]+)([A-Za-z0-9\-._~+/]{8,}=*)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----.*?(?:-----END \1-----|\Z)", re.DOTALL
)
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)([^/\s@]+)(@)")
_VENDOR_KEY = re.compile(
    r"(?:AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key id (long-term, temporary)
    r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}"  # GitHub
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|AIza[A-Za-z0-9_\-]{35}"  # Google API key
    r"|sk-[A-Za-z0-9_\-]{20,}"  # OpenAI, Anthropic
)
"""Starts with literals (so the search is fast); the edges are checked by :func:`_vendor_key`."""
_CARD = re.compile(r"[2-6]\d{3}(?:[ \-]?\d){9,15}(?![A-Za-z0-9_]|\.\d)")
_NOT_DIGIT = re.compile(r"\D")

_MAX_PASSES = 8
_CLEAN_TEXTS = 2048
_CLEAN_TEXT_MAX = 1024
"""At most this many remembered clean texts, each at most this long (about 2 MB)."""
_SHORTEST_SHAPE = 13
"""No token, key or card number found by its shape is shorter (a card has 13 digits or more)."""
_PROSE_WORDS = frozenset({"key", "token", "pin"})
"""Bare names that, mid-line before a colon, are prose: ``Missing key: user_id``."""
_CLASS_SUFFIXES = ("error", "exception", "warning")


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (card numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i & 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


class TextScrubber:
    """Replaces the secrets inside a text.

    ``is_secret`` is the key rule for names; ``words`` are the secret words it
    knows, used only as a quick test that a text could hold a secret name.
    """

    __slots__ = ("_is_secret", "_hints", "_clean")

    def __init__(self, is_secret: Callable[[str], bool], words: Iterable[str]) -> None:
        self._is_secret = is_secret
        self._clean: set[str] = set()
        """Texts seen to hold no secret: log lines repeat, so most are seen again."""
        hints = {w.lower() for w in words if w} | {"card"}  # "credit card" is a secret name too
        # A word that contains another is found by the shorter one ("apikey" by "key").
        self._hints = tuple(sorted(h for h in hints if not any(o != h and o in h for o in hints)))

    def scrub(self, text: str) -> str:
        """``text`` with every secret found in it replaced by ``[REDACTED]``.

        A replacement can make a new edge for another rule (``[REDACTED]_key:
        x``), so a text that changed is looked at again, until nothing changes.
        """
        if text in self._clean:
            return text
        for _ in range(_MAX_PASSES):
            scrubbed = self._once(text)
            if scrubbed == text:
                break
            text = scrubbed
        else:
            return text
        if len(text) <= _CLEAN_TEXT_MAX:  # a text that scrubs to itself
            if len(self._clean) >= _CLEAN_TEXTS:
                self._clean.clear()
            self._clean.add(text)
        return text

    def _once(self, text: str) -> str:
        if "-----BEGIN" in text:  # first: a key block may follow a secret name
            text = _PEM.sub(REDACTED, text)
        assign = "=" in text
        colon = ":" in text
        if (assign or colon) and self._may_name_secret(text):
            if assign:
                text = self._assigns(text)
            if colon:
                if "'" in text or '"' in text:
                    text = _QUOTED.sub(self._quoted, text)
                text = self._colons(text)
        if colon and "://" in text and "@" in text:
            text = _URL_PASSWORD.sub(_url_password, text)
        if len(text) < _SHORTEST_SHAPE:
            return text
        if "eyJ" in text:
            text = _JWT.sub(REDACTED, text)
        if "earer" in text or "EARER" in text or "asic" in text or "ASIC" in text:
            text = _AUTH.sub(_auth, text)
        if _may_hold_vendor_key(text):
            text = _VENDOR_KEY.sub(_vendor_key, text)
        if _CARD.search(text):
            text = _CARD.sub(_card, text)
        return text

    def _may_name_secret(self, text: str) -> bool:
        low = text.lower()
        for hint in self._hints:
            if hint in low:
                return True
        return False

    def _names_secret(self, name: str) -> bool:
        if not self._is_secret(name):
            return False
        return not name.lower().endswith(_CLASS_SUFFIXES)

    def _assigns(self, text: str) -> str:
        """``name=value`` pairs whose name is a secret: the value."""
        out: list[str] = []
        pos = 0
        for m in _ASSIGN.finditer(text):
            if m.start() < pos or not self._names_secret(m.group(1)):
                continue
            value = _ASSIGN_VALUE.match(text, m.end())
            if value is None:
                continue
            out.append(text[pos:value.start()])
            out.append(_masked(value.group()))
            pos = value.end()
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)

    def _quoted(self, m: re.Match[str]) -> str:
        value = m.group(4)
        if value in ("null", "true", "false") or not self._names_secret(m.group(2)):
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{_masked(value)}"

    def _colons(self, text: str) -> str:
        """``Name: value`` pairs: a header line's whole value, or one word mid-line."""
        out: list[str] = []
        pos = 0
        for m in _COLON.finditer(text):
            start = m.start()
            if start < pos or not self._names_secret(m.group(1)):
                continue
            line_start = text.rfind("\n", 0, start) + 1
            if text[line_start:start].strip():
                if m.group(1).lower() in _PROSE_WORDS:
                    continue
                value = _INLINE_VALUE.match(text, m.end())
            else:
                value = _LINE_VALUE.match(text, m.end())
            if value is None or value.group().startswith(REDACTED):
                continue
            out.append(text[pos:value.start()])
            out.append(REDACTED)
            pos = value.end()
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)


def _may_hold_vendor_key(text: str) -> bool:
    """A quick test for the literal starts of :data:`_VENDOR_KEY` (a search costs more)."""
    return (
        "AKIA" in text or "ASIA" in text or "AIza" in text or "xox" in text or "sk-" in text
        or ("_" in text and ("gh" in text or "k_live_" in text or "k_test_" in text))
    )


def _masked(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return f"{value[0]}{REDACTED}{value[0]}"
    return REDACTED


def _url_password(m: re.Match[str]) -> str:
    if m.group(2) == REDACTED:
        return m.group(0)
    return f"{m.group(1)}{REDACTED}{m.group(3)}"


def _auth(m: re.Match[str]) -> str:
    scheme, space, token = m.groups()
    if scheme.lower() == "bearer":
        looks_random = len(token) >= 20 or any(c.isdigit() for c in token)
    else:  # Basic: base64 of "user:password"
        looks_random = _is_basic_credential(token)
    return f"{scheme}{space}{REDACTED}" if looks_random else m.group(0)


def _is_basic_credential(token: str) -> bool:
    try:
        decoded = binascii.a2b_base64(token, strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _inside_word(m: re.Match[str], extra: str = "_") -> bool:
    """Whether the match is part of a longer word (or number) on its left."""
    start = m.start()
    if not start:
        return False
    before = m.string[start - 1]
    return before.isalnum() or before in extra


def _vendor_key(m: re.Match[str]) -> str:
    end = m.end()
    if _inside_word(m) or (end < len(m.string) and m.string[end].isalnum()):
        return m.group(0)
    return REDACTED


def _card(m: re.Match[str]) -> str:
    if _inside_word(m, "_."):
        return m.group(0)
    text = m.group()
    # The longest run first, then shorter ones ending at a separator: in
    # "4111 1111 1111 1111 12 times" the card is the first four groups.
    ends = [len(text)] + [i for i in range(len(text) - 1, 0, -1) if text[i] in " -"]
    for end in ends:
        digits = _NOT_DIGIT.sub("", text[:end])
        if len(digits) < 13:
            break
        if len(digits) <= 19 and luhn_ok(digits):
            return REDACTED + text[end:]
    return text
