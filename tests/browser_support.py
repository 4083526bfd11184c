"""A real ``logconsole serve`` process and a real Chromium driven by Playwright.

Playwright's own browser download is not reachable, so the tests drive the
system's Chromium (Debian's ``chromium`` package, which ``.ci/run`` installs).
Without it the browser tests are skipped with the reason, except under
``CI=true``, where a missing browser fails them: CI must not skip silently.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # Without these Chromium keeps trying to reach Google's services on a closed network.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer && typeof value.write === "function") window.__terminal = value;
  },
});
"""
"""Keeps the page's xterm.js ``Terminal`` in ``window.__terminal``.

textual.js builds its Terminal inside a closure (``this.terminal = new
Terminal(...)`` on an object of its own) and exposes it nowhere.  Before the
page's scripts run, this puts a setter named ``terminal`` on
``Object.prototype``: the first assignment of that name turns into an own
property of the object as before, and when the value is a Terminal the page
keeps a reference to it.  Nothing else in the page changes."""

TERMINAL_TEXT = """(() => {
  const t = window.__terminal;
  if (!t) return "";
  const buffer = t.buffer.active, lines = [];
  for (let y = 0; y < t.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
})()"""
"""The screen's text, read through xterm.js's buffer API (the canvas has no text)."""


def in_ci() -> bool:
    value = os.environ.get("CI", "").strip().lower()
    return value not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip the browser tests, or fail them under CI (where skipping would hide them)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless system Chromium; the one rule for a missing browser is :func:`skip_or_fail`."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def terminal_text(page: Any) -> str:
    # page.evaluate, not wait_for_function: the page's Content-Security-Policy forbids the
    # string evaluation that Playwright's in-page polling uses.
    return page.evaluate(TERMINAL_TEXT)


def wait_for_screen(page: Any, check: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
    """The terminal's text once ``check`` holds for it; fails with the last screen after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        text = terminal_text(page)
        if check(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{text}")
        time.sleep(0.1)


@dataclass(slots=True)
class ServedConsole:
    """A running ``logconsole serve``: the URL it printed and what it said on stderr."""

    process: subprocess.Popen[str]
    url: str
    stderr_path: Path
    origin: str = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"

    @property
    def said(self) -> str:
        return self.stderr_path.read_text()

    def wait_said(self, words: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while words not in self.said:
            if time.monotonic() > deadline:
                raise AssertionError(f"serve never said {words!r}; it said:\n{self.said}")
            time.sleep(0.05)
        return self.said


def serve_command(db_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "logconsole", "serve", "--db", str(db_path), "--port", "0", *args]


@contextmanager
def serving(db_path: Path, tmp: Path, *args: str, env: Mapping[str, str] | None = None,
            timeout: float = 15.0) -> Iterator[ServedConsole]:
    """``logconsole serve --port 0 ARGS`` on ``db_path`` until the block ends (then SIGTERM,
    which must end it with status 0)."""
    stderr_path = tmp / f"serve-{time.monotonic_ns()}.err"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(serve_command(db_path, *args), stdout=subprocess.PIPE, stderr=stderr,
                                   text=True, env={**os.environ, **(env or {})})
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline().strip() if ready else ""
        if not line.startswith("http"):
            process.kill()
            raise AssertionError(f"serve printed no URL: {line!r}\n{stderr_path.read_text()}")
        yield ServedConsole(process, line, stderr_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError("serve did not stop on SIGTERM") from None
        assert code == 0, stderr_path.read_text()
