"""``groups``, ``resolve/unresolve/ignore --group`` and ``query --group`` on a real database,
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from cli_support import add_to, assert_user_error, run
from logconsole.store.group_query import GROUP_FIELDS
from logconsole.store.interface import open_store

RELEASE_V2 = Path(__file__).parent / "data" / "release-v2.db"


@pytest.fixture
def db(any_db: Path | str) -> Path | str:
    """The database of each test: a SQLite file, then a PostgreSQL database."""
    return any_db


@pytest.fixture
def groups(db: Path | str) -> dict[str, int]:
    """Three groups: a payment error 3 times (2 users), jwt expired twice, one timeout."""
    records: dict[str, dict] = {}
    for i in range(3):
        records[f"pay{i}"] = dict(type="error", severity="high", error_type="CardError",
                                  message=f"card declined for order {100 + i}", user_id=f"u{i % 2}",
                                  endpoint=f"/api/orders/{100 + i}")
    for i in range(2):
        records[f"jwt{i}"] = dict(type="error", error_type="TokenExpiredError", message="jwt expired")
    records["timeout"] = dict(type="error", severity="critical", message="upstream timed out after 30000 ms")
    ids = dict(zip(records, add_to(db, *records.values())))
    add_to(db, dict(type="activity", title="not an error"))
    store = open_store(db, readonly=True)
    try:
        out = {name: store.get(rid)["group_id"] for name, rid in ids.items()}  # type: ignore[index]
    finally:
        store.close()
    return {"pay": out["pay0"], "jwt": out["jwt0"], "timeout": out["timeout"], **{f"rec_{k}": v for k, v in ids.items()}}


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_groups_table_lists_each_group_once(db: Path | str, groups: dict[str, int]) -> None:
    result = run(db, "groups", "--sort", "count")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["id", "status", "count", "users", "last", "seen"]
    body = [line.split() for line in lines[2:]]
    assert [(int(r[0]), r[1], int(r[2])) for r in body] == [
        (groups["pay"], "open", 3), (groups["jwt"], "open", 2), (groups["timeout"], "open", 1)]
    assert "CardError: card declined for order 100" in result.stdout


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_groups_in_each_format_carry_every_field(db: Path | str, groups: dict[str, int], fmt: str) -> None:
    result = run(db, "groups", "--format", fmt, "--sort", "count")
    assert result.exit_code == 0, result.output
    if fmt == "jsonl":
        rows = jsonl(result.stdout)
    elif fmt == "json":
        rows = json.loads(result.stdout)
    else:
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert list(rows[0]) == list(GROUP_FIELDS)
        rows = [{**r, "count": int(r["count"]), "id": int(r["id"]), "users": int(r["users"]),
                 "endpoints": json.loads(r["endpoints"])} for r in rows]
    assert [list(r) for r in rows] == [list(GROUP_FIELDS)] * 3
    pay = rows[0]
    assert (pay["id"], pay["count"], pay["users"], pay["endpoints"]) == (groups["pay"], 3, 2, ["/api/orders/{id}"])
    assert pay["fingerprint"] == "CardError: card declined for order {n}"


def test_group_filters_and_sorts(db: Path | str, groups: dict[str, int]) -> None:
    def ids(*args: str) -> list[int]:
        result = run(db, "groups", "-f", "jsonl", *args)
        assert result.exit_code == 0, result.output
        return [g["id"] for g in jsonl(result.stdout)]

    assert ids("--search", "JWT") == [groups["jwt"]]
    assert ids("--where", "count>=2", "--sort", "count", "--reverse") == [groups["jwt"], groups["pay"]]
    assert ids("--where", "severity=critical") == [groups["timeout"]]
    assert ids("--sort", "users") [0] == groups["pay"]
    assert ids("--since", "1h", "--limit", "1") and ids("--since", "2099-01-01") == []
    assert ids("--status", "resolved") == []


@pytest.mark.parametrize(("args", "words"), [
    (("--status", "closed"), ("unknown status 'closed'", "unresolved")),
    (("--where", "colour=red"), ("unknown group field 'colour'",)),
    (("--where", "count>many"), ("count must be an integer",)),
    (("--since", "someday"), ("someday",)),
])
def test_group_filter_mistakes_are_one_line_errors(db: Path | str, groups: dict[str, int],
                                                   args: tuple[str, ...], words: tuple[str, ...]) -> None:
    assert_user_error(run(db, "groups", *args), *words)


def test_at_80_columns_the_error_gives_way_and_every_other_cell_is_whole(
        db: Path | str, groups: dict[str, int]) -> None:
    """A ``regressed`` status (the widest) must not cut the time column short."""
    run(db, "resolve", "--group", str(groups["timeout"]), "--note", "fixed")
    add_to(db, dict(type="error", severity="critical", message="upstream timed out after 31000 ms"))
    result = run(db, "groups", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    body = result.stdout.splitlines()[2:]
    assert len(body) == 3 and "regressed" in result.stdout
    for line in body:
        assert len(line) <= 80, line
        assert re.search(r"\d\d:\d\d:\d\d\s+(high|medium|critical|low)\s", line), line


def test_resolve_group_resolves_its_records_and_unresolve_reopens_them(db: Path | str, groups: dict[str, int]) -> None:
    result = run(db, "resolve", "--group", str(groups["pay"]), "--note", "fixed in 2.1", "--by", "ana")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"group {groups['pay']}: resolved, 3 records (was open)\n"
    records = jsonl(run(db, "query", "--group", str(groups["pay"]), "-f", "jsonl").stdout)
    assert len(records) == 3 and all(r["is_resolved"] and r["resolution"] == "fixed in 2.1" for r in records)
    (g,) = jsonl(run(db, "groups", "--status", "resolved", "-f", "jsonl").stdout)
    assert (g["id"], g["note"], g["status_by"]) == (groups["pay"], "fixed in 2.1", "ana")

    result = run(db, "unresolve", "--group", str(groups["pay"]))
    assert result.stdout == f"group {groups['pay']}: reopened, 3 records (was resolved)\n"
    records = jsonl(run(db, "query", "--group", str(groups["pay"]), "-f", "jsonl").stdout)
    assert not any(r["is_resolved"] for r in records)


def test_ignore_hides_a_group_from_the_default_list(db: Path | str, groups: dict[str, int]) -> None:
    result = run(db, "ignore", "--group", str(groups["jwt"]), "--note", "clients retry")
    assert result.exit_code == 0 and result.stdout == f"group {groups['jwt']}: ignored (was open)\n"
    listed = [g["id"] for g in jsonl(run(db, "groups", "-f", "jsonl").stdout)]
    assert groups["jwt"] not in listed and len(listed) == 2
    ignored = jsonl(run(db, "groups", "--status", "ignored", "-f", "jsonl").stdout)
    assert [(g["id"], g["note"]) for g in ignored] == [(groups["jwt"], "clients retry")]
    assert len(jsonl(run(db, "query", "--group", str(groups["jwt"]), "-f", "jsonl").stdout)) == 2


def test_group_actions_say_which_ids_name_no_group(db: Path | str, groups: dict[str, int]) -> None:
    for command in ("resolve", "unresolve", "ignore"):
        result = run(db, command, "--group", "9999")
        assert result.exit_code == 1 and result.stdout == "group 9999: not found\n"
    assert_user_error(run(db, "resolve", "1", "--group", str(groups["pay"])), "not both")
    assert_user_error(run(db, "resolve"), "--group")
    assert_user_error(run(db, "ignore"), "--group")


def test_query_group_lists_the_occurrences(db: Path | str, groups: dict[str, int]) -> None:
    result = run(db, "query", "--group", str(groups["pay"]), "-f", "jsonl", "--order", "oldest")
    assert [r["id"] for r in jsonl(result.stdout)] == [groups[f"rec_pay{i}"] for i in range(3)]
    table = run(db, "query", "--group", str(groups["timeout"]))
    assert table.exit_code == 0 and "upstream timed out" in table.stdout
    assert_user_error(run(db, "query", "--group", "1", "--type", "chat"), "--group")


def test_groups_on_a_database_not_yet_upgraded_says_so(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    shutil.copyfile(RELEASE_V2, old)
    assert_user_error(run(old, "groups"), "older release", "upgrades it")
    run(old, "prune", "--dry-run")  # any command that writes upgrades it
    result = run(old, "groups", "--status", "all", "-f", "jsonl")
    assert result.exit_code == 0 and len(jsonl(result.stdout)) == 6


def test_the_docs_describe_the_group_commands() -> None:
    root = Path(__file__).parents[1]
    cli_doc = (root / "docs" / "cli.md").read_text()
    section = cli_doc.split("## groups")[1].split("\n## ")[0]
    for option in ("--status", "--since", "--search", "--where", "--sort last|count|first|users",
                   "--format table|jsonl|json|csv", "unresolved"):
        assert option in section, option
    for name in GROUP_FIELDS:
        assert f"`{name}`" in section, name
    for line in ("group 12: resolved, 34 records (was open)", "group 31: ignored (was open)",
                 "logconsole query --group 12"):
        assert line in cli_doc, line
    readme = (root / "README.md").read_text()
    assert "logconsole groups" in readme and "docs/groups.md" in readme


def test_postgresql_group_pages_join_up_in_every_sort(pg_url: str) -> None:
    """Keyset pages of two give the same groups as one page, in each sort and
    direction, with ties and a group without times (sorted as SQLite sorts NULL:
    last newest first, first oldest first)."""
    from logconsole.store.group_query import GroupFilter, GroupSort
    from logconsole.store.postgres import group_query as pgq

    times = ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", "2026-11-21T09:00:00Z"]
    ids = add_to(pg_url, *(dict(type="error", error_type=f"E{i}", message=f"failure {i}", created_at=t,
                                user_id=f"u{i}") for i, t in enumerate(times)),
                 dict(type="error", error_type="E1", message="failure 1", user_id="u9"))
    store = open_store(pg_url)
    try:
        timeless = store.get(ids[3])["group_id"]  # type: ignore[index]
        store.conn.execute("UPDATE error_groups SET first_seen = NULL, last_seen = NULL WHERE id = %s", (timeless,))
        for column in ("last_seen", "first_seen", "count", "users"):
            for descending in (True, False):
                sort = GroupSort(column, descending)
                whole = [g["id"] for g in pgq.fetch_groups(store.conn, GroupFilter(), sort, limit=None)]
                paged = [g["id"] for g in pgq.iter_groups(store.conn, GroupFilter(), sort, page_size=2)]
                assert paged == whole and len(whole) == 4, (column, descending)
                if column.endswith("_seen"):
                    assert whole.index(timeless) == (3 if descending else 0), (column, descending)
    finally:
        store.close()
