"""Where a store lives, from what a user wrote: a file path, ``sqlite:///path``,
or a ``postgresql://`` (``postgres://``) URL.

One reader for ``--db``, ``LOGCONSOLE_DB`` and the config's ``[store] url``,
and one way to show a URL: :func:`redacted_url`, which never prints a password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

_PG_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


class StoreURLError(ValueError):
    """A store location that cannot be used; the message says why (never the password)."""


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store location: ``backend`` and, per backend, ``path`` (SQLite)
    or ``conninfo`` (PostgreSQL: the URL libpq reads, credentials included)."""

    backend: str
    path: Path | None = None
    conninfo: str = ""

    def redacted(self) -> str:
        """The location as it may be shown: the password replaced by ``***``."""
        if self.backend == SQLITE:
            return str(self.path)
        return redacted_url(self.conninfo)

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"StoreURL({self.backend!r}, {self.redacted()!r})"


def parse_store_url(text: str | os.PathLike[str]) -> StoreURL:
    """The store that ``text`` names; :class:`StoreURLError` when none can be.

    A plain path (relative or absolute) is a SQLite file; ``sqlite:///abs``
    and ``sqlite://rel`` are too.  ``postgresql://`` and ``postgres://`` URLs
    go to PostgreSQL as libpq reads them (host, port, user, password,
    database, ``?host=/socket/dir`` and other parameters).
    """
    if isinstance(text, os.PathLike):
        return StoreURL(SQLITE, path=Path(text))
    raw = str(text).strip()
    if not raw:
        raise StoreURLError("the store location is empty")
    m = _SCHEME.match(raw)
    if m is None:
        return StoreURL(SQLITE, path=Path(raw).expanduser())
    scheme = m.group(1).lower()
    if scheme in _PG_SCHEMES:
        return StoreURL(POSTGRESQL, conninfo="postgresql://" + raw[m.end():])
    if scheme == SQLITE:
        rest = raw[m.end():]
        if not rest:
            raise StoreURLError("sqlite:// names no file: write sqlite:///path/to/logs.db")
        return StoreURL(SQLITE, path=Path(rest).expanduser())
    raise StoreURLError(
        f"unknown store {redacted_url(raw)!r}: expected a file path, sqlite:///path or postgresql://...")


def redacted_url(url: str) -> str:
    """``url`` with any password (in the user part or a ``password=`` parameter) as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hostport}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


__all__ = ["POSTGRESQL", "SQLITE", "StoreURL", "StoreURLError", "parse_store_url", "redacted_url"]
