"""MongoDB Extended JSON (relaxed and canonical) decoded to plain values."""

from __future__ import annotations

import json

import pytest

from logconsole import extjson
from logconsole.json_decode import JsonValueError


def test_relaxed_object_id_and_date() -> None:
    doc = extjson.loads(
        '{"_id": {"$oid": "17be31111a2a73ed562b0f79"}, "createdAt": {"$date": "2026-11-20T09:15:00Z"}}'
    )
    assert doc == {"_id": "17be31111a2a73ed562b0f79", "createdAt": "2026-11-20T09:15:00.000000Z"}


def test_canonical_numbers_and_dates() -> None:
    doc = extjson.loads(json.dumps({
        "statusCode": {"$numberInt": "500"},
        "big": {"$numberLong": "9007199254740993"},
        "ratio": {"$numberDouble": "0.25"},
        "price": {"$numberDecimal": "19.90"},
        "count": {"$numberDecimal": "3"},
        "createdAt": {"$date": {"$numberLong": "1795166100000"}},
        "before1970": {"$date": {"$numberLong": "-86400000"}},
    }))
    assert doc == {
        "statusCode": 500,
        "big": 9007199254740993,
        "ratio": 0.25,
        "price": 19.9,
        "count": 3,
        "createdAt": "2026-11-20T09:15:00.000000Z",
        "before1970": "1969-12-31T00:00:00.000000Z",
    }
    assert isinstance(doc["statusCode"], int)


def test_legacy_date_as_milliseconds_and_offsets() -> None:
    assert extjson.loads('{"d": {"$date": 1795166100000}}') == {"d": "2026-11-20T09:15:00.000000Z"}
    assert extjson.loads('{"d": {"$date": "2026-11-20T10:15:00+01:00"}}') == {"d": "2026-11-20T09:15:00.000000Z"}


def test_non_finite_doubles_are_refused_naming_the_field() -> None:
    with pytest.raises(JsonValueError, match=r"^field `b`: NaN is not a number JSON can hold$"):
        extjson.loads('{"a": 1, "b": {"$numberDouble": "NaN"}}')


def test_wrappers_inside_arrays_and_nested_objects() -> None:
    doc = extjson.loads(
        '{"systemMetrics": {"cpuUsage": {"$numberDouble": "12.5"}, '
        '"samples": [{"$numberInt": "1"}, {"$numberInt": "2"}]}, '
        '"tags": [{"$oid": "aa"}, "plain"]}'
    )
    assert doc == {"systemMetrics": {"cpuUsage": 12.5, "samples": [1, 2]}, "tags": ["aa", "plain"]}


def test_decode_on_parsed_values_matches_loads() -> None:
    text = '{"x": {"$numberLong": "7"}, "y": [{"$date": {"$numberLong": "0"}}]}'
    assert extjson.decode(json.loads(text)) == extjson.loads(text) == {
        "x": 7, "y": ["1970-01-01T00:00:00.000000Z"],
    }


def test_other_bson_types() -> None:
    doc = extjson.loads(json.dumps({
        "uuid": {"$binary": {"base64": "EjRWeJASNFZ4kBI0VniQEg==", "subType": "04"}},
        "blob": {"$binary": {"base64": "AAEC", "subType": "00"}},
        "re": {"$regularExpression": {"pattern": "^a", "options": "i"}},
        "ts": {"$timestamp": {"t": 1795166100, "i": 1}},
        "gone": {"$undefined": True},
    }))
    assert doc == {
        "uuid": "12345678-9012-3456-7890-123456789012",
        "blob": "AAEC",
        "re": "/^a/i",
        "ts": "2026-11-20T09:15:00.000000Z",
        "gone": None,
    }


def test_unreadable_wrappers_and_lookalikes_are_left_alone() -> None:
    doc = extjson.loads(
        '{"a": {"$date": "soon"}, "b": {"$oid": "x", "other": 1}, "c": {"$unknown": 1}, '
        '"d": {"$numberInt": "five"}}'
    )
    assert doc == {
        "a": {"$date": "soon"}, "b": {"$oid": "x", "other": 1}, "c": {"$unknown": 1},
        "d": {"$numberInt": "five"},
    }


def test_plain_json_is_unchanged() -> None:
    text = '{"message": "costs $5", "n": 1, "nested": {"k": [1, 2]}}'
    assert not extjson.may_contain(text)
    assert extjson.loads(text) == json.loads(text)
