import json
from pathlib import Path

import pytest

from lib.curate.formats import read_csv, read_file, split, to_csv
from lib.errors import DatasetError
from lib.openai_format.jsonl import read_jsonl, to_jsonl
from lib.settings import PROJECT_DIR, SAMPLE_DIR

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


def _hostile_corpus() -> dict[str, bytes]:
    """Files as attackers and bad luck write them; each holds good lines that must be kept."""
    import gzip
    import random

    good = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    other = json.dumps({"messages": [{"role": "user", "content": "r"}, {"role": "assistant", "content": "b"}]})
    rng = random.Random(13)
    surrogate = '{"messages": [{"role": "user", "content": "\\ud800"}]}'
    corpus = {
        "huge integer": f'{{"messages": [], "n": {"9" * 5000}}}\n{good}\n{other}\n'.encode(),
        "lone surrogate in content": f"{surrogate}\n{good}\n{other}".encode(),
        "lone surrogate in a key": f'{{"\\udfff": 1}}\n{good}\n{other}'.encode(),
        "NaN, Infinity and 1e400": f'{{"x": NaN}}\n{{"x": -Infinity}}\n{{"x": 1e400}}\n{good}\n{other}'.encode(),
        "UTF-16 with a BOM": f"\ufeff{good}\n{other}\n".encode("utf-16-le"),
        "UTF-16 big-endian with a BOM": f"\ufeff{good}\n{other}\n".encode("utf-16-be"),
        "UTF-32 with a BOM": f"\ufeff{good}\n{other}\n".encode("utf-32-le"),
        "UTF-16 without a BOM": f"{good}\n{other}\n".encode("utf-16-le"),
        "pretty-printed JSON array": json.dumps([json.loads(good), json.loads(other)], indent=2).encode(),
        "deep nesting": ("[" * 100_000 + "]" * 100_000 + f"\n{good}\n{other}").encode(),
        "random bytes": bytes(rng.randrange(256) for _ in range(2000)) + f"\n{good}\n{other}".encode(),
        "NUL bytes": b"\x00\x00\x00\n" + f"{good}\n{other}".encode(),
        "invalid UTF-8": b"\xff\xfe\xfd\n" + f"{good}\n{other}".encode(),
    }
    return corpus | {"gzip": gzip.compress(f"{good}\n{other}".encode())}


@pytest.mark.parametrize(("name", "data"), list(_hostile_corpus().items()))
def test_the_jsonl_reader_is_total_on_hostile_files(name: str, data: bytes) -> None:
    parsed = read_jsonl(data)  # never raises
    for finding in parsed.findings:
        assert finding.line is None or finding.line >= 1
    if name == "gzip":
        assert parsed.findings[0].code == "compressed_file" and not parsed.examples
        return
    kept = [example["messages"][0]["content"] for _, example in parsed.valid_examples()]
    assert kept[-2:] == ["q", "r"], name  # every good line is kept
    written = to_jsonl(example for _, example in parsed.importable_examples(include_errors=True))
    for line in written.decode("utf-8").splitlines():  # whatever was kept is written back as valid JSON
        json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} written back"))
    if name.startswith("UTF") or name == "pretty-printed JSON array":
        assert any(f.line is None and f.severity == "warning" for f in parsed.findings)  # says what it did


def test_csv_cells_of_any_length_sniffed_delimiters_and_duplicate_columns() -> None:
    long = "x" * 200_000
    assert read_csv(f"user,assistant\n{long},b\n".encode()).examples[0][1]["messages"][0]["content"] == long
    semicolons = read_csv(b"system;user;assistant\ns;u;a\n")
    assert [m["content"] for m in semicolons.examples[0][1]["messages"]] == ["s", "u", "a"]
    with pytest.raises(DatasetError, match=r"'user' \(columns 1, 3\)"):
        read_csv(b"user,assistant,user\na,b,c\n")
    assert read_csv("\ufeffuser,assistant\nq,a\n".encode("utf-16-le")).examples  # UTF-16 from a spreadsheet
    packed = read_csv(__import__("gzip").compress(b"user,assistant\n"))  # a finding, as for JSONL: exit 1 either way
    assert [f.code for f in packed.findings] == ["compressed_file"] and "gzip" in packed.findings[0].message


def test_the_cli_exits_two_never_with_a_traceback_on_hostile_files(tmp_path: Path) -> None:
    import subprocess
    import sys

    for name, data in _hostile_corpus().items():
        path = tmp_path / "hostile.jsonl"
        path.write_bytes(data)
        result = subprocess.run(
            [sys.executable, "-m", "lib", "validate", str(path), "--json"], capture_output=True, cwd=PROJECT_DIR
        )
        assert result.returncode in (0, 1, 2), name
        assert b"Traceback" not in result.stderr, (name, result.stderr[-500:])
        if result.returncode != 2:
            json.loads(result.stdout)  # a report a pipeline can read
