"""``logconsole daemon``: wires the collectors to the writer and runs them.

* one instance: an ``fcntl`` lock next to the socket (``SOCKET.lock``) and one
  next to the database (``DB.lock``); a second daemon on either exits non-zero
  saying which pid holds it.  A socket file left by a killed daemon is removed
  once the lock is ours.  A socket file (or its folder, or the lock file) removed
  while the daemon runs is put back within ``socket_check_interval`` seconds;
* the socket is created mode 0600 (``--socket-mode``, ``--socket-group`` to
  share) inside a folder only its owner can enter (created 0700 when missing);
* SIGTERM and SIGINT: stop accepting, take what clients already sent, commit,
  exit 0; when the database still refuses writes, write what is held to a spill
  file (:mod:`logconsole.collectors.spill`) and exit 1 saying how many and where;
* at start, before accepting connections, a spill file left by an earlier
  stop is committed (and removed);
* before anything is accepted, a quick check of the database
  (``PRAGMA quick_check``, at most ``check_seconds``): on a damaged file the
  daemon exits non-zero pointing at ``logconsole doctor``, having acknowledged
  nothing; when the time runs out (a large file) it says so and starts;
* with ``[forward]``, every committed record goes on to an OTLP endpoint
  (:mod:`logconsole.collectors.forward`, a thread of its own);
* ``--otlp HOST:PORT`` (or ``[otlp] listen``): OpenTelemetry logs over HTTP
  (:mod:`logconsole.collectors.otlp`); an address beyond loopback needs
  ``[otlp] token``, and an address in use stops the start with one line;
* background tasks: the health sampler (at start, then every
  ``health_interval`` seconds), the file tailer (``--watch``), retention
  (at start, then daily; see :mod:`logconsole.store.retention`) and giving the
  write-ahead log's space back once no record has come for ``idle_checkpoint``
  seconds (a ``TRUNCATE`` checkpoint on a connection of its own, so it never
  waits on the writer thread).

On PostgreSQL (``--db postgresql://...``) several collectors, one per host,
share one database: there is no lock beside a database file (the socket's
lock stays), no quick check and no write-ahead log to give back; a spill goes
beside the socket and is replayed into the database; retention runs on one
collector of the fleet at a time, the one holding the fleet's advisory lock
(:mod:`logconsole.store.postgres.lease`), which another takes over when its
holder dies.  The leader also runs the alert rules and forwarding for the
whole fleet, reading every host's records up to the commit horizon
(:mod:`logconsole.store.postgres.alerts`), so each record is evaluated and
forwarded once, never passed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import grp
import logging
import os
import resource
import signal
import socket
import sqlite3
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logconsole.alert_rules import Rule
from logconsole.collectors.alerts import AlertEngine, FleetAlertEngine
from logconsole.collectors.horizon import HORIZON_INTERVAL, SharedHorizon
from logconsole.collectors.pipeline import Pipeline, WriterTimings
from logconsole.collectors.spill import find_spills, read_spill, spill_path_for
from logconsole.collectors.socket import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, SocketServer
from logconsole.config import Settings
from logconsole.ingest import IngestError, Redactor
from logconsole.store import retention
from logconsole.store.db import QUICK_CHECK_SECONDS, StoreError, check_before_writing, connect, file_size
from logconsole.store.errors import describe
from logconsole.store.groups import GroupEvent
from logconsole.store.url import StoreURL
from logconsole.store.wal import checkpoint, wal_size

if TYPE_CHECKING:
    from logconsole.collectors.forward import Forwarder
    from logconsole.collectors.otlp import OtlpServer

log = logging.getLogger("logconsole.daemon")

RETENTION_PERIOD = 24 * 3600.0
STOP_GRACE = 10.0
STORE_TIMEOUT = 30.0
"""Seconds the forwarder waits for the writer to commit its cursor before trying again."""
LEASE_INTERVAL = 15.0
"""On PostgreSQL: seconds between two checks of the fleet's leadership (docs/postgresql.md)."""
IDLE_CHECKPOINT = 5.0
"""Seconds without a commit after which the write-ahead log is truncated."""


class DaemonError(RuntimeError):
    """The daemon cannot start; the message says why (shown without a traceback)."""


