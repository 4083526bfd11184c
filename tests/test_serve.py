"""``logconsole serve``: the console in a browser, behind the token, the Origin check and the
session limit.

The HTTP layer is tested against the real server in this process (aiohttp's
client); the command as a real process; the page in a real Chromium, reading
the console's screen through xterm.js's buffer.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from logconsole.serve import APP_ENV_NAMES, ServeError, ServeOptions, Serving, app_environment, origin_of, start
from browser_support import CAPTURE_TERMINAL, ServedConsole, chromium, serving, skip_or_fail, wait_for_screen
from cli_support import assert_user_error, run
from tui_data import fill, make_db
from web_support import serving_wsgi, wait_for

__all__ = ["chromium"]  # the fixture, imported for the browser tests

ROOT = Path(__file__).resolve().parents[1]
UNIQUE = "zanzibar"
UNIQUE_MESSAGE = "zanzibar gateway refused the payment"
OTHER_MESSAGE = "quokka queue drained"


def known_db(path: Path) -> Path:
    """The seeded records, plus two of now: one with a word found nowhere else."""
    make_db(path)
    now = datetime.now(UTC).isoformat()
    conn = sqlite3.connect(path)
    try:
        fill(conn, [
            {"type": "error", "created_at": now, "severity": "high", "message": UNIQUE_MESSAGE},
            {"type": "activity", "created_at": now, "title": OTHER_MESSAGE, "message": OTHER_MESSAGE},
        ])
    finally:
        conn.close()
    return path


def resolved_errors(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM records WHERE type = 'error' AND is_resolved").fetchone()[0]
    finally:
        conn.close()


# --- the HTTP layer, in this process -------------------------------------------------------


@pytest.fixture
def said() -> list[str]:
    """What the server says on stderr, line by line."""
    return []


@pytest.fixture
async def served(db_path: Path, said: list[str]) -> AsyncIterator[Serving]:
    known_db(db_path)
    serving_ = await start(ServeOptions(db_path=db_path, port=0, max_sessions=1), say=said.append)
    yield serving_
    await serving_.stop()


def base(serving_: Serving) -> str:
    return serving_.server.public_url


async def until(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Lets the server in this process run until ``check()`` holds (``wait_for`` would block it)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def cookie(serving_: Serving) -> dict[str, str]:
    return {"Cookie": f"{serving_.server.cookie_name}={serving_.server.token}"}


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    async with aiohttp.ClientSession() as session, \
            session.get(url, headers=headers or {}, allow_redirects=False) as resp:
        return resp.status, dict(resp.headers), await resp.text()


@pytest.mark.parametrize("path", ["/", "/ws", "/static/js/textual.js", "/static/css/xterm.css", "/nothing"])
async def test_without_the_token_or_the_cookie_every_request_is_refused(served: Serving, path: str) -> None:
    status, headers, body = await get(base(served) + path)
    assert status == 403
    assert headers["Content-Type"].startswith("text/plain")
    assert body == "no session: open the URL that `logconsole serve` printed\n"


async def test_a_refusal_is_said_without_the_requests_control_characters(served: Serving, said: list[str]) -> None:
    """The path and the Origin come from whoever connects; the server's terminal must not obey them."""
    status, _, _ = await get(base(served) + "/%1b]0;owned%07/x%1b[2J")
    assert status == 403
    # aiohttp's client will not send a bidi override in a header (its server refuses ESC there
    # by itself): write the request by hand.
    host, port = base(served).removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         f"Cookie: {cookie(served)['Cookie']}\r\nOrigin: http://e\u202elive\r\n\r\n").encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 403"), status_line
    assert len(said) == 2
    assert not any(ch in line for line in said for ch in "\x1b\x07\u202e")
    assert "/\\e]0;owned\\a/x\\e[2J" in said[0]
    assert "http://e\\u202elive" in said[1]


