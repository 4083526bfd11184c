"""Where logconsole keeps its database, socket and config (XDG, overridable)."""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV = "LOGCONSOLE_DB"
SOCKET_ENV = "LOGCONSOLE_SOCKET"
CONFIG_ENV = "LOGCONSOLE_CONFIG"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def default_db_path() -> Path:
    """``$LOGCONSOLE_DB``, else ``$XDG_DATA_HOME/logconsole/logs.db``."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share") / "logconsole" / "logs.db"


def default_socket_path() -> Path:
    """``$LOGCONSOLE_SOCKET``, else ``$XDG_RUNTIME_DIR/logconsole/logconsole.sock``,
    else ``/tmp/logconsole-$UID/logconsole.sock``."""
    env = os.environ.get(SOCKET_ENV)
    if env:
        return Path(env).expanduser()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "logconsole" / "logconsole.sock"
    return Path(f"/tmp/logconsole-{os.getuid()}") / "logconsole.sock"


def default_config_path() -> Path:
    """``$LOGCONSOLE_CONFIG``, else ``$XDG_CONFIG_HOME/logconsole/config.toml``."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_CONFIG_HOME", ".config") / "logconsole" / "config.toml"
