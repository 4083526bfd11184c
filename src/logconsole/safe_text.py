"""Untrusted text made safe to show: every control character becomes visible.

A log message may carry ESC sequences (colours, cursor moves, OSC 52 clipboard
writes, window titles), BEL, CR or backspaces that would hide text.  Shown
through :func:`visible`, it can never paint the terminal.  Render the result as
plain text (``rich.text.Text``), never as markup.
"""

from __future__ import annotations

import re

# C0 controls except \n and \t, DEL, C1 controls, and the Unicode bidi and
# line/paragraph separators that reorder or break what follows them.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMES = {"\x1b": "\\e", "\r": "\\r", "\x08": "\\b", "\x07": "\\a", "\x00": "\\0", "\x7f": "\\x7f"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    name = _NAMES.get(ch)
    if name:
        return name
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object, *, newlines: bool = True) -> str:
    """``text`` with control characters shown as escapes (``\\e``, ``\\r``, ``\\x9b``).

    With ``newlines=False`` (one-line cells) newlines and tabs become ``⏎`` and a space.
    """
    s = text if isinstance(text, str) else str(text)
    s = _UNSAFE.sub(_escape, s)
    if not newlines:
        s = s.replace("\r\n", "⏎").replace("\n", "⏎").replace("\t", " ")
    return s
