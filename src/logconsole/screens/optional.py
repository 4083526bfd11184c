"""Parts of the console that may be absent from a build: found by name, or None.

The console composes dialogs, panels and the demo filler from their own
modules; when one is missing the console still runs and says what is missing
instead of failing to start.
"""

from __future__ import annotations

import importlib
from typing import Any


def find(module: str, name: str) -> Any | None:
    """``logconsole.<module>.<name>``, or None when that module is not there."""
    full = f"logconsole.{module}"
    try:
        mod = importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name and (full == exc.name or full.startswith(exc.name + ".")):
            return None
        raise
    return getattr(mod, name, None)
