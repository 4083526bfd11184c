"""System health samples (psutil) as ``system`` records.

One :class:`HealthSampler` lives as long as the daemon.  Each :meth:`HealthSampler.sample`
measures since the previous one, so figures describe the interval between
samples, not the time since boot:

* ``cpu_usage`` comes from the sampler's own CPU-time snapshots (the first
  sample measures over :data:`FIRST_CPU_INTERVAL` seconds).  Keeping our own
  snapshot, rather than psutil's process-wide one, means another caller of
  ``psutil.cpu_percent`` cannot shorten our interval;
* ``net_sent_bytes_per_s`` / ``net_recv_bytes_per_s`` are rates since the
  previous sample (absent from the first).

The status follows the thresholds (``[health] warning`` / ``critical``, default
70 % / 90 %) on CPU, memory and disk; the worst wins.  :func:`status_for` is
the pure rule, so it is testable without loading the machine.

``sample()`` blocks (for the first CPU interval); the daemon runs it in a thread.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psutil

from logconsole.kinds import HEALTH_EVENT
from logconsole.config import Settings
from logconsole.timeutil import format_ts

FIRST_CPU_INTERVAL = 0.25
"""Seconds the first sample measures CPU over (later ones measure since the previous)."""

THRESHOLD_METRICS: tuple[tuple[str, str], ...] = (
    ("cpu_usage", "CPU"),
    ("memory_usage", "memory"),
    ("disk_usage", "disk"),
)
"""The metrics the thresholds apply to, with the word the message uses."""

StatusReasons = tuple[str, list[str]]


def status_for(metrics: dict[str, Any], warning: float, critical: float) -> StatusReasons:
    """``(status, reasons)`` for ``metrics`` under the two thresholds.

    Each of CPU, memory and disk at or above ``critical`` makes the sample
    ``critical``; at or above ``warning``, ``warning``; the worst wins.  The
    reasons name what crossed, worst first (``"memory 93% >= 90%"``).  For disk
    the reason names the worst path when ``metrics["disks"]`` says which.
    """
    crit: list[str] = []
    warn: list[str] = []
    for key, word in THRESHOLD_METRICS:
        value = metrics.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        label = word
        if key == "disk_usage":
            worst = _worst_disk(metrics.get("disks"))
            if worst:
                label = f"disk {worst}"
        if value >= critical:
            crit.append(f"{label} {_pct(value)} >= {_pct(critical)}")
        elif value >= warning:
            warn.append(f"{label} {_pct(value)} >= {_pct(warning)}")
    if crit:
        return "critical", crit + warn
    if warn:
        return "warning", warn
    return "healthy", []


def _worst_disk(disks: Any) -> str | None:
    if not isinstance(disks, dict) or not disks:
        return None
    numeric = {p: v for p, v in disks.items() if isinstance(v, (int, float))}
    if not numeric:
        return None
    return max(numeric, key=lambda p: numeric[p])


def _pct(value: float) -> str:
    return f"{value:.0f}%"


def _cpu_busy(t: Any) -> tuple[float, float]:
    """``(busy, total)`` seconds from ``psutil.cpu_times()`` (as psutil counts them).

    On Linux ``guest`` time is already inside ``user``, so it is not counted twice.
    """
    total = sum(t)
    total -= getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
    idle = t.idle + getattr(t, "iowait", 0.0)
    return total - idle, total


class HealthSampler:
    """Takes system-health samples; each measures since the previous one."""

    def __init__(self, settings: Settings, stats: Callable[[], dict[str, Any]] | None = None) -> None:
        self.settings = settings
        self.stats = stats
        self._cpu: tuple[float, float] | None = None
        self._net: tuple[float, int, int] | None = None

    # -- the record ------------------------------------------------------------

    def sample(self) -> dict[str, Any]:
        """One raw ``system`` record (``event_type`` ``health_sample``) for ingest."""
        metrics = self.metrics()
        status, reasons = status_for(metrics, self.settings.warning, self.settings.critical)
        return {
            "type": "system",
            "event_type": HEALTH_EVENT,
            "status": status,
            "message": self._message(metrics, reasons),
            "metrics": metrics,
            "requires_action": status != "healthy",
        }

    def _message(self, metrics: dict[str, Any], reasons: list[str]) -> str:
        parts = [f"CPU {_pct(metrics['cpu_usage'])}", f"memory {_pct(metrics['memory_usage'])}"]
        for path, pct in metrics.get("disks", {}).items():
            parts.append(f"disk {path} {_pct(pct)}")
        text = ", ".join(parts)
        if reasons:
            text += " — over threshold: " + "; ".join(reasons)
        return text

    # -- the figures -----------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """The figures of one sample (see the module docstring for their meaning)."""
        m: dict[str, Any] = {"cpu_usage": self._cpu_usage()}
        vm = psutil.virtual_memory()
        m["memory_usage"] = round(vm.percent, 1)
        m["memory_total_bytes"] = vm.total
        m["memory_available_bytes"] = vm.available
        m["swap_usage"] = round(psutil.swap_memory().percent, 1)
        disks, errors = self._disks()
        if disks:
            m["disk_usage"] = max(disks.values())
        m["disks"] = disks
        if errors:
            m["disk_errors"] = errors
        m["load_1"], m["load_5"], m["load_15"] = (round(x, 2) for x in os.getloadavg())
        m.update(self._net_rates())
        m["process_count"] = len(psutil.pids())
        boot = psutil.boot_time()
        m["boot_time"] = format_ts(datetime.fromtimestamp(boot, UTC))
        m["uptime_s"] = round(max(0.0, time.time() - boot))
        if self.stats is not None:
            try:
                m["collector"] = dict(self.stats())
            except Exception as exc:  # the daemon's own figures are a bonus, never a failure
                m["collector"] = {"error": str(exc)}
        return m

    def _cpu_usage(self) -> float:
        now = _cpu_busy(psutil.cpu_times())
        if self._cpu is None:
            time.sleep(FIRST_CPU_INTERVAL)
            before, now = now, _cpu_busy(psutil.cpu_times())
        else:
            before = self._cpu
        self._cpu = now
        busy = now[0] - before[0]
        total = now[1] - before[1]
        if total <= 0:
            return 0.0
        return round(min(100.0, max(0.0, busy / total * 100.0)), 1)

    def _disks(self) -> tuple[dict[str, float], dict[str, str]]:
        disks: dict[str, float] = {}
        errors: dict[str, str] = {}
        for path in self.settings.disk_paths:
            try:
                disks[path] = round(psutil.disk_usage(os.path.expanduser(path)).percent, 1)
            except OSError as exc:
                errors[path] = exc.strerror or str(exc)
        return disks, errors

    def _net_rates(self) -> dict[str, float]:
        io = psutil.net_io_counters()
        now = time.monotonic()
        if io is None:
            return {}
        previous, self._net = self._net, (now, io.bytes_sent, io.bytes_recv)
        if previous is None:
            return {}
        elapsed = now - previous[0]
        if elapsed <= 0:
            return {}
        # Counters can wrap or reset (an interface going away): never report a negative rate.
        sent = max(0, io.bytes_sent - previous[1])
        recv = max(0, io.bytes_recv - previous[2])
        return {
            "net_sent_bytes_per_s": round(sent / elapsed, 1),
            "net_recv_bytes_per_s": round(recv / elapsed, 1),
        }
