"""Forwarding benchmark: OTLP forwarding rate, and what forwarding costs ingest.

Each figure is printed next to a reference measured in the same run:

* encoding alone: stored rows read in batches of 1,000, turned into records,
  encoded as an ``ExportLogsServiceRequest`` and gzipped, as the forwarder
  does, with nothing sent: the forwarder's ceiling on this machine;
* forwarding: the forwarder (``from = "start"``) sends the same stored records
  to a loopback OTLP/HTTP receiver (another process, answering 200 to each
  request), until its cursor reaches the last id; the ratio to encoding
  alone is what HTTP, the cursor writes and the receiver cost;
* ingest with forwarding on vs off: ``--clients`` connections send the
  records to a real ``logconsole daemon`` and finish with a sync
  (:mod:`bench_socket`), once with ``[forward]`` pointing at the receiver and
  once without; then how long the forwarder takes to drain what is left.
  Forwarding must not slow ingest much (the ratio).

    .venv/bin/python benchmarks/bench_forward.py                   # 50,000 records
    .venv/bin/python benchmarks/bench_forward.py --records 20000
"""

from __future__ import annotations

import argparse
import gzip
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data  # noqa: E402
import bench_socket  # noqa: E402

from logconsole.collectors.forward import COMPRESS_LEVEL, Forwarder  # noqa: E402
from logconsole.config import ForwardSettings  # noqa: E402
from logconsole.ingest import normalize  # noqa: E402
from logconsole.otlp.outbound import export_request  # noqa: E402
from logconsole.store import forward_state  # noqa: E402
from logconsole.store.db import connect  # noqa: E402
from logconsole.store.query import dict_rows, to_record  # noqa: E402
from logconsole.store.writer import BatchWriter  # noqa: E402

BATCH = 1000

RECEIVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def fill(db: Path, rows: list[dict]) -> int:
    conn = connect(db)
    writer = BatchWriter(conn)
    for i in range(0, len(rows), 5000):
        writer.commit(rows[i:i + 5000], [])
    last = conn.execute("SELECT max(id) FROM records").fetchone()[0]
    conn.close()
    return int(last)


def bench_encode(db: Path) -> float:
    conn = connect(db)
    t = time.perf_counter()
    cursor, n = 0, 0
    while True:
        rows = [to_record(r) for r in dict_rows(conn.execute(
            "SELECT * FROM records WHERE id > ? ORDER BY id LIMIT ?", (cursor, BATCH)))]
        if not rows:
            break
        gzip.compress(export_request(rows).SerializeToString(), COMPRESS_LEVEL)
        cursor, n = rows[-1]["id"], n + len(rows)
    rate = n / (time.perf_counter() - t)
    conn.close()
    return rate


def cursor_of(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (forward_state.CURSOR_KEY,)).fetchone()
        return int(row[0]) if row else -1
    finally:
        conn.close()


def wait_cursor(db: Path, last: int, timeout: float = 600) -> float:
    t = time.perf_counter()
    while cursor_of(db) < last:
        if time.perf_counter() - t > timeout:
            raise SystemExit(f"the forwarder did not reach record {last} in {timeout:g} s")
        time.sleep(0.02)
    return time.perf_counter() - t


def bench_forward(db: Path, last: int, endpoint: str) -> float:
    f = Forwarder(db, ForwardSettings(endpoint, batch=BATCH, start="start", poll=0.05))
    t = time.perf_counter()
    f.start()
    try:
        wait_cursor(db, last)
    finally:
        f.close()
    return last / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()

    raws = list(_data.records(args.records))
    for r in raws:
        r.pop("created_at", None)
    rows = [normalize(r) for r in raws]
    lines = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in raws]
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        endpoint = f"http://127.0.0.1:{receiver.stdout.readline().strip()}/v1/logs"
        print(f"forwarding benchmark: {args.records:,} records, batches of {BATCH}, receiver at {endpoint}")
        with tempfile.TemporaryDirectory(prefix="bench-forward-") as tmp:
            folder = Path(tmp)
            db = folder / "stored.db"
            last = fill(db, rows)
            encode = bench_encode(db)
            forward = bench_forward(db, last, endpoint)
            print(f"encoding alone (read, encode, gzip):            {encode:>10,.0f} records/s")
            print(f"forwarding to the loopback receiver:            {forward:>10,.0f} records/s "
                  f"({forward / encode:.2f}x encoding alone)")

            off, _ = bench_socket.bench_socket(lines, args.clients, folder / "off", "")
            on_folder = folder / "on"
            config = f'[forward]\nendpoint = "{endpoint}"\nfrom = "start"\n'
            d = bench_socket.Daemon(on_folder, config)
            try:
                shares = [b"".join(lines[i::args.clients]) for i in range(args.clients)]
                socks = [d.connect() for _ in range(args.clients)]
                import threading

                def work(i: int) -> None:
                    socks[i].sendall(shares[i] + b'{"op":"sync"}\n')
                    bench_socket.read_until_sync(socks[i], bytearray())

                threads = [threading.Thread(target=work, args=(i,)) for i in range(args.clients)]
                t = time.perf_counter()
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                on = len(lines) / (time.perf_counter() - t)
                for s in socks:
                    s.close()
                last_on = sqlite3.connect(f"file:{d.db}?mode=ro", uri=True).execute(
                    "SELECT max(id) FROM records").fetchone()[0]
                left = last_on - max(cursor_of(d.db), 0)
                drain = wait_cursor(d.db, last_on)
            finally:
                d.stop()
            print(f"socket ingest, {args.clients} clients, forwarding off:      {off:>10,.0f} records/s")
            print(f"socket ingest, {args.clients} clients, forwarding on:       {on:>10,.0f} records/s "
                  f"({on / off:.2f}x off)")
            print(f"  when ingest finished, {left:,} records were still to forward; drained in {drain:.1f} s")
    finally:
        receiver.terminate()
        receiver.wait(10)


if __name__ == "__main__":
    main()
