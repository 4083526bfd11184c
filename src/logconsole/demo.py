"""Demo records: a month in the life of a small learning platform.

:func:`generate` yields raw records of all five kinds, in time order, over the
30 days before ``now``: traffic that follows the working day and dips at
weekends, a handful of incidents (an error burst with its own error type and
endpoint, health samples that turn warning and critical, slower requests),
AI calls whose tokens and latency spread the way each model's do,
conversations that go back and forth, and health curves (daily CPU waves,
memory creeping up between restarts, a disk that slowly fills).

:func:`fill` passes them through the one ingest step
(:func:`logconsole.ingest.normalize`) into the store, so a demo database looks
exactly like one filled by real apps (secrets in the demo requests are
redacted too).  The same ``seed`` and ``now`` give the same records.
"""

from __future__ import annotations

import bisect
import math
import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from logconsole.kinds import HEALTH_EVENT
from logconsole.ingest import normalize
from logconsole.store.writer import BatchWriter, batched
from logconsole.timeutil import UTC, format_ts, utcnow

if TYPE_CHECKING:
    from logconsole.store.interface import Writer

DAYS = 30
DEFAULT_COUNT = 10_000
BATCH_SIZE = 5000

_KIND_WEIGHTS = (("activity", 56), ("ai", 14), ("chat", 14), ("error", 6), ("system", 10))

_PEOPLE = (
    "Alice Becker", "Bruno Costa", "Chen Wei", "Dana Fischer", "Emeka Okafor", "Fatima Patel",
    "Gustav Eriksen", "Hana Nakamura", "Ivan Ivanov", "Jamal Hughes", "Kenji Sato", "Lena Müller",
    "Mateo López", "Nadia Kowalski", "Omar Haddad", "Priya Raman", "Quinn Adams", "Rosa García",
    "Sven Jensen", "Zoë Dubois",
)
_USER_CUM_WEIGHTS = tuple(
    sum(1 / (k + 1) ** 0.9 for k in range(i + 1)) for i in range(len(_PEOPLE))
)
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148",
    "okhttp/4.12.0",
    "curl/8.4.0",
)


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    path: str
    category: str
    title: str
    weight: int
    base_ms: float


_ROUTES = (
    _Route("GET", "/api/courses", "course", "Browse courses", 14, 35),
    _Route("GET", "/api/courses/{n}", "course", "Open course {n}", 16, 45),
    _Route("GET", "/api/courses/{n}/lessons/{m}", "course", "Open lesson {m} of course {n}", 14, 60),
    _Route("POST", "/api/courses/{n}/enroll", "course", "Enrol in course {n}", 3, 120),
    _Route("POST", "/api/auth/login", "security", "User login", 6, 180),
    _Route("POST", "/api/auth/logout", "security", "User logout", 2, 20),
    _Route("POST", "/api/auth/refresh", "security", "Token refresh", 4, 25),
    _Route("GET", "/api/users/{n}/profile", "user", "View profile", 6, 30),
    _Route("PATCH", "/api/users/{n}/profile", "user", "Update profile", 2, 70),
    _Route("POST", "/api/payments/checkout", "payment", "Checkout", 2, 650),
    _Route("POST", "/api/payments/{n}/refund", "payment", "Refund order {n}", 1, 480),
    _Route("POST", "/api/ai/chat", "ai", "Ask the tutor", 5, 90),
    _Route("GET", "/api/chat/conversations/{n}/messages", "chat", "Read conversation", 5, 40),
    _Route("POST", "/api/chat/conversations/{n}/messages", "chat", "Send message", 4, 55),
    _Route("GET", "/api/admin/reports", "admin", "Admin reports", 1, 900),
    _Route("DELETE", "/api/admin/users/{n}", "admin", "Remove user {n}", 1, 140),
)
_ROUTE_WEIGHTS = tuple(r.weight for r in _ROUTES)

