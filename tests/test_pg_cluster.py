"""The private PostgreSQL cluster the store tests run against (:mod:`pg_support`)."""

from __future__ import annotations

import psycopg
import pytest

from pg_support import Cluster


def test_each_test_gets_its_own_database(pg_cluster: Cluster) -> None:
    first, second = pg_cluster.database(), pg_cluster.database()
    try:
        with psycopg.connect(first, autocommit=True) as conn:
            conn.execute("CREATE TABLE only_here (x int)")
        with psycopg.connect(second) as conn:
            found = conn.execute("SELECT to_regclass('only_here')").fetchone()
        assert found == (None,)
    finally:
        pg_cluster.drop(first)
        pg_cluster.drop(second)


def test_the_cluster_listens_only_on_its_socket(pg_url: str, pg_cluster: Cluster) -> None:
    with psycopg.connect(pg_url) as conn:
        addresses = conn.execute("SHOW listen_addresses").fetchone()
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()
    assert addresses == ("",)
    assert sockets == (str(pg_cluster.socket_dir),)


def test_a_missing_server_skips_outside_ci_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import pg_support

    monkeypatch.setenv("CI", "true")
    assert pg_support.required()
    monkeypatch.setenv("CI", "")
    assert not pg_support.required()
