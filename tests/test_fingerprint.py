"""The fingerprint rule (:mod:`logconsole.fingerprint`) on real messages and stacks.

Each row is an error as apps send it and the fingerprint it must get; two
errors that differ only in ids, times, addresses or line numbers must get the
same one.
"""

from __future__ import annotations

import pytest

from logconsole.fingerprint import app_frame, fingerprint, message_template, sent_fingerprint
from logconsole.ingest import IngestError, normalize

NODE_STACK = """TypeError: Cannot read properties of undefined (reading 'title')
    at getCourse (/srv/lms/releases/20261129/src/routes/courses.js:42:17)
    at Layer.handle [as handle_request] (/srv/lms/node_modules/express/lib/router/layer.js:95:5)
    at next (/srv/lms/node_modules/express/lib/router/route.js:144:13)"""

NODE_ASYNC_STACK = """Error: Request failed with status code 502
    at createError (/app/node_modules/axios/lib/core/createError.js:16:15)
    at settle (/app/node_modules/axios/lib/core/settle.js:17:12)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)
    at async PaymentService.charge (file:///app/dist/services/payment.js:88:21)
    at async /app/dist/routes/checkout.js:31:5"""

NODE_ANONYMOUS_STACK = """ReferenceError: user is not defined
    at /app/src/middleware/auth.js:12:9
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)"""

NODE_LIBRARY_ONLY = """MongoServerError: E11000 duplicate key error
    at /app/node_modules/mongodb/lib/operations/insert.js:50:33
    at processTicksAndRejections (node:internal/process/task_queues:95:5)"""

PYTHON_STACK = """Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/flask/app.py", line 1484, in full_dispatch_request
    rv = self.dispatch_request()
  File "/srv/lms/lms/views/enroll.py", line 88, in enroll
    course = load_course(course_id)
  File "/srv/lms/lms/models.py", line 12, in load_course
    return COURSES[course_id]
KeyError: 94"""

PYTHON_STACK_MOVED = PYTHON_STACK.replace("/srv/lms/", "/opt/deploy/lms-2/").replace("line 12", "line 15")

PYTHON_LIBRARY_LAST = """Traceback (most recent call last):
  File "/app/worker/tasks.py", line 40, in send_digest
    smtp.send_message(msg)
  File "/usr/lib/python3.11/smtplib.py", line 986, in send_message
    return self.sendmail(from_addr, to_addrs, flatmsg, mail_options, rcpt_options)
  File "/usr/lib/python3.11/site-packages/x/y.py", line 3, in sendmail
smtplib.SMTPRecipientsRefused: {'ana@example.com': (550, b'5.1.1 unknown')}"""

JAVA_STACK = """java.lang.NullPointerException: Cannot invoke "String.length()" because "<local1>" is null
	at java.base/java.util.Objects.requireNonNull(Objects.java:208)
	at com.example.lms.web.CourseController.getCourse(CourseController.java:42)
	at org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)
	at java.base/java.lang.Thread.run(Thread.java:833)"""

JAVA_CAUSED_BY = """org.springframework.dao.DataIntegrityViolationException: could not execute statement
	at org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:276)
	at com.example.lms.service.EnrollmentService.enroll(EnrollmentService.java:57)
	at com.example.lms.web.EnrollmentController.create(EnrollmentController.java:31)
Caused by: org.hibernate.exception.ConstraintViolationException: could not execute statement
	at com.example.lms.repo.Other.save(Other.java:1)"""

