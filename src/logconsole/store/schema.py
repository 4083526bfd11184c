"""Tables, indexes and the full-text index, derived from :mod:`logconsole.kinds`.

One ``records`` table holds every kind: ids are unique across kinds (so
``resolve 42`` and ``delete 42`` need no type), and a view across kinds is one
index scan.  Columns a kind does not use stay NULL, which SQLite stores in no
space.  ``records_fts`` is an external-content FTS5 index over the text fields;
its update trigger fires only when an indexed column changes, so resolving
errors never re-tokenises their messages.  Each column a console tab sorts by
has a partial index of its kind (:func:`sort_indexes`).  How an existing
database reaches this schema is :mod:`logconsole.store.migrations`.
"""

from __future__ import annotations

from logconsole.kinds import ALL_FIELDS, FTS_COLUMNS, KINDS

SQL_TYPES = {
    "text": "TEXT", "enum": "TEXT", "int": "INTEGER", "number": "REAL",
    "bool": "INTEGER", "json": "TEXT", "time": "TEXT",
}

INSERT_COLUMNS: tuple[str, ...] = tuple(n for n in ALL_FIELDS if n != "id")


def column_sql(name: str) -> str:
    """The declaration of the records table's column for the field ``name``."""
    decl = f"{name} {SQL_TYPES[ALL_FIELDS[name].type]}"
    if name in ("type", "created_at"):
        decl += " NOT NULL"
    return decl


def _columns_sql() -> str:
    parts = ["id INTEGER PRIMARY KEY AUTOINCREMENT"]
    parts += [column_sql(name) for name in ALL_FIELDS if name != "id"]
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

# Version 5: related records (:class:`logconsole.store.query.Related`) join on
# a request or trace id and page oldest first, so each id leads an index with
# the page's order after it.  Partial: most records outside a web request have
# neither id, and those rows cost the index nothing.
INDEXES_V5: tuple[tuple[str, str, str], ...] = (
    ("idx_records_request", "request_id, created_at, id", "request_id IS NOT NULL"),
    ("idx_records_trace", "trace_id, created_at, id", "trace_id IS NOT NULL"),
)


def fts_sql(columns: tuple[str, ...] = FTS_COLUMNS) -> list[str]:
    """The full-text table over ``columns`` and the triggers that keep it in step.

    ``columns`` is the fields :mod:`logconsole.kinds` marks ``fts``; another
    tuple describes the index of a database made before a field was marked.
    """
    cols = ", ".join(columns)
    new_vals = ", ".join(f"new.{c}" for c in columns)
    old_vals = ", ".join(f"old.{c}" for c in columns)
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


FTS_OBJECTS = ("records_fts", "records_ai", "records_ad", "records_au")
"""The names of what :func:`fts_sql` creates, in its order."""


# ---------------------------------------------------------------- sorting


def _rank_tables() -> dict[str, dict[str, int]]:
    """How bad each value of a kind's level field is (``debug`` < ... < ``critical``),
    so sorting by level, severity or status goes by rank, not by spelling.  A
    field shared by kinds (``status``) takes the longest scale's ranks first."""
    fields = [k.by_name[k.level_field] for k in KINDS.values() if k.by_name[k.level_field].type == "enum"]
    tables: dict[str, dict[str, int]] = {}
    for f in sorted(fields, key=lambda f: -len(f.values)):
        table = tables.setdefault(f.name, {})
        for i, value in enumerate(f.values):
            table.setdefault(value, i)
    return tables


RANKS: dict[str, dict[str, int]] = _rank_tables()


def sort_key_sql(column: str) -> str:
    """The SQL a column sorts by: itself, or its rank for level-like enums.

    The sort indexes are built on exactly this expression, which is how SQLite
    knows an index gives the order.
    """
    table = RANKS.get(column)
    if table is None:
        return column
    whens = " ".join(f"WHEN '{v}' THEN {r}" for v, r in table.items())
    return f"(CASE {column} {whens} END)"


def sort_indexes() -> tuple[tuple[str, str, str], ...]:
    """One index per column a tab of the console sorts by, so the first page of
    any sort reads a page of index entries instead of sorting the whole kind.

    A kind's tab sorts by its default columns (:attr:`Kind.columns`); each
    index is partial to its kind and keyed on :func:`sort_key_sql` (SQLite
    appends the rowid, so it also gives the ``id`` tie-break).  Time and
    ``type`` (then time) are served by the time indexes, ``id`` by the rowids.
    """
    out = []
    for kind in KINDS.values():
        for column in kind.columns:
            out.append((f"idx_sort_{kind.name}_{column}", sort_key_sql(column), f"type = '{kind.name}'"))
    return tuple(out)


SORT_INDEXES = sort_indexes()

ALL_INDEXES = INDEXES + INDEXES_V2 + INDEXES_V5 + SORT_INDEXES


def index_sql(indexes: tuple[tuple[str, str, str], ...]) -> list[str]:
    out = []
    for name, cols, where in indexes:
        sql = f"CREATE INDEX IF NOT EXISTS {name} ON records ({cols})"
        if where:
            sql += f" WHERE {where}"
        out.append(sql)
    return out


def schema_v1() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS records (\n  {_columns_sql()}\n)",
        *index_sql(INDEXES),
        *fts_sql(),
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
        # Offsets of tailed files, so a restart neither repeats nor skips lines.
        "CREATE TABLE IF NOT EXISTS file_offsets (path TEXT PRIMARY KEY, inode INTEGER, "
        "offset INTEGER NOT NULL, head TEXT, updated_at TEXT)",
    ]