async def test_a_wrong_token_or_cookie_is_refused(served: Serving) -> None:
    wrong = served.server.token[:-1] + ("A" if served.server.token[-1] != "A" else "B")
    status, headers, body = await get(f"{base(served)}/?token={wrong}")
    assert status == 403
    assert "Set-Cookie" not in headers and body.startswith("wrong token")
    status, _, _ = await get(base(served) + "/", {"Cookie": f"{served.server.cookie_name}={wrong}"})
    assert status == 403


async def test_the_token_is_swapped_for_a_strict_http_only_cookie_and_a_redirect(served: Serving) -> None:
    assert served.server.url == f"{base(served)}/?token={served.server.token}"
    status, headers, _ = await get(served.server.url + "&fontsize=14")
    assert status == 303
    assert headers["Location"] == "/?fontsize=14"
    parts = [p.strip() for p in headers["Set-Cookie"].split(";")]
    assert parts[0] == f"{served.server.cookie_name}={served.server.token}"
    assert {"HttpOnly", "Path=/", "SameSite=Strict"} <= set(parts)
    # The browser's way: the cookie jar follows the redirect to the page.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(served.server.url) as resp:
            assert (resp.status, str(resp.url)) == (200, base(served) + "/")
            page = await resp.text()
    assert 'data-session-websocket-url="ws://127.0.0.1:' in page


async def test_the_page_loads_nothing_from_elsewhere_and_is_never_framed(served: Serving) -> None:
    status, headers, page = await get(base(served) + "/", cookie(served))
    assert status == 200
    assert "googleapis" not in page and "https://" not in page
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"  # the token URL is never passed on


@pytest.mark.parametrize("path", ["/static", "/static/", "/static/js/", "/static/fonts"])
async def test_static_directories_are_not_listed(served: Serving, path: str) -> None:
    status, _, body = await get(base(served) + path, cookie(served))
    assert status in (403, 404)
    assert "textual.js" not in body and "Index of" not in body
    status, _, _ = await get(base(served) + "/static/js/textual.js", cookie(served))
    assert status == 200


@pytest.mark.parametrize("origin", [None, "http://evil.example", "http://127.0.0.1:1", "http://localhost:{port}",
                                    "https://127.0.0.1:{port}"])
async def test_the_websocket_wants_the_served_origin(served: Serving, origin: str | None) -> None:
    headers = cookie(served)
    if origin is not None:
        headers["Origin"] = origin.format(port=served.server.public_url.rsplit(":", 1)[1])
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(base(served) + "/ws", headers=headers)
    assert refused.value.status == 403


async def test_the_websocket_wants_the_cookie_too(served: Serving) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(base(served) + "/ws", headers={"Origin": served.server.origin})
    assert refused.value.status == 403


async def open_console(session: aiohttp.ClientSession, serving_: Serving) -> aiohttp.ClientWebSocketResponse:
    """A websocket session as the page opens it; returns once the console has drawn."""
    ws = await session.ws_connect(base(serving_) + "/ws?width=100&height=30",
                                  headers={"Origin": serving_.server.origin, **cookie(serving_)})
    screen = b""
    while b"Activity" not in screen:
        message = await ws.receive(timeout=30)
        assert message.type == aiohttp.WSMsgType.BINARY, message
        screen += message.data
    return ws


