import json

import pytest

from lib.curate.formats import read_csv, read_file, read_jsonl, split, to_csv, to_jsonl
from lib.errors import DatasetError
from lib.paths import SAMPLE_DIR

GOOD = {
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
}


def line(example: object) -> bytes:
    return json.dumps(example).encode()


def test_every_bad_line_is_reported_and_every_good_line_kept() -> None:
    data = b"\n".join(
        [
            line(GOOD),
            b"{not json",
            b"\xff\xfe bad bytes",
            b"[" * 5000 + b"]" * 5000,
            line({"messages": [{"role": "user", "content": "x"}]}),
            b"",
            b"   ",
            line([1]),
            line({"messages": [*GOOD["messages"][:2], {"role": "assistant", "content": "b"}]}),
        ]
    )
    parsed = read_jsonl(data)
    errors = {(f.line, f.code) for f in parsed.errors}
    assert {
        (2, "invalid_json"),
        (3, "invalid_utf8"),
        (4, "too_deep"),
        (5, "example_missing_assistant_message"),
        (8, "data_type"),
    } <= errors
    assert [ln for ln, _ in parsed.valid_examples()] == [1, 9]
    assert parsed.lines_read == 7  # blank lines are skipped, not counted


def test_bom_crlf_and_no_final_newline() -> None:
    data = b"\xef\xbb\xbf" + line(GOOD) + b"\r\n" + line(GOOD).replace(b'"a"', b'"b"')
    parsed = read_jsonl(data)
    assert parsed.errors == [] and [ln for ln, _ in parsed.valid_examples()] == [1, 2]


def test_deep_but_parseable_nesting_is_refused_not_crashed() -> None:
    parsed = read_jsonl(b'{"messages": ' + b"[" * 100 + b"]" * 100 + b"}")
    assert [f.code for f in parsed.errors] == ["too_deep"]


def test_sample_file_round_trips_unchanged() -> None:
    original = (SAMPLE_DIR / "limericks.jsonl").read_bytes()
    parsed = read_jsonl(original)
    assert len(parsed.valid_examples()) == 40 and parsed.findings == []
    assert to_jsonl(ex for _, ex in parsed.examples) == original


def test_multi_turn_with_weights_and_unicode_round_trips() -> None:
    example = {
        "messages": [
            {"role": "system", "content": "Elle — ünïcode ✓"},
            {"role": "user", "content": "Gold?", "name": "ana"},
            {"role": "assistant", "content": "Au", "weight": 0},
            {"role": "user", "content": "More"},
            {"role": "assistant", "content": "79", "weight": 1},
        ]
    }
    parsed = read_jsonl(to_jsonl([example]))
    assert parsed.examples == [(1, example)]


def test_csv_import_with_extra_columns_and_spreadsheet_rows() -> None:
    data = b'System,User,Assistant,status,tags\ns,q1,a1,approved,"x, y"\n,,\ns,q2,\n'
    parsed = read_csv(data)
    assert [ln for ln, _ in parsed.examples] == [2, 4]
    assert parsed.metadata[2] == {"status": "approved", "tags": "x, y"}
    assert [(f.line, f.code) for f in parsed.errors] == [(4, "missing_content")]


def test_csv_without_needed_columns_says_which() -> None:
    with pytest.raises(DatasetError, match="missing assistant"):
        read_csv(b"system,user\na,b\n")
    with pytest.raises(DatasetError, match="not valid UTF-8"):
        read_csv(b"user,assistant\n\xff,b\n")


def test_csv_export_then_import_keeps_the_examples() -> None:
    data = to_csv([(GOOD, {"status": "approved", "tags": "t", "note": "n, with comma"})])
    parsed = read_csv(data)
    assert parsed.examples == [(2, GOOD)]
    assert parsed.metadata[2] == {"status": "approved", "tags": "t", "note": "n, with comma"}


def test_unknown_extension_is_a_clear_error() -> None:
    with pytest.raises(DatasetError, match=r"neither \.jsonl nor \.csv"):
        read_file("data.xlsx", b"")


def test_split_is_repeatable_and_complete() -> None:
    items = list(range(100))
    train, valid = split(items, 0.2, seed=7)
    assert len(valid) == 20 and sorted(train + valid) == items
    assert split(items, 0.2, seed=7) == (train, valid)
    assert split(items, 0.2, seed=8)[1] != valid
