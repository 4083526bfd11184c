"""The SQLite store behind :class:`logconsole.store.interface.Store` (:mod:`.store`)."""
