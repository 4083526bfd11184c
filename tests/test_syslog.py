"""Syslog parsing and stream framing: exact mappings, and hypothesis for
"never raises except the documented error"."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logconsole.collectors.framing import Frame, Framer
from logconsole.collectors.syslog import NO_MESSAGE, SyslogError, parse_syslog
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
    assert rec["message"] == NO_MESSAGE and "title" not in rec and "created_at" not in rec


@pytest.mark.parametrize("text", [
    "<11>1 2026-11-27T07:09:11Z host app - - -",        # MSG omitted, as RFC 5424 allows
    "<8>1 2026-11-27T07:09:11Z host app - - - ",        # an empty MSG
    "<10>1 2026-11-27T07:09:11Z host app - - [a@1 k=\"v\"]",
    "<9>1 2026-11-27T07:09:11Z host app - - - \ufeff",  # only the BOM
    "<11>Nov 27 07:09:11 host app:",                   # RFC 3164 with nothing after the tag
    "<11>",
])
def test_an_error_without_message_is_stored_with_a_placeholder(text: str) -> None:
    rec = parse_syslog(text)
    assert rec["type"] == "error" and rec["message"] == NO_MESSAGE
    row = normalize(rec)  # no longer "field `message` must not be empty"
    assert row["message"] == NO_MESSAGE


# What real senders and relays write, each with every field it must give. The
# level fields (type, severity/level, facility) are checked by the tests above.
VECTORS = [
    # RFC 3164 4.3.3 / 5.4: a HOSTNAME and no TAG.
    ("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
     {"message": "Use the BFG!", "syslog_timestamp": "Feb  5 17:32:18", "syslog_hostname": "10.0.0.99"}),
    ("<13>Feb  5 17:32:18 10.0.0.99 app[12]: hi",
     {"message": "hi", "title": "app", "syslog_timestamp": "Feb  5 17:32:18", "syslog_hostname": "10.0.0.99",
      "syslog_identifier": "app", "syslog_pid": 12}),
    # RFC 3164 5.4: a relayed message whose header is not a timestamp is all MSG.
    ("<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
     {"message": "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!"}),
    # IPv6 hosts, bare and in brackets (rsyslog accepts both).
    ("<129>Mar 10 01:00:00 2001:db8::1 tag: msgnum:1",
     {"message": "msgnum:1", "title": "tag", "syslog_timestamp": "Mar 10 01:00:00",
      "syslog_hostname": "2001:db8::1", "syslog_identifier": "tag"}),
    ("<129>Mar 10 01:00:00 [2001:db8::2] tag: msgnum:2",
     {"message": "msgnum:2", "title": "tag", "syslog_timestamp": "Mar 10 01:00:00",
      "syslog_hostname": "2001:db8::2", "syslog_identifier": "tag"}),
    ("<129>Mar 10 01:00:00 ::ffff:10.0.0.7 kernel: eth0 up",
     {"message": "eth0 up", "title": "kernel", "syslog_timestamp": "Mar 10 01:00:00",
      "syslog_hostname": "::ffff:10.0.0.7", "syslog_identifier": "kernel"}),
    # Day written "Jan 5", "Jan  5" and "Jan 05"; months in any case.
    ("<46>Jan 5 15:33:03 web-01 rsyslogd: start",
     {"message": "start", "title": "rsyslogd", "syslog_timestamp": "Jan 5 15:33:03",
      "syslog_hostname": "web-01", "syslog_identifier": "rsyslogd"}),
    ("<30>JAN 05 15:33:03 web-01 cron[77]: job done",
     {"message": "job done", "title": "cron", "syslog_timestamp": "JAN 05 15:33:03",
      "syslog_hostname": "web-01", "syslog_identifier": "cron", "syslog_pid": 77}),
    ("<30>dec 24 23:59:59 web-01 cron[77]: job done",
     {"message": "job done", "title": "cron", "syslog_timestamp": "dec 24 23:59:59",
      "syslog_hostname": "web-01", "syslog_identifier": "cron", "syslog_pid": 77}),
    # A year after the time, and (network gear) between the day and the time.
    ("<30>Jan  5 15:33:03 2026 web-01 cron[77]: job done",
     {"message": "job done", "title": "cron", "syslog_timestamp": "Jan  5 15:33:03 2026",
      "syslog_hostname": "web-01", "syslog_identifier": "cron", "syslog_pid": 77}),
    ("<187>Jan  5 2026 15:33:03 router-7 %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
     {"message": "Interface Gi0/1, changed state to down", "title": "%LINK-3-UPDOWN",
      "syslog_timestamp": "Jan  5 2026 15:33:03", "syslog_hostname": "router-7",
      "syslog_identifier": "%LINK-3-UPDOWN"}),
    # Fractional seconds in a BSD timestamp (syslog-ng, network gear).
    ("<13>Oct 11 22:14:15.003271 host app: x",
     {"message": "x", "title": "app", "syslog_timestamp": "Oct 11 22:14:15.003271",
      "syslog_hostname": "host", "syslog_identifier": "app"}),
    # rsyslog's forward format: <PRI>, an RFC 3339 time (exact, microseconds), host, tag.
    ("<190>2026-11-27T07:09:11.605850+01:00 web-01 nginx[812]: GET / 200",
     {"message": "GET / 200", "title": "nginx", "created_at": "2026-11-27T07:09:11.605850+01:00",
      "syslog_hostname": "web-01", "syslog_identifier": "nginx", "syslog_pid": 812}),
    ("<190>2026-11-27T06:09:11Z web-01 liblogging-stdlog:  [origin software=\"rsyslogd\" "
     "swVersion=\"8.2302.0\" x-pid=\"812\" x-info=\"https://www.rsyslog.com\"] start",
     {"message": "start", "title": "liblogging-stdlog", "created_at": "2026-11-27T06:09:11Z",
      "syslog_hostname": "web-01", "syslog_identifier": "liblogging-stdlog",
      "syslog_structured_data": {"origin": {"software": "rsyslogd", "swVersion": "8.2302.0",
                                            "x-pid": "812", "x-info": "https://www.rsyslog.com"}}}),
    # rsyslog's traditional forward format, with its start-up message's structured data.
    ("<46>Jan  5 15:33:03 web-01 rsyslogd:  [origin software=\"rsyslogd\" x-pid=\"20506\"] start",
     {"message": "start", "title": "rsyslogd", "syslog_timestamp": "Jan  5 15:33:03",
      "syslog_hostname": "web-01", "syslog_identifier": "rsyslogd",
      "syslog_structured_data": {"origin": {"software": "rsyslogd", "x-pid": "20506"}}}),
    # Brackets that are not structured data stay in the message.
    ("<46>Jan  5 15:33:03 web-01 app: [error] disk full",
     {"message": "[error] disk full", "title": "app", "syslog_timestamp": "Jan  5 15:33:03",
      "syslog_hostname": "web-01", "syslog_identifier": "app"}),
    ("<46>Jan  5 15:33:03 web-01  [software=\"rsyslogd\"] start",
     {"message": "[software=\"rsyslogd\"] start", "syslog_timestamp": "Jan  5 15:33:03",
      "syslog_hostname": "web-01"}),
    # No space after the tag's colon (syslog-ng's default network format, trimmed).
    ("<13>Feb 13 20:07:26 74794bfb6795 root[8539]:syslog message",
     {"message": "syslog message", "title": "root", "syslog_timestamp": "Feb 13 20:07:26",
      "syslog_hostname": "74794bfb6795", "syslog_identifier": "root", "syslog_pid": 8539}),
    # A space between <PRI> and the timestamp.
    ("<134> Feb 28 14:07:19 myhost sshd[7]: hi",
     {"message": "hi", "title": "sshd", "syslog_timestamp": "Feb 28 14:07:19", "syslog_hostname": "myhost",
      "syslog_identifier": "sshd", "syslog_pid": 7}),
    ("<11> indented, no header", {"message": " indented, no header"}),
    # logger's local form (no hostname) keeps working.
    ("<13>Nov 27 07:09:11 app: text",
     {"message": "text", "title": "app", "syslog_timestamp": "Nov 27 07:09:11", "syslog_identifier": "app"}),
    # RFC 5424 6.5 example 2: microseconds and an offset, an IPv4 host.
    ("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
     {"message": "%% It's time to make the do-nuts.", "title": "myproc",
      "created_at": "2003-08-24T05:14:15.000003-07:00", "syslog_hostname": "192.0.2.1",
      "syslog_identifier": "myproc", "syslog_pid": 8710}),
    # RFC 5424 6.5 example 4: structured data and no MSG.
    ("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" "
     "eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]",
     {"message": NO_MESSAGE, "title": "evntslog", "created_at": "2003-10-11T22:14:15.003Z",
      "syslog_hostname": "mymachine.example.com", "syslog_identifier": "evntslog", "syslog_msgid": "ID47",
      "syslog_structured_data": {
          "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
          "examplePriority@32473": {"class": "high"}}}),
    # RFC 5424 with an IPv6 host, an element without parameters, a colon in APP-NAME (Juniper).
    ("<34>1 2003-10-11T22:14:15.003Z ::FFFF:129.144.52.38 su - ID47 [empty] bananas",
     {"message": "bananas", "title": "su", "created_at": "2003-10-11T22:14:15.003Z",
      "syslog_hostname": "::FFFF:129.144.52.38", "syslog_identifier": "su", "syslog_msgid": "ID47",
      "syslog_structured_data": {"empty": {}}}),
    ("<28>1 2020-05-22T14:59:09.250-03:00 MX204 LS-1:rpd 6589 - - bgp_listen_accept: refused",
     {"message": "bgp_listen_accept: refused", "title": "LS-1:rpd", "created_at": "2020-05-22T14:59:09.250-03:00",
      "syslog_hostname": "MX204", "syslog_identifier": "LS-1:rpd", "syslog_pid": 6589}),
    # Nanoseconds (Go, journald relays): kept as sent; the store keeps what it can.
    ("<14>1 2026-11-27T07:09:11.123456789Z h app - - - x",
     {"message": "x", "title": "app", "created_at": "2026-11-27T07:09:11.123456789Z",
      "syslog_hostname": "h", "syslog_identifier": "app"}),
    # Not RFC 3339: kept as text, the record stamped on receipt.
    ("<14>1 12345 h app - - - x",
     {"message": "x", "title": "app", "syslog_timestamp": "12345", "syslog_hostname": "h",
      "syslog_identifier": "app"}),
]
_LEVEL_KEYS = ("type", "severity", "level", "syslog_facility", "syslog_severity")


@pytest.mark.parametrize(("text", "expected"), VECTORS, ids=[v[0][:40] for v in VECTORS])
def test_vectors_field_by_field(text: str, expected: dict[str, object]) -> None:
    got = parse_syslog(text)
    assert {k: v for k, v in got.items() if k not in _LEVEL_KEYS} == expected


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
