"""``[keys]`` in config.toml rebinds the console's actions by binding id, and ``?``
shows the keys in force."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tui_data import FIXED_NOW, make_db, screen_text, settle

from logconsole.cli import cli
from logconsole.config import ConfigError, Settings, load_settings
from logconsole.screens.app import LogConsoleApp
from logconsole.screens.keys import binding_ids, check_keymap, key_label
from logconsole.screens.main_screen import MainScreen

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def console(db_path: Path, keys: dict[str, str]) -> LogConsoleApp:
    return LogConsoleApp(db_path, now=FIXED_NOW, cursor_blink=False, poll_interval=0,
                         settings=Settings(keys=keys))


def test_keys_section_reads_a_key_or_a_list(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, '[keys]\nfilter = "F"\nsearch = ["slash", "ctrl+f"]\n'))
    assert settings.keys == {"filter": "F", "search": "slash,ctrl+f"}


def test_dotted_ids_read_bare_or_quoted(tmp_path: Path) -> None:
    text = '[keys]\nlist.mark = ["space", "insert"]\n"range.month" = "M"\n'
    assert load_settings(config(tmp_path, text)).keys == {"list.mark": "space,insert", "range.month": "M"}


def test_the_documented_keys_example_is_accepted(tmp_path: Path) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "tui.md").read_text()
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    keymap = check_keymap(load_settings(config(tmp_path, example)).keys)
    assert keymap["filter"] == "F" and keymap["list.mark"] == "space,insert"


def test_the_keys_table_in_the_docs_names_every_binding_of_the_main_screen() -> None:
    from logconsole.screens.keys import owners

    doc = (Path(__file__).parent.parent / "docs" / "tui.md").read_text()
    section = doc.split("## Keys", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for line in section.splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) == 3:
            documented |= {part.strip("`") for part in cells[2].split() if part.startswith("`")}
    main = {"MainScreen", "LogView", "LogConsoleApp", "DetailPane", "SearchBar"}
    expected = {str(b.id) for o in owners() if o.name in main for b in o.bindings}
    assert documented == expected


@pytest.mark.parametrize("text, words", [
    ("[keys]\nfilter = 3\n", ["[keys] filter", "a key or a list of keys"]),
    ("[keys]\nfilter = []\n", ["[keys] filter"]),
    ("keys = 1\n", ["[keys] must be a table"]),
])
def test_a_malformed_keys_section_names_the_entry(tmp_path: Path, text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(config(tmp_path, text))
    for word in words:
        assert word in str(err.value)


def test_an_unknown_binding_id_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as err:
        check_keymap({"serch": "F"}, "config.toml")
    message = str(err.value)
    assert "config.toml: [keys] 'serch' is not a binding id (did you mean 'search'?)" in message
    assert "filter" in message and "list.mark" in message  # the known ids are listed


def test_a_key_textual_cannot_name_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[keys\] filter = 'ctl\+f': 'ctl\+f' is not a key"):
        check_keymap({"filter": "ctl+f"})


def test_two_actions_on_one_key_of_one_screen_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[keys\] filter: 's' is already the key of 'sort.next'"):
        check_keymap({"filter": "s"})
    # moving the other one away too is fine
    assert check_keymap({"filter": "s", "sort.next": "ctrl+o"}) == {"filter": "s", "sort.next": "ctrl+o"}


def test_every_binding_of_the_console_has_an_id() -> None:
    from logconsole.screens.keys import owners

    for owner in owners():
        for b in owner.bindings:
            assert b.id, f"{owner.name}: binding {b.key} -> {b.action} has no id"
    assert {"filter", "search", "list.mark", "detail.copy", "export.cancel", "app.quit"} <= set(binding_ids())


def test_key_labels_read_as_typed() -> None:
    assert [key_label(k) for k in ("question_mark", "slash", "colon", "space", "enter", "ctrl+r", "F")] == [
        "?", "/", ":", "space", "enter", "ctrl+r", "F",
    ]


async def test_a_rebound_key_runs_the_action_and_the_old_key_does_not(db_path: Path) -> None:
    make_db(db_path)
    app = console(db_path, {"filter": "F", "list.mark": "m,insert", "range.month": "M"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # f is no longer the filter key
        await pilot.press("F")
        await settle(pilot)
        assert type(app.screen).__name__ == "FilterScreen"
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("m")
        await pilot.press("down", "insert")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen) and len(screen.view.marks) == 2
        await pilot.press("M")
        await settle(pilot)
        assert screen.state.range_name == "month"


async def test_help_and_palette_show_the_keys_in_force(db_path: Path) -> None:
    make_db(db_path)
    app = console(db_path, {"filter": "F", "search": "slash,ctrl+f", "help": "f1"})
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        shown = dict((does, keys) for keys, does in screen.key_bindings())
        assert shown["Filter"] == "F" and shown["Search"] == "/, ctrl+f" and shown["Help"] == "f1"
        palette = {c.title: c.help for c in app.get_system_commands(screen)}
        assert palette["Filter"] == "key: F"
        await pilot.press("f1")
        await settle(pilot)
        assert type(app.screen).__name__ == "HelpScreen"
        text = screen_text(app)
        assert "/, ctrl+f" in text and "f1" in text


def test_the_console_refuses_a_bad_keys_section_before_it_starts(tmp_path: Path) -> None:
    path = config(tmp_path, '[keys]\nfiltre = "F"\n')
    result = CliRunner().invoke(cli, ["tui", "--db", str(tmp_path / "x.db"), "--config", str(path), "--no-collector"])
    assert result.exit_code != 0
    assert "[keys] 'filtre' is not a binding id (did you mean 'filter'?)" in result.output
    assert "Traceback" not in result.output
