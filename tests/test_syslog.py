"""Syslog parsing and stream framing: exact mappings, and hypothesis for
"never raises except the documented error"."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logconsole.collectors.framing import Frame, Framer
from logconsole.collectors.syslog import SyslogError, parse_syslog
from logconsole.ingest import IngestError, normalize


@pytest.mark.parametrize(
    ("severity", "kind", "field", "value"),
    [
        (0, "error", "severity", "critical"), (1, "error", "severity", "critical"),
        (2, "error", "severity", "critical"), (3, "error", "severity", "high"),
        (4, "activity", "level", "warn"), (5, "activity", "level", "info"),
        (6, "activity", "level", "info"), (7, "activity", "level", "debug"),
    ],
)
def test_severity_mapping(severity: int, kind: str, field: str, value: str) -> None:
    rec = parse_syslog(f"<{8 + severity}>app: hello")
    assert (rec["type"], rec[field], rec["message"]) == (kind, value, "hello")
    assert rec["syslog_facility"] == "user"


def test_logger_local_form_without_hostname() -> None:
    rec = parse_syslog("<11>Nov 27 07:09:11 myapp[321]: disk full")
    assert rec == {
        "type": "error", "severity": "high", "message": "disk full", "title": "myapp",
        "syslog_facility": "user", "syslog_severity": "err", "syslog_timestamp": "Nov 27 07:09:11",
        "syslog_identifier": "myapp", "syslog_pid": 321,
    }


def test_rfc3164_with_hostname_and_padded_day() -> None:
    rec = parse_syslog("<34>Oct  1 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8")
    assert rec["syslog_hostname"] == "mymachine" and rec["title"] == "su"
    assert rec["syslog_facility"] == "auth" and rec["severity"] == "critical"
    assert rec["message"] == "'su root' failed for lonvick on /dev/pts/8"
    assert "created_at" not in rec  # no year, no zone: stamped on receipt


def test_rfc5424_full() -> None:
    text = ('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 '
            '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][x@1 q="a\\"b\\]c"] '
            '\ufeffAn application event log entry')
    rec = parse_syslog(text)
    assert rec["type"] == "activity" and rec["level"] == "info"
    assert rec["created_at"] == "2003-10-11T22:14:15.003Z"
    assert rec["title"] == "evntslog" and rec["syslog_pid"] == 1234 and rec["syslog_msgid"] == "ID47"
    assert rec["syslog_hostname"] == "mymachine.example.com" and rec["syslog_facility"] == "local4"
    assert rec["syslog_structured_data"] == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "x@1": {"q": 'a"b]c'},
    }
    assert rec["message"] == "An application event log entry"


def test_rfc5424_nil_values_and_no_message() -> None:
    rec = parse_syslog("<14>1 - - - - - -")
    assert rec["message"] == "" and "title" not in rec and "created_at" not in rec


def test_rfc5424_bad_timestamp_is_kept_not_fatal() -> None:
    rec = parse_syslog("<14>1 not-a-time host app - - - hello")
    assert rec["syslog_timestamp"] == "not-a-time" and "created_at" not in rec


def test_python_syslog_handler_forms() -> None:
    assert parse_syslog("<11>plain message")["message"] == "plain message"
    rec = parse_syslog("<11>webapp: Traceback (most recent call last):\n  File x")
    assert rec["title"] == "webapp" and rec["message"].startswith("Traceback")


@pytest.mark.parametrize("text", ["<192>x", "<abc>x", "<>x", "no pri", "<01>x", "<1234>x", ""])
def test_invalid_priority_raises_syslog_error(text: str) -> None:
    with pytest.raises(SyslogError, match="invalid syslog priority"):
        parse_syslog(text)


def test_parsed_records_normalise_with_their_fields_kept() -> None:
    row = normalize(parse_syslog("<13>1 2024-01-02T03:04:05Z h app 7 M [s@1 password=\"x\"] hi"))
    assert row["type"] == "activity" and row["title"] == "app" and row["message"] == "hi"
    assert row["created_at"] == "2024-01-02T03:04:05.000000Z"
    assert '"password":"[REDACTED]"' in row["extra"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises_other_errors(text: str) -> None:
    try:
        rec = parse_syslog(text)
    except SyslogError:
        return
    assert rec["type"] in ("error", "activity") and isinstance(rec["message"], str)
    try:
        normalize(rec)
    except IngestError:
        pass  # e.g. an error record with an empty message: answered, not a crash


@settings(max_examples=300, deadline=None)
@given(
    pri=st.integers(0, 191),
    body=st.one_of(
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=200),
        # RFC 5424-shaped: version, header fields, structured data fragments
        st.lists(st.sampled_from(["1", " ", "-", "[", "]", "=", '"', "\\", "a@1", "k", "2024-01-02T03:04:05Z",
                                  "host", "app", "99", ":", "\ufeff", "msg"]), max_size=30).map("".join),
    ),
)
def test_any_body_after_a_valid_pri_parses(pri: int, body: str) -> None:
    rec = parse_syslog(f"<{pri}>{body}")
    assert rec["syslog_facility"]


# -- framing ----------------------------------------------------------------------


def frames(data: bytes, limit: int = 1000) -> list[Frame]:
    f = Framer(limit)
    return f.feed(data) + f.finish()


def test_frames_of_each_kind() -> None:
    got = frames(b'{"a":1}\n<13>hi\n12 <13>octet ok{"b":2}\r\n\n<11>py\x00<12>multi\nline\x00')
    assert got == [
        Frame("json", b'{"a":1}'), Frame("syslog", b"<13>hi"), Frame("syslog", b"<13>octet ok"),
        Frame("json", b'{"b":2}'), Frame("empty"), Frame("syslog", b"<11>py"),
        Frame("syslog", b"<12>multi\nline"),
    ]


def test_over_the_limit_is_one_error_and_the_stream_goes_on() -> None:
    got = frames(b"x" * 50 + b"\nok\n9999 <13>" + b"z" * 9995 + b"after\n", limit=20)
    assert [f.kind for f in got] == ["error", "json", "error", "json"]
    assert got[0].error == "message of 50 bytes exceeds the limit of 20 bytes"
    assert got[2].error == "message of 9999 bytes exceeds the limit of 20 bytes"
    assert got[3].data == b"after"


def test_truncated_octet_count_at_eof() -> None:
    assert frames(b"50 <13>short") == [Frame("error", error="connection closed inside a message of 50 bytes")]


def test_digits_alone_are_a_json_line() -> None:
    assert frames(b"12345\n") == [Frame("json", b"12345")]


stream_parts = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"\n", b"\x00", b"<13>", b"12 ", b"<", b"{", b"\r\n", b"5 <1>abc"]),
    ),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(parts=stream_parts, cuts=st.lists(st.integers(0, 400), max_size=8), limit=st.integers(1, 64))
def test_framing_is_the_same_however_the_bytes_arrive(parts: list[bytes], cuts: list[int], limit: int) -> None:
    data = b"".join(parts)
    whole = Framer(limit)
    expected = whole.feed(data) + whole.finish()
    pieces, last = [], 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    split = Framer(limit)
    got = [fr for p in pieces for fr in split.feed(p)] + split.finish()
    for fr in got:
        assert fr.kind in ("json", "syslog", "empty", "error")
        assert len(fr.data) <= limit
    # A NUL seen in a later piece can re-frame a newline-ended syslog message
    # that arrived earlier; otherwise chunking never changes the frames.
    if b"\x00" not in data:
        assert [(f.kind, f.data) for f in got] == [(f.kind, f.data) for f in expected]


@settings(max_examples=300, deadline=None)
@given(
    pri=st.integers(0, 191),
    tag=st.text(max_size=12),
    pid=st.text(max_size=12),
    host=st.text(max_size=8),
    msg=st.text(max_size=30),
)
@example(pri=13, tag="app", pid="²", host="", msg="x")  # a digit that int() refuses
@example(pri=13, tag="app", pid="١٢", host="", msg="x")
def test_header_shaped_input_never_raises(pri: int, tag: str, pid: str, host: str, msg: str) -> None:
    for text in (f"<{pri}>{tag}[{pid}]: {msg}", f"<{pri}>Nov 27 07:09:11 {host} {tag}[{pid}]: {msg}",
                 f"<{pri}>1 - {host} {tag} {pid} {msg} - {msg}"):
        rec = parse_syslog(text)
        assert isinstance(rec.get("syslog_pid", 0), (int, str))
