"""The health sampler: real psutil figures, thresholds, and records ingest accepts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest

from logconsole.collectors.health import FIRST_CPU_INTERVAL, HealthSampler, status_for
from logconsole.config import Settings
from logconsole.ingest import normalize
from logconsole.timeutil import format_ts, utcnow

PERCENTS = ("cpu_usage", "memory_usage", "swap_usage", "disk_usage")


@pytest.fixture
def sampler(tmp_path: Path) -> HealthSampler:
    return HealthSampler(Settings(disk_paths=("/", str(tmp_path))))


def test_sample_shape_and_ranges(sampler: HealthSampler, tmp_path: Path) -> None:
    record = sampler.sample()
    assert record["type"] == "system"
    assert record["event_type"] == "health_sample"
    assert record["status"] in ("healthy", "warning", "error", "critical")
    assert record["requires_action"] is (record["status"] != "healthy")
    m = record["metrics"]
    for key in PERCENTS:
        assert isinstance(m[key], (int, float)) and 0 <= m[key] <= 100, key
    assert set(m["disks"]) == {"/", str(tmp_path)}
    assert m["disk_usage"] == max(m["disks"].values())
    for key in ("load_1", "load_5", "load_15"):
        assert m[key] >= 0
    assert m["process_count"] > 1
    assert m["boot_time"].endswith("Z") and m["boot_time"] < format_ts(utcnow())
    # Rates need a previous sample: absent from the first, present and >= 0 after.
    assert "net_sent_bytes_per_s" not in m
    second = sampler.sample()["metrics"]
    assert second["net_sent_bytes_per_s"] >= 0 and second["net_recv_bytes_per_s"] >= 0
    assert record["message"].startswith(f"CPU {m['cpu_usage']:.0f}%, memory {m['memory_usage']:.0f}%, disk / ")


def test_sample_is_a_valid_system_record(sampler: HealthSampler) -> None:
    row = normalize(sampler.sample())
    assert row["type"] == "system" and row["event_type"] == "health_sample"
    metrics = json.loads(row["metrics"])
    assert {"cpu_usage", "memory_usage", "disk_usage"} <= set(metrics)


def test_cpu_is_measured_over_the_interval_since_the_previous_sample(sampler: HealthSampler) -> None:
    started = time.monotonic()
    sampler.sample()
    first = time.monotonic() - started
    assert first >= FIRST_CPU_INTERVAL * 0.9  # the first sample measures over a short interval
    # Keep one core busy; the next sample covers exactly that stretch.
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        pass
    started = time.monotonic()
    busy = sampler.sample()["metrics"]["cpu_usage"]
    assert time.monotonic() - started < FIRST_CPU_INTERVAL  # no extra waiting once primed
    # This process alone kept one of N cores busy the whole interval.
    assert busy >= 100 / psutil.cpu_count() * 0.7


@pytest.mark.parametrize(
    ("metrics", "status", "reasons"),
    [
        ({"cpu_usage": 10, "memory_usage": 20, "disk_usage": 30}, "healthy", []),
        ({"cpu_usage": 70, "memory_usage": 20, "disk_usage": 30}, "warning", ["CPU 70% >= 70%"]),
        ({"cpu_usage": 10, "memory_usage": 95.4, "disk_usage": 75}, "critical",
         ["memory 95% >= 90%", "disk 75% >= 70%"]),
        ({"cpu_usage": 10, "memory_usage": 20, "disk_usage": 91, "disks": {"/": 50, "/data": 91}},
         "critical", ["disk /data 91% >= 90%"]),
        ({"cpu_usage": 89.9, "memory_usage": None}, "warning", ["CPU 90% >= 70%"]),
        ({}, "healthy", []),
    ],
)
def test_status_for_thresholds(metrics: dict, status: str, reasons: list[str]) -> None:
    assert status_for(metrics, 70, 90) == (status, reasons)


def test_thresholds_come_from_settings_and_the_message_names_what_crossed(tmp_path: Path) -> None:
    record = HealthSampler(Settings(warning=0, critical=0, disk_paths=(str(tmp_path),))).sample()
    assert record["status"] == "critical"
    assert record["requires_action"] is True
    assert "over threshold:" in record["message"]
    assert "CPU" in record["message"].split("over threshold:")[1]
    assert f"disk {tmp_path}" in record["message"]


def test_disk_paths_may_start_with_a_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    m = HealthSampler(Settings(disk_paths=("~",))).metrics()
    assert set(m["disks"]) == {"~"} and "disk_errors" not in m


def test_missing_disk_path_is_reported_not_fatal(tmp_path: Path) -> None:
    missing = str(tmp_path / "not-there")
    m = HealthSampler(Settings(disk_paths=("/", missing))).sample()["metrics"]
    assert set(m["disks"]) == {"/"}
    assert missing in m["disk_errors"]


def test_collector_stats_are_merged_and_failures_contained(tmp_path: Path) -> None:
    stats = {"records_per_s": 12.5, "queue_depth": 3, "rejected": 1, "dropped": 0}
    m = HealthSampler(Settings(disk_paths=(str(tmp_path),)), stats=lambda: stats).sample()["metrics"]
    assert m["collector"] == stats

    def broken() -> dict:
        raise RuntimeError("pipeline not started")

    m = HealthSampler(Settings(disk_paths=(str(tmp_path),)), stats=broken).sample()["metrics"]
    assert m["collector"] == {"error": "pipeline not started"}
