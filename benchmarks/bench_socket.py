"""Collector benchmarks: ingest over the socket, sync latency, idle cost.

Each figure is printed next to a reference measured in the same run:

* end-to-end ingest: ``--clients`` connections (default 4) send realistic
  records as JSON lines to a real ``logconsole daemon`` process and finish
  with a sync (so everything counted is committed); the rate is compared
  with a bare ``executemany`` of the same rows (already normalised) into the
  same schema (indexes and FTS) in one transaction (target >= 0.8x), and with
  a commit per record (target >= 10x), both with the store's own settings
  (WAL, ``synchronous=NORMAL``: a commit writes the WAL but does not fsync)
  and with ``synchronous=FULL`` (an fsync per commit);
* sync round trip: one record and a sync at a time, paced at
  ``--sync-rate`` records per second (default 1,000); p50/p99 (target p99 <= 50 ms);
* the daemon runs with error groups and alert rules active: the four built-in
  rules plus :data:`ALERT_RULES` (a filter, a count within a window, a
  search); the ingest is measured once more with every rule switched off, to
  show what the rules cost;
* idle daemon: CPU share over ``--idle-seconds`` (default 30; target <= 1 %)
  and resident memory (target <= 60 MB);
* with ``--otlp``: the same records as OpenTelemetry log records over
  OTLP/HTTP protobuf (``daemon --otlp``), ``--clients`` senders posting
  ``--otlp-batch`` records per request (default 512, the SDK's batch), timed
  until every record is committed; compared with the socket run (target >= 0.5x).

    .venv/bin/python benchmarks/bench_socket.py                      # 200,000 records
    .venv/bin/python benchmarks/bench_socket.py --records 50000 --idle-seconds 10
    .venv/bin/python benchmarks/bench_socket.py --records 50000 --otlp --only-ingest
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _daemon  # noqa: E402
import _data  # noqa: E402

from logconsole.ingest import normalize  # noqa: E402
from logconsole.store import groups  # noqa: E402
from logconsole.store.db import connect  # noqa: E402
from logconsole.store.writer import INSERT_SQL, row_values  # noqa: E402


ALERT_RULES = """
[[alerts]]
name = "payment errors"
type = "error"
where = ["endpoint~payment"]
trigger = "any"
command = ["true"]

[[alerts]]
name = "error storm"
type = "error"
trigger = "count >= 100 within 5m"
command = ["true"]

[[alerts]]
name = "timeouts"
search = "timeout"
trigger = "count >= 50 within 1m"
"""
OTLP_HOST = "bench-otlp"
RULES_OFF = "".join(f'[[alerts]]\nname = "{n}"\nenabled = false\n'
                    for n in ("new_group", "regression", "critical", "requires_action"))


class Daemon:
    """A collector process on a fresh temp database (with the alert rules of
    ``config``: :data:`ALERT_RULES` unless told otherwise)."""

    def __init__(self, folder: Path, config: str = ALERT_RULES, *options: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config" / "logconsole").mkdir(parents=True, exist_ok=True)
        (folder / "config" / "logconsole" / "config.toml").write_text(config)
        self.db = folder / "bench.db"
        self.log = folder / "daemon.log"
        self.sock = folder / "run" / "bench.sock"
        env = dict(os.environ, XDG_CONFIG_HOME=str(folder / "config"))
        env.pop("LOGCONSOLE_CONFIG", None)
        self.proc = _daemon.start(["--db", str(self.db), "--retention-days", "0", *options],
                                  sock=self.sock, log=self.log, env=env, timeout=20)

    def connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(self.sock))
        return s

    def stop(self) -> None:
        _daemon.stop(self.proc)

    def otlp_address(self) -> tuple[str, int]:
        """Host and port of a daemon started with ``--otlp 127.0.0.1:0`` (from its log)."""
        deadline = time.monotonic() + 20
        while True:
            found = re.search(r"OTLP/HTTP logs accepted at http://([^:/]+):(\d+)/", self.log.read_text())
            if found:
                return found.group(1), int(found.group(2))
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"no OTLP door: {self.log.read_text()}")
            time.sleep(0.05)

    def count(self) -> int:
        """Records that came over OTLP (their resource names :data:`OTLP_HOST`)."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT count(*) FROM records WHERE host = ?", (OTLP_HOST,)).fetchone()[0]
        finally:
            conn.close()


read_until_sync = _daemon.read_until_sync


def bench_bare(rows: list[dict], folder: Path, *, group_upkeep: bool = True) -> float:
    """One ``executemany`` of every row in one transaction; with ``group_upkeep``
    also the writer's group upsert (before) and latest/users update (after)."""
    conn = connect(folder / f"bare-{group_upkeep}.db")
    values = [row_values(r) for r in rows]
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    pending = groups.before_insert(conn, rows) if group_upkeep else None
    conn.executemany(INSERT_SQL, values)
    if pending is not None:
        last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        groups.after_insert(conn, pending, range(last - len(rows) + 1, last + 1))
    conn.execute("COMMIT")
    rate = len(values) / (time.perf_counter() - t)
    conn.close()
    return rate


