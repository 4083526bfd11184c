"""Secrets never reach the disk: which keys are hidden, at what depth, and the raw files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logconsole.ingest import REDACTED, Redactor, key_words, normalize
from logconsole.store.db import connect
from logconsole.store.writer import insert_rows
from tests.store_support import NOW

HIDDEN = [
    "password", "Password", "passwd", "token", "accessToken", "access_token", "refresh-token", "secret",
    "clientSecret", "key", "api_key", "apiKey", "APIKey", "X-Api-Key", "x.api.key", "apikey", "cvv",
    "card_cvv", "pin", "pin_code", "PIN", "ssn", "userSSN", "authorization", "Authorization", "cookie",
    "Cookie", "Set-Cookie", "creditCard", "credit_card_number", "CreditCardNumber", "credit card",
    "creditcard", "sessionToken", "AWS_SECRET_ACCESS_KEY", "password_confirmation", "new password",
]
KEPT = [
    "shipping", "keyboard", "spinner", "tokens", "tokens_used", "tokensUsed", "keys", "monkey",
    "passage", "pinned", "pinyin", "biscuit", "author", "secretary",
    "credit", "card", "cardType", "credit_limit", "card_credit", "user_id", "message", "keyword",
    "donkey", "turkey", "changed_at", "ssnap", "authorized",
]


@pytest.mark.parametrize("key", HIDDEN)
def test_secret_keys_are_hidden(key: str) -> None:
    assert Redactor().is_secret(key), key_words(key)


@pytest.mark.parametrize("key", KEPT)
def test_ordinary_keys_are_kept(key: str) -> None:
    assert not Redactor().is_secret(key), key_words(key)


def test_key_words_split_on_separators_and_camel_case() -> None:
    assert key_words("X-Api-Key") == ["x", "api", "key"]
    assert key_words("accessToken") == ["access", "token"]
    assert key_words("APIKey") == ["api", "key"]
    assert key_words("credit_card.number") == ["credit", "card", "number"]
    assert key_words("HTTPAuthorizationHeader") == ["http", "authorization", "header"]
    assert key_words("tokens_used") == ["tokens", "used"]


def test_extra_words_from_config() -> None:
    redactor = Redactor(["otp", " Signature ", ""])
    assert redactor.is_secret("otpCode") and redactor.is_secret("request-signature")
    assert redactor.is_secret("password")  # the defaults stay
    assert not Redactor().is_secret("otpCode")
    row = normalize({"type": "activity", "request_data": {"otp": "123456", "option": 6}}, now=NOW,
                    redactor=redactor)
    assert json.loads(row["request_data"]) == {"otp": REDACTED, "option": 6}


def _nest(value: Any) -> dict[str, Any]:
    """Secrets at several depths and inside lists."""
    return {
        "password": value,
        "ok": 1,
        "user": {"name": "ana", "accessToken": value, "prefs": {"keyboard": "dvorak", "pin_code": value}},
        "cards": [{"creditCard": value, "shipping": "fast"}, [{"X-Api-Key": value}]],
        "headers": {"Authorization": f"Bearer {value}", "Cookie": f"sid={value}", "spinner": "on"},
    }


REDACTED_NEST = {
    "password": REDACTED,
    "ok": 1,
    "user": {"name": "ana", "accessToken": REDACTED, "prefs": {"keyboard": "dvorak", "pin_code": REDACTED}},
    "cards": [{"creditCard": REDACTED, "shipping": "fast"}, [{"X-Api-Key": REDACTED}]],
    "headers": {"Authorization": REDACTED, "Cookie": REDACTED, "spinner": "on"},
}


@pytest.mark.parametrize("column", ["request_data", "response_data"])
def test_redaction_at_any_depth_of_request_and_response(column: str) -> None:
    row = normalize({"type": "activity", column: _nest("s3cret")}, now=NOW)
    assert json.loads(row[column]) == REDACTED_NEST


def test_redaction_in_metrics_and_extra() -> None:
    row = normalize({
        "type": "system",
        "systemMetrics": {"cpuUsage": 5, "apiKey": "k", "disks": [{"mount": "/", "secretLabel": "x"}]},
        "session_token": "t",  # an unknown top-level field goes to extra, hidden
        "context": _nest("s3cret"),
        "extra": {"cookie": "c", "tokens_used": 5},
    }, now=NOW)
    assert json.loads(row["metrics"]) == {"cpu_usage": 5, "api_key": REDACTED,
                                          "disks": [{"mount": "/", "secretLabel": REDACTED}]}
    assert json.loads(row["extra"]) == {
        "session_token": REDACTED, "context": REDACTED_NEST, "cookie": REDACTED, "tokens_used": 5,
    }


def test_a_list_of_secrets_is_hidden_whole() -> None:
    row = normalize({"type": "activity", "request_data": {"tokens": ["a"], "apiKeys": ["a", "b"],
                                                          "token": ["a", {"b": 1}]}}, now=NOW)
    assert json.loads(row["request_data"]) == {"tokens": ["a"], "apiKeys": ["a", "b"], "token": REDACTED}


def test_known_fields_are_not_redacted_by_name() -> None:
    # `tokens_used` is a field, `tokens` its alias: numbers, not secrets.
    row = normalize({"type": "ai", "model": "m", "tokens": 812}, now=NOW)
    assert row["tokens_used"] == 812


# ---------------------------------------------------------------- hypothesis: key splitting

SECRET_WORDS = ["password", "passwd", "token", "secret", "key", "apikey", "cvv", "pin", "ssn",
                "authorization", "cookie"]
SAFE_WORDS = ["shipping", "keyboard", "spinner", "tokens", "user", "name", "id", "value", "data",
              "monkey", "pinned", "keys", "access", "refresh", "client", "number", "api", "x", "card",
              "header", "session", "author", "passage", "credits"]


def _join(words: list[str], style: str) -> str:
    if style == "snake":
        return "_".join(words)
    if style == "kebab":
        return "-".join(w.capitalize() for w in words)
    if style == "dot":
        return ".".join(words)
    if style == "upper":
        return "_".join(w.upper() for w in words)
    if style == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    return "".join(w.capitalize() for w in words)  # Pascal


@given(
    words=st.lists(st.sampled_from(SECRET_WORDS + SAFE_WORDS + ["credit"]), min_size=1, max_size=4),
    style=st.sampled_from(["snake", "kebab", "dot", "upper", "camel", "pascal"]),
)
def test_a_key_is_secret_exactly_when_one_of_its_words_is(words: list[str], style: str) -> None:
    key = _join(words, style)
    expected = any(w in SECRET_WORDS for w in words) or any(
        a == "credit" and b == "card" for a, b in zip(words, words[1:]))
    assert Redactor().is_secret(key) is expected, (key, key_words(key))
    row = normalize({"type": "activity", "request_data": {"outer": [{key: "VALUE"}]}}, now=NOW)
    stored = json.loads(row["request_data"])["outer"][0][key]
    assert stored == (REDACTED if expected else "VALUE")


# ---------------------------------------------------------------- the files on disk


def _raw_files(db: Path) -> dict[str, bytes]:
    out = {}
    for suffix in ("", "-wal", "-shm"):
        f = Path(f"{db}{suffix}")
        out[suffix or "db"] = f.read_bytes() if f.exists() else b""
    return out


@pytest.mark.parametrize("checkpoint", [False, True])
def test_secret_bytes_never_reach_the_database_wal_or_shm(db_path: Path, checkpoint: bool) -> None:
    secret = "Zq7-UNIQUE-SECRET-4e1c9b"
    visible = "Vx3-UNIQUE-VISIBLE-88d0"
    conn = connect(db_path)
    records: list[dict[str, Any]] = [
        {"type": "activity", "title": visible, "requestData": _nest(secret), "responseData": [_nest(secret)]},
        {"type": "system", "systemMetrics": {"cpuUsage": 1, "dbPassword": secret}, "message": visible},
        {"type": "error", "message": visible, "apiKey": secret, "ctx": {"auth": {"bearerToken": secret}}},
        {"type": "chat", "message": visible, "extra": {"cookie": secret, "pin": secret}},
    ]
    insert_rows(conn, [normalize(r, now=NOW) for r in records * 50])
    if checkpoint:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = _raw_files(db_path)
    assert files["-wal" if not checkpoint else "db"], "nothing was written"
    everything = b"".join(files.values())
    assert visible.encode() in everything  # the check can see what was written
    for name, data in files.items():
        assert secret.encode() not in data, f"secret found in {name}"
    conn.close()
    assert secret.encode() not in b"".join(_raw_files(db_path).values())


def test_redacted_records_read_back_redacted(conn: sqlite3.Connection) -> None:
    insert_rows(conn, [normalize({"type": "activity", "requestData": {"password": "p", "q": 1}}, now=NOW)])
    stored = conn.execute("SELECT request_data FROM records").fetchone()[0]
    assert json.loads(stored) == {"password": REDACTED, "q": 1}
