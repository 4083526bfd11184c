"""The door every collector writes through, and the marks it may send.

The daemon provides one :class:`Sink`: ``put_raw`` runs the record through
:func:`logconsole.ingest.normalize` and queues the row for the batching writer
(awaiting when the queue is full: backpressure, never silent loss).
``put_offset`` queues a tailed file's new offset so the writer stores it in the
same transaction as the records read before it: no duplicates, no gaps.  A
record read from a file carries its offset (``put_raw(..., offset=...)``), so
the two are never committed apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from logconsole.ingest import Trusted


@dataclass(frozen=True, slots=True)
class FileOffset:
    """How far a tailed file has been read (``head``: a digest of its first bytes,
    to recognise a file replaced under the same inode)."""

    path: str
    inode: int
    offset: int
    head: str


class Sink(Protocol):
    async def put_raw(
        self, raw: dict[str, Any], *, kind: str | None = None, trusted: Mapping[str, Any] | Trusted | None = None,
        offset: FileOffset | None = None,
    ) -> None:
        """Normalise and queue one record; raises ``IngestError`` when it is invalid.

        ``offset`` (a tailed file's position after this record's line) travels
        with the record as one item, so no batch boundary can fall between them.
        """

    async def put_offset(self, mark: FileOffset) -> None:
        """Queue an offset, committed with the records put before it."""
