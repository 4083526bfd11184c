"""Settings: defaults < config.toml < environment < command-line flags.

The config file is optional TOML::

    [store]
    url = "postgresql://logs@db.example/logs"   # the store (see :func:`configured_store_url`)
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

    [forward]               # every committed record, as OTLP/HTTP logs (:class:`ForwardSettings`)
    endpoint = "http://collector:4318/v1/logs"
    headers = { "x-api-key" = "..." }

``[keys]`` is read here as binding id -> keys; the console checks the ids and
keys against its bindings (:func:`logconsole.screens.keys.check_keymap`).
"""

from __future__ import annotations

import math
import re
import tomllib
import urllib.parse
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
    "forward.batch": (1, 100_000),
    "forward.max_bytes": (1024, 64 << 20),
    "forward.timeout": (0.01, 3600.0),
    "forward.max_delay": (0.01, 3600.0),
    "forward.poll": (0.01, 3600.0),
    "max_request_bytes": OTLP_MAX_REQUEST_BYTES_RANGE,
}
_DURATION_UNIT = {
    "retention_days": 86400.0, "health_interval": 1.0,
    "sync_timeout": 1.0, "busy_timeout": 1.0, "retry_max_delay": 1.0,
    "forward.timeout": 1.0, "forward.max_delay": 1.0, "forward.poll": 1.0,
}
"""Settings that also take a duration (``"12w"``, ``"5m"``), and the seconds of their number's unit.

Keys of both tables are a setting's name, or ``section.name`` where the name alone would be ambiguous."""


class ConfigError(ValueError):
    """The config file cannot be read or says something impossible."""


@dataclass(slots=True)
class Settings:
    store_url: str = ""
    """``[store] url``; commands take it through :mod:`logconsole.cli_options`."""
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
    forward: ForwardSettings | None = None
    """``[forward]``: where the collector forwards committed records (None: nowhere)."""
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
    unit = _DURATION_UNIT.get(f"{section}.{key}", _DURATION_UNIT.get(key))
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
    limits = _RANGES.get(f"{section}.{key}", _RANGES.get(key))
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


def configured_store_url(path: Path | None = None) -> str | None:
    """``[store] url`` of the config file (``path``, else ``LOGCONSOLE_CONFIG``,
    else the default), or ``None`` when there is no file or no such key.

    Read on its own, not through :func:`load_settings`: every command takes
    its store from here (after ``--db`` and ``LOGCONSOLE_DB``, see
    :mod:`logconsole.cli_options`), including commands that read nothing else
    of the config.
    """
    path = path or default_config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    url = _get(data, "store", "url", str, path)
    if url is not None and not url.strip():
        raise ConfigError(f"{path}: [store] url is empty; remove it to use the default database file")
    return url


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
        ("store", "url", str, "store_url"),
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
    settings.forward = _forward(data, path)
    mode = data.get("daemon", {}).get("socket_mode")
    if mode is not None:
        settings.socket_mode = parse_mode(mode)
    return settings


# ---------------------------------------------------------------- [forward]


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    """``[forward]``: the OTLP/HTTP logs endpoint the collector forwards to
    (:mod:`logconsole.collectors.forward`)."""

    endpoint: str
    headers: tuple[tuple[str, str], ...] = ()
    """Sent with every request (an API key): never logged nor printed."""
    batch: int = 1000
    """Records per request at most."""
    max_bytes: int = 1 << 20
    """Encoded bytes per request at most (before gzip); a larger batch is split."""
    timeout: float = 10.0
    """Seconds a request may take before it counts as failed (and is retried)."""
    max_delay: float = 60.0
    """The longest wait between attempts while the endpoint fails (Retry-After included)."""
    poll: float = 2.0
    """Seconds between looks for records written by others (``import``)."""
    start: str = "end"
    """``from``: where a new endpoint starts: ``end`` (records committed from
    now on) or ``start`` (every stored record)."""
    service_name: str | None = None
    """The resource's ``service.name`` for records that name none."""


FORWARD_KEYS = ("endpoint", "headers", "batch", "max_bytes", "timeout", "max_delay", "poll", "from", "service_name")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _forward(data: dict[str, Any], path: Path) -> ForwardSettings | None:
    """``[forward]``, checked: one line naming the key and the reason."""
    if "forward" not in data:
        return None
    sect = data["forward"]
    if not isinstance(sect, dict):
        raise ConfigError(f"{path}: [forward] must be a table")
    unknown = sorted(set(sect) - set(FORWARD_KEYS))
    if unknown:
        raise ConfigError(f"{path}: [forward] has no key {unknown[0]!r}; known keys: {', '.join(FORWARD_KEYS)}")
    endpoint = _get(data, "forward", "endpoint", str, path)
    if endpoint is None:
        raise ConfigError(f"{path}: [forward] endpoint is required, e.g. \"http://collector:4318/v1/logs\"")
    parts = urllib.parse.urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{path}: [forward] endpoint must be an http:// or https:// URL with a host, "
                          "e.g. \"http://collector:4318/v1/logs\"")
    headers = sect.get("headers", {})
    if not isinstance(headers, dict):
        raise ConfigError(f"{path}: [forward] headers must be a table of names to values, "
                          "e.g. headers = { \"x-api-key\" = \"...\" }")
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise ConfigError(f"{path}: [forward] headers: {name!r} is not a header name")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ConfigError(f"{path}: [forward] headers: the value of {name!r} must be a string on one line")
    start = sect.get("from", "end")
    if start not in ("end", "start"):
        raise ConfigError(f"{path}: [forward] from must be \"end\" or \"start\", got {start!r}")
    service = _get(data, "forward", "service_name", str, path)
    values = {key: _get(data, "forward", key, kind, path) for key, kind in
              (("batch", int), ("max_bytes", int), ("timeout", float), ("max_delay", float), ("poll", float))}
    return ForwardSettings(
        endpoint=endpoint.strip(), headers=tuple(headers.items()), start=start, service_name=service or None,
        **{k: v for k, v in values.items() if v is not None},
    )
