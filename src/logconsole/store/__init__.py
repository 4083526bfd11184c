"""The SQLite store: schema, writer, queries, actions, export. No Textual here."""
