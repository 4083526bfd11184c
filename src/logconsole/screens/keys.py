"""The console's keys by binding id: which bindings exist, which keys are in force.

Every binding of the console has an id (``Binding(..., id="filter")``).  The
``[keys]`` section of config.toml maps ids to keys::

    [keys]
    filter = "F"
    search = ["slash", "ctrl+f"]

:func:`check_keymap` turns that section into a Textual keymap (refusing an
unknown id, a key Textual cannot name, or two actions of one screen on one
key, with the id in the message); the app hands it to ``App.set_keymap``, and
the help screen and the palette show the keys in force through
:func:`keys_in_force`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding
from textual.keys import Keys, format_key, key_to_character

from logconsole.config import ConfigError

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
"""Modifiers Textual reads in a key (``ctrl+r``, ``shift+tab``)."""
_KEY_NAMES = frozenset(k.value for k in Keys)
"""Names of keys that are not characters (``enter``, ``pageup``, ``f2``)."""


@dataclass(frozen=True, slots=True)
class Owner:
    """A screen or widget of the console and its bindings.

    ``scope`` groups the owners whose keys are live at once: the main screen,
    its list and the app answer the same key presses, so two of their actions
    on one key would hide one of them.
    """

    name: str
    scope: str
    bindings: tuple[Binding, ...]


def owners() -> tuple[Owner, ...]:
    """Every screen and widget of the console that has bindings, main screen first."""
    from logconsole.screens.app import LogConsoleApp
    from logconsole.screens.confirm import ConfirmScreen
    from logconsole.screens.detail import DetailPane
    from logconsole.screens.export import ExportScreen
    from logconsole.screens.filters import FilterScreen
    from logconsole.screens.help import HelpScreen
    from logconsole.screens.log_view import LogView
    from logconsole.screens.main_screen import MainScreen
    from logconsole.screens.note import NoteScreen
    from logconsole.screens.search_bar import SearchBar

    main = (MainScreen, LogView, LogConsoleApp)
    classes = (*main, DetailPane, SearchBar, FilterScreen, ExportScreen, NoteScreen, ConfirmScreen, HelpScreen)
    return tuple(
        Owner(cls.__name__, "main screen" if cls in main else cls.__name__,
              tuple(b for b in cls.BINDINGS if isinstance(b, Binding)))
        for cls in classes
    )


def binding_ids() -> dict[str, Binding]:
    """Every binding id of the console and its binding."""
    out: dict[str, Binding] = {}
    for owner in owners():
        for b in owner.bindings:
            if b.id:
                out.setdefault(b.id, b)
    return out


def key_label(key: str) -> str:
    """How a key reads in the help: a character's name as the character
    (``question_mark`` -> ``?``, ``slash`` -> ``/``); key names (``enter``,
    ``space``, ``ctrl+r``) as they are."""
    if "+" in key or key in _KEY_NAMES:
        return key
    shown = format_key(key)
    return shown if len(shown) == 1 and shown.isprintable() and not shown.isspace() else key


def keys_in_force(binding: Binding, keymap: Mapping[str, str]) -> str:
    """The keys that run ``binding`` under ``keymap``, as the help shows them."""
    keys = keymap.get(binding.id or "", binding.key)
    return ", ".join(key_label(k.strip()) for k in keys.split(","))


def _known_key(key: str) -> bool:
    *mods, base = key.split("+")
    if not base or any(m not in MODIFIERS for m in mods):
        return False
    return (len(base) == 1 or base in _KEY_NAMES or key_to_character(base) is not None
            or len(format_key(base)) == 1)


def check_keymap(keys: Mapping[str, str], source: object = "config") -> dict[str, str]:
    """``[keys]`` as a keymap for ``App.set_keymap``; :class:`ConfigError` names
    the binding id that is unknown, a key Textual cannot name, or a key that two
    actions of one screen would share."""
    known = binding_ids()
    for binding_id, value in keys.items():
        if binding_id not in known:
            near = difflib.get_close_matches(binding_id, known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"{source}: [keys] {binding_id!r} is not a binding id{hint}; "
                f"known ids: {', '.join(sorted(known))}"
            )
        for key in value.split(","):
            if not _known_key(key.strip()):
                raise ConfigError(
                    f"{source}: [keys] {binding_id} = {value!r}: {key.strip()!r} is not a key "
                    "(use a character, a key name like f2, pageup or question_mark, "
                    "and modifiers like ctrl+)"
                )
    keymap = dict(keys)
    taken: dict[tuple[str, str], str] = {}
    for owner in owners():
        for b in owner.bindings:
            name = b.id or b.action
            for key in keys_in_force(b, keymap).split(", "):
                other = taken.setdefault((owner.scope, key), name)
                # Two default bindings may share a key on purpose: which one
                # applies depends on the state (escape leaves the full-screen
                # detail pane, else closes it).  Only a remapping can clash.
                if other != name and (name in keymap or other in keymap):
                    moved, kept = (name, other) if name in keymap else (other, name)
                    raise ConfigError(
                        f"{source}: [keys] {moved}: {key!r} is already the key of {kept!r} "
                        f"on the {owner.scope}; give {kept!r} another key too"
                    )
    return keymap


def help_rows(bindings: Iterable[Binding], keymap: Mapping[str, str]) -> list[tuple[str, str]]:
    """(keys in force, what it does) for each binding with a description."""
    return [(keys_in_force(b, keymap), b.description) for b in bindings if b.description]
