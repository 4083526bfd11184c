"""A private PostgreSQL cluster for the tests: ``initdb`` + ``pg_ctl`` in a
temporary folder, listening only on a Unix socket there, stopped at the end.

The server refuses to run as root, so when the tests run as root the cluster
belongs to an unprivileged user (``postgres`` when it exists, else
``nobody``) and its commands run through ``runuser``.  The tests connect over
the socket as the cluster's superuser role ``logconsole`` (trust
authentication: only the socket's folder leads to it).

Each test gets a database of its own, copied from a template that already
holds the schema (``CREATE DATABASE ... TEMPLATE``: milliseconds).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from urllib.parse import quote

ROLE = "logconsole"
"""The cluster's superuser role, which the tests connect as."""
TEMPLATE = "logconsole_template"
"""The database every test's database is copied from."""
SERVER_SETTINGS = (
    "-c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=60 -c shared_buffers=32MB"
)
"""Speed over durability: a test cluster lives for one run."""


class ClusterUnavailable(RuntimeError):
    """The server programs are not installed (or cannot run here); says which."""


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def find_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: Debian keeps them out of PATH
    (``/usr/lib/postgresql/VERSION/bin``, newest wins); else PATH, else ``pg_config``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    return None


def _server_user() -> str | None:
    """Who runs the server: ``None`` (this process) unless it is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise ClusterUnavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


@dataclass(slots=True)
class Cluster:
    """A running private cluster; :meth:`database` makes a fresh database."""

    bindir: Path
    root: Path
    user: str | None
    settings: str = SERVER_SETTINGS
    _names: count = field(default_factory=lambda: count(1))

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, dbname: str = "postgres") -> str:
        """A ``postgresql://`` URL reaching ``dbname`` over the cluster's socket."""
        return f"postgresql://{ROLE}@/{dbname}?host={quote(str(self.socket_dir), safe='/')}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            log = (self.root / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ClusterUnavailable(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")
        return result

    def start(self) -> None:
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", ROLE, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync", "--no-instructions")
        self.start_server()

    def start_server(self) -> None:
        """Start the server of the initialised cluster (again, after :meth:`stop_server`)."""
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.root / "data"),
                  "-l", str(self.root / "server.log"), "-o", f"-k {self.socket_dir} {self.settings}")

    def stop_server(self) -> None:
        """Stop the server, keeping its data (a server that goes down under a client)."""
        self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.root / "data"))

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.root / "data"))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self, pause: float = 0.0) -> None:
        """Stop the server (fast: clients are cut off), wait ``pause`` seconds, start it again."""
        import time

        data = str(self.root / "data")
        self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", data)
        time.sleep(pause)
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", str(self.root / "server.log"),
                  "-o", f"-k {self.socket_dir} {self.settings}")

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        """Run ``sql`` outside a transaction (``CREATE DATABASE`` needs that)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def make_template(self, prepare: object = None) -> None:
        """Create :data:`TEMPLATE`; ``prepare(url)`` fills it (the schema)."""
        self.execute(f"CREATE DATABASE {TEMPLATE}")
        if callable(prepare):
            prepare(self.url(TEMPLATE))

    def database(self) -> str:
        """A new database copied from the template; its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return self.url(name)

    def drop(self, url: str) -> None:
        from psycopg.conninfo import conninfo_to_dict

        name = conninfo_to_dict(url)["dbname"]
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_cluster(extra_settings: str = "") -> Cluster:
    """Start a private cluster, or raise :class:`ClusterUnavailable` saying why not.

    ``extra_settings`` (``-c name=value ...``) follow :data:`SERVER_SETTINGS`
    (the benchmarks give the server the memory a real one would have)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ClusterUnavailable("psycopg is not installed (pip install -e '.[test]')") from None
    bindir = find_bindir()
    if bindir is None:
        raise ClusterUnavailable(
            "PostgreSQL server programs (initdb, pg_ctl) not found; install the 'postgresql' package")
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="logconsole-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(bindir, root, user, f"{SERVER_SETTINGS} {extra_settings}".strip())
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster


def required() -> bool:
    """Whether a missing server is a failure (under CI) rather than a skip."""
    return os.environ.get("CI", "").lower() == "true"


def prepare_template(url: str) -> None:
    """Give the template database the store's schema."""
    from logconsole.store.interface import open_store

    open_store(url).close()
