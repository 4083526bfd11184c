"""``query --related ID [--by FIELD]`` on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import add_to, assert_user_error, run


@pytest.fixture
def records(any_db: Path | str) -> dict[str, int]:
    records = {
        "error": dict(type="error", message="card declined", request_id="req-1", user_id="u1",
                      created_at="2026-11-20T10:00:02Z"),
        "activity": dict(type="activity", title="POST /api/pay", request_id="req-1", user_id="u1",
                         created_at="2026-11-20T10:00:00Z"),
        "ai": dict(type="ai", ai_model="gpt-4", request_id="req-1", user_id="u1",
                   created_at="2026-11-20T10:00:01Z"),
        "later": dict(type="activity", title="GET /", request_id="req-2", user_id="u1",
                      created_at="2026-11-20T10:30:00Z"),
        "alone": dict(type="system", message="boot", created_at="2026-11-20T10:00:00Z"),
    }
    return dict(zip(records, add_to(any_db, *records.values())))


def ids(result_output: str) -> list[int]:
    return [json.loads(line)["id"] for line in result_output.splitlines()]


def test_related_lists_the_request_oldest_first_and_says_what_it_joined(
        any_db: Path | str, records: dict[str, int]) -> None:
    result = run(any_db, "query", "--related", str(records["error"]), "-f", "jsonl")
    assert result.exit_code == 0, result.output
    assert ids(result.stdout) == [records["activity"], records["ai"], records["error"]]
    assert f"related to record {records['error']}: request_id=req-1" in result.stderr


def test_by_and_order_and_other_filters_apply(any_db: Path | str, records: dict[str, int]) -> None:
    by_user = run(any_db, "query", "--related", str(records["ai"]), "--by", "user_id", "-f", "jsonl",
                  "--order", "newest")
    assert ids(by_user.stdout) == [records["later"], records["error"], records["ai"], records["activity"]]
    errors_only = run(any_db, "query", "-r", str(records["activity"]), "--type", "error", "-f", "jsonl")
    assert ids(errors_only.stdout) == [records["error"]]
    table = run(any_db, "query", "--related", str(records["activity"]))
    assert table.exit_code == 0 and "card declined" in table.stdout


@pytest.mark.parametrize(("args", "words"), [
    (("--related", "999"), ("no record with id 999",)),
    (("--related", "ALONE"), ("has no request_id or trace_id or conversation_id or user_id",)),
    (("--related", "AI", "--by", "conversation_id"), ("has no conversation_id to relate it by",)),
    (("--by", "user_id"), ("give --related ID too",)),
    (("--related", "AI", "--by", "level"), ("'level' is not one of",)),
])
def test_mistakes_are_one_line_errors(any_db: Path | str, records: dict[str, int], args: tuple[str, ...],
                                      words: tuple[str, ...]) -> None:
    args = tuple(str(records[a.lower()]) if a in ("ALONE", "AI") else a for a in args)
    assert_user_error(run(any_db, "query", *args), *words)


def test_the_docs_describe_related_records_as_they_are() -> None:
    from logconsole.store.query import RELATED_FIELDS, Related

    root = Path(__file__).parents[1]
    said = f"related to record 4812: {Related('request_id', '5f0c1e2d3b4a5968', 4812).describe()}"
    cli_doc = (root / "docs" / "cli.md").read_text()
    readme = (root / "README.md").read_text()
    assert said in cli_doc and said in readme
    assert f"--by {'|'.join(RELATED_FIELDS)}" in cli_doc and "logconsole query --related" in readme
    client_doc = (root / "docs" / "client.md").read_text()
    for words in ("with correlation(", "with log.context(", "X-Request-ID", "traceparent"):
        assert words in client_doc, words
    tui_doc = (root / "docs" / "tui.md").read_text()
    assert "## Related records" in tui_doc and "related: request_id=5f0c1e2d…" in tui_doc
    assert all(f"`{name}`" in (root / "docs" / "protocol.md").read_text() for name in
               ("request_id", "trace_id", "span_id"))
