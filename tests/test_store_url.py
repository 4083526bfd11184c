"""Reading a store location (:mod:`logconsole.store.url`) and showing it without its password."""

from __future__ import annotations

from pathlib import Path

import pytest

from logconsole.store.url import POSTGRESQL, SQLITE, StoreURLError, parse_store_url, redacted_url


@pytest.mark.parametrize("text, path", [
    ("logs.db", "logs.db"), ("/var/lib/logconsole/logs.db", "/var/lib/logconsole/logs.db"),
    ("sqlite:///var/lib/logs.db", "/var/lib/logs.db"), ("sqlite://rel/logs.db", "rel/logs.db"),
])
def test_a_path_or_sqlite_url_is_a_sqlite_file(text: str, path: str) -> None:
    url = parse_store_url(text)
    assert url.backend == SQLITE and url.path == Path(path)


@pytest.mark.parametrize("text", ["postgresql://u:pw@db.example/logs", "postgres://u:pw@db.example/logs",
                                  "PostgreSQL://u:pw@db.example/logs"])
def test_postgresql_urls_go_to_postgresql_in_the_form_libpq_reads(text: str) -> None:
    url = parse_store_url(text)
    assert url.backend == POSTGRESQL
    assert url.conninfo == "postgresql://u:pw@db.example/logs"


def test_the_password_is_never_shown() -> None:
    url = parse_store_url("postgresql://ops:s3cret@db.example:5433/logs?sslmode=require&password=other")
    for shown in (str(url), repr(url), url.redacted()):
        assert "s3cret" not in shown and "other" not in shown
        assert "ops:***@db.example:5433/logs" in shown
    assert redacted_url("postgresql://ops@db/logs") == "postgresql://ops@db/logs"


def test_an_unknown_scheme_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StoreURLError, match="unknown store") as info:
        parse_store_url("mysql://root:hunter2@db/logs")
    assert "hunter2" not in str(info.value)
    with pytest.raises(StoreURLError, match="empty"):
        parse_store_url("  ")


def test_postgresql_without_psycopg_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from logconsole.store.db import StoreError
    from logconsole.store.interface import open_store

    for name in [m for m in sys.modules if m.startswith(("psycopg", "logconsole.store.postgres"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what `import psycopg` meets when it is not installed
    with pytest.raises(StoreError, match=r"pip install 'logconsole\[postgresql\]'") as info:
        open_store("postgresql://ops:s3cret@db/logs")
    assert "s3cret" not in str(info.value)
