"""Alert rules and forwarding on PostgreSQL: run by the fleet's leader only,
on every host's records, up to the commit horizon; taken over by another
collector when the leader dies, from where it stopped."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import psycopg

from collector_support import Client, Collector, wait_for
from otlp_support import Receiver
from test_pg_collector import fetch, pg_collector

from logconsole.alert_rules import parse_rules
from logconsole.collectors.forward import public_endpoint
from logconsole.collectors.horizon import SharedHorizon
from logconsole.ingest import normalize
from logconsole.store.interface import Store, open_store
from logconsole.store.postgres import alerts as pg_alerts
from logconsole.store.postgres.store import PostgresStore
from logconsole.store.url import parse_store_url

HOOK = """\
import json, os, sys
alert = json.load(sys.stdin)
env = {k: v for k, v in os.environ.items() if k.startswith("LOGCONSOLE_ALERT_")}
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"alert": alert, "env": env}) + "\\n")
"""

RULES = """
[[alerts]]
name = "payments failing"
type = "error"
where = ["error_type=CardDeclined"]
trigger = "count >= 4 within 5m"
cooldown = 60
command = {hook}

[[alerts]]
name = "regression"
command = {hook}
cooldown = 0
"""


def setup(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    fired = tmp_path / "fired.jsonl"
    config = tmp_path / "config.toml"
    argv = json.dumps([sys.executable, str(hook), str(fired)])
    config.write_text("[health]\nwarning = 100\ncritical = 100\n\n" + extra + RULES.replace("{hook}", argv))
    return config, fired


def firings(path: Path, rule: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [h for h in map(json.loads, path.read_text().splitlines()) if h["alert"]["rule"] == rule]


def send(c: Collector, *records: dict[str, Any]) -> None:
    with Client(c.sock) as client:
        client.send_records(*records)
        answer, _ = client.sync()
        assert answer["ok"], answer


def leader_of(*collectors: Collector) -> Collector:
    def one() -> list[Collector]:
        return [c for c in collectors if "now runs the fleet's retention" in c.output()]

    [leader] = wait_for(one, 10, "a leader")
    return leader


def resolve(url: str, gid: int) -> None:
    store = open_store(url)
    try:
        assert store.resolve_group(gid, note="bigger pool", by="ana") is not None
    finally:
        store.close()


def stop_all(*collectors: Collector) -> None:
    for c in collectors:
        if c.proc is not None and c.proc.poll() is None:
            assert c.stop() == 0, c.output()


def test_rules_fire_once_for_the_fleet_on_every_hosts_records_and_another_leader_takes_over(
        tmp_path: Path, pg_url: str) -> None:
    config, fired = setup(tmp_path)
    web1 = pg_collector(tmp_path, pg_url, "web-1", "--config", str(config)).start()
    web2 = pg_collector(tmp_path, pg_url, "web-2", "--config", str(config)).start()
    try:
        leader = leader_of(web1, web2)
        declined = {"type": "error", "message": "card declined", "errorType": "CardDeclined"}
        send(web1, declined, declined)
        send(web2, declined)
        time.sleep(0.8)  # evaluated by now: three matches, below the threshold
        assert firings(fired, "payments failing") == []
        send(web2, declined)
        [hit] = wait_for(lambda: firings(fired, "payments failing"), 10, "the count rule")
        assert hit["alert"]["count"] == 4
        time.sleep(1.0)  # a second evaluator (the other host) would have fired by now
        assert len(firings(fired, "payments failing")) == 1

        # A group resolved after host A's error regresses with host B's.
        send(web1, {"type": "error", "message": "pool exhausted after 30 s", "errorType": "PoolError"})
        [(gid,)] = fetch(pg_url, "SELECT group_id FROM records WHERE error_type = 'PoolError'")
        resolve(pg_url, gid)
        time.sleep(0.01)
        send(web2, {"type": "error", "message": "pool exhausted after 31 s", "errorType": "PoolError"})
        [hit] = wait_for(lambda: firings(fired, "regression"), 10, "the regression rule")
        assert hit["alert"]["group_id"] == gid and hit["alert"]["record"]["host"] == "web-2"
        stored = fetch(pg_url, "SELECT host, extra FROM records WHERE type = 'system' AND event_type = 'alert' "
                               "AND message LIKE 'alert regression:%%'")
        assert [h for h, _ in stored] == [leader.extra[1]]

        # The leader dies: the other one evaluates from where it stopped.
        other = web2 if leader is web1 else web1
        leader.stop(signal.SIGKILL)
        wait_for(lambda: "now runs the fleet's retention" in other.output(), 10, "the other collector to lead")
        resolve(pg_url, gid)
        time.sleep(0.01)
        send(other, {"type": "error", "message": "pool exhausted after 32 s", "errorType": "PoolError"})
        wait_for(lambda: len(firings(fired, "regression")) == 2, 10, "the regression after the takeover")
        # The count rule's cool-down (60 s from its firing) holds on the new leader too.
        send(other, *([declined] * 4))
        time.sleep(1.0)
        assert len(firings(fired, "regression")) == 2
        assert len(firings(fired, "payments failing")) == 1  # its records were not evaluated again
    finally:
        stop_all(web1, web2)


def test_the_new_leader_forwards_every_record_committed_before_the_old_one_died(
        tmp_path: Path, pg_url: str) -> None:
    receiver = Receiver().start()
    try:
        config = tmp_path / "config.toml"
        config.write_text("[health]\nwarning = 100\ncritical = 100\n\n[forward]\n"
                          f"endpoint = {json.dumps(receiver.endpoint)}\nmax_delay = 0.2\npoll = 0.2\ntimeout = 2\n"
                          'from = "start"\n')
        web1 = pg_collector(tmp_path, pg_url, "web-1", "--config", str(config)).start()
        web2 = pg_collector(tmp_path, pg_url, "web-2", "--config", str(config)).start()
        try:
            leader = leader_of(web1, web2)
            other = web2 if leader is web1 else web1
            for n in range(3):
                send(web1, *({"type": "chat", "message": f"web-1 {n}.{i}"} for i in range(20)))
                send(web2, *({"type": "chat", "message": f"web-2 {n}.{i}"} for i in range(20)))
            stored = {i for (i,) in fetch(pg_url, "SELECT id FROM records")}
            receiver.wait_for_ids(stored)
            receiver.answer_with(status=503)
            send(web1, *({"type": "chat", "message": f"held {i}"} for i in range(30)))
            send(web2, *({"type": "chat", "message": f"held {i}"} for i in range(30)))
            time.sleep(0.5)
            leader.stop(signal.SIGKILL)
            receiver.answer_normally()
            wait_for(lambda: "now runs the fleet's retention" in other.output(), 10, "the other collector to lead")
            send(other, {"type": "chat", "message": "after the takeover"})
            stored = {i for (i,) in fetch(pg_url, "SELECT id FROM records")}
            receiver.wait_for_ids(stored)
            assert receiver.duplicates() == 0  # the held records were never acknowledged; none went twice
            hosts = {r.resource.get("host.name") for r in receiver.records}
            assert {"web-1", "web-2"} <= hosts
            [(cursor,)] = fetch(pg_url, "SELECT value FROM meta WHERE key = 'forward.cursor'")
            assert int(cursor) == max(stored)
        finally:
            stop_all(web1, web2)
    finally:
        receiver.stop()
    assert public_endpoint(receiver.endpoint) in json.loads(
        fetch(pg_url, "SELECT value FROM meta WHERE key = 'forward.state'")[0][0])["endpoint"]


def test_a_batch_committed_after_a_later_numbered_one_is_not_passed_over(pg_url: str) -> None:
    """Three connections: ``hold`` locks an error group, so writer A, having taken
    its id, waits inside its batch; writer B commits a later id meanwhile.  The
    leader's read up to the horizon waits for A instead of passing over its id."""
    location = parse_store_url(pg_url)
    a, b, leader = (PostgresStore.open(location) for _ in range(3))
    error = normalize({"type": "error", "message": "disk full", "errorType": "IOError"}, host="web-1")
    a.writer().commit([error])
    cursor = pg_alerts.horizon(leader.conn)
    seen = {r["id"] for r in leader.records_between(0, cursor, 1000)}
    hold = psycopg.connect(pg_url, autocommit=False)
    try:
        hold.execute("SELECT * FROM error_groups FOR UPDATE")
        writer_a = a.writer()
        done_a = threading.Thread(target=writer_a.commit, args=([dict(error)],))
        done_a.start()
        wait_for(lambda: fetch(pg_url, "SELECT last_value FROM records_id_seq")[0][0] > cursor, 5,
                 "writer A to take its id")
        b.writer().commit([normalize({"type": "chat", "message": "later"}, host="web-2")])
        [(later,)] = fetch(pg_url, "SELECT max(id) FROM records")

        read: list[int] = []

        def lead() -> None:
            upto = pg_alerts.horizon(leader.conn)
            read.extend(r["id"] for r in leader.records_between(cursor, upto, 1000))

        reading = threading.Thread(target=lead)
        reading.start()
        reading.join(0.5)
        assert reading.is_alive(), "the horizon passed a batch still in flight"
        hold.rollback()
        done_a.join(5)
        reading.join(5)
        assert not reading.is_alive()
    finally:
        hold.close()
    seen.update(read)
    stored = {i for (i,) in fetch(pg_url, "SELECT id FROM records")}
    assert later in seen and seen == stored
    assert writer_a.ids[0] < later
    for s in (a, b, leader):
        s.close()


