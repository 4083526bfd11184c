"""One console process per browser session: ``logconsole tui`` with a short environment."""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from textual_serve.app_service import AppService

from logconsole.store.url import StoreURL

QUIT_SECONDS = 5.0
"""How long a console may take to quit once its session ends before it is killed."""

APP_ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TZ", "NO_COLOR", "PYTHONPATH",
    "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
    "LOGCONSOLE_DB", "LOGCONSOLE_CONFIG", "LOGCONSOLE_SOCKET",
})
"""What the console process inherits from the server's environment (with ``LC_*``):
where things are, the language, the login name that ``--allow-write`` records as
``resolved_by``.  Nothing else: tokens and passwords in the server's environment
stay there."""


def app_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` that the console process may see (see :data:`APP_ENV_NAMES`)."""
    return {k: v for k, v in environ.items() if k in APP_ENV_NAMES or k.startswith("LC_")}


def app_command(db_path: Path | StoreURL, config_path: Path | None, *, read_only: bool) -> str:
    """The shell command of one console process: ``logconsole tui`` on the same database,
    read-only unless told otherwise, never starting a collector of its own.

    A PostgreSQL URL is not on the command line, which every user of the machine
    can read (``ps``): the process finds it in its environment (:func:`app_database_env`)."""
    argv = [sys.executable, "-m", "logconsole", "tui"]
    if not isinstance(db_path, StoreURL):
        argv += ["--db", os.fspath(db_path)]
    argv.append("--no-collector")
    if read_only:
        argv.append("--read-only")
    if config_path is not None:
        argv += ["--config", os.fspath(config_path)]
    return "exec " + shlex.join(argv)


def app_database_env(db_path: Path | StoreURL) -> dict[str, str]:
    """How a console process learns a PostgreSQL database: ``LOGCONSOLE_DB`` in its
    environment (readable by its owner only), never on its command line."""
    return {"LOGCONSOLE_DB": db_path.conninfo} if isinstance(db_path, StoreURL) else {}


class GuardedAppService(AppService):
    """A console process whose environment is :func:`app_environment` of ours, plus what
    textual-serve sets for its driver (the size, the colour system) and ``extra_env``
    (:func:`app_database_env`)."""

    extra_env: Mapping[str, str] = {}

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        """Overridden because textual-serve starts from a copy of the whole ``os.environ``."""
        full = super()._build_environment(width=width, height=height)
        ours = os.environ
        return {**app_environment(ours), **{k: v for k, v in full.items() if ours.get(k) != v},
                **self.extra_env}

    async def stop(self) -> None:
        """textual-serve's stop (the console is asked to quit), then the process is waited
        for, and killed if it has not ended within :data:`QUIT_SECONDS`: no console outlives
        its session, none is left unreaped."""
        await super().stop()
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            await asyncio.wait_for(process.wait(), QUIT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
