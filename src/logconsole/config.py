"""Settings: defaults < config.toml < environment < command-line flags.

The config file is optional TOML::

    [store]
    retention_days = 90          # days, or a duration: "12w", "90 days"
    group_readable = false

    [redaction]
    extra_keys = ["session", "otp"]

    [daemon]
    socket_mode = "0600"
    socket_group = ""
    max_record_bytes = 1048576
    health_interval = 300        # seconds, or a duration: "5m"
    watch = ["/var/log/app/*.log"]
    watch_type = "activity"
    sync_timeout = 30
    busy_timeout = 5
    retry_max_delay = 5

    [health]
    warning = 70
    critical = 90
    disk_paths = ["/"]

    [otlp]                  # the OTLP/HTTP door (`logconsole daemon --otlp`)
    listen = "127.0.0.1:4318"
    token = ""              # required to listen beyond loopback
    max_request_bytes = 20971520

    [keys]                  # the console's keys, by binding id (`?` lists them)
    filter = "F"
    search = ["slash", "ctrl+f"]

``[keys]`` is read here as binding id -> keys; the console checks the ids and
keys against its bindings (:func:`logconsole.screens.keys.check_keymap`).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logconsole.paths import default_config_path
from logconsole.store.retention import MAX_RETENTION_DAYS
from logconsole.timeutil import parse_duration

HEALTH_INTERVAL_RANGE = (1.0, 86400.0)
"""Seconds between health samples: at least one, at most a day."""
MAX_RECORD_BYTES_RANGE = (256, 1 << 30)
PERCENT_RANGE = (0.0, 100.0)
SYNC_TIMEOUT_RANGE = (0.1, 86400.0)
BUSY_TIMEOUT_RANGE = (0.0, 3600.0)
RETRY_MAX_DELAY_RANGE = (0.01, 3600.0)
OTLP_MAX_REQUEST_BYTES_RANGE = (1024, 1 << 30)

_RANGES: dict[str, tuple[float, float]] = {
    "retention_days": (0, MAX_RETENTION_DAYS),
    "health_interval": HEALTH_INTERVAL_RANGE,
    "max_record_bytes": MAX_RECORD_BYTES_RANGE,
    "warning": PERCENT_RANGE,
    "critical": PERCENT_RANGE,
    "sync_timeout": SYNC_TIMEOUT_RANGE,
    "busy_timeout": BUSY_TIMEOUT_RANGE,
    "retry_max_delay": RETRY_MAX_DELAY_RANGE,
    "max_request_bytes": OTLP_MAX_REQUEST_BYTES_RANGE,
}
_DURATION_UNIT = {
    "retention_days": 86400.0, "health_interval": 1.0,
    "sync_timeout": 1.0, "busy_timeout": 1.0, "retry_max_delay": 1.0,
}
"""Settings that also take a duration (``"12w"``, ``"5m"``), and the seconds of their number's unit."""


class ConfigError(ValueError):
    """The config file cannot be read or says something impossible."""