def test_group_events_are_stored_with_the_batch_and_trimmed(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        ids = store.insert([normalize({"type": "error", "message": "boom", "errorType": "E"}, host="h")])
        events = store.group_events(0, ids[-1])  # type: ignore[attr-defined]
        assert [(e.kind, e.record_id) for e in events] == [("new_group", ids[0])]
        store.trim_group_events(ids[-1])  # type: ignore[attr-defined]
        assert store.group_events(0, ids[-1]) == []  # type: ignore[attr-defined]
    finally:
        store.close()


def test_the_alert_reads_mean_the_same_on_both_stores(store: Store) -> None:
    """The reads of :class:`~logconsole.collectors.alerts.StoreEvaluator`, a rule's
    filter (a search and a condition) compiled by each store."""
    ids = store.insert([normalize({"type": "error", "message": f"timeout {i}", "errorType": "X" if i % 2 else "Y"},
                                  host="h") for i in range(6)])
    store.insert([normalize({"type": "chat", "message": "timeout"}, host="h")])
    [rule] = [r for r in parse_rules(tomllib.loads(
        '[[alerts]]\nname = "t"\ntype = "error"\nsearch = "timeout"\nwhere = ["error_type=X"]\ntrigger = "any"\n'))
        if r.name == "t"]
    assert store.alert_count_in_range(rule.flt, ids[0], ids[-1] + 1) == (3, ids[5])
    assert store.alert_count_in_range(rule.flt, ids[2], ids[4]) == (1, ids[3])
    assert store.alert_matching_ids(rule.flt, [ids[0], ids[1], ids[5], ids[-1] + 1]) == {ids[1], ids[5]}
    assert store.alert_matching_ids(rule.flt, []) == set()


def test_the_horizon_is_looked_at_once_per_interval_and_a_batch_stuck_in_flight_holds_no_one_long(
        pg_url: str) -> None:
    location = parse_store_url(pg_url)
    a, b = PostgresStore.open(location), PostgresStore.open(location)
    error = normalize({"type": "error", "message": "disk full", "errorType": "IOError"}, host="web-1")
    [first] = a.insert([error])
    now = [0.0]
    horizon = SharedHorizon(location, 1.0, lock_timeout=0.2, backoff=5.0, clock=lambda: now[0])
    hold = psycopg.connect(pg_url, autocommit=False)
    try:
        assert horizon.get() == first
        b.insert([normalize({"type": "chat", "message": "later"}, host="web-2")])
        assert horizon.get() == first and horizon.looks == 1  # within the interval: the value held
        now[0] = 1.0
        hold.execute("SELECT * FROM error_groups FOR UPDATE")
        stuck = threading.Thread(target=a.insert, args=([dict(error)],))
        stuck.start()
        wait_for(lambda: fetch(pg_url, "SELECT last_value FROM records_id_seq")[0][0] > first + 1, 5,
                 "writer A to take its id")
        started = time.monotonic()
        assert horizon.get() == first  # gave up on the batch in flight: the last horizon holds
        assert horizon.gave_up == 1 and time.monotonic() - started < 2
        started = time.monotonic()
        [later] = b.insert([normalize({"type": "chat", "message": "not held"}, host="web-2")])
        assert time.monotonic() - started < 0.15  # the look let go: writers are not queued behind it
        hold.rollback()
        stuck.join(5)
        now[0] = 5.9
        assert horizon.get() == first and horizon.gave_up == 1  # backing off: no new look yet
        now[0] = 6.0
        assert horizon.get() == later and horizon.looks == 2
    finally:
        hold.close()
        horizon.close()
        a.close()
        b.close()


def test_the_guide_gives_the_figures_the_leader_uses() -> None:
    from logconsole.collectors.alerts import ALERTS_CURSOR_KEY, CHUNK
    from logconsole.collectors.horizon import BACKOFF, HORIZON_INTERVAL, LOCK_TIMEOUT

    guide = " ".join((Path(__file__).parents[1] / "docs" / "postgresql.md").read_text().split())
    assert HORIZON_INTERVAL == 0.5 and "about every half second the leader takes that lock" in guide
    assert f"the look waits at most {LOCK_TIMEOUT:g} second" in guide
    assert f"looks again {BACKOFF:g} seconds later" in guide
    assert f"(`meta` key `{ALERTS_CURSOR_KEY}`) up to the horizon, {CHUNK:,} at a time" in guide
