"""``logconsole import``: JSON lines, arrays, mongoexport, stdin, and rejected lines."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import assert_user_error, run
from logconsole.importer import import_stream, kind_from_name, read_items
from logconsole.store.db import connect
from logconsole.store.interface import open_store
from logconsole.store.query import Filter, get, iter_rows, to_record
from logconsole.timeutil import to_stored

SAMPLES = Path(__file__).parent / "data" / "mongoexport"
"""What `mongoexport` wrote for the five collections of the original system (JSON lines, relaxed)."""
SAMPLE_KINDS = {
    "activitylogs.json": ("activity", 6),
    "errorlogs.json": ("error", 2),
    "ailogs.json": ("ai", 2),
    "chatlogs.json": ("chat", 2),
    "systemlogs.json": ("system", 2),
}


def records(db: Path | str) -> list[dict]:
    store = open_store(db, readonly=True)
    try:
        return [to_record(r) for r in store.iter_rows(Filter(), _oldest())]
    finally:
        store.close()


@pytest.fixture
def db(any_db: Path | str) -> Path | str:
    """The database of a test run on both stores: a SQLite file, then a PostgreSQL database."""
    return any_db


def _oldest():
    from logconsole.store.query import OLDEST

    return OLDEST


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


# ---------------------------------------------------------------- JSON lines


def test_rejected_line_is_named_and_the_lines_around_it_are_stored(tmp_path: Path, db: Path | str) -> None:
    src = write(tmp_path / "errors.jsonl", "\n".join([
        '{"type": "error", "message": "first", "status_code": 500}',
        '{"type": "error", "message": "second", "status_code": "abc"}',
        '',
        '{"type": "error", "message": "third"}',
        '{"type": "error", "message": ',
        '{"type": "error", "severity": "apocalyptic", "message": "x"}',
        '{"type": "error", "message": "last"}',
    ]) + "\n")
    result = run(db, "import", str(src))
    assert result.exit_code == 1
    assert f"{src}:2: field `status_code` must be an integer, got 'abc'" in result.stderr
    assert f"{src}:5: invalid JSON:" in result.stderr
    assert f"{src}:6: field `severity` must be one of low, medium, high, critical" in result.stderr
    assert "imported 3 records, rejected 3" in result.stderr
    assert result.stdout == ""
    assert [r["message"] for r in records(db)] == ["first", "third", "last"]


def test_clean_import_exits_zero_and_keeps_file_order(tmp_path: Path, db: Path | str) -> None:
    lines = [json.dumps({"type": "activity", "title": f"t{i}"}) for i in range(12)]
    src = write(tmp_path / "a.jsonl", "\r\n".join(lines) + "\r\n\n\n")
    result = run(db, "import", "--batch-size", "5", str(src))
    assert result.exit_code == 0, result.output
    assert "imported 12 records, rejected 0" in result.stderr
    stored = records(db)
    assert [r["title"] for r in stored] == [f"t{i}" for i in range(12)]
    assert len({r["created_at"] for r in stored}) == 1  # stamped with the import's start


def test_type_option_fills_in_but_never_overrides(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "mixed.jsonl",
                '{"message": "no type"}\n{"type": "chat", "message": "a chat"}\n')
    assert run(db_path, "import", "--type", "errors", str(src)).exit_code == 0
    assert [(r["type"], r["message"]) for r in records(db_path)] == [("error", "no type"), ("chat", "a chat")]


def test_missing_type_is_a_rejection_with_its_reason(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "data.jsonl", '{"message": "no type"}\n')
    result = run(db_path, "import", str(src))
    assert result.exit_code == 1
    assert f"{src}:1: field `type` is required" in result.stderr


def test_unknown_type_option_is_a_user_error(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "data.jsonl", '{"message": "x"}\n')
    assert_user_error(run(db_path, "import", "--type", "metrics", str(src)), "unknown type 'metrics'")


def test_secrets_never_reach_the_database_file(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "login.jsonl", json.dumps({
        "type": "activity", "title": "login",
        "requestData": {"email": "a@example.com", "password": "hunter2-sekrit"},
        "apiKey": "AKIA-not-for-disk",
    }) + "\n")
    assert run(db_path, "import", str(src)).exit_code == 0
    (stored,) = records(db_path)
    assert stored["request_data"] == {"email": "a@example.com", "password": "[REDACTED]"}
    assert stored["extra"] == {"apiKey": "[REDACTED]"}
    for suffix in ("", "-wal"):
        f = Path(f"{db_path}{suffix}")
        if f.exists():
            data = f.read_bytes()
            assert b"hunter2-sekrit" not in data and b"AKIA-not-for-disk" not in data


def test_config_secret_words_apply_to_import(tmp_path: Path, db_path: Path) -> None:
    config = write(tmp_path / "config.toml", '[redaction]\nextra_keys = ["session"]\n')
    src = write(tmp_path / "a.jsonl", '{"type": "activity", "session": "s-123"}\n')
    assert run(db_path, "import", "--config", str(config), str(src)).exit_code == 0
    assert records(db_path)[0]["extra"] == {"session": "[REDACTED]"}


# ---------------------------------------------------------------- sources


def test_stdin_dash(db_path: Path) -> None:
    data = '{"type": "chat", "message": "hi"}\n{"type": "chat", "message": 5}\n{"type": "chat"}\n'
    result = run(db_path, "import", "-", input=data)
    assert result.exit_code == 1
    assert "<stdin>:3: field `message` is required for chat records" in result.stderr
    assert [r["message"] for r in records(db_path)] == ["hi", "5"]


def test_missing_file_directory_and_double_stdin(tmp_path: Path, db_path: Path) -> None:
    assert_user_error(run(db_path, "import", str(tmp_path / "nope.json")), "nope.json: no such file")
    assert_user_error(run(db_path, "import", str(tmp_path)), "is a directory")
    assert_user_error(run(db_path, "import", "-", "-", input=""), "only once")


def test_a_missing_file_among_several_imports_nothing(tmp_path: Path, db_path: Path) -> None:
    good = write(tmp_path / "good.jsonl", '{"type": "chat", "message": "hi"}\n')
    assert_user_error(run(db_path, "import", str(good), str(tmp_path / "typo.jsonl")), "typo.jsonl")
    assert not db_path.exists() or records(db_path) == []


def test_invalid_utf8_line_is_rejected_alone(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "latin1.jsonl",
                b'{"type": "chat", "message": "ok"}\n{"type": "chat", "message": "caf\xe9"}\n'
                b'{"type": "chat", "message": "also ok"}\n')
    result = run(db_path, "import", str(src))
    assert result.exit_code == 1
    assert f"{src}:2: invalid UTF-8 at column" in result.stderr
    assert [r["message"] for r in records(db_path)] == ["ok", "also ok"]


def test_utf8_bom_is_fine_and_utf16_is_explained(tmp_path: Path, db_path: Path) -> None:
    bom = write(tmp_path / "bom.jsonl", b'\xef\xbb\xbf{"type": "chat", "message": "bom"}\n')
    assert run(db_path, "import", str(bom)).exit_code == 0
    utf16 = write(tmp_path / "u16.jsonl", '{"type": "chat", "message": "x"}\n'.encode("utf-16"))
    result = run(db_path, "import", str(utf16))
    assert result.exit_code == 1
    assert "UTF-16" in result.stderr and "iconv" in result.stderr


def test_several_files_report_each_and_a_total(tmp_path: Path, db_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", '{"type": "chat", "message": "a"}\n')
    b = write(tmp_path / "b.jsonl", '{"type": "chat", "message": "b"}\n{"type": "chat"}\n')
    result = run(db_path, "import", str(a), str(b))
    assert result.exit_code == 1
    assert f"{a}: imported 1, rejected 0" in result.stderr
    assert f"{b}: imported 1, rejected 1" in result.stderr
    assert "imported 2 records, rejected 1" in result.stderr


# ---------------------------------------------------------------- arrays and pretty JSON


def test_json_array_counts_records(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "arr.json", '[\n  {"type": "chat", "message": "one"},\n'
                '  {"type": "chat", "message": "two", "is_read": "maybe"},\n'
                '  {"type": "chat", "message": "three"}\n]\n')
    result = run(db_path, "import", str(src))
    assert result.exit_code == 1
    assert f"{src}: record 2 (line 3): field `is_read` must be true or false, got 'maybe'" in result.stderr
    assert [r["message"] for r in records(db_path)] == ["one", "three"]


def test_broken_array_stores_what_came_before_and_says_where(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "arr.json", '[{"type": "chat", "message": "one"},\n {"type": "chat", "message": }]')
    result = run(db_path, "import", str(src))
    assert result.exit_code == 1
    assert f"{src}: record 2 (line 2): invalid JSON" in result.stderr
    assert "the rest of the file was not read" in result.stderr
    assert [r["message"] for r in records(db_path)] == ["one"]


def test_pretty_printed_objects_one_after_another(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "pretty.json",
                '{\n  "type": "chat",\n  "message": "one"\n}\n{\n  "type": "chat",\n  "message": "two"\n}\n')
    assert run(db_path, "import", str(src)).exit_code == 0
    assert [r["message"] for r in records(db_path)] == ["one", "two"]


def test_array_elements_larger_than_a_read_chunk(db_path: Path) -> None:
    big = "x" * 200_000
    data = json.dumps([{"type": "chat", "message": big}, {"type": "chat", "message": "after"}])
    conn = connect(db_path)
    result = import_stream(conn, io.BytesIO(data.encode()), "big.json")
    assert (result.imported, result.rejected) == (2, 0)
    assert get(conn, 1)["message"] == big
    conn.close()


def test_json_lines_are_read_as_a_stream() -> None:
    """The reader hands out records while the source is still being read."""
    pulled: list[int] = []

    class Source:
        def __init__(self) -> None:
            self.n = 0

        def readline(self, limit: int = -1) -> bytes:
            pulled.append(self.n)
            self.n += 1
            return json.dumps({"type": "chat", "message": str(self.n - 1)}).encode() + b"\n"

    items = read_items(Source())  # type: ignore[arg-type]
    first = [next(items) for _ in range(3)]
    assert [i.value["message"] for i in first] == ["0", "1", "2"]
    assert len(pulled) <= 4


def test_a_line_too_long_to_hold_is_skipped_unread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   db_path: Path) -> None:
    import logconsole.importer as importer

    monkeypatch.setattr(importer, "MAX_RECORD_BYTES", 1000)
    src = write(tmp_path / "long.jsonl", '{"type": "chat", "message": "before"}\n'
                + json.dumps({"type": "chat", "message": "x" * 5000}) + "\n"
                + '{"type": "chat", "message": "after"}\n')
    conn = connect(db_path)
    seen: list[str] = []
    with open(src, "rb") as fh:
        result = import_stream(conn, fh, "long.jsonl", on_reject=lambda r: seen.append(str(r)))
    conn.close()
    assert (result.imported, result.rejected) == (2, 1)
    assert seen == ["long.jsonl:2: line longer than 0 MB"]
    assert [r["message"] for r in records(db_path)] == ["before", "after"]
    array = write(tmp_path / "long.json", '[{"type": "chat", "message": "' + "x" * 5000)
    conn = connect(db_path)
    with open(array, "rb") as fh:
        result = import_stream(conn, fh, "long.json", on_reject=lambda r: seen.append(str(r)))
    conn.close()
    assert result.rejected == 1 and "a record larger than" in seen[-1]


# ---------------------------------------------------------------- mongoexport


@pytest.mark.parametrize("name", sorted(SAMPLE_KINDS))
def test_mongoexport_samples_with_type(name: str, db: Path | str) -> None:
    kind, n = SAMPLE_KINDS[name]
    result = run(db, "import", "--type", kind, str(SAMPLES / name))
    assert result.exit_code == 0, result.stderr
    assert f"imported {n} records, rejected 0" in result.stderr
    stored = records(db)
    assert {r["type"] for r in stored} == {kind}
    first_line = json.loads((SAMPLES / name).read_text().splitlines()[0])
    rec = stored[0]
    assert rec["created_at"] == to_stored(first_line["createdAt"]["$date"])
    assert rec["extra"]["_id"] == first_line["_id"]["$oid"]
    assert rec["extra"]["updatedAt"] == to_stored(first_line["updatedAt"]["$date"])
    assert rec["extra"]["__v"] == 0


def test_mongoexport_fields_map_to_the_kinds(tmp_path: Path, db: Path | str) -> None:
    folder = tmp_path / "dump"
    shutil.copytree(SAMPLES, folder)
    # No --type: each file's name says its collection.
    result = run(db, "import", *sorted(str(p) for p in folder.glob("*.json")))
    assert result.exit_code == 0, result.stderr
    by_type: dict[str, list[dict]] = {}
    for r in records(db):
        by_type.setdefault(r["type"], []).append(r)
    crit, resolved = by_type["error"]
    assert (crit["severity"], crit["status_code"], crit["is_resolved"]) == ("critical", 500, False)
    assert crit["error_type"] == "MongoServerError" and crit["stack"].startswith("MongoServerError")
    assert resolved["is_resolved"] is True and resolved["resolved_at"] == "2026-11-20T10:30:00.000000Z"
    assert resolved["resolution"] == "client-side validation added"
    ok, failed = by_type["ai"]
    assert (ok["ai_model"], ok["tokens_used"], ok["response_time_ms"]) == ("gpt-4", 412, 1830)
    assert failed["status"] == "error" and failed["error_message"] == "Request timed out"
    healthy, critical = by_type["system"]
    assert critical["metrics"]["cpu_usage"] == 95 and critical["requires_action"] is True
    assert by_type["activity"][0]["duration_ms"] == 119
    assert by_type["activity"][0]["request_data"] == {"query": {"page": 1}}
    assert by_type["chat"][1]["is_read"] is True


def test_mongoexport_canonical_json_array(tmp_path: Path, db_path: Path) -> None:
    canonical = [
        {
            "_id": {"$oid": "17be31111a2a73ed562b0f79"},
            "severity": "critical", "errorType": "MongoServerError", "message": "E11000 duplicate key",
            "statusCode": {"$numberInt": "500"}, "isResolved": False,
            "createdAt": {"$date": {"$numberLong": "1795166100000"}},
            "updatedAt": {"$date": {"$numberLong": "1795166100000"}},
            "__v": {"$numberInt": "0"},
        },
        {
            "_id": {"$oid": "5be6128e18c267976142ea7d"},
            "severity": "high", "message": "slow", "statusCode": {"$numberLong": "504"},
            "createdAt": {"$date": {"$numberLong": "1795166400000"}},
            "__v": {"$numberInt": "0"},
        },
    ]
    src = write(tmp_path / "export.json", json.dumps(canonical, indent=2))
    result = run(db_path, "import", "--type", "error", str(src))
    assert result.exit_code == 0, result.stderr
    first, second = records(db_path)
    assert first["status_code"] == 500 and second["status_code"] == 504
    assert first["created_at"] == "2026-11-20T09:15:00.000000Z"
    assert second["created_at"] == "2026-11-20T09:20:00.000000Z"
    assert first["extra"] == {"_id": "17be31111a2a73ed562b0f79", "updatedAt": "2026-11-20T09:15:00.000000Z", "__v": 0}


def test_mongoexport_canonical_lines_from_stdin(db_path: Path) -> None:
    line = json.dumps({
        "_id": {"$oid": "89463e85759cde66bacfb3d0"}, "chatType": "support", "message": "help",
        "isRead": True, "createdAt": {"$date": {"$numberLong": "1795166100000"}},
    })
    result = run(db_path, "import", "--type", "chatlogs", "-", input=line + "\n")
    assert result.exit_code == 0, result.stderr
    (rec,) = records(db_path)
    assert (rec["type"], rec["chat_type"], rec["is_read"]) == ("chat", "support", True)
    assert rec["created_at"] == "2026-11-20T09:15:00.000000Z"


def test_kind_from_collection_file_names() -> None:
    assert kind_from_name("/dump/errorlogs.json") == "error"
    assert kind_from_name("systemlogs.jsonl.gz") == "system"
    assert kind_from_name("export.json") is None


def test_import_uses_batches_of_one_transaction(tmp_path: Path, db_path: Path) -> None:
    conn = connect(db_path)
    seen: list[int] = []
    data = "".join(json.dumps({"type": "chat", "message": str(i)}) + "\n" for i in range(7))
    result = import_stream(conn, io.BytesIO(data.encode()), "x", batch_size=3, on_batch=seen.append)
    assert result.imported == 7 and seen == [3, 6, 7]
    assert isinstance(conn, sqlite3.Connection) and not conn.in_transaction
    conn.close()


def test_export_then_import_gives_the_same_records(tmp_path: Path, db_path: Path) -> None:
    from logconsole import demo
    from datetime import datetime, timezone

    conn = connect(db_path)
    demo.fill(conn, 400, now=datetime(2026, 11, 20, tzinfo=timezone.utc), seed=5)
    conn.close()
    for fmt in ("jsonl", "json"):
        dump = tmp_path / f"dump.{fmt}"
        copy = tmp_path / f"copy-{fmt}.db"
        assert run(db_path, "export", "-f", fmt, "-o", str(dump)).exit_code == 0
        assert run(copy, "import", str(dump)).exit_code == 0

        def key(r: dict) -> tuple:
            return (r["created_at"], json.dumps(r, sort_keys=True))

        # Record and group ids are the store's own; everything else comes back.
        assigned = ("id", "group_id")
        original = sorted(({k: v for k, v in r.items() if k not in assigned} for r in records(db_path)), key=key)
        copied = sorted(({k: v for k, v in r.items() if k not in assigned} for r in records(copy)), key=key)
        assert copied == original


def test_interrupted_import_says_what_was_stored(db_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "LOGCONSOLE_DB": str(db_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "logconsole", "import", "--batch-size", "1", "-"],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdin is not None
    for i in range(3):
        proc.stdin.write(json.dumps({"type": "chat", "message": f"m{i}"}) + "\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 20
    stored = 0
    while stored < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
        if db_path.exists():
            conn = connect(db_path)
            stored = conn.execute("SELECT count(*) FROM records").fetchone()[0]
            conn.close()
    assert stored == 3
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "interrupted: 3 records were stored before the stop" in err
    assert "Traceback" not in err


def test_one_line_array_longer_than_a_read(tmp_path: Path, db_path: Path) -> None:
    """``mongoexport --jsonArray`` writes the whole array on one line."""
    many = [{"type": "chat", "message": f"message number {i}"} for i in range(5000)]
    src = write(tmp_path / "one-line.json", json.dumps(many))
    assert src.stat().st_size > 1 << 17
    result = run(db_path, "import", str(src))
    assert result.exit_code == 0, result.stderr
    assert "imported 5,000 records" in result.stderr


def test_blank_lines_before_the_first_record_count(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "late.jsonl", '\n\n   \n{"type": "chat"}\n{"type": "chat", "message": "ok"}\n')
    result = run(db_path, "import", str(src))
    assert f"{src}:4: field `message` is required for chat records" in result.stderr
    assert [r["message"] for r in records(db_path)] == ["ok"]


def test_check_only_validates_and_stores_nothing(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "data.jsonl", '{"type": "chat", "message": "ok"}\n{"type": "chat"}\n')
    result = run(db_path, "import", "--check", str(src))
    assert result.exit_code == 1
    assert f"{src}:2: field `message` is required for chat records" in result.stderr
    assert "would import 1 record, rejected 1" in result.stderr
    assert not db_path.exists()


def test_a_type_taken_from_the_file_name_is_announced(tmp_path: Path, db_path: Path) -> None:
    src = write(tmp_path / "errorlogs.json", '{"message": "boom"}\n')
    result = run(db_path, "import", str(src))
    assert f"{src}: records without a type are read as error (from the file name" in result.stderr
    assert records(db_path)[0]["type"] == "error"
    quiet = run(db_path, "import", "--type", "error", str(src))
    assert "from the file name" not in quiet.stderr


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(st.text(min_size=1, max_size=40).filter(str.strip), min_size=1, max_size=12),
       read_size=st.integers(min_value=1, max_value=64))
def test_every_shape_reads_the_same_records(monkeypatch: pytest.MonkeyPatch, messages: list[str],
                                            read_size: int) -> None:
    """JSON lines, an array, a one-line array and pretty objects give the same
    values, however the reads cut the text (even inside a UTF-8 character)."""
    import logconsole.importer as importer

    monkeypatch.setattr(importer, "_READ_SIZE", read_size)
    records = [{"type": "chat", "message": m} for m in messages]
    shapes = {
        "lines": "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
        "array": json.dumps(records, ensure_ascii=False, indent=2),
        "one-line array": json.dumps(records, ensure_ascii=False),
        "pretty": "".join(json.dumps(r, ensure_ascii=False, indent=1) + "\n" for r in records),
    }
    for shape, text in shapes.items():
        items = list(read_items(io.BytesIO(text.encode("utf-8"))))
        assert [i.error for i in items] == [None] * len(records), shape
        assert [i.value for i in items] == records, shape
    array_lines = [i.line for i in read_items(io.BytesIO(shapes["array"].encode()))]
    assert array_lines == [2 + 4 * n for n in range(len(records))]


def test_a_postgresql_server_going_away_mid_import_says_what_was_stored(pg_cluster, pg_url: str) -> None:
    import os
    import subprocess
    import sys
    import time

    env = {**os.environ, "LOGCONSOLE_DB": pg_url.replace("logconsole@", "logconsole:s3cret@")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "logconsole", "import", "--batch-size", "1", "-"],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdin is not None
    for i in range(2):
        proc.stdin.write(json.dumps({"type": "chat", "message": f"m{i}"}) + "\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 20
    while len(records(pg_url)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pg_cluster.restart()
    proc.stdin.write(json.dumps({"type": "chat", "message": "after"}) + "\n")
    proc.stdin.close()
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert proc.wait(timeout=20) == 1
    assert "stopped: 2 records were stored before the database refused the next batch" in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "logconsole:***@" in errors[0], err
    assert "Traceback" not in err and "s3cret" not in err
    assert [r["message"] for r in records(pg_url)] == ["m0", "m1"]
