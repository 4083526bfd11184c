"""Realistic raw records for the benchmarks, generated quickly and reproducibly.

Records look like what the apps send: camelCase from the original system now and
then, nested request data (sometimes with a password), stack traces, AI calls
with believable token counts and latencies, chat messages, health samples.
Times are spread over ``days`` days, in the order they would arrive (ids grow
with time, give or take a little jitter).

Word frequencies follow a long tail, so the benchmarks can ask for a *common*
word (:data:`COMMON_WORD`, in about a fifth of records), a *rare* one
(:data:`RARE_WORD`, about one record in 20,000) and a two-word phrase
(:data:`TWO_WORDS`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

COMMON_WORD = "request"
RARE_WORD = "segfault"
TWO_WORDS = "payment declined"

_FIRST = (
    "Alice", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Gustav", "Hana", "Ivan", "Jamal",
    "Kenji", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe", "Chloé", "José", "Zoë", "Renée",
)
_LAST = (
    "Adams", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hughes",
    "Ivanova", "Jensen", "Kowalski", "López", "Müller", "Nakamura", "Okafor", "Patel",
)
_CATEGORIES = ("user", "security", "course", "payment", "admin", "ai", "chat", "system")
_CATEGORY_WEIGHTS = (30, 8, 25, 10, 4, 10, 8, 5)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_METHOD_WEIGHTS = (60, 25, 7, 5, 3)
_ENDPOINTS = (
    "/api/auth/login", "/api/auth/logout", "/api/auth/refresh", "/api/users/{n}",
    "/api/users/{n}/profile", "/api/courses", "/api/courses/{n}", "/api/courses/{n}/lessons/{m}",
    "/api/courses/{n}/enroll", "/api/payments/checkout", "/api/payments/{n}/refund",
    "/api/ai/chat", "/api/ai/summarize", "/api/chat/conversations/{n}/messages",
    "/api/admin/users", "/api/admin/reports", "/api/search", "/api/notifications",
    "/api/uploads", "/health",
)
_ACTIVITY = (
    ("user", "User logged in", "{name} signed in from {city}"),
    ("user", "User logged out", "{name} signed out after {mins} minutes"),
    ("user", "Profile updated", "{name} changed their display name and avatar"),
    ("security", "Failed login", "Wrong password for {email}; attempt {n} of 5"),
    ("security", "Password reset requested", "Reset link sent to {email}"),
    ("security", "Token refreshed", "Session token refreshed for {name}"),
    ("course", "Lesson completed", "{name} completed lesson {m} of course {n}"),
    ("course", "Course enrolled", "{name} enrolled in course {n}"),
    ("course", "Quiz submitted", "{name} scored {pct}% on the quiz for lesson {m}"),
    ("payment", "Payment succeeded", "Charged {amount} EUR to card ending {last4}"),
    ("payment", "Payment declined", "Card ending {last4} was declined by the issuer: payment declined"),
    ("payment", "Refund issued", "Refunded {amount} EUR for order {n}"),
    ("admin", "Report exported", "{name} exported the monthly revenue report"),
    ("ai", "Summary generated", "Generated a summary of lesson {m} for {name}"),
    ("chat", "Message sent", "{name} sent a message in conversation {n}"),
    ("system", "Cache warmed", "Warmed the course catalogue cache in {ms} ms"),
)
_ACTIVITY_WEIGHTS = (20, 12, 4, 3, 1, 5, 18, 6, 5, 6, 1, 1, 1, 4, 8, 2)
_CITIES = ("Lisbon", "Berlin", "Lagos", "Osaka", "Montréal", "São Paulo", "Kraków", "Pune", "Austin")
_ERRORS = (
    ("ValidationError", "Invalid request body: field 'email' is required", "low"),
    ("TimeoutError", "Upstream request to payments service timed out after 30000 ms", "high"),
    ("MongoNetworkError", "Connection pool closed while a request was waiting", "critical"),
    ("TypeError", "Cannot read properties of undefined (reading 'lessons')", "medium"),
    ("AuthenticationError", "JWT token expired for the incoming request", "low"),
    ("RateLimitError", "Too many requests from {ip}: rate limit exceeded", "medium"),
    ("PaymentError", "Card issuer answered: payment declined (insufficient funds)", "high"),
    ("ReferenceError", "courseId is not defined", "medium"),
    ("SyntaxError", "Unexpected token < in JSON at position 0", "medium"),
    ("RangeError", "Maximum call stack size exceeded", "critical"),
    ("OpenAIError", "Model overloaded; retry the request later", "high"),
)
_ERROR_WEIGHTS = (25, 12, 3, 15, 12, 8, 5, 6, 6, 1, 7)
_SEVERITY_FLIP = ("low", "medium", "high", "critical")
_MODELS = ("gpt-4o", "gpt-4o-mini", "llama-3.1-70b", "mistral-large", "gemini-1.5-pro")
_MODEL_WEIGHTS = (25, 40, 15, 10, 10)
_PROMPTS = (
    "Summarize lesson {m} of the course on {topic}",
    "Explain {topic} to a beginner with one example",
    "Write three quiz questions about {topic}",
    "Translate the course description of {topic} into Spanish",
    "Suggest a study plan for {topic} over two weeks",
    "Review this code snippet about {topic} and point out bugs",
)
_TOPICS = (
    "linear algebra", "React hooks", "SQL joins", "photosynthesis", "the French revolution",
    "statistics", "Python generators", "machine learning", "accounting basics", "Kubernetes",
)
_CHAT = (
    "Hi, can you help me with lesson {m}?", "Sure, what is the problem?",
    "The video does not load on my phone", "Did you try clearing the cache?",
    "Thanks, that worked!", "When is the next live session?", "I was charged twice for the course",
    "We refunded the second charge, sorry about that", "Can we move the meeting to Friday?",
    "The quiz for lesson {m} has a wrong answer key", "See you tomorrow 👋",
    "Great job on the project 🎉", "Où est le certificat du cours ?",
)
_CHAT_TYPES = ("user_to_user", "group_chat", "support", "tutor")
_CHAT_TYPE_WEIGHTS = (45, 25, 20, 10)
_SYSTEM_EVENTS = ("health_check", "health_check", "health_check", "backup", "deploy", "cron")
_TAIL = (
    # A long tail of words that show up now and then in messages.
    "retry", "cache", "latency", "queue", "worker", "shard", "replica", "session", "browser",
    "mobile", "tablet", "desktop", "webhook", "invoice", "coupon", "discount", "locale",
    "timezone", "upload", "thumbnail", "transcode", "stream", "socket", "heartbeat",
    "migration", "index", "vacuum", "snapshot", "rollback", "canary", "feature", "flag",
    "experiment", "cohort", "funnel", "checkout", "cart", "wishlist", "review", "rating",
)

_BASE = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def _ip(rng: random.Random) -> str:
    return f"{rng.randint(10, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _user(rng: random.Random) -> tuple[str, str, str]:
    n = int(20000 ** rng.random())  # a few busy users, a long tail of quiet ones
    first = _FIRST[n % len(_FIRST)]
    last = _LAST[(n // len(_FIRST)) % len(_LAST)]
    return f"u{n:05d}", f"{first} {last}", f"{first.lower()}.{n}@example.org"


def _fill(template: str, rng: random.Random, name: str = "", email: str = "") -> str:
    return template.format(
        name=name, email=email, city=rng.choice(_CITIES), mins=rng.randint(1, 240),
        n=rng.randint(1, 5000), m=rng.randint(1, 40), pct=rng.randint(20, 100),
        amount=f"{rng.randint(5, 400)}.{rng.randint(0, 99):02d}", last4=f"{rng.randint(0, 9999):04d}",
        ms=rng.randint(5, 900), ip=_ip(rng), topic=rng.choice(_TOPICS),
    )


def _tail(rng: random.Random, text: str) -> str:
    """Now and then a few long-tail words, the common word, or the rare one."""
    r = rng.random()
    if r < 0.00005:
        return f"{text} ({RARE_WORD} in worker {rng.randint(1, 64)})"
    if r < 0.15:
        return f"{text}; {COMMON_WORD} {rng.choice(_TAIL)} {rng.choice(_TAIL)}"
    if r < 0.35:
        return f"{text} [{rng.choice(_TAIL)}]"
    return text


def activity(rng: random.Random) -> dict[str, Any]:
    category, title, template = rng.choices(_ACTIVITY, _ACTIVITY_WEIGHTS)[0]
    uid, name, email = _user(rng)
    endpoint = rng.choice(_ENDPOINTS).format(n=rng.randint(1, 5000), m=rng.randint(1, 40))
    method = rng.choices(_METHODS, _METHOD_WEIGHTS)[0]
    status = rng.choices((200, 201, 204, 301, 400, 401, 403, 404, 500), (70, 8, 4, 1, 5, 4, 2, 4, 2))[0]
    rec: dict[str, Any] = {
        "type": "activity",
        "level": rng.choices(("debug", "info", "warn", "error"), (5, 80, 10, 5))[0],
        "category": category,
        "title": title,
        "message": _tail(rng, _fill(template, rng, name, email)),
        "endpoint": endpoint,
        "method": method,
        "duration_ms": round(rng.lognormvariate(4, 0.8), 1),
    }
    if rng.random() < 0.5:  # the original system's camelCase
        rec.update(userId=uid, userName=name, userEmail=email, ipAddress=_ip(rng),
                   userAgent="Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0", statusCode=status)
    else:
        rec.update(user_id=uid, user_name=name, user_email=email, ip_address=_ip(rng),
                   user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1", status_code=status)
    if method != "GET" and rng.random() < 0.4:
        body: dict[str, Any] = {"courseId": rng.randint(1, 5000), "locale": "en-GB"}
        if "login" in endpoint:
            body = {"email": email, "password": "hunter2", "remember": True}
        rec["requestData"] = body
    if rng.random() < 0.1:
        rec["responseData"] = {"ok": status < 400, "items": [rng.randint(1, 99) for _ in range(5)]}
    return rec


def error(rng: random.Random) -> dict[str, Any]:
    etype, template, severity = rng.choices(_ERRORS, _ERROR_WEIGHTS)[0]
    if rng.random() < 0.2:
        severity = rng.choice(_SEVERITY_FLIP)
    uid, _, _ = _user(rng)
    fn = rng.choice(("getCourse", "checkout", "enroll", "renderLesson", "callModel", "sendMessage"))
    return {
        "type": "error",
        "severity": severity.upper() if rng.random() < 0.1 else severity,
        "errorType": etype,
        "message": _tail(rng, _fill(template, rng)),
        "stack": (
            f"{etype}: {template[:40]}\n    at {fn} (/app/src/services/{fn}.js:{rng.randint(10, 400)}:17)\n"
            f"    at processTicksAndRejections (node:internal/process/task_queues:95:5)"
        ),
        "endpoint": rng.choice(_ENDPOINTS).format(n=rng.randint(1, 5000), m=rng.randint(1, 40)),
        "method": rng.choices(_METHODS, _METHOD_WEIGHTS)[0],
        "statusCode": rng.choice((400, 401, 404, 409, 422, 500, 502, 503, 504)),
        "userId": uid,
        "isResolved": rng.random() < 0.6,
    }


def ai(rng: random.Random) -> dict[str, Any]:
    model = rng.choices(_MODELS, _MODEL_WEIGHTS)[0]
    uid, name, _ = _user(rng)
    ok = rng.random() > 0.03
    rec: dict[str, Any] = {
        "type": "ai",
        "aiModel": model,
        "prompt": _tail(rng, _fill(rng.choice(_PROMPTS), rng)),
        "response": "Here is a short answer: " + _fill(rng.choice(_PROMPTS), rng).lower() if ok else None,
        "tokensUsed": int(rng.lognormvariate(6.5, 0.7)),
        "responseTime": int(rng.lognormvariate(7.2, 0.6)),
        "userId": uid,
        "userName": name,
        "conversationId": f"c{rng.randint(1, 50000)}",
        "status": "success" if ok else "error",
    }
    if not ok:
        rec["errorMessage"] = "Model overloaded; the request was rejected"
    return rec


def chat(rng: random.Random) -> dict[str, Any]:
    s_id, s_name, _ = _user(rng)
    r_id, r_name, _ = _user(rng)
    return {
        "type": "chat",
        "chatType": rng.choices(_CHAT_TYPES, _CHAT_TYPE_WEIGHTS)[0],
        "senderId": s_id, "senderName": s_name,
        "receiverId": r_id, "receiverName": r_name,
        "conversationId": f"c{rng.randint(1, 50000)}",
        "message": _tail(rng, _fill(rng.choice(_CHAT), rng)),
        "isRead": rng.random() < 0.7,
    }


def system(rng: random.Random) -> dict[str, Any]:
    cpu = min(100.0, max(0.0, rng.gauss(35, 18)))
    mem = min(100.0, max(0.0, rng.gauss(60, 12)))
    disk = min(100.0, max(0.0, rng.gauss(70, 8)))
    worst = max(cpu, mem, disk)
    status = "critical" if worst > 95 else "warning" if worst > 85 else "healthy"
    event = rng.choice(_SYSTEM_EVENTS)
    return {
        "type": "system",
        "eventType": event,
        "status": status,
        "message": f"{event.replace('_', ' ')}: cpu {cpu:.0f}%, memory {mem:.0f}%, disk {disk:.0f}%",
        "systemMetrics": {
            "cpuUsage": round(cpu, 1), "memoryUsage": round(mem, 1), "diskUsage": round(disk, 1),
            "loadAverage": [round(cpu / 25, 2), round(cpu / 30, 2), round(cpu / 35, 2)],
        },
        "requiresAction": status == "critical",
    }


MAKERS = (activity, error, ai, chat, system)
MIX = (45, 12, 18, 15, 10)
"""Share of each kind, in percent."""


def records(n: int, *, days: float = 90, seed: int = 1, end: datetime = _BASE) -> Iterator[dict[str, Any]]:
    """``n`` raw records spread over ``days`` days ending at ``end``, oldest first."""
    rng = random.Random(seed)
    start = end - timedelta(days=days)
    step = timedelta(days=days).total_seconds() / max(n, 1)
    makers = rng.choices(MAKERS, MIX, k=n)
    for i, make in enumerate(makers):
        rec = make(rng)
        at = start + timedelta(seconds=i * step + rng.uniform(-step, step) * 3)
        rec["createdAt" if i % 2 else "created_at"] = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if make in _IN_REQUESTS:
            _correlate(rec, seed, i)
        yield rec


_IN_REQUESTS = (activity, error, ai)
"""The kinds an app writes while serving a request."""
REQUEST_SPAN = 4
"""Records of these kinds within this many in a row share a request (2-3 each)."""


def _correlate(rec: dict[str, Any], seed: int, i: int) -> None:
    """Correlation ids as the middleware sets them: a request id on every
    request record, and a trace id on every other request.  Drawn from the
    record's position, not the random stream, so every other field of the
    data is the same as without them."""
    request = i // REQUEST_SPAN
    rec["requestId" if i % 2 else "request_id"] = f"{seed:08x}{request:024x}"
    if request % 2 == 0:
        rec["trace_id"] = f"{seed + 1:016x}{request:016x}"
        rec["span_id"] = f"{i:016x}"
