"""``logconsole send`` and ``logconsole health`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_support import Collector, isolated_env


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    c = Collector(tmp_path_factory.mktemp("send")).start()
    yield c
    assert c.stop() == 0


def run(tmp: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logconsole", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env=isolated_env(tmp))


def test_send_arguments_exits_0_once_stored(collector: Collector) -> None:
    out = run(collector.tmp, "send", "--socket", str(collector.sock),
              '{"type": "error", "severity": "high", "message": "send-args disk full"}',
              '{\n  "type": "activity",\n  "message": "send-args pretty"\n}')
    assert out.returncode == 0, out.stderr
    assert out.stderr == "stored 2 records\n"
    assert {r["message"] for r in collector.rows("SELECT message FROM records WHERE message LIKE 'send-args%'")} == {
        "send-args disk full", "send-args pretty"}


def test_send_stdin_reports_rejected_lines_by_their_input_line(collector: Collector) -> None:
    stdin = ('{"type": "activity", "message": "send-stdin 1"}\n'
             "\n"
             '{"type": "error"}\n'
             '{"type": "activity", "message": "send-stdin 4"}\n')
    out = run(collector.tmp, "send", "--socket", str(collector.sock), stdin=stdin)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "line 3: field `message` is required for error records",
        "1 rejected, 2 stored",
    ]
    assert len(collector.rows("SELECT id FROM records WHERE message LIKE 'send-stdin%'")) == 2


def test_send_invalid_json_argument_is_refused_before_sending(collector: Collector) -> None:
    out = run(collector.tmp, "send", "--socket", str(collector.sock), '{"type": "activity"}', "{nope")
    assert out.returncode == 1
    assert out.stderr.startswith("Error: argument 2: invalid JSON: ")


def test_send_without_a_collector(tmp_path: Path) -> None:
    sock = tmp_path / "nobody.sock"
    out = run(tmp_path, "send", "--socket", str(sock), '{"type": "activity"}')
    assert out.returncode == 1
    assert out.stderr == f"Error: no collector at {sock} — start one with `logconsole daemon`\n"


def test_send_honours_the_socket_environment_variable(collector: Collector) -> None:
    env = isolated_env(collector.tmp) | {"LOGCONSOLE_SOCKET": str(collector.sock)}
    out = subprocess.run([sys.executable, "-m", "logconsole", "send", "-q",
                          '{"type": "chat", "message": "send-env"}'],
                         capture_output=True, text=True, timeout=60, env=env)
    assert (out.returncode, out.stderr) == (0, "")
    assert collector.rows("SELECT id FROM records WHERE message = 'send-env'")


def test_health_stores_through_the_collector(collector: Collector) -> None:
    pytest.importorskip("logconsole.collectors.health")
    health = "SELECT id FROM records WHERE type = 'system' AND event_type IS NOT 'alert'"  # an unhealthy sample may alert
    before = len(collector.rows(health))
    out = run(collector.tmp, "health", "--json", "--socket", str(collector.sock))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["type"] == "system"
    assert out.stderr == f"stored through the collector at {collector.sock}\n"
    assert len(collector.rows(health)) == before + 1


def test_health_without_a_collector_writes_the_database(tmp_path: Path) -> None:
    pytest.importorskip("logconsole.collectors.health")
    db = tmp_path / "h.db"
    out = run(tmp_path, "health", "--db", str(db), "--socket", str(tmp_path / "none.sock"))
    assert out.returncode == 0, out.stderr
    assert "system health:" in out.stdout and "status" in out.stdout
    assert out.stderr == f"stored in {db}\n"
    c = Collector(tmp_path, db=db)
    assert [r["type"] for r in c.rows("SELECT type FROM records")] == ["system"]


def test_health_without_a_collector_writes_a_postgresql_database(tmp_path: Path, pg_url: str) -> None:
    pytest.importorskip("logconsole.collectors.health")
    from logconsole.store.interface import open_store
    from logconsole.store.query import Filter
    from logconsole.store.url import redacted_url

    out = run(tmp_path, "health", "--db", pg_url, "--socket", str(tmp_path / "none.sock"))
    assert out.returncode == 0, out.stderr
    assert out.stderr == f"stored in {redacted_url(pg_url)}\n"
    store = open_store(pg_url, readonly=True)
    try:
        assert [r["type"] for r in store.iter_rows(Filter())] == ["system"]
    finally:
        store.close()


def test_the_readme_python_example_stores_what_it_says(collector: Collector) -> None:
    """The README's client example, run as written against a real collector."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    env = {**isolated_env(collector.tmp), "LOGCONSOLE_SOCKET": str(collector.sock)}
    out = subprocess.run([sys.executable, "-c", example + "\nassert log.flush()\n"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    rows = collector.rows(
        "SELECT type, message, ai_model, tokens_used FROM records "
        "WHERE message = 'payment failed' OR prompt = 'Summarise lesson 3' ORDER BY id")
    assert [tuple(r.values()) for r in rows] == [
        ("error", "payment failed", None, None), ("ai", None, "gpt-4", 412)]
