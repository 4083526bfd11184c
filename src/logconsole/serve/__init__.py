"""The console in a browser: textual-serve behind a token, an Origin check and a session limit.

textual-serve runs one console process per browser tab and relays its screen
over a websocket, but it checks nobody: any web page the user visits could
open that websocket and drive the console.  :class:`GuardedServer` keeps its
page, its static files and its message relay and puts one gate in front of
them:

- every request needs the session cookie, except the first visit, which
  brings the token printed at start (``/?token=...``) and swaps it for the
  cookie (HttpOnly, SameSite=Strict) and a redirect to ``/``;
- the websocket also needs an ``Origin`` equal to the served origin, so a
  page of another site (or of another port of this machine, which a
  SameSite cookie does not tell apart) cannot drive the console;
- at most ``max_sessions`` consoles run at once;
- the static files are served without directory listings, and the page
  loads nothing from outside the served origin (its own template, without
  the web font link of textual-serve's; a Content-Security-Policy says so
  to the browser too);
- the console process gets a short list of environment variables
  (:func:`app_environment`), not the server's whole environment.
"""

from __future__ import annotations

from logconsole.serve.console import APP_ENV_NAMES, app_command, app_environment
from logconsole.serve.guard import GuardedServer, origin_of
from logconsole.serve.run import ServeError, ServeOptions, Serving, serve_forever, start

__all__ = ["APP_ENV_NAMES", "GuardedServer", "ServeError", "ServeOptions", "Serving", "app_command",
           "app_environment", "origin_of", "serve_forever", "start"]
