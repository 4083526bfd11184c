"""The spill file: records the collector accepted but could not commit before it stopped.

When the daemon stops while the database refuses writes (full disk, lock held
elsewhere, damaged file), what it holds in memory is written here instead of
being lost, and the next start commits it before accepting connections.

The file is ``DB.spill.jsonl`` beside the database (``logs.db.spill.jsonl``);
when that cannot be written (the database's disk is the full one) it goes
beside the socket as ``SOCKET.spill.jsonl``.  Mode 0600, written to a
temporary name, fsynced and renamed, so it is whole or absent.  JSON lines:

* line 1, the header: ``{"logconsole_spill": 1, "id": ..., "db": ..., "records": N}``;
* then one line per record, ``{"row": {...}}``, already normalised (redacted,
  stamped, with its trusted fields): replay stores it as it is;
* and one per tailed-file offset, ``{"offset": [path, inode, offset, head]}``,
  committed with the records so a tailed file is not read twice.

Replay commits the whole file in one transaction together with a marker row
in ``file_offsets`` (path = the spill file, head = its id), and removes the
file after the commit; a restart between the commit and the removal finds the
marker and removes the file without storing it twice.  A cut-short last line
(the machine stopped while it was written) is skipped with a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logconsole.ingest import Row
from logconsole.store.url import StoreURL
from logconsole.store.writer import OffsetValues

log = logging.getLogger("logconsole.daemon")

FORMAT = 1
SUFFIX = ".spill.jsonl"


class SpillError(OSError):
    """No spill file could be written; the message says where it was tried and why."""


def spill_path_for(path: Path) -> Path:
    """``logs.db`` -> ``logs.db.spill.jsonl`` (the same rule for a socket path)."""
    return path.with_name(path.name + SUFFIX)


@dataclass(slots=True)
class Spill:
    """One spill file as read back."""

    path: Path
    id: str
    db: str
    rows: list[Row] = field(default_factory=list)
    offsets: list[OffsetValues] = field(default_factory=list)
    expected: int = 0
    """Records the header announced (more than ``len(rows)`` when the file was cut short)."""

    @property
    def marker(self) -> OffsetValues:
        """The ``file_offsets`` row committed with the replay (see the module doc)."""
        return (os.fspath(self.path), 0, len(self.rows), self.id)


def write_spill(
    places: Sequence[Path], db_path: Path | StoreURL, rows: Sequence[Row], offsets: Iterable[OffsetValues] = ()
) -> Path:
    """Write ``rows`` and ``offsets`` to the first of ``places`` that takes them; its path.

    Raises :class:`SpillError` naming every place tried when none does.
    """
    lines = [json.dumps({"logconsole_spill": FORMAT, "id": uuid.uuid4().hex, "db": str(db_path),
                         "records": len(rows)})]
    lines.extend(json.dumps({"row": row}, default=str) for row in rows)
    lines.extend(json.dumps({"offset": list(o)}) for o in offsets)
    data = ("\n".join(lines) + "\n").encode("utf-8")  # ASCII: lone surrogates stay escaped
    failures: list[str] = []
    for place in places:
        target = _free_name(place)
        try:
            _write_durably(target, data)
        except OSError as exc:
            failures.append(f"{target}: {exc.strerror or exc}")
            continue
        return target
    raise SpillError("; ".join(failures))


def _free_name(path: Path) -> Path:
    """``path``, or ``NAME.2.spill.jsonl``... when a spill not yet replayed holds it."""
    if not path.exists():
        return path
    stem = path.name[: -len(SUFFIX)]
    n = 2
    while (candidate := path.with_name(f"{stem}.{n}{SUFFIX}")).exists():
        n += 1
    return candidate


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def find_spills(places: Iterable[Path]) -> list[Path]:
    """Spill files at ``places`` (and their ``.N`` siblings), oldest first."""
    found: dict[Path, float] = {}
    for place in places:
        stem = place.name[: -len(SUFFIX)]
        for candidate in place.parent.glob(f"{_glob_escape(stem)}*{SUFFIX}"):
            middle = candidate.name[len(stem): -len(SUFFIX)]
            if middle and not (middle.startswith(".") and middle[1:].isdigit()):
                continue
            with contextlib.suppress(OSError):
                found[candidate] = candidate.stat().st_mtime
    return sorted(found, key=lambda p: (found[p], p.name))


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def read_spill(path: Path) -> Spill:
    """The spill at ``path``; ``ValueError`` when its header is not a spill header."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    try:
        header: Any = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("logconsole_spill") != FORMAT:
        raise ValueError(f"{path} is not a spill file of this logconsole")
    spill = Spill(path, str(header.get("id", "")), str(header.get("db", "")),
                  expected=int(header.get("records", 0)))
    body = lines[1:]
    for n, raw in enumerate(body, 2):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            if all(not rest.strip() for rest in body[n - 1:]):
                log.warning("%s: line %d was cut short (the daemon stopped while writing it); skipped", path, n)
                continue
            raise ValueError(f"{path}: line {n} is not JSON") from None
        if "row" in item and isinstance(item["row"], dict):
            spill.rows.append(item["row"])
        elif "offset" in item and isinstance(item["offset"], list) and len(item["offset"]) == 4:
            spill.offsets.append(tuple(item["offset"]))  # type: ignore[arg-type]
        else:
            raise ValueError(f"{path}: line {n} is neither a record nor an offset")
    return spill
