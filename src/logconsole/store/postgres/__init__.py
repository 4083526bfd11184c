"""The PostgreSQL store behind :class:`logconsole.store.interface.Store`.

:mod:`.schema` (tables, partitions, indexes), :mod:`.migrations` (versioned
steps under an advisory lock), :mod:`.writer` (``COPY`` batches with their
error groups), :mod:`.query` (filters to SQL, pages, search, counts) and
:mod:`.store` (the interface).  Needs ``psycopg`` 3 (the ``postgresql`` extra).
"""