def bench_commit_each(rows: list[dict], folder: Path, synchronous: str = "NORMAL") -> float:
    conn = connect(folder / f"each-{synchronous}.db")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    values = [row_values(r) for r in rows]
    t = time.perf_counter()
    for v in values:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(INSERT_SQL, v)
        conn.execute("COMMIT")
    rate = len(values) / (time.perf_counter() - t)
    conn.close()
    return rate


def bench_socket(lines: list[bytes], clients: int, folder: Path, config: str = ALERT_RULES) -> tuple[float, int]:
    d = Daemon(folder / ("ingest" if config == ALERT_RULES else "ingest-no-rules"), config)
    try:
        shares = [b"".join(lines[i::clients]) for i in range(clients)]
        counts = [len(lines[i::clients]) for i in range(clients)]
        socks = [d.connect() for _ in range(clients)]
        answers: list[dict] = [{}] * clients

        def work(i: int) -> None:
            s = socks[i]
            s.sendall(shares[i])
            s.sendall(b'{"op":"sync"}\n')
            answers[i] = read_until_sync(s, bytearray())

        threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        for s in socks:
            s.close()
        stored = sum(a.get("stored", 0) for a in answers)
        if stored != sum(counts):
            raise SystemExit(f"stored {stored} of {sum(counts)}: {answers}")
        return sum(counts) / elapsed, stored
    finally:
        d.stop()


