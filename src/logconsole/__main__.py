"""``python -m logconsole``."""

from logconsole.cli import main

main()