_ERRORS = (
    # error_type, message, endpoint, status, severity weights (low, medium, high, critical)
    ("ValidationError", "email must be an email", "/api/auth/register", 400, (50, 40, 10, 0)),
    ("UnauthorizedException", "jwt expired", "/api/auth/refresh", 401, (60, 35, 5, 0)),
    ("NotFoundException", "Course {n} not found", "/api/courses/{n}", 404, (70, 30, 0, 0)),
    ("MongoServerError", "E11000 duplicate key error collection: app.users index: email_1",
     "/api/users/register", 500, (0, 30, 55, 15)),
    ("TimeoutError", "upstream AI provider did not answer within 30000 ms", "/api/ai/chat", 504,
     (0, 20, 60, 20)),
    ("PaymentGatewayError", "card declined by issuer (do_not_honor)", "/api/payments/checkout", 402,
     (10, 50, 35, 5)),
    ("TypeError", "Cannot read properties of undefined (reading 'lessons')",
     "/api/courses/{n}/lessons/{m}", 500, (0, 20, 60, 20)),
    ("RedisConnectionError", "connect ECONNREFUSED 10.0.3.7:6379", "/api/chat/conversations/{n}/messages",
     503, (0, 10, 50, 40)),
)
_RESOLUTIONS = (
    "Fixed in release 2.14.1", "Validation added on the client", "Provider outage; retries added",
    "Index rebuilt", "Config corrected and redeployed", "Duplicate of an earlier incident",
    "Rate limit raised for the tutor endpoint",
)
_RESOLVERS = ("ops@example.com", "oncall@example.com", "platform@example.com")


@dataclass(frozen=True, slots=True)
class _Model:
    name: str
    weight: int
    tokens_median: float
    tokens_sigma: float
    first_token_ms: float
    ms_per_token: float
    error_rate: float


_MODELS = (
    _Model("gpt-4o", 30, 520, 0.55, 420, 7.0, 0.02),
    _Model("gpt-4o-mini", 34, 380, 0.6, 260, 3.5, 0.01),
    _Model("claude-3-5-sonnet", 18, 640, 0.5, 650, 9.0, 0.025),
    _Model("llama-3.1-70b", 10, 450, 0.65, 300, 5.0, 0.04),
    _Model("mistral-large", 8, 410, 0.6, 380, 6.0, 0.03),
)
_MODEL_WEIGHTS = tuple(m.weight for m in _MODELS)
_PROMPTS = (
    ("Summarise lesson {m} of course {n} in five bullet points", "Lesson {m} covers recursion, base cases and how the call stack grows."),
    ("Explain the difference between a list and a tuple", "A list is mutable; a tuple is not, so it can be a dictionary key."),
    ("Give me three practice questions about SQL joins", "1. Which rows does a LEFT JOIN keep? 2. ... 3. ..."),
    ("Translate the quiz for course {n} into Spanish", "Pregunta 1: ¿Qué es una variable?"),
    ("Why does my loop never end?", "Your loop variable is never incremented inside the while loop."),
    ("Grade this answer: 'HTTP is stateless because...'", "Mostly correct (7/10): mention cookies and sessions."),
    ("Write a study plan for the next two weeks", "Week 1: lessons 1-4 and two quizzes; week 2: the project."),
    ("What is big-O of binary search?", "O(log n): each step halves the search interval."),
)
_AI_FAILURES = (
    "Request timed out after 30000 ms", "Rate limit reached for requests per minute",
    "The model is overloaded; try again later", "Context length exceeded (max 128000 tokens)",
)
_CHAT_LINES = (
    "Are you joining the study group tonight?", "Yes, see you at 7!", "Did you finish lesson {m}?",
    "Not yet, the quiz is hard", "Can someone explain question 3?", "My payment failed twice",
    "Sorry about that, we are looking into it", "It works now, thanks!",
    "Where can I download the certificate?", "Under Profile → Certificates",
    "Is the deadline for the project still Friday?", "Yes, Friday 23:59 UTC",
    "Great explanation in today's lesson 👍", "Could you share your notes?",
)
_SYSTEM_EVENTS = (
    ("backup_completed", "Nightly database backup completed (2.4 GB)", "healthy"),
    ("deploy", "Deployed api v2.14.{m}", "healthy"),
    ("certificate_expiry", "TLS certificate for api.example.com expires in 14 days", "warning"),
    ("queue_backlog", "Email queue backlog above 500 messages", "warning"),
)


@dataclass(frozen=True, slots=True)
class _Incident:
    start: float
    """Seconds since the start of the demo period."""
    length: float
    error: int
    """Index into :data:`_ERRORS`."""
    resolved: bool

    def covers(self, t: float) -> bool:
        return self.start <= t < self.start + self.length


