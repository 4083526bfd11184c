"""Numbers JSON cannot hold (NaN, Infinity, beyond double range) are refused at
every door, with the field named, and the records around them are stored.

Python's ``json`` reads ``NaN``, ``Infinity`` and turns ``1e999`` into
infinity; stored as they are, they are not JSON any more, and every
``--where metrics.cpu_usage>=90`` afterwards fails with "malformed JSON".
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cli_support import run
from collector_support import Client, Collector
from test_files import eventually, records, tailing

from logconsole import extjson, json_decode
from logconsole.ingest import IngestError, normalize, parse_line
from logconsole.store.db import connect
from logconsole.store.writer import insert_row

NAN_REASON = "field `metrics.cpu_usage`: NaN is not a number JSON can hold"


# ---------------------------------------------------------------- the one decoder


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"metrics": {"cpu_usage": NaN}}', NAN_REASON),
        ('{"metrics": {"cpu_usage": Infinity}}', "field `metrics.cpu_usage`: Infinity is not a number JSON can hold"),
        ('{"a": [1, -Infinity]}', "field `a[1]`: -Infinity is not a number JSON can hold"),
        ('{"duration_ms": 1e999}', "field `duration_ms`: 1e999 is beyond the largest number JSON can hold"),
        ('[{"x": {"y": -2.5E+400}}]', "field `[0].x.y`: -2.5E+400 is beyond the largest number JSON can hold"),
        ("NaN", "NaN is not a number JSON can hold"),
    ],
)
def test_decoder_refuses_numbers_json_cannot_hold_naming_the_field(text: str, reason: str) -> None:
    with pytest.raises(json_decode.JsonValueError) as err:
        json_decode.loads(text)
    assert str(err.value) == reason
    with pytest.raises(IngestError) as ingest_err:
        parse_line(text, kind="system")
    assert ingest_err.value.reason == reason


def test_decoder_reads_every_number_json_can_hold() -> None:
    big = "1" + "0" * 400
    value = json_decode.loads(f'{{"a": 1.5, "b": -0.0, "c": 1e308, "d": 1e-999, "e": {big}, "f": "NaN"}}')
    assert value == {"a": 1.5, "b": -0.0, "c": 1e308, "d": 0.0, "e": int(big), "f": "NaN"}


def test_an_integer_too_long_for_python_is_a_field_error_not_a_crash() -> None:
    with pytest.raises(json_decode.JsonValueError) as err:
        json_decode.loads('{"n": ' + "9" * 5000 + "}")
    assert str(err.value).startswith("field `n`: an integer of 5000 digits")


def test_mongoexport_numbers_beyond_double_range_are_refused() -> None:
    for wrapper, shown in [('{"$numberDecimal": "1e999"}', "1e999"),
                           ('{"$numberDecimal": "-Infinity"}', "-Infinity"),
                           ('{"$numberDouble": "NaN"}', "NaN"),
                           ('{"$numberDouble": "Infinity"}', "Infinity")]:
        with pytest.raises(json_decode.JsonValueError) as err:
            extjson.loads(f'{{"metrics": {{"load": {wrapper}}}}}')
        assert str(err.value).startswith(f"field `metrics.load`: {shown} is "), err.value
    assert extjson.loads('{"p": {"$numberDecimal": "19.90"}}') == {"p": 19.9}


def test_ingest_refuses_non_finite_values_handed_over_in_python(db_path: Path) -> None:
    for field, value in [("metrics", {"cpu_usage": math.nan}), ("request_data", [1, math.inf]),
                         ("extra", {"ratio": -math.inf})]:
        raw: dict[str, Any] = {"type": "system", "message": "m", field: value}
        with pytest.raises(IngestError) as err:
            normalize(raw)
        where = {"metrics": "metrics.cpu_usage", "request_data": "request_data[1]", "extra": "ratio"}[field]
        assert f"field `{where}`: " in err.value.reason and "is not a number JSON can hold" in err.value.reason


# ---------------------------------------------------------------- the doors


def test_socket_answers_the_line_naming_the_field_and_stores_the_others(tmp_path: Path) -> None:
    c = Collector(tmp_path).start()
    try:
        with Client(c.sock) as cl:
            cl.send(
                '{"type": "system", "message": "cpu ok", "metrics": {"cpu_usage": 95}}\n'
                '{"type": "system", "message": "cpu nan", "metrics": {"cpu_usage": NaN}}\n'
                '{"type": "system", "message": "cpu huge", "metrics": {"cpu_usage": 1e999}}\n'
                '{"type": "system", "message": "cpu fine", "metrics": {"cpu_usage": 10}}\n'
            )
            answer, before = cl.sync()
        assert answer["ok"] is True
        assert before == [
            {"ok": False, "line": 2, "error": NAN_REASON},
            {"ok": False, "line": 3,
             "error": "field `metrics.cpu_usage`: 1e999 is beyond the largest number JSON can hold"},
        ]
        rows = c.rows("SELECT message FROM records WHERE event_type IS NOT 'health_check' "
                      "AND message LIKE 'cpu %' ORDER BY id")
        assert [r["message"] for r in rows] == ["cpu ok", "cpu fine"]
    finally:
        assert c.stop() == 0, c.output()
    result = run(c.db, "query", "--where", "metrics.cpu_usage>=90", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["message"] for line in result.stdout.splitlines()] == ["cpu ok"]


def test_import_names_file_line_and_field_and_stores_the_lines_around(tmp_path: Path, db_path: Path) -> None:
    src = tmp_path / "systemlogs.jsonl"
    src.write_text("\n".join([
        '{"type": "system", "message": "one", "metrics": {"cpu_usage": 91}}',
        '{"type": "system", "message": "two", "metrics": {"cpu_usage": NaN}}',
        '{"type": "system", "message": "three", "metrics": {"cpu_usage": {"$numberDecimal": "1e999"}}}',
        '{"type": "system", "message": "four", "metrics": {"cpu_usage": 92}}',
    ]) + "\n")
    result = run(db_path, "import", str(src))
    assert result.exit_code == 1
    assert f"{src}:2: {NAN_REASON}" in result.stderr
    assert f"{src}:3: field `metrics.cpu_usage`: 1e999 is beyond the largest number JSON can hold" in result.stderr
    result = run(db_path, "query", "--where", "metrics.cpu_usage>=90", "--format", "jsonl", "--order", "oldest")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["message"] for line in result.stdout.splitlines()] == ["one", "four"]
    exported = run(db_path, "export", "--format", "json")
    json.loads(exported.stdout, parse_constant=lambda name: pytest.fail(f"export wrote {name}"))


def test_import_of_an_array_goes_on_after_a_refused_element(tmp_path: Path, db_path: Path) -> None:
    src = tmp_path / "systemlogs.json"
    src.write_text('[\n{"message": "one"},\n{"message": "two", "metrics": {"cpu": {"$numberDecimal": "1e999"}}},\n'
                   '{"message": "three", "metrics": {"cpu": Infinity}},\n{"message": "four"}\n]\n')
    result = run(db_path, "import", str(src))
    assert result.exit_code == 1
    assert f"{src}: record 2 (line 3): field `metrics.cpu`: 1e999 is beyond" in result.stderr
    assert f"{src}: record 3 (line 4): field `metrics.cpu`: Infinity is not" in result.stderr
    conn = sqlite3.connect(db_path)
    try:
        assert [r[0] for r in conn.execute("SELECT message FROM records ORDER BY id")] == ["one", "four"]
    finally:
        conn.close()


async def test_tailed_json_line_with_nan_is_kept_as_text_with_the_reason(tmp_path: Path, db_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    line = '{"type": "system", "message": "hot", "metrics": {"cpu_usage": NaN}}'
    async with tailing([str(log)], db_path):
        with log.open("a") as f:
            f.write(line + "\n" + '{"type": "system", "message": "cool", "metrics": {"cpu_usage": 5}}\n')
        await eventually(lambda: len(records(db_path)) >= 2)
        await asyncio.sleep(0)
    refused, cool = records(db_path)
    assert refused["message"] == line
    assert json.loads(refused["extra"])["ingest_error"] == NAN_REASON
    assert cool["message"] == "cool"
    conn = connect(db_path)
    try:
        assert conn.execute("SELECT count(*) FROM records WHERE json_extract(metrics, '$.cpu_usage') >= 0"
                            ).fetchone()[0] == 1
    finally:
        conn.close()


def test_send_refuses_an_argument_naming_the_field(tmp_path: Path, db_path: Path) -> None:
    result = run(db_path, "send", "--socket", str(tmp_path / "none.sock"),
                 '{"type": "system", "message": "m", "metrics": {"cpu_usage": NaN}}')
    assert result.exit_code != 0
    assert f"argument 1: {NAN_REASON}" in result.stderr


def test_stored_rows_stay_valid_json(db_path: Path) -> None:
    conn = connect(db_path)
    try:
        insert_row(conn, normalize({"type": "system", "message": "m", "metrics": {"cpu_usage": 1e308}}))
        assert conn.execute("SELECT json_extract(metrics, '$.cpu_usage') FROM records").fetchone()[0] == 1e308
    finally:
        conn.close()
