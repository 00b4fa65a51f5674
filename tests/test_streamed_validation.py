"""A training file checked line by line says exactly what the whole-file reader says, and holds no example."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lib.local.config import ServerSettings
from lib.local.files import read_examples
from lib.openai_format import stream
from lib.openai_format.jsonl import read_jsonl
from lib.openai_format.stream import check_jsonl_file
from lib.settings import PROJECT_DIR
from tests.test_formats import _hostile_corpus

SAMPLE = PROJECT_DIR / "data" / "limericks.jsonl"


def _files() -> dict[str, bytes]:
    sample = SAMPLE.read_bytes()
    lines = sample.splitlines()
    return _hostile_corpus() | {
        "the sample": sample,
        "duplicates, three of one": b"\n".join([lines[0], lines[1], lines[0], lines[2], lines[0], lines[1]]),
        "BOM, CRLF, blank lines, no final newline": b"\xef\xbb\xbf" + b"\r\n\r\n".join(lines[:5]),
        "errors between good lines": b"\n".join([lines[0], b"{oops", lines[1], b'{"messages": []}', b"\xff", lines[2]]),
        "empty": b"",
    }


@pytest.mark.parametrize(("name", "data"), list(_files().items()), ids=list(_files()))
def test_the_streamed_check_finds_what_the_whole_file_reader_finds(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)
    whole = read_jsonl(data)
    seen: list[tuple[int, Any]] = []
    streamed = check_jsonl_file(path, lambda line, example: seen.append((line, example)))
    assert streamed.findings == whole.findings, name
    assert streamed.lines_read == whole.lines_read
    assert seen == whole.valid_examples() and streamed.valid == len(seen)


def test_three_copies_of_one_example_all_name_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(_files()["duplicates, three of one"])
    repeats = [(f.line, f.message) for f in check_jsonl_file(path).findings if f.code == "duplicate_example"]
    assert repeats == [
        (3, "Same example as line 1: it adds nothing."),
        (5, "Same example as line 1: it adds nothing."),
        (6, "Same example as line 2: it adds nothing."),
    ]


def test_a_line_longer_than_the_limit_is_refused_and_the_next_lines_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "MAX_LINE_BYTES", 1000)
    lines = SAMPLE.read_bytes().splitlines()
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\n".join([lines[0], b'{"x": "' + b"y" * 5000 + b'"}', *lines[1:12]]) + b"\n")
    checked = check_jsonl_file(path)
    assert [(f.line, f.code) for f in checked.errors] == [(2, "line_too_long")]
    assert checked.lines_read == 13 and checked.valid == 12


def test_the_server_refuses_a_file_with_its_first_problem_and_keeps_nothing_when_validating(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path)
    settings.files_dir.mkdir(parents=True)
    lines = SAMPLE.read_bytes().splitlines()
    (settings.files_dir / "file-good").write_bytes(b"\n".join(lines) + b"\n")
    (settings.files_dir / "file-bad").write_bytes(b"\n".join([*lines[:20], b"{oops", b"[]", *lines[20:]]) + b"\n")
    (settings.files_dir / "file-gzip").write_bytes(__import__("gzip").compress(SAMPLE.read_bytes()))
    assert read_examples(settings, "file-good", keep=False) == ([], None)
    examples, problem = read_examples(settings, "file-good")
    assert problem is None and examples == [json.loads(line) for line in lines]
    assert read_examples(settings, "file-bad")[1] == "Line 21: Not valid JSON: Expecting property name enclosed in "\
        "double quotes (column 2). (1 more problems)"  # fmt: skip
    assert (read_examples(settings, "file-gzip")[1] or "").startswith("The file: This is a gzip-compressed file")
    assert "preference line" in (read_examples(settings, "file-good", method="dpo")[1] or "")


def test_validate_on_the_command_line_streams_and_counts_tokens(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    lines = SAMPLE.read_bytes().splitlines()
    path.write_bytes(b"\n".join(lines * 50) + b"\n")  # 2,000 lines, every one after the 40th a duplicate
    result = subprocess.run(
        [sys.executable, "-m", "lib", "validate", str(path), "--model", "gpt-4o-mini", "--json"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["examples"], report["valid"], report["errors"], report["warnings"]) == (2000, 2000, 0, 1960)
    single = subprocess.run(
        [sys.executable, "-m", "lib", "validate", str(SAMPLE), "--model", "gpt-4o-mini", "--json"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
    )
    assert report["tokens"]["total"] == 50 * json.loads(single.stdout)["tokens"]["total"]
