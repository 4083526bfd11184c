"""``logconsole migrate-store``: SQLite to PostgreSQL and back keeps every record whole."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from cli_support import assert_user_error, run
from logconsole.store.db import connect
from logconsole.store.interface import Store, open_store
from logconsole.store.query import Filter, OLDEST, make_filter
from logconsole.timeutil import to_stored

DATA = Path(__file__).parent / "data"
TIME_COLUMNS = ("created_at", "resolved_at", "first_seen", "last_seen", "status_at", "regressed_at")


def everything(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[int, str]]]:
    """Every record, group and group user, times in the stored form."""
    def norm(row: dict[str, Any]) -> dict[str, Any]:
        return {k: (to_stored(v) if k in TIME_COLUMNS and v is not None else v) for k, v in row.items()}
    return ([norm(r) for r in store.iter_rows(Filter(), OLDEST)], [norm(g) for g in store.groups()],
            store.group_users())


def migrate(*args: str) -> Any:
    result = run(Path("unused.db"), "migrate-store", *args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    assert run(path, "demo", "--count", "600", "--seed", "5").exit_code == 0
    with connect(path) as conn:  # some decisions to carry over
        conn.execute("UPDATE records SET is_resolved = 1, resolution = 'fixed', resolved_by = 'ann', "
                     "resolved_at = created_at WHERE id % 7 = 0 AND type = 'error'")
    return path


def round_trip(source: Path, pg_url: str, tmp_path: Path) -> None:
    migrate("--from", str(source), "--to", pg_url)
    back = tmp_path / "back.db"
    migrate("--from", pg_url, "--to", f"sqlite:///{back}")
    stores = [open_store(p) for p in (str(source), pg_url, str(back))]
    try:
        original, on_pg, returned = (everything(s) for s in stores)
        assert original[0], "the source holds records"
        assert on_pg == original
        assert returned == original
        for word in ("timeout", "payment", "course"):
            found = [[r["id"] for r in s.iter_rows(make_filter(search=word))] for s in stores]
            assert found[0] == found[1] == found[2]
    finally:
        for s in stores:
            s.close()


def test_a_demo_database_goes_to_postgresql_and_back_whole(demo_db: Path, pg_url: str, tmp_path: Path) -> None:
    round_trip(demo_db, pg_url, tmp_path)


def test_a_release_2_database_goes_to_postgresql_and_back_whole(pg_url: str, tmp_path: Path) -> None:
    old = tmp_path / "release-v2.db"
    shutil.copy(DATA / "release-v2.db", old)
    connect(old).close()  # upgraded by this release first
    round_trip(old, pg_url, tmp_path)


def test_running_it_again_copies_only_what_is_new(demo_db: Path, pg_url: str) -> None:
    migrate("--from", str(demo_db), "--to", pg_url)
    assert run(demo_db, "demo", "--count", "40", "--seed", "6").exit_code == 0
    again = migrate("--from", str(demo_db), "--to", pg_url)
    assert "copying those after it" in again.stderr and "copied 40 records" in again.stderr
    target, source = open_store(pg_url), open_store(str(demo_db))
    try:
        assert everything(target) == everything(source)
    finally:
        target.close()
        source.close()


def test_a_slice_goes_home_with_its_groups_recounted(demo_db: Path, pg_url: str, tmp_path: Path) -> None:
    migrate("--from", str(demo_db), "--to", pg_url)
    home = tmp_path / "slice.db"
    migrate("--from", pg_url, "--to", str(home), "--type", "error", "--where", "severity=critical")
    with_slice = open_store(str(home))
    try:
        rows = list(with_slice.iter_rows(Filter()))
        assert rows and {(r["type"], r["severity"]) for r in rows} == {("error", "critical")}
        counts = {g["id"]: g["count"] for g in with_slice.groups() if g["count"]}
        assert sum(counts.values()) == len(rows)
    finally:
        with_slice.close()


def test_passwords_never_show_and_bad_urls_are_one_line(tmp_path: Path) -> None:
    result = run(tmp_path / "x.db", "migrate-store", "--from", str(tmp_path / "missing.db"),
                 "--to", "postgresql://ops:s3cret@127.0.0.1:1/logs")
    assert_user_error(result, "no database at")
    made = tmp_path / "made.db"
    connect(made).close()
    result = run(tmp_path / "x.db", "migrate-store", "--from", str(made),
                 "--to", "postgresql://ops:s3cret@127.0.0.1:1/logs")
    assert_user_error(result, "cannot connect to postgresql://ops:***@127.0.0.1:1/logs")
    assert "s3cret" not in result.output
    assert_user_error(run(tmp_path / "x.db", "migrate-store", "--from", str(made), "--to", "mysql://a:b@h/d"),
                      "unknown store")


def test_the_command_is_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    assert "## migrate-store" in doc and "postgresql://user:***@host/dbname" in doc


def test_a_database_without_the_schema_is_not_a_source(pg_cluster: Any, tmp_path: Path) -> None:
    pg_cluster.execute("CREATE DATABASE not_logconsole")
    try:
        result = run(tmp_path / "x.db", "migrate-store", "--from", pg_cluster.url("not_logconsole"),
                     "--to", str(tmp_path / "home.db"))
        assert_user_error(result, "no logconsole database at")
    finally:
        pg_cluster.drop(pg_cluster.url("not_logconsole"))
