"""Two collectors on one PostgreSQL database, through their sockets.

One ``logconsole daemon`` on a fresh database takes ``--records`` realistic
records from ``--clients`` connections (each finishing with a sync, so
everything counted is committed): the single-collector rate.  Then two
daemons with different host names, each on a socket of its own, take as many
each at the same time: each one's rate is compared with the single rate
(target >= 0.4x), and the database must hold every record once with its host.

    .venv/bin/python benchmarks/bench_pg_collectors.py                  # a private cluster, 50,000 records
    .venv/bin/python benchmarks/bench_pg_collectors.py --store postgresql://logs@db/bench --records 200000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import _daemon  # noqa: E402
import _data  # noqa: E402

PRIVATE_SETTINGS = "-c shared_buffers=256MB -c max_wal_size=2GB"


class Daemon:
    """A collector process writing to ``url`` as ``host``."""

    def __init__(self, folder: Path, url: str, host: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.sock = folder / "run" / f"{host}.sock"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOGCONSOLE_")}
        env.update(XDG_CONFIG_HOME=str(folder / "config"), LOGCONSOLE_DB=url)
        self.proc = _daemon.start(["--host", host, "--retention-days", "0", "--health-interval", "86400"],
                                  sock=self.sock, log=folder / f"{host}.log", env=env)

    def stop(self) -> None:
        _daemon.stop(self.proc)


def ingest(d: Daemon, lines: list[bytes], clients: int) -> float:
    """Records per second from the first byte sent to the last sync answered."""
    shares = [b"".join(lines[i::clients]) + b'{"op":"sync"}\n' for i in range(clients)]
    socks = []
    for _ in range(clients):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(d.sock))
        socks.append(s)
    answers: list[dict] = [{}] * clients

    def work(i: int) -> None:
        socks[i].sendall(shares[i])
        answers[i] = _daemon.read_until_sync(socks[i], bytearray())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for s in socks:
        s.close()
    if not all(a.get("ok") for a in answers):
        raise SystemExit(f"a sync failed: {answers}")
    return len(lines) / elapsed


def fresh_database(cluster_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(cluster_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return cluster_url.replace("/postgres?", f"/{name}?") if "/postgres?" in cluster_url else \
        cluster_url.rsplit("/", 1)[0] + f"/{name}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=50_000, help="records per collector")
    ap.add_argument("--clients", type=int, default=2, help="connections per collector")
    ap.add_argument("--store", metavar="URL", help="a PostgreSQL server's maintenance database URL "
                    "(default: a private cluster started for the run)")
    args = ap.parse_args()
    import psycopg

    cluster = None
    if args.store:
        base = args.store
    else:
        sys.path.insert(0, str(HERE.parent / "tests"))
        import pg_support

        cluster = pg_support.start_cluster(PRIVATE_SETTINGS)
        base = cluster.url()
    lines = [json.dumps(r).encode() + b"\n" for r in _data.records(args.records)]
    print(f"two collectors on PostgreSQL: {args.records:,} records each, {args.clients} clients each")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pg-collectors-") as tmp:
            url = fresh_database(base, "bench_collectors_one")
            d = Daemon(Path(tmp) / "one", url, "solo")
            try:
                single = ingest(d, lines, args.clients)
            finally:
                d.stop()
            print(f"one collector:                       {single:10,.0f} records/s")
            url = fresh_database(base, "bench_collectors_two")
            daemons = [Daemon(Path(tmp) / "two", url, host) for host in ("web-1", "web-2")]
            rates: dict[str, float] = {}
            try:
                threads = [threading.Thread(target=lambda d=d, h=h: rates.__setitem__(h, ingest(d, lines, args.clients)))
                           for d, h in zip(daemons, ("web-1", "web-2"))]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            finally:
                for d in daemons:
                    d.stop()
            for host in ("web-1", "web-2"):
                ratio = rates[host] / single
                print(f"two collectors, {host}:              {rates[host]:10,.0f} records/s  "
                      f"{ratio:.2f}x one (target >= 0.4x) {'ok' if ratio >= 0.4 else 'MISSED'}")
            with psycopg.connect(url) as conn:
                per_host = dict(conn.execute(  # type: ignore[arg-type]
                    "SELECT host, count(*) FROM records WHERE event_type IS DISTINCT FROM 'health_sample' "
                    "AND event_type IS DISTINCT FROM 'alert' GROUP BY host").fetchall())
            whole = per_host == {"web-1": args.records, "web-2": args.records}
            print(f"stored per host: {per_host} {'ok' if whole else 'WRONG'}")
            return 0 if whole else 1
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