class _Timeline:
    """Record times over the period: dense in working hours, sparse at night
    and at weekends, denser still during incidents (an inverse CDF over hours)."""

    def __init__(self, start: datetime, hours: int, incidents: list[_Incident]) -> None:
        self.start = start
        weights = []
        for h in range(hours):
            local = start + timedelta(hours=h)
            hour = local.hour + 0.5
            day = 0.25 + 0.75 * math.exp(-(((hour - 14) / 4.5) ** 2))
            if local.weekday() >= 5:
                day *= 0.55
            t = h * 3600.0
            if any(i.start - 3600 < t < i.start + i.length for i in incidents):
                day *= 1.8
            weights.append(day)
        self.cdf = [0.0]
        for w in weights:
            self.cdf.append(self.cdf[-1] + w)
        total = self.cdf[-1]
        self.cdf = [c / total for c in self.cdf]

    def seconds_at(self, u: float) -> float:
        """Seconds after ``start`` for a fraction ``u`` (0..1) of all records."""
        i = max(0, min(bisect.bisect_right(self.cdf, u) - 1, len(self.cdf) - 2))
        lo, hi = self.cdf[i], self.cdf[i + 1]
        frac = (u - lo) / (hi - lo) if hi > lo else 0.0
        return (i + frac) * 3600.0