@dataclass(slots=True)
class DaemonOptions:
    """Everything the daemon needs, resolved from flags, config and defaults."""

    db_path: Path | StoreURL
    """The database file, or a PostgreSQL database shared with other hosts' collectors."""
    socket_path: Path
    settings: Settings = field(default_factory=Settings)
    socket_mode: int = 0o600
    socket_group: str = ""
    health_interval: float = 300.0
    watch: tuple[str, ...] = ()
    watch_type: str = "activity"
    retention_days: float = 90.0
    max_record_bytes: int = 1 << 20
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    timings: WriterTimings = field(default_factory=WriterTimings)
    check_seconds: float = QUICK_CHECK_SECONDS
    """Time allowed for the start-up quick check (0: no check)."""
    idle_checkpoint: float = IDLE_CHECKPOINT
    """Seconds without a commit before the log is truncated (0: never)."""
    socket_check_interval: float = 1.0
    """How often the daemon checks that its socket file is still there."""
    alert_rules: tuple[Rule, ...] = ()
    otlp_listen: str = ""
    """``HOST:PORT`` of the OTLP/HTTP door ("" : none)."""
    otlp_token: str = ""
    otlp_max_request_bytes: int = 20 << 20
    host: str = ""
    """The host name stamped on records that name none ("" : this machine's)."""
    lease_interval: float = LEASE_INTERVAL
    """On PostgreSQL: seconds between two checks of the fleet's leadership."""
    horizon_interval: float = HORIZON_INTERVAL
    """On PostgreSQL: seconds between two looks at the commit horizon by the
    fleet's leader (alert rules, forwarding)."""


# -- single instance ----------------------------------------------------------


