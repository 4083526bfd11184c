"""House rules that code review alone would miss."""

from __future__ import annotations

import subprocess
import sys



def test_store_and_collectors_never_import_textual() -> None:
    code = (
        "import sys, pkgutil, importlib, logconsole.store, logconsole.collectors\n"
        "for pkg in (logconsole.store, logconsole.collectors):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(pkg.__name__ + '.' + m.name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_client_imports_only_the_standard_library() -> None:
    code = (
        "import sys; before = set(sys.modules)\n"
        "import logconsole.client\n"
        "new = set(sys.modules) - before\n"
        "bad = sorted(m for m in new if m.split('.')[0] in {'textual','rich','sqlite3','sqlite_utils','click','psutil','watchfiles'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_client_package_shares_only_the_wire_protocol_with_the_rest() -> None:
    code = (
        "import sys; before = set(sys.modules)\n"
        "import logconsole.client\n"
        "new = set(sys.modules) - before\n"
        "print(','.join(sorted(m for m in new if m.split('.')[0] not in sys.stdlib_module_names)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(out.stdout.strip().split(",")) == {
        "logconsole", "logconsole.paths", "logconsole.protocol", "logconsole.client",
        "logconsole.client.log_client", "logconsole.client.handler", "logconsole.client.middleware",
        "logconsole.client.request_context",
    }