class _Generator:
    def __init__(self, count: int, now: datetime, seed: int) -> None:
        self.r = random.Random(seed)
        self.count = count
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.start = self.now - timedelta(days=DAYS)
        self.span = DAYS * 86400.0
        self.incidents = self._incidents()
        self.timeline = _Timeline(self.start, DAYS * 24, self.incidents)
        self.conversations = [self._conversation(i) for i in range(40)]
        self.ai_sessions = [f"sess-{self.r.getrandbits(24):06x}" for _ in range(60)]

    # ------------------------------------------------------------ plan

    def _incidents(self) -> list[_Incident]:
        r = self.r
        out = []
        for _ in range(6):
            start = r.uniform(0.05, 0.97) * self.span
            out.append(_Incident(
                start=start,
                length=r.uniform(20, 90) * 60,
                error=r.choice((3, 4, 6, 7)),
                resolved=start < self.span - 2 * 86400 and r.random() < 0.8,
            ))
        return sorted(out, key=lambda i: i.start)

    def _conversation(self, i: int) -> dict[str, Any]:
        r = self.r
        kind = r.choices(("user_to_user", "group_chat", "support"), (55, 25, 20))[0]
        a, b = r.sample(range(len(_PEOPLE)), 2)
        return {
            "id": f"conv-{i:03d}-{r.getrandbits(16):04x}",
            "chat_type": kind,
            "people": (a, b) if kind != "support" else (a, -1),
        }

    # ------------------------------------------------------------ records

    def records(self) -> Iterator[dict[str, Any]]:
        r = self.r
        kinds = tuple(k for k, _ in _KIND_WEIGHTS)
        weights = tuple(w for _, w in _KIND_WEIGHTS)
        for i in range(self.count):
            t = self.timeline.seconds_at((i + r.random()) / self.count)
            incident = next((inc for inc in self.incidents if inc.covers(t)), None)
            if incident is not None and r.random() < 0.35:
                kind = "error" if r.random() < 0.75 else "system"
            else:
                kind = r.choices(kinds, weights)[0]
            when = self.start + timedelta(seconds=t)
            record = getattr(self, f"_{kind}")(t, incident)
            record["type"] = kind
            record["created_at"] = format_ts(when)
            yield record

    def _user(self) -> tuple[int, str]:
        """A user; a few are very active, most drop by now and then."""
        n = self.r.choices(range(len(_PEOPLE)), cum_weights=_USER_CUM_WEIGHTS)[0]
        return n, _PEOPLE[n]

    def _fill(self, text: str) -> str:
        return text.replace("{n}", str(self.r.randint(1, 120))).replace("{m}", str(self.r.randint(1, 24)))

    def _activity(self, t: float, incident: _Incident | None) -> dict[str, Any]:
        r = self.r
        route = r.choices(_ROUTES, _ROUTE_WEIGHTS)[0]
        n, name = self._user()
        path = self._fill(route.path)
        duration = route.base_ms * r.lognormvariate(0, 0.6) * (3.5 if incident else 1.0)
        roll = r.random()
        if incident and roll < 0.2:
            status = r.choice((500, 502, 503, 504))
        elif roll < 0.015:
            status = 500
        elif roll < 0.06:
            status = r.choice((400, 401, 403, 404, 404, 422))
        elif route.method == "POST" and roll < 0.5:
            status = 201
        elif route.method == "GET" and roll < 0.1:
            status = 304
        else:
            status = 200
        if status >= 500:
            level, message = "error", f"Request failed with {status}"
        elif status >= 400:
            level, message = "warn", f"Request rejected with {status}"
        elif duration > 1500:
            level, message = "warn", f"Slow request: {duration:,.0f} ms"
        else:
            level = "debug" if r.random() < 0.05 else "info"
            message = "Request completed successfully"
        request: dict[str, Any] = {"query": {"page": r.randint(1, 5)}} if route.method == "GET" else {}
        if route.path == "/api/auth/login":
            request = {"email": f"user{n}@example.com", "password": "correct horse battery staple"}
        elif route.path == "/api/payments/checkout":
            request = {"amount": round(r.uniform(9, 199), 2), "currency": "EUR",
                       "card": {"last4": f"{r.randint(0, 9999):04d}", "cvv": "123"}}
        return {
            "level": level,
            "category": route.category,
            "title": self._fill(route.title) if "{" in route.title else route.title,
            "message": message,
            "userId": f"u{n:04d}",
            "userName": name,
            "userEmail": f"user{n}@example.com",
            "ipAddress": f"203.0.113.{(n * 7) % 250 + 1}",
            "userAgent": _AGENTS[n % len(_AGENTS)],
            "endpoint": path,
            "method": route.method,
            "statusCode": status,
            "duration": round(duration, 1),
            "requestData": request or None,
            "responseData": {"status": status, "items": r.randint(0, 40)} if status < 400 else None,
        }

    def _error(self, t: float, incident: _Incident | None) -> dict[str, Any]:
        r = self.r
        index = incident.error if incident else r.choices(range(len(_ERRORS)), (22, 18, 25, 6, 8, 12, 5, 4))[0]
        error_type, message, endpoint, status, sev_weights = _ERRORS[index]
        severity = r.choices(("low", "medium", "high", "critical"), sev_weights)[0]
        if incident and severity in ("low", "medium"):
            severity = "high"
        n, _ = self._user()
        age_days = (self.span - t) / 86400
        if incident:
            resolved = incident.resolved
        else:
            resolved = r.random() < min(0.9, age_days / 10) if severity != "low" else r.random() < 0.3
        endpoint_filled = self._fill(endpoint)
        method = "GET" if "{n}" in endpoint and "messages" not in endpoint else "POST"
        record: dict[str, Any] = {
            "severity": severity,
            "errorType": error_type,
            "message": self._fill(message),
            "stack": (
                f"{error_type}: {self._fill(message)}\n"
                f"    at {r.choice(('UsersService', 'CoursesService', 'PaymentsService', 'AiService'))}"
                f".handle (src/modules/service.ts:{r.randint(20, 400)}:{r.randint(5, 40)})\n"
                "    at processTicksAndRejections (node:internal/process/task_queues:95:5)"
            ),
            "endpoint": endpoint_filled,
            "method": method,
            "statusCode": status,
            "userId": f"u{n:04d}" if r.random() < 0.7 else None,
            "ipAddress": f"198.51.100.{r.randint(1, 254)}",
            "userAgent": r.choice(_AGENTS),
            "isResolved": resolved,
        }
        if resolved:
            done = self.start + timedelta(seconds=min(self.span, t + r.uniform(0.2, 36) * 3600))
            record.update(
                resolution=r.choice(_RESOLUTIONS), resolvedAt=format_ts(done),
                resolvedBy=r.choice(_RESOLVERS),
            )
        return record

    def _ai(self, t: float, incident: _Incident | None) -> dict[str, Any]:
        r = self.r
        model = r.choices(_MODELS, _MODEL_WEIGHTS)[0]
        prompt, answer = r.choice(_PROMPTS)
        n, name = self._user()
        tokens = max(12, int(r.lognormvariate(math.log(model.tokens_median), model.tokens_sigma)))
        latency = (model.first_token_ms + tokens * model.ms_per_token) * r.lognormvariate(0, 0.25)
        failed = r.random() < model.error_rate * (6 if incident and _ERRORS[incident.error][0] == "TimeoutError" else 1)
        record: dict[str, Any] = {
            "aiModel": model.name,
            "prompt": self._fill(prompt),
            "userId": f"u{n:04d}",
            "userName": name,
            "conversationId": self.ai_sessions[(n * 3 + r.randint(0, 2)) % len(self.ai_sessions)],
        }
        if failed:
            reason = r.choice(_AI_FAILURES)
            record.update(status="error", errorMessage=reason, tokensUsed=0, response="",
                          responseTime=30000 if "timed out" in reason else round(r.uniform(80, 400)))
        else:
            record.update(status="success", response=self._fill(answer), tokensUsed=tokens,
                          responseTime=round(latency))
        return record

    def _chat(self, t: float, incident: _Incident | None) -> dict[str, Any]:
        r = self.r
        conv = self.conversations[min(int(r.paretovariate(1.1)) - 1, len(self.conversations) - 1)]
        a, b = conv["people"]
        if r.random() < 0.5:
            a, b = b, a
        sender = "Support team" if a == -1 else _PEOPLE[a]
        receiver = "Support team" if b == -1 else _PEOPLE[b]
        if conv["chat_type"] == "group_chat":
            receiver = "Study group"
        age_hours = (self.span - t) / 3600
        return {
            "chatType": conv["chat_type"],
            "senderId": "support" if a == -1 else f"u{a:04d}",
            "senderName": sender,
            "receiverId": "group" if conv["chat_type"] == "group_chat" else ("support" if b == -1 else f"u{b:04d}"),
            "receiverName": receiver,
            "conversationId": conv["id"],
            "message": self._fill(r.choice(_CHAT_LINES)),
            "isRead": age_hours > 12 or r.random() < 0.4,
        }

    def _system(self, t: float, incident: _Incident | None) -> dict[str, Any]:
        r = self.r
        when = self.start + timedelta(seconds=t)
        if incident is None and r.random() < 0.06:
            event, message, status = r.choice(_SYSTEM_EVENTS)
            return {"eventType": event, "status": status, "message": self._fill(message),
                    "requiresAction": status != "healthy" and r.random() < 0.5}
        hour = when.hour + when.minute / 60
        cpu = 18 + 22 * math.exp(-(((hour - 14) / 4) ** 2)) + r.gauss(0, 4)
        days_since_restart = (t / 86400) % 7
        memory = 38 + 4 * days_since_restart + r.gauss(0, 2)
        disk = 52 + 18 * (t / self.span) + r.gauss(0, 0.4)
        if incident is not None:
            cpu += r.uniform(40, 65)
            memory += r.uniform(10, 25)
        cpu, memory, disk = (max(1.0, min(99.9, v)) for v in (cpu, memory, disk))
        worst = max(cpu, memory, disk)
        status = "critical" if worst >= 90 else "warning" if worst >= 70 else "healthy"
        return {
            "eventType": HEALTH_EVENT,
            "status": status,
            "message": f"System health check: CPU {cpu:.0f}%, Memory {memory:.0f}%, Disk {disk:.0f}%",
            "systemMetrics": {
                "cpuUsage": round(cpu, 1), "memoryUsage": round(memory, 1), "diskUsage": round(disk, 1),
                "activeConnections": max(0, int(r.gauss(40 + cpu, 12))),
                "loadAverage": round(cpu / 25, 2),
            },
            "requiresAction": status == "critical",
        }


def generate(count: int, *, now: datetime, seed: int) -> Iterator[dict[str, Any]]:
    """``count`` raw demo records over the 30 days before ``now``, oldest first.

    The records are what an app would send (camelCase fields of the original
    system included); they still need :func:`logconsole.ingest.normalize`.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    return _Generator(count, now, seed).records()


def fill(
    writer: Writer | sqlite3.Connection,
    count: int = DEFAULT_COUNT,
    now: datetime | None = None,
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Store ``count`` demo records through the one ingest step with ``writer``
    (either store's; a SQLite connection is written to by its batch writer);
    returns how many.

    ``progress`` is called with the number stored so far after each batch.
    """
    if isinstance(writer, sqlite3.Connection):
        writer = BatchWriter(writer)
    if seed is None:
        seed = random.SystemRandom().getrandbits(32)
    rows = (normalize(raw) for raw in generate(count, now=now or utcnow(), seed=seed))
    total = 0
    for batch in batched(rows, BATCH_SIZE):
        total += writer.commit(batch)
        if progress is not None:
            progress(total)
    return total


__all__ = ["DAYS", "DEFAULT_COUNT", "fill", "generate"]
