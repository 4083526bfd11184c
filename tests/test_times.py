"""Stored times: one fixed width for every year, microseconds kept, epoch units
told by magnitude, older millisecond times compared right; and the times
people type."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cli_support import assert_user_error, run

from logconsole.ingest import IngestError, normalize
from logconsole.store.retention import count_expired, prune
from logconsole.store.db import connect
from logconsole.store.query import Filter, ids_matching, make_filter
from logconsole.store.writer import insert_row
from logconsole.timeutil import UTC, format_ts, parse_duration, parse_user_time, to_stored

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


def add(conn: sqlite3.Connection, created_at: str, message: str = "m", *, legacy: str | None = None) -> int:
    """A record; ``legacy`` writes its time as an older version did (milliseconds)."""
    row = normalize({"type": "activity", "message": message, "created_at": created_at})
    if legacy is not None:
        row["created_at"] = legacy
    return insert_row(conn, row)


# ---------------------------------------------------------------- the stored form


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("0999-05-01T10:00:00Z", "0999-05-01T10:00:00.000000Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
        ("2026-11-20T09:15:00.123456Z", "2026-11-20T09:15:00.123456Z"),
        ("2026-11-20T09:15:00.123456789Z", "2026-11-20T09:15:00.123456Z"),
        ("2026-11-20T10:15:00.5+01:00", "2026-11-20T09:15:00.500000Z"),
        ("2026-11-20T09:15:00.123Z", "2026-11-20T09:15:00.123000Z"),
    ],
)
def test_every_year_has_one_fixed_width_and_microseconds_are_kept(given: str, stored: str) -> None:
    assert normalize({"type": "activity", "created_at": given})["created_at"] == stored
    assert len(stored) == 27


def test_format_pads_years_before_1000() -> None:
    assert format_ts(datetime(999, 5, 1, tzinfo=UTC)) == "0999-05-01T00:00:00.000000Z"
    assert format_ts(datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "0005-01-02T03:04:05.000006Z"


@pytest.mark.parametrize(
    ("number", "stored"),
    [
        (253402300799, "9999-12-31T23:59:59.000000Z"),  # the largest epoch in seconds
        (1795166100, "2026-11-20T09:15:00.000000Z"),
        (1795166100.123456, "2026-11-20T09:15:00.123456Z"),
        ("1795166100.123456", "2026-11-20T09:15:00.123456Z"),
        (1795166100123, "2026-11-20T09:15:00.123000Z"),  # milliseconds
        (253402300800, "1978-01-11T21:31:40.800000Z"),  # past the last second: milliseconds
        (1795166100123456, "2026-11-20T09:15:00.123456Z"),  # microseconds
        (1795166100123456789, "2026-11-20T09:15:00.123456Z"),  # nanoseconds
        (-86400, "1969-12-31T00:00:00.000000Z"),
    ],
)
def test_epoch_units_are_told_by_magnitude(number: object, stored: str) -> None:
    assert to_stored(number) == stored


def test_epoch_beyond_nanoseconds_of_year_9999_is_refused() -> None:
    with pytest.raises(IngestError, match="field `created_at`: time .* is out of range"):
        normalize({"type": "activity", "created_at": 10**24})


def test_year_999_sorts_oldest_is_not_recent_is_pruned_and_reimports(tmp_path: Path, db_path: Path) -> None:
    conn = connect(db_path)
    try:
        old = add(conn, "0999-05-01T10:00:00Z", "ancient")
        new = add(conn, format_ts(NOW - timedelta(minutes=5)), "recent")
        assert ids_matching(conn, make_filter(since="1h", now=NOW)) == [new]
        assert count_expired(conn, 90, now=NOW) == 1
    finally:
        conn.close()
    exported = run(db_path, "export", "--order", "oldest")
    assert [json.loads(line)["message"] for line in exported.stdout.splitlines()] == ["ancient", "recent"]
    dump = tmp_path / "dump.jsonl"
    dump.write_text(exported.stdout)
    again = tmp_path / "again.db"
    result = run(again, "import", str(dump))
    assert result.exit_code == 0, result.stderr
    conn = connect(db_path)
    try:
        assert prune(conn, 90, now=NOW) == 1
        assert ids_matching(conn, Filter()) == [new] and old != new
    finally:
        conn.close()


# ---------------------------------------------------------------- older millisecond times


@pytest.fixture
def mixed(db_path: Path) -> sqlite3.Connection:
    """Records of both widths around 09:15:00.123: legacy ``.122Z``, ``.123Z``,
    ``.124Z`` and new ``.123000``, ``.123400``, ``.123500``."""
    conn = connect(db_path)
    for ms in ("122", "123", "124"):
        add(conn, f"2026-11-20T09:15:00.{ms}Z", f"legacy {ms}", legacy=f"2026-11-20T09:15:00.{ms}Z")
    for us in ("123000", "123400", "123500"):
        add(conn, f"2026-11-20T09:15:00.{us}Z", f"new {us}")
    return conn


def messages(conn: sqlite3.Connection, flt: Filter) -> set[str]:
    ids = ids_matching(conn, flt)
    return {conn.execute("SELECT message FROM records WHERE id = ?", (i,)).fetchone()[0] for i in ids}


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (".123400", None, {"new 123400", "new 123500", "legacy 124"}),
        (None, ".123400", {"legacy 122", "legacy 123", "new 123000"}),
        (".123000", None, {"legacy 123", "new 123000", "new 123400", "new 123500", "legacy 124"}),
        (None, ".123000", {"legacy 122"}),
        (".123001", ".124000", {"new 123400", "new 123500"}),
        (".122500", ".123450", {"legacy 123", "new 123000", "new 123400"}),
    ],
)
def test_bounds_hold_for_millisecond_times_of_older_databases(
    mixed: sqlite3.Connection, since: str | None, until: str | None, expected: set[str],
) -> None:
    flt = Filter(since=since and f"2026-11-20T09:15:00{since}Z", until=until and f"2026-11-20T09:15:00{until}Z")
    assert messages(mixed, flt) == expected
    mixed.close()


def test_prune_cutoff_inside_a_millisecond_holds_for_older_times(mixed: sqlite3.Connection) -> None:
    now = datetime(2026, 11, 30, 9, 15, 0, 123400, tzinfo=UTC)
    assert count_expired(mixed, 10, now=now) == 3  # legacy 122, legacy 123, new 123000
    mixed.close()


# ---------------------------------------------------------------- times people type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 hours", NOW - timedelta(hours=2)),
        ("30 minutes", NOW - timedelta(minutes=30)),
        ("1h30m", NOW - timedelta(hours=1, minutes=30)),
        ("90s", NOW - timedelta(seconds=90)),
        ("2h ago", NOW - timedelta(hours=2)),
        ("1.5 days", NOW - timedelta(days=1.5)),
        ("1 day, 4 hours", NOW - timedelta(days=1, hours=4)),
        ("15m", NOW - timedelta(minutes=15)),
        ("2w", NOW - timedelta(weeks=2)),
        ("last week", NOW - timedelta(weeks=1)),
        ("Last  Hour", NOW - timedelta(hours=1)),
        ("now", NOW),
        ("2026-11-20T09:15:00+02:00", datetime(2026, 11, 20, 7, 15, tzinfo=UTC)),
        ("2026-11-20T09:15:00Z", datetime(2026, 11, 20, 9, 15, tzinfo=UTC)),
        ("2026-11-20 09:15:00.250-05:00", datetime(2026, 11, 20, 14, 15, 0, 250000, tzinfo=UTC)),
        ("1795166100", datetime(2026, 11, 20, 9, 15, tzinfo=UTC)),
    ],
)
def test_times_people_type(text: str, expected: datetime) -> None:
    assert parse_user_time(text, NOW) == expected


def test_today_and_yesterday_are_local_midnights(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        # 2026-11-20 12:00 UTC is 07:00 in New York: today began at 05:00 UTC.
        assert parse_user_time("today", NOW) == datetime(2026, 11, 20, 5, tzinfo=UTC)
        assert parse_user_time("yesterday", NOW) == datetime(2026, 11, 19, 5, tzinfo=UTC)
        assert parse_user_time("2026-11-20T09:15", NOW) == datetime(2026, 11, 20, 14, 15, tzinfo=UTC)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("text", ["next tuesday", "10:30", "-2h", "1 month", "2 parsecs", ""])
def test_unreadable_times_list_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"cannot read time .*: use ISO 8601 .*'2 hours'.*yesterday, 'last week'"):
        parse_user_time(text, NOW)


def test_a_duration_longer_than_the_calendar_is_clear() -> None:
    with pytest.raises(ValueError, match="before the year 1"):
        parse_user_time("99999999999d", NOW)


def test_durations_need_units() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    for text in ("90", "4:30", "-5m", "soon"):
        with pytest.raises(ValueError, match=r"cannot read duration .*: use units"):
            parse_duration(text)


def test_cli_reads_typed_times_and_explains_others(db_path: Path) -> None:
    conn = connect(db_path)
    try:
        add(conn, format_ts(datetime.now(timezone.utc) - timedelta(minutes=45)), "recent")
        add(conn, format_ts(datetime.now(timezone.utc) - timedelta(hours=3)), "older")
    finally:
        conn.close()
    for since in ("2 hours", "1h30m", "90 minutes ago"):
        result = run(db_path, "query", "--since", since, "--format", "jsonl")
        assert [json.loads(line)["message"] for line in result.stdout.splitlines()] == ["recent"], since
    assert_user_error(run(db_path, "query", "--since", "a fortnight"), "cannot read time 'a fortnight'")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("prune", "--days", "nan"), ("--days", "nan", "finite")),
        (("prune", "--days", "inf"), ("--days", "inf", "finite")),
        (("prune", "--days", "1e9"), ("--days", "1000000000.0 is not in the range 0<=x<=365000")),
        (("prune", "--days", "-1"), ("--days", "-1", "0<=x<=365000")),
        (("query", "--limit", "99999999999999999999"), ("--limit",)),
        (("resolve", "99999999999999999999"), ("ID",)),
        (("import", "--batch-size", "0", "-"), ("--batch-size",)),
        (("send", "--timeout", "nan", "{}"), ("--timeout", "finite")),
        (("daemon", "--retention-days", "inf"), ("--retention-days", "finite")),
        (("daemon", "--health-interval", "nan"), ("--health-interval", "finite")),
        (("daemon", "--idle-timeout", "inf"), ("--idle-timeout", "finite")),
        (("demo", "--count", "1e3"), ("--count",)),
    ],
)
def test_numeric_options_are_checked_by_click(db_path: Path, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    connect(db_path).close()
    assert_user_error(run(db_path, *args), *words)


# ---------------------------------------------------------------- the config


def test_config_takes_durations_for_retention_and_health_interval(tmp_path: Path) -> None:
    from logconsole.config import load_settings

    config = tmp_path / "config.toml"
    config.write_text('[store]\nretention_days = "12 weeks"\n[daemon]\nhealth_interval = "5m"\n')
    settings = load_settings(config)
    assert (settings.retention_days, settings.health_interval) == (84.0, 300.0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[store]\nretention_days = nan\n", "[store] retention_days must be a finite number, got nan"),
        ("[store]\nretention_days = inf\n", "[store] retention_days must be a finite number, got inf"),
        ("[store]\nretention_days = 1e9\n", "[store] retention_days must be between 0 and 365000"),
        ('[store]\nretention_days = "a while"\n', "[store] retention_days: cannot read duration 'a while'"),
        ("[daemon]\nhealth_interval = 0.5\n", "[daemon] health_interval must be between 1 and 86400"),
        ("[daemon]\nmax_record_bytes = 10\n", "[daemon] max_record_bytes must be between 256 and 1073741824"),
        ("[health]\ncritical = 150\n", "[health] critical must be between 0 and 100"),
    ],
)
def test_config_numbers_are_checked(tmp_path: Path, db_path: Path, text: str, words: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    connect(db_path).close()
    assert_user_error(run(db_path, "prune", "--dry-run", "--config", str(config)), words)