CASES: list[tuple[str, dict[str, object], str]] = [
    ("node TypeError with its frame", {"error_type": "TypeError", "message":
     "Cannot read properties of undefined (reading 'title')", "stack": NODE_STACK},
     "TypeError: Cannot read properties of undefined (reading {str}) @ routes/courses.js in getCourse"),
    ("node async frame, library frames skipped", {"error_type": "AxiosError", "message":
     "Request failed with status code 502", "stack": NODE_ASYNC_STACK},
     "AxiosError: Request failed with status code {n} @ services/payment.js in PaymentService.charge"),
    ("node anonymous frame", {"error_type": "ReferenceError", "message": "user is not defined",
     "stack": NODE_ANONYMOUS_STACK}, "ReferenceError: user is not defined @ middleware/auth.js in <anonymous>"),
    ("node stack of library frames only", {"error_type": "MongoServerError", "message":
     'E11000 duplicate key error collection: lms.users index: email_1 dup key: { email: "ana@example.com" }',
     "stack": NODE_LIBRARY_ONLY},
     "MongoServerError: E11000 duplicate key error collection: lms.users index: email_1 dup key: { email: {str} }"),
    ("mongodb E11000 with an unquoted ObjectId", {"error_type": "MongoServerError", "message":
     "E11000 duplicate key error collection: lms.enrollments index: user_1_course_1 dup key: "
     "{ user: ObjectId('6561f0a2b3c4d5e6f7a8b9c0'), course: 94 }"},
     "MongoServerError: E11000 duplicate key error collection: lms.enrollments index: user_1_course_1 "
     "dup key: { user: ObjectId({oid}), course: {n} }"),
    ("mongoose cast error", {"error_type": "CastError", "message":
     'Cast to ObjectId failed for value "abc" (type string) at path "_id" for model "Course"'},
     "CastError: Cast to ObjectId failed for value {str} (type string) at path {str} for model {str}"),
    ("bare ObjectId", {"error_type": "NotFoundError", "message": "Course 6561f0a2b3c4d5e6f7a8b9c0 not found"},
     "NotFoundError: Course {oid} not found"),
    ("jwt expired", {"error_type": "TokenExpiredError", "message": "jwt expired"},
     "TokenExpiredError: jwt expired"),
    ("jwt expired with its time", {"error_type": "TokenExpiredError",
     "message": "jwt expired at 2026-11-29T14:02:11.000Z"}, "TokenExpiredError: jwt expired at {time}"),
    ("jwt malformed", {"error_type": "JsonWebTokenError", "message": "jwt malformed"},
     "JsonWebTokenError: jwt malformed"),
    ("uuid", {"error_type": "TimeoutError", "message":
     "request 3f2504e0-4f89-11d3-9a0c-0305e82c3301 timed out after 30000 ms"},
     "TimeoutError: request {uuid} timed out after {n} ms"),
    ("e-mail address", {"error_type": "ValidationError", "message": "No account for bob.smith+lms@example.co.uk"},
     "ValidationError: No account for {email}"),
    ("ipv4 with port", {"error_type": "Error", "message": "connect ECONNREFUSED 10.0.3.7:27017"},
     "Error: connect ECONNREFUSED {ip}"),
    ("ipv6", {"error_type": "Error", "message": "connect ETIMEDOUT 2001:db8:85a3::8a2e:370:7334"},
     "Error: connect ETIMEDOUT {ip}"),
    ("url path ids", {"error_type": "HTTPError", "message": "GET /api/courses/94/lessons/12 returned 500"},
     "HTTPError: GET /api/courses/{id}/lessons/{id} returned {n}"),
    ("url with host, objectid segment and query", {"error_type": "FetchError", "message":
     "request to https://api.example.com/v2/users/6561f0a2b3c4d5e6f7a8b9c0/avatar?size=64 failed"},
     "FetchError: request to https://api.example.com/v2/users/{id}/avatar?size={n} failed"),
    ("url slugs are kept", {"error_type": "NotFound", "message": "/courses/intro-to-python/v2 missing"},
     "NotFound: /courses/intro-to-python/v2 missing"),
    ("hex pointer", {"error_type": "SegFault", "message": "invalid pointer 0x7ffd5e8c at free()"},
     "SegFault: invalid pointer {hex} at free()"),
    ("long hex hash", {"error_type": "IntegrityError", "message": "checksum 9f86d081884c7d659a2feaa0c55ad015 mismatch"},
     "IntegrityError: checksum {hex} mismatch"),
    ("numbers inside words stay", {"error_type": "Error", "message": "utf8 decode failed in ipv4 parser, code E42"},
     "Error: utf8 decode failed in ipv4 parser, code E42"),
    ("python traceback, last application frame", {"error_type": "KeyError", "message": "94",
     "stack": PYTHON_STACK}, "KeyError: {n} @ lms/models.py in load_course"),
    ("python traceback deployed elsewhere, line moved", {"error_type": "KeyError", "message": "95",
     "stack": PYTHON_STACK_MOVED}, "KeyError: {n} @ lms/models.py in load_course"),
    ("python, library frames after the app's", {"error_type": "SMTPRecipientsRefused", "message":
     "{'ana@example.com': (550, b'5.1.1 unknown')}", "stack": PYTHON_LIBRARY_LAST},
     "SMTPRecipientsRefused: {{str}: ({n}, b{str})} @ worker/tasks.py in send_digest"),
    ("python KeyError quoted", {"error_type": "KeyError", "message": "'user_id'"}, "KeyError: {str}"),
    ("java, runtime frames skipped", {"error_type": "java.lang.NullPointerException", "message":
     'Cannot invoke "String.length()" because "<local1>" is null', "stack": JAVA_STACK},
     "java.lang.NullPointerException: Cannot invoke {str} because {str} is null "
     "@ CourseController.java in com.example.lms.web.CourseController.getCourse"),
    ("java, the top section before Caused by", {"error_type": "DataIntegrityViolationException",
     "message": "could not execute statement", "stack": JAVA_CAUSED_BY},
     "DataIntegrityViolationException: could not execute statement "
     "@ EnrollmentService.java in com.example.lms.service.EnrollmentService.enroll"),
    ("no type", {"message": "Payment 1234 declined for user 77"}, "Payment {n} declined for user {n}"),
    ("whitespace collapsed", {"error_type": "Error", "message": "disk  full\n on /var"},
     "Error: disk full on /var"),
    ("decimal and negative numbers", {"error_type": "RangeError", "message": "value -3.5 out of range [0, 1.25]"},
     "RangeError: value {n} out of range [{n}, {n}]"),
    ("sent string wins", {"error_type": "TypeError", "message": "x", "fingerprint": "checkout-flow"},
     "checkout-flow"),
    ("sent list with the default", {"error_type": "TypeError", "message": "user 5 missing",
     "fingerprint": ["tenant-a", "{{ default }}"]}, "tenant-a | TypeError: user {n} missing"),
]


