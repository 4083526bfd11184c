"""The PostgreSQL schema's versioned steps (:mod:`logconsole.store.postgres.migrations`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from logconsole.kinds import ALL_FIELDS
from logconsole.store.db import StoreError
from logconsole.store.interface import Store, open_store
from logconsole.store.postgres.migrations import SCHEMA_VERSION
from pg_support import Cluster


@pytest.fixture
def empty_url(pg_cluster: Cluster) -> Iterator[str]:
    """A database without the schema (not from the template)."""
    name = f"empty_{id(object())}"
    pg_cluster.execute(f"CREATE DATABASE {name}")
    yield pg_cluster.url(name)
    pg_cluster.drop(pg_cluster.url(name))


def test_collectors_starting_together_upgrade_once(empty_url: str) -> None:
    opened: list[Store] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            opened.append(open_store(empty_url))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.schema_version() for s in opened} == {SCHEMA_VERSION}
    with psycopg.connect(empty_url) as conn:
        steps = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert steps == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    for s in opened:
        s.close()


def test_a_field_without_a_column_gets_one(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE records DROP COLUMN host")
    open_store(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        names = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'records'")}
    assert set(ALL_FIELDS) <= names


def test_a_newer_database_is_refused_untouched(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, 'from the future')",
                     (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this logconsole knows"):
        open_store(pg_url)


def test_offsets_of_a_first_schema_database_become_the_offsets_of_no_named_host(empty_url: str) -> None:
    from logconsole.store.postgres.migrations import MIGRATIONS, upgrade

    with psycopg.connect(empty_url, autocommit=True) as conn:
        upgrade(conn, MIGRATIONS[:1])
        conn.execute("""INSERT INTO file_offsets (path, inode, "offset", head) VALUES ('/var/log/a.log', 1, 10, 'h')""")
        upgrade(conn)
        assert conn.execute('SELECT host, path, "offset" FROM file_offsets').fetchall() == [("", "/var/log/a.log", 10)]
        conn.execute("""INSERT INTO file_offsets (host, path, inode, "offset", head)
                        VALUES ('web-2', '/var/log/a.log', 2, 20, 'h')""")
        assert conn.execute("SELECT count(*) FROM file_offsets").fetchone() == (2,)


def test_a_change_of_the_search_fields_makes_the_search_column_anew(pg_url: str) -> None:
    """A database whose search column predates ``stack`` being searchable (as an
    older program made it): the next open makes it anew, and every record is
    found by the new field."""
    from logconsole.ingest import normalize
    from logconsole.kinds import FTS_COLUMNS
    from logconsole.store.postgres import migrations as M
    from logconsole.store.postgres.schema import search_sql
    from logconsole.store.query import Filter

    older = tuple(c for c in FTS_COLUMNS if c != "stack")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with conn.transaction():
            M.remake_search(conn, older)
    older_store = psycopg.connect(pg_url, autocommit=True)
    try:
        older_store.execute("INSERT INTO records (type, created_at, message, stack) "
                            "VALUES ('error', now(), 'boom', 'KeyError: 東京')")
        assert older_store.execute("SELECT count(*) FROM records WHERE search @@ '東京'::tsquery").fetchone() == (0,)
    finally:
        older_store.close()

    store = open_store(pg_url)
    try:
        assert store.count(Filter(search="東京")) == 1
        store.insert([normalize({"type": "error", "message": "new", "stack": "KeyError: 大阪"})])
        assert store.count(Filter(search="大阪")) == 1
    finally:
        store.close()
    with psycopg.connect(pg_url) as conn:
        [(comment,)] = conn.execute("SELECT col_description('records'::regclass, attnum) FROM pg_attribute "
                                    "WHERE attrelid = 'records'::regclass AND attname = 'search'").fetchall()
        assert comment == search_sql()
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_records_search'").fetchone() == (1,)
