"""Tables, indexes and the full-text index, derived from :mod:`logconsole.kinds`.

One ``records`` table holds every kind: ids are unique across kinds (so
``resolve 42`` and ``delete 42`` need no type), and a view across kinds is one
index scan.  Columns a kind does not use stay NULL, which SQLite stores in no
space.  ``records_fts`` is an external-content FTS5 index over the text fields;
its update trigger fires only when an indexed column changes, so resolving
errors never re-tokenises their messages.
"""

from __future__ import annotations

from logconsole.kinds import ALL_FIELDS, FTS_COLUMNS

_SQL_TYPES = {
    "text": "TEXT", "enum": "TEXT", "int": "INTEGER", "number": "REAL",
    "bool": "INTEGER", "json": "TEXT", "time": "TEXT",
}

INSERT_COLUMNS: tuple[str, ...] = tuple(n for n in ALL_FIELDS if n != "id")


def _columns_sql() -> str:
    parts = ["id INTEGER PRIMARY KEY AUTOINCREMENT"]
    for name, f in ALL_FIELDS.items():
        if name == "id":
            continue
        decl = f"{name} {_SQL_TYPES[f.type]}"
        if name in ("type", "created_at"):
            decl += " NOT NULL"
        parts.append(decl)
    return ",\n  ".join(parts)


# (name, columns, partial WHERE): the access paths of the original system.
INDEXES: tuple[tuple[str, str, str], ...] = (
    ("idx_records_time", "created_at, id", ""),
    ("idx_records_type_time", "type, created_at, id", ""),
    ("idx_records_user_time", "user_id, created_at", "user_id IS NOT NULL"),
    ("idx_records_category_level", "category, level, created_at", "type = 'activity'"),
    ("idx_records_endpoint", "endpoint, created_at", "endpoint IS NOT NULL"),
    ("idx_records_error_state", "severity, is_resolved, created_at", "type = 'error'"),
    ("idx_records_ai_model", "ai_model, created_at", "type = 'ai'"),
    ("idx_records_conversation", "conversation_id, created_at", "conversation_id IS NOT NULL"),
    ("idx_records_sender", "sender_id, created_at", "type = 'chat'"),
    ("idx_records_system_state", "status, requires_action, created_at", "type = 'system'"),
)


# Version 2: "open errors" and "needs action" lead with their flag, so the
# planner picks them on a fresh database too (no ANALYZE statistics yet, which
# is how a collector's database lives): counting unresolved errors reads a
# partial index instead of every error row.
INDEXES_V2: tuple[tuple[str, str, str], ...] = (
    ("idx_records_error_open", "is_resolved, created_at", "type = 'error'"),
    ("idx_records_system_action", "requires_action, created_at", "type = 'system'"),
)

ALL_INDEXES = INDEXES + INDEXES_V2


def index_sql(indexes: tuple[tuple[str, str, str], ...] = INDEXES) -> list[str]:
    out = []
    for name, cols, where in indexes:
        sql = f"CREATE INDEX IF NOT EXISTS {name} ON records ({cols})"
        if where:
            sql += f" WHERE {where}"
        out.append(sql)
    return out


def fts_sql() -> list[str]:
    cols = ", ".join(FTS_COLUMNS)
    new_vals = ", ".join(f"new.{c}" for c in FTS_COLUMNS)
    old_vals = ", ".join(f"old.{c}" for c in FTS_COLUMNS)
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5({cols}, "
        "content='records', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER IF NOT EXISTS records_ai AFTER INSERT ON records BEGIN "
        f"INSERT INTO records_fts(rowid, {cols}) VALUES (new.id, {new_vals}); END",
        "CREATE TRIGGER IF NOT EXISTS records_ad AFTER DELETE ON records BEGIN "
        f"INSERT INTO records_fts(records_fts, rowid, {cols}) VALUES ('delete', old.id, {old_vals}); END",
        f"CREATE TRIGGER IF NOT EXISTS records_au AFTER UPDATE OF {cols} ON records BEGIN "
        f"INSERT INTO records_fts(records_fts, rowid, {cols}) VALUES ('delete', old.id, {old_vals}); "
        f"INSERT INTO records_fts(rowid, {cols}) VALUES (new.id, {new_vals}); END",
    ]


def schema_v1() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS records (\n  {_columns_sql()}\n)",
        *index_sql(),
        *fts_sql(),
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
        # Offsets of tailed files, so a restart neither repeats nor skips lines.
        "CREATE TABLE IF NOT EXISTS file_offsets (path TEXT PRIMARY KEY, inode INTEGER, "
        "offset INTEGER NOT NULL, head TEXT, updated_at TEXT)",
    ]


# Migration n takes the schema from version n-1 to n.  Append; never edit.
MIGRATIONS: tuple[list[str], ...] = (schema_v1(), index_sql(INDEXES_V2))
SCHEMA_VERSION = len(MIGRATIONS)
