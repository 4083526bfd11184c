"""Collectors: socket, syslog, health, file tailing. No Textual here."""