def otlp_requests(raws: list[dict], batch: int) -> list[bytes]:
    """The records as OTLP logs requests of ``batch`` log records, spelled as
    logconsole spells its records for OpenTelemetry (:mod:`logconsole.otlp.names`):
    ``logconsole.type``, the conventions' attributes, the rest under their names."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from logconsole.kinds import KINDS, canonical_name
    from logconsole.otlp import names

    def put(value: object, into: object) -> None:
        if isinstance(value, bool):
            into.bool_value = value
        elif isinstance(value, int):
            into.int_value = value
        elif isinstance(value, float):
            into.double_value = value
        elif isinstance(value, str):
            into.string_value = value
        else:
            into.string_value = json.dumps(value)

    out = []
    for start in range(0, len(raws), batch):
        req = ExportLogsServiceRequest()
        rl = req.resource_logs.add()
        rl.resource.attributes.add(key="service.name").value.string_value = "bench"
        rl.resource.attributes.add(key="host.name").value.string_value = OTLP_HOST
        sl = rl.scope_logs.add()
        for raw in raws[start:start + batch]:
            kind = KINDS[raw["type"]]
            record = sl.log_records.add(time_unix_nano=time.time_ns())
            for key, value in raw.items():
                if value is None:
                    continue
                name = canonical_name(key)
                if name == "type":
                    attribute = names.KIND_ATTRIBUTE
                elif name in kind.by_name:
                    attribute = names.attribute_for(kind.name, name)
                else:
                    attribute = key
                put(value, record.attributes.add(key=attribute).value)
        out.append(req.SerializeToString())
    return out


def bench_otlp(requests: list[bytes], total: int, clients: int, folder: Path) -> float:
    """Records per second over OTLP/HTTP, until every record is committed."""
    d = Daemon(folder / "otlp", ALERT_RULES, "--otlp", "127.0.0.1:0")
    try:
        host, port = d.otlp_address()
        failures: list[str] = []

        def work(i: int) -> None:
            conn = http.client.HTTPConnection(host, port, timeout=120)
            for body in requests[i::clients]:
                while True:
                    conn.request("POST", "/v1/logs", body, {"Content-Type": "application/x-protobuf"})
                    answer = conn.getresponse()
                    answer.read()
                    if answer.status == 200:
                        break
                    if answer.status != 503:
                        failures.append(f"HTTP {answer.status}")
                        return
                    time.sleep(float(answer.getheader("Retry-After", "1")))
            conn.close()

        threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if failures:
            raise SystemExit(f"OTLP requests failed: {failures[:3]}")
        while d.count() < total:
            time.sleep(0.02)
        return total / (time.perf_counter() - t)
    finally:
        d.stop()


def bench_sync_latency(lines: list[bytes], rate: float, seconds: float, folder: Path) -> list[float]:
    d = Daemon(folder / "latency")
    try:
        s = d.connect()
        buf = bytearray()
        period = 1.0 / rate
        n = int(rate * seconds)
        latencies = []
        start = time.perf_counter()
        for i in range(n):
            due = start + i * period
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            t = time.perf_counter()
            s.sendall(lines[i % len(lines)] + b'{"op":"sync"}\n')
            read_until_sync(s, buf)
            latencies.append((time.perf_counter() - t) * 1000)
        achieved = n / (time.perf_counter() - start)
        print(f"  (sync client achieved {achieved:,.0f} records/s)")
        s.close()
        return latencies
    finally:
        d.stop()


def bench_idle(seconds: float, folder: Path) -> tuple[float, float]:
    d = Daemon(folder / "idle")
    try:
        p = psutil.Process(d.proc.pid)
        time.sleep(3)  # let the start-up health sample finish
        before = p.cpu_times()
        t = time.monotonic()
        time.sleep(seconds)
        after = p.cpu_times()
        elapsed = time.monotonic() - t
        cpu = ((after.user - before.user) + (after.system - before.system)) / elapsed * 100
        rss = p.memory_info().rss / 2**20
        return cpu, rss
    finally:
        d.stop()


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=200_000, help="records for the ingest run")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--commit-each", type=int, default=3_000, help="records for the commit-per-record reference")
    ap.add_argument("--sync-rate", type=float, default=1000.0)
    ap.add_argument("--sync-seconds", type=float, default=5.0)
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    ap.add_argument("--otlp", action="store_true", help="also measure ingest over OTLP/HTTP")
    ap.add_argument("--otlp-batch", type=int, default=512, help="log records per OTLP request")
    ap.add_argument("--only-ingest", action="store_true",
                    help="measure only the ingest runs (socket, and OTLP with --otlp) and their references")
    args = ap.parse_args()

    raws = list(_data.records(args.records))
    for r in raws:
        r.pop("created_at", None)  # as apps send them: the daemon stamps the time
    lines = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in raws]
    rows = [normalize(r) for r in raws]
    print(f"collector benchmark: {args.records:,} records, {sum(map(len, lines)) / 2**20:.1f} MiB of JSON lines, "
          f"{args.clients} clients")

    with tempfile.TemporaryDirectory(prefix="bench-socket-") as tmp:
        folder = Path(tmp)
        bare = bench_bare(rows, folder)
        bare_ungrouped = bench_bare(rows, folder, group_upkeep=False)
        each = bench_commit_each(rows[: args.commit_each], folder)
        durable = bench_commit_each(rows[: args.commit_each], folder, "FULL")
        rate, _ = bench_socket(lines, args.clients, folder)
        rate_no_rules, _ = bench_socket(lines, args.clients, folder, RULES_OFF)
        otlp = bench_otlp(otlp_requests(raws, args.otlp_batch), len(raws), args.clients, folder) if args.otlp else 0.0
        print(f"bare executemany + group upkeep (one transaction):         {bare:>10,.0f} records/s")
        print(f"bare executemany without group upkeep (for comparison):    {bare_ungrouped:>10,.0f} records/s")
        print(f"commit per record (WAL, synchronous=NORMAL, as the store): {each:>10,.0f} records/s")
        print(f"commit per record (WAL, synchronous=FULL, an fsync each):  {durable:>10,.0f} records/s")
        print(f"socket, {args.clients} clients, committed, 7 alert rules:               {rate:>10,.0f} records/s")
        print(f"socket, {args.clients} clients, committed, every alert rule off:        {rate_no_rules:>10,.0f} records/s")
        print(f"  vs bare executemany + group upkeep: {rate / bare:5.2f}x (target >= 0.8x) {verdict(rate / bare >= 0.8)}")
        print(f"  vs bare executemany without group upkeep: {rate / bare_ungrouped:5.2f}x")
        print(f"  vs the same without alert rules: {rate / rate_no_rules:5.2f}x")
        print(f"  vs commit per record: {rate / each:5.1f}x (target >= 10x) {verdict(rate / each >= 10)}")
        print(f"  vs durable commit per record: {rate / durable:5.1f}x (target >= 10x) {verdict(rate / durable >= 10)}")
        if args.otlp:
            print(f"OTLP/HTTP protobuf, {args.clients} senders, {args.otlp_batch} per request, committed, "
                  f"7 alert rules: {otlp:>10,.0f} records/s")
            print(f"  vs the socket with the same rules: {otlp / rate:5.2f}x (target >= 0.5x) {verdict(otlp / rate >= 0.5)}")
        if args.only_ingest:
            return

        lat = bench_sync_latency(lines, args.sync_rate, args.sync_seconds, folder)
        lat.sort()
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"sync round trip at {args.sync_rate:,.0f} records/s: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"max {lat[-1]:.2f} ms (target p99 <= 50 ms) {verdict(p99 <= 50)}")

        cpu, rss = bench_idle(args.idle_seconds, folder)
        print(f"idle daemon over {args.idle_seconds:g} s: CPU {cpu:.2f} % (target <= 1 %) {verdict(cpu <= 1)}, "
              f"RSS {rss:.1f} MB (target <= 60 MB) {verdict(rss <= 60)}")


if __name__ == "__main__":
    main()
