"""Shared fixtures: a real SQLite file in a temp folder, isolated paths."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from logconsole.store.db import connect
from logconsole.store.interface import Store, open_store
from pg_support import Cluster, ClusterUnavailable, prepare_template, required, start_cluster


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's real database, socket and config."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    for var in ("LOGCONSOLE_DB", "LOGCONSOLE_SOCKET", "LOGCONSOLE_CONFIG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "logs.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(db_path)
    yield c
    c.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A private PostgreSQL cluster for the whole run (:mod:`pg_support`).

    Without the server programs the PostgreSQL tests are skipped, saying why;
    under CI (``CI=true``) that is a failure instead: CI installs them.
    """
    try:
        cluster = start_cluster()
    except ClusterUnavailable as exc:
        if required():
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"no PostgreSQL to test against: {exc}")
    try:
        cluster.make_template(prepare_template)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database holding the current schema."""
    url = pg_cluster.database()
    yield url
    pg_cluster.drop(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store of each backend (:mod:`logconsole.store.interface`)."""
    if request.param == "sqlite":
        location = str(tmp_path / "logs.db")
    else:
        location = request.getfixturevalue("pg_url")
    opened = open_store(location)
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A database as ``--db`` takes it, of each backend: a SQLite file (not
    made yet), or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "logs.db"
    return str(request.getfixturevalue("pg_url"))