@pytest.mark.parametrize(("record", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fingerprint_of_real_errors(record: dict[str, object], expected: str) -> None:
    record = dict(record)
    sent = sent_fingerprint(record.pop("fingerprint", None))
    assert fingerprint(record, sent) == expected


def test_the_table_has_enough_real_examples() -> None:
    assert len(CASES) >= 25


def test_errors_that_differ_only_in_variable_parts_share_a_fingerprint() -> None:
    a = {"error_type": "TypeError", "message": "user 42 (bob@x.org) at 10.0.0.1 on /api/courses/94",
         "stack": NODE_STACK}
    b = {"error_type": "TypeError", "message": "user 7 (eve@y.com) at 10.9.9.9 on /api/courses/3",
         "stack": NODE_STACK.replace(":42:17", ":57:3")}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint({**a, "error_type": "RangeError"})


def test_app_frame_is_none_without_a_stack_of_frames() -> None:
    assert app_frame("just text\nmore text") is None
    assert message_template("") == ""


@pytest.mark.parametrize("bad", [{"a": 1}, [1, {"b": 2}], True, 3.5])
def test_an_unusable_sent_fingerprint_is_refused_with_the_field(bad: object) -> None:
    with pytest.raises(IngestError) as caught:
        normalize({"type": "error", "message": "x", "fingerprint": bad})
    assert caught.value.field == "fingerprint"
    assert "must be a string or a list of strings" in caught.value.reason


def test_ingest_fingerprints_errors_only_and_the_store_assigns_groups() -> None:
    row = normalize({"type": "error", "message": "order 12 failed", "errorType": "E", "groupId": 99})
    assert row["fingerprint"] == "E: order {n} failed" and "group_id" not in row
    other = normalize({"type": "activity", "title": "t", "fingerprint": "f"})
    assert "fingerprint" not in other and '"fingerprint"' in other["extra"]


def test_a_secret_in_a_message_never_reaches_the_fingerprint() -> None:
    row = normalize({"type": "error", "message": "login failed password=hunter2 for 5"})
    assert "hunter2" not in row["fingerprint"]


def _doc_examples() -> list[list[str]]:
    """The rows of the examples table in docs/groups.md, cells unquoted."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "groups.md").read_text()
    table = text.split("Examples (each is checked by the tests):")[1].split("\n\n")[1]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append([c[1:-1] if c.startswith("`") else c for c in cells])
    return rows


def test_the_examples_in_the_docs_are_what_the_rule_gives() -> None:
    rows = _doc_examples()
    assert len(rows) >= 6
    for error_type, message, frame, expected in rows:
        stack = f"{error_type}: {message}\n    {frame}" if frame.startswith("at ") else (
            f"Traceback (most recent call last):\n  {frame}\n" if frame else None)
        assert fingerprint({"error_type": error_type, "message": message, "stack": stack}) == expected