@dataclass(slots=True)
class Settings:
    retention_days: float = 90
    group_readable: bool = False
    secret_words: tuple[str, ...] = ()
    socket_mode: int = 0o600
    socket_group: str = ""
    max_record_bytes: int = 1 << 20
    health_interval: float = 300
    watch: tuple[str, ...] = ()
    watch_type: str = "activity"
    sync_timeout: float = 30
    busy_timeout: float = 5
    retry_max_delay: float = 5
    warning: float = 70
    critical: float = 90
    disk_paths: tuple[str, ...] = ("/",)
    otlp_listen: str = ""
    otlp_token: str = ""
    otlp_max_request_bytes: int = 20 << 20
    keys: dict[str, str] = field(default_factory=dict)
    """Console key bindings by binding id, each a comma-separated list of keys."""
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def _get(data: dict[str, Any], section: str, key: str, kind: type, path: Path) -> Any:
    sect = data.get(section, {})
    if not isinstance(sect, dict):
        raise ConfigError(f"{path}: [{section}] must be a table")
    if key not in sect:
        return None
    value = sect[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    unit = _DURATION_UNIT.get(key)
    if unit is not None and isinstance(value, str):
        try:
            value = parse_duration(value).total_seconds() / unit
        except ValueError as exc:
            raise ConfigError(f"{path}: [{section}] {key}: {exc}") from None
    if kind is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: [{section}] {key} must be a list of strings")
        return tuple(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{path}: [{section}] {key} must be a {kind.__name__}, got {value!r}")
    limits = _RANGES.get(key)
    if limits is not None:
        low, high = limits
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{path}: [{section}] {key} must be a finite number, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(f"{path}: [{section}] {key} must be between {_plain(low)} and {_plain(high)}, got {value!r}")
    return value


def _keys(data: dict[str, Any], path: Path) -> dict[str, str]:
    """``[keys]``: binding id -> a key or a list of keys (kept as ``"a,b"``).

    Ids with a dot (``list.mark``) may be written bare, which TOML reads as a
    nested table, or quoted; both give the dotted id.
    """
    sect = data.get("keys", {})
    if not isinstance(sect, dict):
        raise ConfigError(f"{path}: [keys] must be a table")
    out: dict[str, str] = {}

    def read(table: dict[str, Any], prefix: str) -> None:
        for name, value in table.items():
            binding_id = f"{prefix}{name}"
            if isinstance(value, dict):
                read(value, f"{binding_id}.")
                continue
            keys = [value] if isinstance(value, str) else value
            if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k.strip() for k in keys):
                raise ConfigError(f"{path}: [keys] {binding_id} must be a key or a list of keys, got {value!r}")
            out[binding_id] = ",".join(k.strip() for k in keys)

    read(sect, "")
    return out
def _plain(number: float) -> str:
    """``86400.0`` -> ``86400``; ``0.5`` stays."""
    return str(int(number)) if float(number).is_integer() else str(number)


def parse_mode(text: str | int) -> int:
    """``"0660"`` or ``"660"`` or 0o660 -> 0o660."""
    if isinstance(text, int):
        return text
    try:
        mode = int(str(text), 8)
    except ValueError:
        raise ConfigError(f"socket mode must be octal like 0660, got {text!r}") from None
    if not 0 <= mode <= 0o777:
        raise ConfigError(f"socket mode must be between 0000 and 0777, got {text!r}")
    return mode


def load_settings(path: Path | None = None) -> Settings:
    """Read the config file (missing is fine when it was not named explicitly)."""
    explicit = path is not None
    path = path or default_config_path()
    settings = Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return settings
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    settings.source = path
    settings.raw = data
    table = (
        ("store", "retention_days", float, "retention_days"),
        ("store", "group_readable", bool, "group_readable"),
        ("redaction", "extra_keys", tuple, "secret_words"),
        ("daemon", "socket_group", str, "socket_group"),
        ("daemon", "max_record_bytes", int, "max_record_bytes"),
        ("daemon", "health_interval", float, "health_interval"),
        ("daemon", "watch", tuple, "watch"),
        ("daemon", "watch_type", str, "watch_type"),
        ("daemon", "sync_timeout", float, "sync_timeout"),
        ("daemon", "busy_timeout", float, "busy_timeout"),
        ("daemon", "retry_max_delay", float, "retry_max_delay"),
        ("health", "warning", float, "warning"),
        ("health", "critical", float, "critical"),
        ("health", "disk_paths", tuple, "disk_paths"),
        ("otlp", "listen", str, "otlp_listen"),
        ("otlp", "token", str, "otlp_token"),
        ("otlp", "max_request_bytes", int, "otlp_max_request_bytes"),
    )
    for section, key, kind, attr in table:
        value = _get(data, section, key, kind, path)
        if value is not None:
            setattr(settings, attr, value)
    settings.keys = _keys(data, path)
    mode = data.get("daemon", {}).get("socket_mode")
    if mode is not None:
        settings.socket_mode = parse_mode(mode)
    return settings
