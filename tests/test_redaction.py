"""Secrets never reach the disk: which keys are hidden, at what depth, and the raw files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
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
    # plural and compound names
    "passwords", "userPasswords", "api_keys", "apiKeys", "API_KEYS", "access_token", "access_tokens",
    "refresh_token", "refreshTokens", "client_secret", "clientSecrets", "x-api-key", "X-API-KEYS", "secrets",
    "cookies", "ssh_keys", "pins_list", "authorizations",
]
KEPT = [
    "shipping", "keyboard", "spinner", "tokens", "tokens_used", "tokensUsed", "keys", "monkey",
    "passage", "pinned", "pinyin", "biscuit", "author", "secretary",
    "credit", "card", "cardType", "credit_limit", "card_credit", "user_id", "message", "keyword",
    "donkey", "turkey", "changed_at", "ssnap", "authorized",
    # counts of tokens (AI usage) and bare plurals that name no secret
    "max_tokens", "prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "outputTokens",
    "cached_tokens", "reasoning_tokens", "pins", "monkeys", "hotkeys", "passages",
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
    assert json.loads(row["request_data"]) == {"tokens": ["a"], "apiKeys": REDACTED, "token": REDACTED}


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
    expected = (
        any(w in SECRET_WORDS for w in words)
        or any(a == "credit" and b == "card" for a, b in zip(words, words[1:]))
        # "tokens", "keys": a secret in a compound name ("api_keys"), a count or a list alone
        or (len(words) > 1 and any(w in ("tokens", "keys") for w in words))
    )
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


# ---------------------------------------------------------------- secrets inside free text

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
       ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM_BODY = "MIIEpAIBAAKCAQEA7bq0x1f3kR9\nq2Vx8LwZmN4tYp0sUe6Hj5Gk3Rd"

# (text, the secret that must vanish, text that must stay around it)
SECRET_TEXTS = [
    ("GET /me Authorization: Bearer 7f3a9c2e1b4d5f6a8e0c", "7f3a9c2e1b4d5f6a8e0c", "GET /me"),
    ("authorization: bearer 7f3a9c2e1b4d5f6a8e0c", "7f3a9c2e1b4d5f6a8e0c", ""),
    ("upstream said 401 for Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz", "401"),
    ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy", ""),
    ("sent header Basic YWRtaW46czNjcjN0 to proxy", "YWRtaW46czNjcjN0", "to proxy"),
    (f"token expired: {JWT} (exp 1732700000)", "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "exp 1732700000"),
    (f"cookie jwt={JWT}", "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ", ""),
    ("GET /reset?user=ana&password=hunter2&next=/home", "hunter2", "user=ana"),
    ("GET /reset?user=ana&password=hunter2&next=/home", "hunter2", "next=/home"),
    ("https://api.example.com/v1?access_token=ya29.A0ARrdaMxyz&format=json", "ya29.A0ARrdaMxyz", "format=json"),
    ("callback?token=s3cr3t-T0ken", "s3cr3t-T0ken", "callback?token="),
    ("login with passwords=hunter2 api_keys=k-998877", "hunter2", "login with"),
    ("login with passwords=hunter2 api_keys=k-998877", "k-998877", "login with"),
    ('set password = "correct horse battery"', "correct horse battery", "set password"),
    ("connecting to postgres://app:Sup3rS3cret@db.internal:5432/shop", "Sup3rS3cret", "db.internal:5432/shop"),
    ("charged card 4111 1111 1111 1111 for order 12345", "4111 1111 1111 1111", "for order 12345"),
    ("card=5555-5555-5555-4444 declined", "5555-5555-5555-4444", "declined"),
    ("amex 378282246310005, visa 4532015112830366.", "378282246310005", "amex"),
    ("amex 378282246310005, visa 4532015112830366.", "4532015112830366", "visa"),
    ("cards 4111111111111111,5105105105105100", "5105105105105100", "cards"),
    ("aws key AKIAIOSFODNN7EXAMPLE used from 10.0.0.9", "AKIAIOSFODNN7EXAMPLE", "used from 10.0.0.9"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG", ""),
    (f"loaded key\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\ndone",
     "MIIEpAIBAAKCAQEA7bq0x1f3kR9", "done"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU", ""),
    ("request headers:\nX-Api-Key: 9f8e7d6c5b4a\nAccept: json", "9f8e7d6c5b4a", "Accept: json"),
    ("Cookie: sessionid=abc123xyz; csrftoken=qwe789", "abc123xyz", ""),
    ("headers {'x-api-key': 'abc123def', 'accept': 'json'}", "abc123def", "'accept': 'json'"),
    ('body {"user":"ana","password":"hunter2","remember":true}', "hunter2", '"user":"ana"'),
    ('body {"user": "ana", "client_secret": "QmFzZTY0U2VjcmV0"}', "QmFzZTY0U2VjcmV0", '"user": "ana"'),
    ("client_secret=QmFzZTY0U2VjcmV0&grant_type=client_credentials", "QmFzZTY0U2VjcmV0", "grant_type"),
    ("refreshing with refresh_token: r1-abc-987 now", "r1-abc-987", "now"),
    ("password: hunter2", "hunter2", ""),
    ("login failed for bob, password: hunter2", "hunter2", "login failed for bob"),
    ("ssn=123-45-6789 pin=4321", "123-45-6789", ""),
    ("ssn=123-45-6789 pin=4321", "4321", ""),
    ("pushed with ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "pushed"),
    ("slack xoxb-1234567890-abcdefghijKL ok", "xoxb-1234567890-abcdefghijKL", "ok"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe"),
    ("maps AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW ok", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", "ok"),
]

# Text that looks a little like a secret and must come out unchanged.
LOOKALIKES = [
    "shipping=express&keyboard=dvorak&spinner=on",
    "order 4111111111111112 shipped",              # fails the Luhn check
    "order number 1234567812345678",                # fails the Luhn check
    "tokens=812 max_tokens=1024 prompt_tokens=12 tokens_used=830",
    "Wrong password for ana@example.org; attempt 3 of 5",
    "Session token refreshed for Dana Müller",
    "Missing key: user_id",
    "Unexpected token: '<' in JSON at position 0",
    "KeyError: 'user_id'",
    "JsonWebTokenError: jwt malformed",
    "Basic setup completed in 3 s",
    "Bearer authentication failed",
    "keyboard shortcut ctrl+k; monkey=1 turkey=2 donkey=3",
    "epoch 1732700000000 ms",
    "cpu 0.4532015112830366 of 1",
    "id 550e8400-e29b-41d4-a716-446655440000 sha 4a7d1ed414474e4033ac29ccb8653d9b",
    "https://example.com/path?page=2&sort=asc",
    "connecting to postgres://db.internal:5432/shop as https://user@example.com",
    "listening on 10.0.0.1:8080, [::1]:8080",
    "ERROR: timeout after 30000 ms",
    "    at getCourse (/app/src/services/getCourse.js:12:17)",
    "Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in f\nValueError: bad",
    "risk-based pricing, desk-top, task-scheduler",
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "Payment declined: card ending 4242",
    "",
]


@pytest.mark.parametrize(("text", "secret", "kept"), SECRET_TEXTS)
def test_secrets_in_free_text_vanish(text: str, secret: str, kept: str) -> None:
    redactor = Redactor()
    out = redactor.scrub(text)
    assert secret not in out and REDACTED in out, out
    assert kept in out, out
    assert redactor.scrub(text) == out and redactor.scrub(out) == out  # remembered clean texts change nothing


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_in_free_text_stay(text: str) -> None:
    assert Redactor().scrub(text) == text


def test_configured_words_apply_to_text_too() -> None:
    assert Redactor(["otp"]).scrub("verify?otp=123456&x=1") == f"verify?otp={REDACTED}&x=1"
    assert Redactor().scrub("verify?otp=123456&x=1") == "verify?otp=123456&x=1"


def test_free_text_fields_and_json_strings_are_scrubbed_ids_are_not() -> None:
    card = "4111111111111111"
    row = normalize({
        "type": "error", "message": f"charge {card} failed", "stack": f"Error: Bearer {JWT}\n  at pay",
        "endpoint": "/pay?token=abc123", "user_id": card,
        "context": f"password=hunter2 for {card}",
    }, now=NOW)
    assert row["message"] == f"charge {REDACTED} failed"
    assert row["stack"] == f"Error: Bearer {REDACTED}\n  at pay"
    assert row["endpoint"] == f"/pay?token={REDACTED}"
    assert row["user_id"] == card  # an identifier, not prose: stored as sent
    assert json.loads(row["extra"]) == {"context": f"password={REDACTED} for {REDACTED}"}
    act = normalize({"type": "activity", "title": f"paid with {card}", "conversation": card,
                     "requestData": {"note": f"card {card}", "items": [f"Authorization: Bearer {JWT}"], "n": 4},
                     "responseData": [f"token={JWT}"]}, now=NOW)
    assert act["title"] == f"paid with {REDACTED}"
    assert json.loads(act["request_data"]) == {"note": f"card {REDACTED}", "items": [f"Authorization: {REDACTED}"],
                                               "n": 4}
    assert json.loads(act["response_data"]) == [f"token={REDACTED}"]
    assert json.loads(act["extra"]) == {"conversation": REDACTED}  # a string value in extra is text too
    ai = normalize({"type": "ai", "model": "m", "prompt": f"my card is {card}", "response": f"ok {JWT}",
                    "error_message": "401 for Bearer 7f3a9c2e1b4d5f6a8e0c"}, now=NOW)
    assert (ai["prompt"], ai["response"], ai["error_message"]) == (
        f"my card is {REDACTED}", f"ok {REDACTED}", f"401 for Bearer {REDACTED}")


FRAGMENTS = [" ", "\n", "=", ": ", "'", '"', "&", "?", "://", "@", "password", "api_key", "Key", "token",
             "Bearer ", "basic ", "eyJhbGciOiJIUzI1NiJ9", ".", "eyJzdWIiOiIxIn0", "-----BEGIN RSA PRIVATE KEY-----",
             "-----END RSA PRIVATE KEY-----", "4111", "1111", "-", "AKIA", "IOSFODNN7EXAMPLE", "ghp_", "x" * 36,
             "[REDACTED]", "sk-", "dXNlcjpodW50ZXIy", "KeyError", "0", "{", "}"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join)))
def test_scrub_never_raises_and_is_idempotent(text: str) -> None:
    once = Redactor().scrub(text)
    assert Redactor().scrub(once) == once


def test_free_text_secrets_never_reach_the_disk_through_any_door(tmp_path: Path) -> None:
    """A real daemon: a JSON record, syslog and a tailed file, each with secrets in prose."""
    from collector_support import Client, Collector, wait_for

    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_text("")
    secrets = ["Zq7UNIQUEjsonSECRET4e1c", "4111111111111111", "Zq7UNIQUEsyslogSECRET", "Zq7UNIQUEtailSECRET",
               JWT, "Zq7UNIQUEdataSECRET", "AKIAZQ7UNIQUE0000AWS"]
    daemon = Collector(tmp_path, "--watch", str(logs / "*.log"), "--retention-days", "0").start()
    try:
        wait_for(lambda: daemon.rows("SELECT * FROM file_offsets"), 10, "the tailer to start")
        with Client(daemon.sock) as cl:
            cl.send_records({"type": "error", "message": f"login?password={secrets[0]} card {secrets[1]}",
                             "request_data": {"note": f"Authorization: Bearer {JWT}",
                                              "q": f"token={secrets[5]}"}})
            cl.send(f"<11>1 2026-11-27T07:09:11Z host app - - - auth failed, password: {secrets[2]}\n"
                    f"<13>Nov 27 07:09:11 host app: key {secrets[6]}\n")
            answer, before = cl.sync()
            assert before == [] and answer["stored"] == 3
        with log.open("a") as f:
            f.write(f"ERROR connect postgres://app:{secrets[3]}@db/shop failed\n")
        wait_for(lambda: len(daemon.rows()) >= 4, 10, "the tailed line")
        assert daemon.stop() == 0
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(10)
    everything = b"".join(_raw_files(daemon.db).values())
    assert b"auth failed" in everything and b"db/shop failed" in everything  # the check sees what was written
    for secret in secrets:
        assert secret.encode() not in everything, secret


def test_the_documented_examples_hold() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = doc.split("## What never reaches the disk", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) >= 10
    for line in rows:
        written, stored = (cell.strip().strip("`") for cell in line.strip("|").split("|"))
        assert Redactor().scrub(written) == stored, line
    for word in ("accessToken", "refresh_token", "client_secret", "X-Api-Key", "pin_code", "passwords", "api_keys"):
        assert f"`{word}`" in section and Redactor().is_secret(word), word
    for word in ("shipping", "keyboard", "spinner", "tokens_used", "max_tokens", "prompt_tokens"):
        assert f"`{word}`" in section and not Redactor().is_secret(word), word
