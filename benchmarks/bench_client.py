"""The Python client against a raw socket writer, both into a real collector.

* reference: one connection writing pre-encoded JSON lines in chunks, then a
  sync (what a hand-written sender gets at best);
* measured: ``LogClient.activity(...)`` calls (encoding included) until
  ``flush()`` confirms the commit; also the cost of one call in the app's
  thread, which is what an application pays per record.

Records per run stay under the client's buffer (10,000 by default) unless
``--buffer`` is raised, so nothing is dropped and both runs store everything.

    .venv/bin/python benchmarks/bench_client.py                   # 9,000 records
    .venv/bin/python benchmarks/bench_client.py --records 50000 --buffer 60000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _daemon  # noqa: E402
from logconsole.client import LogClient  # noqa: E402


def fields(i: int) -> dict[str, object]:
    return {"message": f"request {i} served", "category": "course", "user_id": f"u{i % 100}",
            "endpoint": f"/api/courses/{i % 500}", "method": "GET", "status_code": 200, "duration_ms": i % 300}


def start_daemon(folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    sock = folder / "run" / "bench.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGCONSOLE_")}
    proc = _daemon.start(["--db", str(folder / "bench.db"), "--health-interval", "3600", "--retention-days", "0"],
                         sock=sock, log=None, env=env)
    return proc, sock


def raw(sock_path: Path, n: int) -> float:
    lines = [json.dumps({"type": "activity", **fields(i)}).encode() + b"\n" for i in range(n)]
    started = time.perf_counter()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(os.fspath(sock_path))
        for i in range(0, n, 1000):
            s.sendall(b"".join(lines[i:i + 1000]))
        s.sendall(b'{"op":"sync"}\n')
        reader = s.makefile("rb")
        for answer in reader:
            if json.loads(answer).get("op") == "sync":
                break
    return n / (time.perf_counter() - started)


def client(sock_path: Path, n: int, buffer: int) -> tuple[float, float]:
    with LogClient(sock_path, buffer_size=buffer) as c:
        started = time.perf_counter()
        for i in range(n):
            c.activity(**fields(i))
        calls = time.perf_counter() - started
        if not c.flush(timeout=600):
            raise SystemExit(f"flush failed: dropped {c.dropped}, {c.last_error}")
        elapsed = time.perf_counter() - started
    return n / elapsed, calls / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=9_000)
    parser.add_argument("--buffer", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, sock_path = start_daemon(Path(tmp))
        try:
            ref = raw(sock_path, args.records)
            got, per_call = client(sock_path, args.records, args.buffer)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    print(f"records: {args.records:,} on {os.cpu_count()} CPUs")
    print(f"reference (raw socket, one sync):  {ref:>10,.0f} records/s committed")
    print(f"LogClient (batches + syncs):       {got:>10,.0f} records/s committed   ratio {got / ref:.2f}x")
    print(f"one LogClient.activity() call:     {per_call:>10.1f} us in the app's thread")


if __name__ == "__main__":
    main()