def lock_path_for(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


class InstanceLock:
    """An exclusive ``flock`` on ``PATH.lock``, holding the owner's pid."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise DaemonError(f"cannot create lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                os.close(fd)
                raise DaemonError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DaemonError(
                f"another collector is already running on {self.what} (pid {holder}); "
                "stop it first or choose another --socket/--db"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# -- the socket file ----------------------------------------------------------


def prepare_socket_dir(path: Path, group_id: int | None) -> None:
    """Create the socket's folder so only its owner (and ``group_id``) can enter it."""
    folder = path.parent
    if folder.exists():
        st = folder.stat()
        sticky = bool(st.st_mode & stat.S_ISVTX)
        if not sticky and st.st_uid != os.getuid():
            raise DaemonError(f"{folder} belongs to another user; choose another --socket")
        if not sticky and st.st_mode & 0o022:
            raise DaemonError(f"{folder} can be written by others, who could replace the socket; "
                              "make it private (chmod 700) or choose another --socket")
        if st.st_mode & 0o007 and not sticky:
            log.warning("%s can be entered by anyone; the socket's own mode still applies", folder)
        return
    try:
        folder.mkdir(parents=True, mode=0o700)
        if group_id is not None:
            os.chown(folder, -1, group_id)
            os.chmod(folder, 0o750)
        else:
            os.chmod(folder, 0o700)
    except OSError as exc:
        raise DaemonError(f"cannot create socket folder {folder}: {exc.strerror or exc}") from None


def bind_socket(path: Path, mode: int, group: str) -> socket.socket:
    """A listening Unix stream socket at ``path`` with ``mode`` (and ``group``).

    Call with the instance lock held (an existing socket file is then stale) and
    the folder prepared by :func:`prepare_socket_dir`.
    """
    group_id = _gid(group) if group else None
    try:
        st = path.lstat()
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise DaemonError(f"{path} exists and is not a socket; remove it or choose another --socket")
        log.info("removing stale socket %s", path)
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise DaemonError(f"cannot listen on {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old_umask)
    try:
        if group_id is not None:
            os.chown(path, -1, group_id)
        os.chmod(path, mode)
    except OSError as exc:
        sock.close()
        path.unlink(missing_ok=True)
        raise DaemonError(f"cannot set mode/group of {path}: {exc.strerror or exc}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def raise_fd_limit() -> int:
    """Raise the open-file limit to the hard limit; returns connections to allow."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    want = min(want, 65536)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return max(16, soft - 64)


# -- the daemon ----------------------------------------------------------------


class Daemon:
    """The running collector: locks, socket, pipeline and background tasks."""

    def __init__(self, opts: DaemonOptions) -> None:
        self.opts = opts
        self.stop_event: asyncio.Event | None = None
        self.pipeline: Pipeline | None = None
        self.server: SocketServer | None = None
        self._socket_lock: InstanceLock | None = None
        self.alerts: AlertEngine | None = None
        self.forwarder: Forwarder | None = None
        self.horizon: SharedHorizon | None = None
        """On PostgreSQL: the leader's look at the commit horizon (alert rules, forwarding)."""
        self.otlp: OtlpServer | None = None

    @contextlib.contextmanager
    def _locks(self) -> Iterator[None]:
        opts = self.opts
        # The folder is checked (or created private) before the lock file goes into it.
        prepare_socket_dir(opts.socket_path, _gid(opts.socket_group) if opts.socket_group else None)
        locks = [InstanceLock(lock_path_for(opts.socket_path), f"socket {opts.socket_path}")]
        if isinstance(opts.db_path, Path):  # a PostgreSQL database is shared by design
            try:
                opts.db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise DaemonError(f"cannot create database folder {opts.db_path.parent}: {exc.strerror or exc}") from None
            locks.append(InstanceLock(lock_path_for(opts.db_path), f"database {opts.db_path}"))
        self._socket_lock = locks[0]
        taken: list[InstanceLock] = []
        try:
            for lock in locks:
                lock.acquire()
                taken.append(lock)
            yield
        finally:
            for lock in reversed(taken):
                lock.release()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code (1 when records could
        not be committed: they were spilled, or lost when even that failed)."""
        self._check_otlp()
        with self._locks():
            self._check_database()
            return asyncio.run(self._serve())

    def spill_places(self) -> tuple[Path, ...]:
        """Where a spill goes: beside the database, else (its disk may be the full
        one) beside the socket; only beside the socket for PostgreSQL."""
        if not isinstance(self.opts.db_path, Path):
            return (spill_path_for(self.opts.socket_path),)
        return spill_path_for(self.opts.db_path), spill_path_for(self.opts.socket_path)

    def _check_otlp(self) -> None:
        """Refuse an OTLP address that cannot be (bad syntax, beyond loopback
        without a token) before anything else starts."""
        if not self.opts.otlp_listen:
            return
        from logconsole.collectors.otlp import OtlpError, check_access, parse_listen

        try:
            check_access(parse_listen(self.opts.otlp_listen), self.opts.otlp_token)
        except ValueError as exc:
            raise DaemonError(f"the OTLP address: {exc}") from None
        except OtlpError as exc:
            raise DaemonError(str(exc)) from None
        source = self.opts.settings.source
        if self.opts.otlp_token and source is not None:
            with contextlib.suppress(OSError):
                if source.stat().st_mode & 0o077:
                    log.warning("%s holds the OTLP token and others may read it: chmod 600 %s", source, source)

    async def _start_otlp(self, pipeline: Pipeline) -> OtlpServer | None:
        opts = self.opts
        if not opts.otlp_listen:
            return None
        from logconsole.collectors.otlp import OtlpError, OtlpServer, parse_listen

        try:
            server = OtlpServer(pipeline, parse_listen(opts.otlp_listen), token=opts.otlp_token,
                                max_request_bytes=opts.otlp_max_request_bytes, stop_grace=STOP_GRACE)
            await server.start()
        except OtlpError as exc:
            raise DaemonError(f"{exc}; the collector did not start") from None
        self.otlp = server
        return server

    def _check_database(self) -> None:
        """Refuse a damaged database before a single record is acknowledged into it."""
        seconds = self.opts.check_seconds
        path = self.opts.db_path
        if seconds <= 0 or not isinstance(path, Path):  # the server looks after its own files
            return
        try:
            # Backfills are the pump's, between batches (:mod:`.pipeline`).
            conn = connect(path, group_readable=self.opts.settings.group_readable, backfills=False)
            try:
                result = check_before_writing(conn, path, seconds)
            finally:
                conn.close()
        except StoreError as exc:
            raise DaemonError(f"{exc}; the collector did not start") from None
        if not result.complete:
            log.warning("the quick check of %s did not finish in %g s and was skipped; "
                        "`logconsole doctor` checks it in full", path, seconds)

    def stats(self) -> dict[str, Any]:
        """The daemon's own figures, for health records."""
        p = self.pipeline
        if p is None:
            return {}
        c = p.counters
        return {
            "records_per_s": p.records_per_s(),
            "queue_depth": p.queue_depth,
            "rejected": c.rejected,
            "dropped": c.dropped,
            "answers_dropped": c.answers_dropped,
            **({"db_size_bytes": file_size(self.opts.db_path)} if isinstance(self.opts.db_path, Path) else {}),
            "connections": c.connections,
            "write_error": p.condition,
            **({"alerts_dropped": self.alerts.counters.dropped, "alert_failures": self.alerts.counters.failures}
               if self.alerts is not None else {}),
            **({"otlp_requests": self.otlp.counters.requests, "otlp_records": self.otlp.counters.records,
                "otlp_rejected": self.otlp.counters.rejected, "otlp_refused": self.otlp.counters.refused,
                "otlp_bad_requests": self.otlp.counters.bad_requests}
               if self.otlp is not None else {}),
        }

    async def _serve(self) -> int:
        opts = self.opts
        loop = asyncio.get_running_loop()
        stop = self.stop_event = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        max_connections = min(raise_fd_limit(), DEFAULT_MAX_CONNECTIONS)
        pipeline = self.pipeline = Pipeline(
            opts.db_path, redactor=Redactor(opts.settings.secret_words),
            group_readable=opts.settings.group_readable,
            timings=opts.timings, spill_places=self.spill_places(), host=opts.host or None,
        )
        try:
            await pipeline.start()
        except StoreError as exc:
            raise DaemonError(str(exc)) from None
        alerts: AlertEngine | None
        if isinstance(opts.db_path, Path):
            alerts = self.alerts = AlertEngine(opts.db_path, opts.alert_rules, store=pipeline.put_raw)
            pipeline.on_commit = alerts.offer
        else:
            self.horizon = SharedHorizon(opts.db_path, opts.horizon_interval)
            alerts = self.alerts = FleetAlertEngine(opts.db_path, opts.alert_rules, store=pipeline.put_raw,
                                                    horizon=self.horizon)
        alerts.start()
        forwarder = self.forwarder = self._start_forwarder()
        sock = None
        otlp = None
        try:
            left = await self._replay_spills(stop)
            if left:
                print(f"{left} spilled records were not replayed ({pipeline.condition or 'stopped'}); "
                      "they stay in the spill file for the next start", file=sys.stderr)
                return 1
            sock = bind_socket(opts.socket_path, opts.socket_mode, opts.socket_group)
            otlp = await self._start_otlp(pipeline)
            server = self.server = SocketServer(
                pipeline, max_record_bytes=opts.max_record_bytes,
                idle_timeout=opts.idle_timeout, max_connections=max_connections,
            )
            await server.start(sock)
            log.info("collector listening on %s, storing in %s (pid %d)",
                     opts.socket_path, opts.db_path, os.getpid())
            if otlp is not None:
                log.info("OTLP/HTTP logs accepted at %s", otlp.url)
            background = [
                asyncio.create_task(self._health_loop(), name="health"),
                asyncio.create_task(self._retention_loop(), name="retention"),
                asyncio.create_task(self._wal_loop(), name="wal"),
                asyncio.create_task(self._keep_socket_file(server, _identity(opts.socket_path)), name="socket-file"),
            ]
            tailer = self._start_tailer()
            await stop.wait()
            log.info("stopping: finishing what clients sent")
            pipeline.open_floodgates()
            await asyncio.gather(server.stop(STOP_GRACE), *([otlp.stop()] if otlp is not None else []))
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if tailer is not None:
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(tailer, STOP_GRACE)
        finally:
            if forwarder is not None:
                await asyncio.to_thread(forwarder.close)
            if otlp is not None:
                await otlp.stop()
            if alerts is not None:
                await alerts.close()
            await pipeline.close()
            if sock is not None:
                sock.close()
                with contextlib.suppress(OSError):
                    opts.socket_path.unlink()
        c = pipeline.counters
        log.info("stopped: %d records stored, %d rejected, %d dropped, %d answers not read",
                 c.committed, c.rejected, c.dropped, c.answers_dropped)
        if c.spilled:
            print(f"{c.spilled} records could not be stored and were written to {pipeline.spill_path} "
                  f"({pipeline.condition}); the next start stores them", file=sys.stderr)
            return 1
        if c.lost:
            print(f"{c.lost} records could not be stored ({pipeline.condition}) and no spill file "
                  f"could be written ({pipeline.spill_error}): they are lost", file=sys.stderr)
            return 1
        return 0

    async def _replay_spills(self, stop: asyncio.Event) -> int:
        """Commit the spill files an earlier stop left; the records still waiting
        in them when a stop is asked for first (0 when all were stored).

        A spill found beside the socket is replayed only when it names this
        database; an unreadable one is reported and left in place.
        """
        assert self.pipeline is not None
        pipeline = self.pipeline
        location = self.opts.db_path
        db = location.resolve() if isinstance(location, Path) else None
        for path in find_spills(self.spill_places()):
            try:
                spill = await asyncio.to_thread(read_spill, path)
            except (OSError, ValueError) as exc:
                log.error("cannot replay %s: %s; it is left in place", path, exc)
                continue
            if db is None and spill.db != str(location):
                log.warning("%s holds records for %s, not %s; it is left in place", path, spill.db, location)
                continue
            if db is not None and path.parent.resolve() != db.parent and Path(spill.db).resolve() != db:
                log.warning("%s holds records for %s, not %s; it is left in place", path, spill.db, db)
                continue
            if spill.expected > len(spill.rows):
                log.warning("%s announced %d records and holds %d (it was cut short)",
                            path, spill.expected, len(spill.rows))
            replay = asyncio.create_task(pipeline.replay(spill))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({replay, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not replay.done():
                pipeline.request_stop()
            stopper.cancel()
            try:
                replayed = await replay
            except Exception as exc:
                if db is not None and not isinstance(exc, (sqlite3.Error, OSError)):
                    raise
                reason = describe(exc) if isinstance(exc, sqlite3.Error) else str(exc)
                log.error("cannot replay %s: %s; it is left in place", path, reason)
                continue
            if not replayed:
                return len(spill.rows)
        return 0

    async def _keep_socket_file(self, server: SocketServer, ours: tuple[int, int] | None) -> None:
        """Put the socket file back when it disappears (a cleaner of ``/tmp`` or of the
        runtime folder): clients find the daemon again, and the lock still keeps a
        second daemon out.  ``ours`` is the socket file as bound."""
        path = self.opts.socket_path
        failed = ""
        while True:
            await asyncio.sleep(self.opts.socket_check_interval)
            if _identity(path) == ours:
                continue
            try:
                sock = self._rebind()
            except DaemonError as exc:
                if str(exc) != failed:
                    log.error("socket file %s is gone and cannot be re-created: %s", path, exc)
                failed = str(exc)
                continue
            server.serve_on(sock)
            ours = _identity(path)
            failed = ""
            log.warning("socket file %s was removed; listening on a new one", path)

    def _rebind(self) -> socket.socket:
        """A new listening socket at the socket path, its folder and lock file first."""
        opts = self.opts
        prepare_socket_dir(opts.socket_path, _gid(opts.socket_group) if opts.socket_group else None)
        held = self._socket_lock
        if held is not None and held.fd is not None:
            try:
                current = _identity(held.path) == _fd_identity(held.fd)
            except OSError:
                current = False
            if not current:  # the lock file went too: lock a new one, or give way
                fresh = InstanceLock(held.path, held.what)
                fresh.acquire()
                os.close(held.fd)
                held.fd = fresh.fd
        return bind_socket(opts.socket_path, opts.socket_mode, opts.socket_group)

    async def _health_loop(self) -> None:
        """A health record at start, then every ``health_interval`` seconds."""
        try:
            from logconsole.collectors.health import HealthSampler

            sampler = HealthSampler(self.opts.settings, stats=self.stats)
        except Exception as exc:  # a missing or broken sampler must not stop the collector
            log.error("health sampling is unavailable: %s", exc)
            return
        assert self.pipeline is not None
        while True:
            try:
                record = await asyncio.to_thread(sampler.sample)
                await self.pipeline.put_raw(record)
            except IngestError as exc:
                log.error("health sample rejected: %s", exc)
            except Exception as exc:
                log.error("health sample failed: %s", exc)
            await asyncio.sleep(self.opts.health_interval)

    async def _retention_loop(self) -> None:
        """Apply retention at start, then daily."""
        days = self.opts.retention_days
        if isinstance(self.opts.db_path, StoreURL):
            return await self._fleet_retention_loop(self.opts.db_path, days)
        if days <= 0:
            return
        while True:
            try:
                removed = await asyncio.to_thread(_prune, self.opts.db_path, days)
                if removed:
                    log.info("retention: removed %s record%s older than %g days "
                             "(unresolved errors and system records that require action are kept)",
                             f"{removed:,}", "" if removed == 1 else "s", days)
            except sqlite3.Error as exc:
                log.error("retention failed: %s", describe(exc))
            except Exception as exc:
                log.error("retention failed: %s", exc)
            await asyncio.sleep(RETENTION_PERIOD)

    async def _fleet_retention_loop(self, location: StoreURL, days: float) -> None:
        """The fleet's duties on a shared PostgreSQL database: only the fleet's
        leader runs them.  Retention (unless ``days`` is 0) when the last run
        (by whichever collector) is a day old or more; alert rules and
        forwarding (:class:`~logconsole.collectors.alerts.FleetAlertEngine`,
        :class:`~logconsole.collectors.forward.FleetForwarder`) while leading.

        Every ``lease_interval`` seconds the collector keeps or tries to take the
        leadership (:class:`~logconsole.store.postgres.lease.Lease`); a server
        that cannot be reached costs the leadership until it can.
        """
        from logconsole.store.postgres.lease import Lease

        assert self.pipeline is not None
        lease = Lease(location, self.pipeline.host)
        leading = False
        failed = ""
        loop = asyncio.get_running_loop()
        not_before = 0.0
        """No look at the last run before this (loop) time: it was a moment ago."""
        try:
            while True:
                try:
                    now_leading = await asyncio.to_thread(lease.hold)
                    failed = ""
                except Exception as exc:
                    now_leading = False
                    if str(exc) != failed:
                        log.warning("cannot check the fleet's leadership: %s", _pg_reason(exc, location))
                    failed = str(exc)
                if now_leading != leading:
                    leading = now_leading
                    not_before = 0.0
                    log.info("this collector %s the fleet's retention%s on %s",
                             "now runs" if leading else "no longer runs", self._fleet_duties(), location)
                    self._lead(leading)
                    if not leading and self.horizon is not None:
                        await asyncio.to_thread(self.horizon.close)
                if leading and days > 0 and loop.time() >= not_before:
                    try:
                        removed, wait = await asyncio.to_thread(_prune_fleet, location, days)
                    except Exception as exc:
                        log.error("retention failed: %s", _pg_reason(exc, location))
                    else:
                        not_before = loop.time() + wait
                        if removed:
                            log.info("retention: removed %s record%s older than %g days for the fleet "
                                     "(unresolved errors and system records that require action are kept)",
                                     f"{removed:,}", "" if removed == 1 else "s", days)
                await asyncio.sleep(self.opts.lease_interval)
        finally:
            self._lead(False)
            if self.horizon is not None:
                await asyncio.to_thread(self.horizon.close)
            await asyncio.to_thread(lease.release)

    def _fleet_duties(self) -> str:
        """What this collector runs for the fleet besides retention, for the log."""
        duties = [*(["alert rules"] if self.alerts is not None and self.alerts.rules else []),
                  *(["forwarding"] if self.forwarder is not None else [])]
        if not duties:
            return ""
        return f", {duties[0]}" if len(duties) == 1 else f", {', '.join(duties[:-1])} and {duties[-1]}"

    def _lead(self, leading: bool) -> None:
        """Hand the fleet's leadership on to alert rules and forwarding."""
        if isinstance(self.alerts, FleetAlertEngine):
            self.alerts.set_leading(leading)
        forwarder = self.forwarder
        if forwarder is not None and hasattr(forwarder, "set_leading"):
            forwarder.set_leading(leading)

    async def _wal_loop(self) -> None:
        """Truncate the write-ahead log once no record has been committed for
        ``idle_checkpoint`` seconds (checked every ``idle_checkpoint`` seconds:
        a look at two counters and the log's size).

        A reader holding an old snapshot (a console counting, a long export)
        lets the log grow past its usual size; once it has gone and the
        collector is idle, this gives the space back.  Its own connection, so
        the writer thread is never waited on; a checkpoint that finds readers
        still there gives up at once (waiting would hold the writer up) and is
        tried again on the next quiet tick.
        """
        idle = self.opts.idle_checkpoint
        pipeline = self.pipeline
        path = self.opts.db_path
        if idle <= 0 or pipeline is None or not isinstance(path, Path):
            return
        seen = pipeline.counters.committed
        quiet_since = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(idle)
            now = asyncio.get_running_loop().time()
            if pipeline.counters.committed != seen or pipeline.queue_depth:
                seen, quiet_since = pipeline.counters.committed, now
                continue
            if now - quiet_since < idle or wal_size(path) == 0:
                continue
            try:
                # Opened, used and closed on one thread: a stop that cancels
                # this task while the checkpoint runs leaves that thread to
                # finish with its own connection (closing a connection another
                # thread is using crashes the process).
                complete = await asyncio.to_thread(_truncate_log, path)
            except (sqlite3.Error, StoreError) as exc:
                log.warning("could not truncate the write-ahead log: %s", describe(exc))
                continue
            if complete:
                log.debug("idle: write-ahead log truncated")

    def _start_forwarder(self) -> Forwarder | None:
        """Forwarding (``[forward]``), woken by every commit besides its own polling."""
        cfg = self.opts.settings.forward
        pipeline = self.pipeline
        if cfg is None or pipeline is None:
            return None
        from logconsole.collectors.forward import FleetForwarder, Forwarder  # protobuf only when forwarding

        if isinstance(self.opts.db_path, StoreURL):
            assert self.horizon is not None
            fleet = FleetForwarder(self.opts.db_path, cfg, horizon=self.horizon)
            fleet.start()
            return fleet

        loop = asyncio.get_running_loop()

        def store(values: dict[str, str]) -> None:  # on the forwarder's thread
            asyncio.run_coroutine_threadsafe(pipeline.write_meta(values), loop).result(STORE_TIMEOUT)

        forwarder = Forwarder(self.opts.db_path, cfg, store=store)
        offer = pipeline.on_commit

        def committed(ids: range, events: list[GroupEvent]) -> None:
            if offer is not None:
                offer(ids, events)
            forwarder.wake()

        pipeline.on_commit = committed
        forwarder.start()
        return forwarder

    def _start_tailer(self) -> asyncio.Task[None] | None:
        opts = self.opts
        if not opts.watch:
            return None
        assert self.pipeline is not None and self.stop_event is not None
        try:
            from logconsole.collectors.files import FileTailer

            tailer = FileTailer(list(opts.watch), opts.db_path, self.pipeline, default_kind=opts.watch_type)
        except Exception as exc:
            log.error("file tailing is unavailable: %s", exc)
            return None
        return asyncio.create_task(self._guarded(tailer.run(self.stop_event), "file tailing"), name="tailer")

    @staticmethod
    async def _guarded(coro: Any, what: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed", what)


def _gid(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise DaemonError(f"no such group {group!r} (--socket-group)") from None


def _identity(path: Path) -> tuple[int, int] | None:
    """The file at ``path`` (device, inode), or None when there is none."""
    try:
        st = path.lstat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _fd_identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _truncate_log(db_path: Path) -> bool:
    """One ``TRUNCATE`` checkpoint that waits for no one; whether it completed."""
    conn = connect(db_path, backfills=False)
    try:
        return checkpoint(conn, "TRUNCATE", wait=0).complete
    finally:
        conn.close()


def _prune(db_path: Path, days: float) -> int:
    conn = connect(db_path, backfills=False)
    try:
        return retention.prune(conn, days)
    finally:
        conn.close()


def _prune_fleet(location: StoreURL, days: float) -> tuple[int | None, float]:
    """Retention for the whole fleet when the last run (by any collector)
    finished a day ago or more, or never did: how many records went (``None``
    when it was not due) and the seconds until the next run is due."""
    from logconsole.store.postgres.store import PostgresStore
    from logconsole.timeutil import parse_ts, utcnow

    store = PostgresStore.open(location)
    try:
        last = store.last_retention_run()
        if last is not None and last.finished is not None:
            try:
                age = (utcnow() - parse_ts(last.finished)).total_seconds()
            except ValueError:  # an unreadable record of the last run: run now
                age = RETENTION_PERIOD
            if 0 <= age < RETENTION_PERIOD:
                return None, RETENTION_PERIOD - age
        return store.prune(days), RETENTION_PERIOD
    finally:
        store.close()


def _pg_reason(exc: BaseException, location: StoreURL) -> str:
    """One line for a failure on the PostgreSQL store."""
    import psycopg

    from logconsole.store.postgres.errors import describe as pg_describe

    return pg_describe(exc, location) if isinstance(exc, psycopg.Error) else str(exc)


def setup_logging(verbose: int) -> None:
    """Log lines to stderr (a service manager keeps them)."""
    level = logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s logconsole daemon: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger("logconsole")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def run_daemon(opts: DaemonOptions, verbose: int = 0) -> int:
    """Run the collector in the foreground; returns the exit code."""
    setup_logging(verbose)
    return Daemon(opts).run()