async def test_a_broken_message_ends_its_session_in_one_line(served: Serving, said: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await open_console(session, served)
        await ws.send_str("not json")
        while not ws.closed:
            await ws.receive(timeout=10)
    await until(lambda: not served.server.sessions, "the session to end")
    assert said == ["session ended by an error: JSONDecodeError: Expecting value: line 1 column 1 (char 0)"]
    await until(lambda: not console_processes(), "its console to quit")


def console_processes(parent: psutil.Process | None = None) -> list[psutil.Process]:
    """The running console processes started by ``parent`` (default: this process)."""
    found = []
    for process in (parent or psutil.Process()).children(recursive=True):
        try:
            if "tui" in process.cmdline() and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:  # ended meanwhile
            pass
    return found


async def test_sessions_beyond_the_limit_are_refused_until_one_ends(served: Serving) -> None:
    assert served.server.max_sessions == 1
    async with aiohttp.ClientSession() as session:
        first = await open_console(session, served)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(base(served) + "/ws",
                                     headers={"Origin": served.server.origin, **cookie(served)})
        assert refused.value.status == 503
        await first.close()
        await until(lambda: not served.server.sessions, "the session to end")
        again = await open_console(session, served)
        await again.close()


async def test_the_console_process_is_read_only_and_gets_a_short_environment(
        served: Serving, monkeypatch: pytest.MonkeyPatch, db_path: Path) -> None:
    monkeypatch.setenv("PAYMENTS_API_SECRET", "hunter2")
    monkeypatch.setenv("LC_TIME", "C")
    async with aiohttp.ClientSession() as session:
        ws = await open_console(session, served)
        [console] = console_processes()
        env = console.environ()
        argv = console.cmdline()
        await ws.close()
    assert "PAYMENTS_API_SECRET" not in env
    assert env["LC_TIME"] == "C"
    assert env["TEXTUAL_DRIVER"] == "textual.drivers.web_driver:WebDriver"  # textual-serve's own
    assert set(env) - {"PWD", "TEXTUAL_DRIVER", "TEXTUAL_FPS", "TEXTUAL_COLOR_SYSTEM", "TERM_PROGRAM",
                       "TERM_PROGRAM_VERSION", "COLUMNS", "ROWS"} <= APP_ENV_NAMES | {"LC_TIME"}
    assert argv[argv.index("--db") + 1] == str(db_path)
    assert "--read-only" in argv and "--no-collector" in argv
    await until(lambda: not console_processes(), "the console process to quit")


async def test_allow_write_starts_consoles_that_may_write(db_path: Path) -> None:
    known_db(db_path)
    serving_ = await start(ServeOptions(db_path=db_path, port=0, allow_write=True), say=lambda line: None)
    try:
        async with aiohttp.ClientSession() as session:
            ws = await open_console(session, serving_)
            [console] = console_processes()
            assert "--read-only" not in console.cmdline()
            await ws.close()
    finally:
        await serving_.stop()


async def test_behind_https_the_cookie_is_secure_and_the_origin_is_the_public_one(db_path: Path) -> None:
    known_db(db_path)
    serving_ = await start(ServeOptions(db_path=db_path, port=0, public_url="https://logs.example.com/"),
                           say=lambda line: None)
    try:
        assert serving_.server.url == f"https://logs.example.com/?token={serving_.server.token}"
        local = "http://" + ":".join(map(str, serving_.runner.addresses[0][:2]))
        status, headers, _ = await get(f"{local}/?token={serving_.server.token}")
        assert status == 303 and "Secure" in headers["Set-Cookie"].split("; ")
        for origin, expected in ((local, 403), ("https://logs.example.com", 101)):
            async with aiohttp.ClientSession() as session:
                try:
                    ws = await session.ws_connect(local + "/ws", headers={"Origin": origin, **cookie(serving_)})
                except aiohttp.WSServerHandshakeError as refused:
                    assert refused.status == expected == 403
                else:
                    assert expected == 101
                    await ws.close()
    finally:
        await serving_.stop()


@pytest.mark.parametrize(("host", "origin"), [("localhost", "http://localhost"), ("127.0.0.1", "http://127.0.0.1"),
                                             ("::1", "http://[::1]")])
async def test_the_served_origin_names_the_host_as_given(db_path: Path, host: str, origin: str) -> None:
    known_db(db_path)
    try:
        serving_ = await start(ServeOptions(db_path=db_path, host=host, port=0), say=lambda line: None)
    except ServeError as exc:  # no IPv6 here
        pytest.skip(str(exc))
    try:
        port = serving_.runner.addresses[0][1]
        assert serving_.server.origin == f"{origin}:{port}"
        assert serving_.server.url.startswith(f"{origin}:{port}/?token=")
    finally:
        await serving_.stop()


def test_the_environment_rule() -> None:
    environ = {"PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "LC_ALL": "C", "AWS_SECRET_ACCESS_KEY": "x",
               "GITHUB_TOKEN": "y", "LOGCONSOLE_DB": "/d", "LOGCONSOLE_OTHER": "z", "SSH_AUTH_SOCK": "/s"}
    assert app_environment(environ) == {"PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "LC_ALL": "C",
                                        "LOGCONSOLE_DB": "/d"}


async def test_a_postgresql_console_gets_the_url_in_its_environment_never_on_its_command_line(
        pg_url: str) -> None:
    """The URL (a password in it too) stays out of ``ps``: the console process reads
    ``LOGCONSOLE_DB``, which only its owner can see."""
    from logconsole.store.interface import open_store
    from logconsole.store.url import parse_store_url

    open_store(pg_url).close()
    with_password = pg_url.replace("@/", ":s3cret@/", 1)  # the private cluster trusts its socket
    location = parse_store_url(with_password)
    serving_ = await start(ServeOptions(db_path=location, port=0, max_sessions=1), say=lambda line: None)
    try:
        async with aiohttp.ClientSession() as session:
            ws = await open_console(session, serving_)
            [console] = console_processes()
            env = console.environ()
            argv = console.cmdline()
            await ws.close()
    finally:
        await serving_.stop()
    assert env["LOGCONSOLE_DB"] == with_password
    assert "--db" not in argv and not any("s3cret" in a or "postgresql" in a for a in argv)
    assert "--read-only" in argv and "--no-collector" in argv
    await until(lambda: not console_processes(), "the console process to quit")


@pytest.mark.parametrize(("url", "origin"), [
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("http://LocalHost:8765/", "http://localhost:8765"),
    ("https://logs.example.com:443", "https://logs.example.com"),
    ("http://[::1]:8765", "http://[::1]:8765"),
])
def test_origin_of(url: str, origin: str) -> None:
    assert origin_of(url) == origin


# --- the command, as a real process ------------------------------------------------------


@pytest.fixture
def listening() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def run_serve(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logconsole", "serve", "--db", str(db_path), *args],
                          capture_output=True, text=True, timeout=30)


def test_a_port_in_use_is_one_clear_line(db_path: Path, listening: int) -> None:
    known_db(db_path)
    result = run_serve(db_path, "--port", str(listening))
    assert result.returncode == 1
    assert result.stderr == f"Error: port {listening} on 127.0.0.1 is in use; choose another with --port\n"
    assert result.stdout == ""


def test_every_address_needs_the_public_url(db_path: Path) -> None:
    known_db(db_path)
    result = run_serve(db_path, "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: --host 0.0.0.0 listens on every address: say which one")
    assert "Traceback" not in result.stderr


def test_a_bad_public_url_is_refused(db_path: Path) -> None:
    known_db(db_path)
    assert_user_error(run(db_path, "serve", "--public-url", "http://h:1/console"), "give no path")
    assert_user_error(run(db_path, "serve", "--public-url", "ftp://h"), "not an http://")


def test_a_missing_database_is_refused_before_serving(db_path: Path) -> None:
    assert_user_error(run(db_path, "serve", "--port", "0"), "no database")


def test_a_reachable_address_gets_a_warning(db_path: Path, tmp_path: Path) -> None:
    known_db(db_path)
    with serving(db_path, tmp_path, "--host", "0.0.0.0", "--public-url", "http://192.0.2.7:8765") as served:
        assert served.url.startswith("http://192.0.2.7:8765/?token=")
        said = served.wait_said("read-only")
    assert "warning: 0.0.0.0 can be reached from other machines" in said
    assert "SSH tunnel" in said


def test_a_sigterm_as_soon_as_the_url_is_printed_stops_it_cleanly(db_path: Path, tmp_path: Path) -> None:
    known_db(db_path)
    with serving(db_path, tmp_path):
        pass  # serving() sends SIGTERM and wants status 0


def test_serve_prints_the_url_and_stops_on_sigterm_with_its_consoles(db_path: Path, tmp_path: Path) -> None:
    known_db(db_path)
    with serving(db_path, tmp_path) as served:
        assert served.url.startswith("http://127.0.0.1:")
        assert "?token=" in served.url and len(served.url.split("token=")[1]) >= 43
        said = served.wait_said("Ctrl+C")
        assert "warning" not in said
        assert "read-only" in said
        consoles = asyncio.run(stop_with_open_sessions(served, 2))
    assert len(consoles) == 2
    # serving() has seen status 0
    wait_for(lambda: not any(is_alive(p) for p in consoles), what="the consoles to end with the server")


async def stop_with_open_sessions(served: ServedConsole, n: int) -> list[psutil.Process]:
    """Opens ``n`` sessions, then sends SIGTERM while they are open; the console processes."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(served.url) as resp:
            assert resp.status == 200
        sessions = []
        for _ in range(n):
            sessions.append(ws := await session.ws_connect(served.origin + "/ws", headers={"Origin": served.origin}))
            screen = b""
            while b"Activity" not in screen:
                screen += (await ws.receive(timeout=30)).data
        consoles = console_processes(psutil.Process(served.process.pid))
        served.process.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, served.process.wait, 15)
        return consoles


def is_alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def open_consoles_of(served: ServedConsole, n: int) -> list[psutil.Process]:
    """Opens ``n`` sessions on a served console (left open); the console processes."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(served.url) as resp:
            assert resp.status == 200
        for _ in range(n):
            ws = await session.ws_connect(served.origin + "/ws", headers={"Origin": served.origin})
            while b"Activity" not in (await ws.receive(timeout=30)).data:
                pass
        return console_processes(psutil.Process(served.process.pid))


# --- the docs say what the command does ------------------------------------------------


def test_the_docs_describe_every_option() -> None:
    from logconsole.commands.serve_command import serve

    tui = (ROOT / "docs" / "tui.md").read_text()
    section = tui.split("## The console in a browser", 1)[1].split("\n## ", 1)[0]
    for param in serve.params:
        for opt in param.opts:
            assert f"`{opt}" in section, opt
    assert "`serve`" in (ROOT / "docs" / "cli.md").read_text()
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "logconsole serve # the same console in a browser: open the printed URL" in readme
    environment = " ".join(section.split("**What the console gets.**", 1)[1].split("**The page**")[0].split())
    for name in APP_ENV_NAMES:
        assert f"`{name}`" in environment, name


# --- in a real browser ----------------------------------------------------------------


@pytest.fixture(scope="module")
def console_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return known_db(tmp_path_factory.mktemp("served") / "logs.db")


@pytest.fixture(scope="module")
def served_console(console_db: Path, tmp_path_factory: pytest.TempPathFactory,
                   chromium: Any) -> Iterator[ServedConsole]:
    tmp = console_db.parent
    env = {"XDG_DATA_HOME": str(tmp / "data"), "XDG_CONFIG_HOME": str(tmp / "config"),
           "XDG_RUNTIME_DIR": str(tmp / "run")}
    with serving(console_db, tmp, "--max-sessions", "2", env=env) as served:
        yield served


def test_a_missing_browser_skips_the_browser_tests_but_fails_them_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        skip_or_fail("no browser")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="no browser"):
        skip_or_fail("no browser")


