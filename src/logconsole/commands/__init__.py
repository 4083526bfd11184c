"""The CLI's commands, grouped by what they work on."""