def new_page(chromium: Any) -> tuple[Any, Any, list[str]]:
    """A page in a fresh browser context (its own cookies), recording every URL it asks for."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.add_init_script(CAPTURE_TERMINAL)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.on("websocket", lambda ws: asked.append(ws.url))
    return context, page, asked


def open_console_page(chromium: Any, served: ServedConsole) -> tuple[Any, Any, list[str]]:
    context, page, asked = new_page(chromium)
    response = page.goto(served.url)
    assert response.status == 200 and page.url == served.origin + "/"
    wait_for_screen(page, lambda text: "Activity" in text and "Errors" in text, "the tabs")
    return context, page, asked


def test_browser_the_tabs_render_and_a_search_narrows_the_list(chromium: Any, served_console: ServedConsole) -> None:
    context, page, asked = open_console_page(chromium, served_console)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        screen = wait_for_screen(page, lambda text: OTHER_MESSAGE in text, "the records")
        assert UNIQUE_MESSAGE in screen
        assert "read-only" in screen
        page.focus(".xterm-helper-textarea")
        page.keyboard.press("/")
        # As a person does: type once the box shows (letters typed within a tenth of a second
        # of "/" can reach the box out of order).
        wait_for_screen(page, lambda text: "search (enter: apply" in text, "the search box")
        page.keyboard.type(UNIQUE)
        screen = wait_for_screen(page, lambda text: OTHER_MESSAGE not in text and f"'{UNIQUE}'" in text,
                                 "the search to narrow the list")
        assert UNIQUE_MESSAGE in screen
    finally:
        context.close()
    ws_origin = "ws" + served_console.origin.removeprefix("http")
    elsewhere = [url for url in asked if not url.startswith((served_console.origin + "/", ws_origin + "/"))]
    assert asked and elsewhere == []
    assert f"{ws_origin}/ws?" in " ".join(asked)
    assert errors == []  # the Content-Security-Policy blocked nothing the page needs


def test_browser_the_console_is_read_only(chromium: Any, served_console: ServedConsole, console_db: Path) -> None:
    before = resolved_errors(console_db)
    context, page, _ = open_console_page(chromium, served_console)
    try:
        page.focus(".xterm-helper-textarea")
        page.keyboard.press("2")
        wait_for_screen(page, lambda text: UNIQUE_MESSAGE in text and "severity" in text, "the Errors tab")
        page.keyboard.press("r")
        wait_for_screen(page, lambda text: "this console cannot change records" in text, "the refusal")
    finally:
        context.close()
    assert resolved_errors(console_db) == before


def test_browser_without_the_token_the_page_is_refused(chromium: Any, served_console: ServedConsole) -> None:
    context, page, _ = new_page(chromium)
    try:
        response = page.goto(served_console.origin + "/")
        assert response.status == 403
        assert "no session" in page.inner_text("body")
        assert context.cookies() == []
    finally:
        context.close()


ATTACKER_PAGE = b"<!DOCTYPE html><title>another site</title><p>nothing to see</p>"


def attacker_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html")])
    return [ATTACKER_PAGE]


TRY_WEBSOCKET = """url => new Promise(resolve => {
  const ws = new WebSocket(url);
  ws.onopen = () => { ws.close(); resolve("open"); };
  ws.onerror = () => resolve("refused");
})"""


def test_browser_a_page_of_another_origin_cannot_open_the_websocket(
        chromium: Any, served_console: ServedConsole) -> None:
    """Another port of this machine is the same *site*, so the SameSite cookie goes along:
    the Origin check is what refuses it."""
    context, page, _ = open_console_page(chromium, served_console)
    page.close()  # the context keeps the cookie; its console ends
    try:
        with serving_wsgi(attacker_app) as other:
            attacker = context.new_page()
            attacker.goto(other + "/")
            ws_url = "ws" + served_console.origin.removeprefix("http") + "/ws"
            assert attacker.evaluate(TRY_WEBSOCKET, ws_url) == "refused"
            served_console.wait_said(f"origin {other} is not {served_console.origin}")
    finally:
        context.close()


def test_browser_sessions_beyond_the_limit_are_refused(chromium: Any, served_console: ServedConsole) -> None:
    opened = [open_console_page(chromium, served_console) for _ in range(2)]
    context, page, _ = new_page(chromium)
    try:
        page.goto(served_console.url)
        page.wait_for_selector("body.-closed", timeout=15_000)
        assert "At most 2 consoles run at once" in page.inner_text(".closed-dialog")
        served_console.wait_said("2 sessions are open (--max-sessions)")
    finally:
        context.close()
        for other_context, _, _ in opened:
            other_context.close()

