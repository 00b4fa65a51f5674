"""Nothing lost in a CSV, nothing executed from one: a quote left open, a formula, a lone carriage return."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lib.curate.formats import read_csv, to_csv
from lib.judge import evaluation, reports
from lib.judge.run import Contender, Prompt, Rating, RunSettings, StoredAnswer
from lib.openai_format.examples import single_turn
from lib.retrieve.passages import read_csv as read_knowledge_csv
from lib.settings import PROJECT_DIR
from lib.train.providers import ProviderConfig

STRAY_QUOTE = b'system,user,assistant\n,q1,"a1 has a stray quote\n,q2,a2\n,q3,a3\n,q4,a4\n'
FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "\tx", "'=already"]


def test_a_quote_left_open_is_a_finding_and_the_rows_after_it_are_read() -> None:
    parsed = read_csv(STRAY_QUOTE)
    [bad] = [f for f in parsed.findings if f.code == "invalid_csv"]
    assert (bad.line, bad.severity) == (2, "error") and "never closed" in bad.message
    assert [line for line, _ in parsed.examples] == [3, 4, 5]
    assert [e["messages"][0]["content"] for _, e in parsed.examples] == ["q2", "q3", "q4"]


def test_validate_exits_1_on_a_quote_left_open(tmp_path: Path) -> None:
    path = tmp_path / "stray.csv"
    path.write_bytes(STRAY_QUOTE)
    done = subprocess.run([sys.executable, "-m", "lib", "validate", str(path)], capture_output=True, text=True,
                          cwd=PROJECT_DIR)  # fmt: skip
    assert done.returncode == 1
    assert "line 2: error invalid_csv" in done.stdout and "4 examples, 3 valid" in done.stdout


def test_the_knowledge_reader_says_so_too() -> None:
    read = read_knowledge_csv(b'name,text\nneon,"a noble gas\nargon,also noble\n', "elements.csv")
    assert [f.line for f in read.findings if f.code == "invalid_csv"] == [2]
    assert [p.text for p in read.passages] == ["name: argon · text: also noble"]


def test_exports_never_hand_a_spreadsheet_a_formula() -> None:
    rows = [(single_turn("", text, "a"), {"note": text}) for text in FORMULAS]
    lines = to_csv(rows).decode().split("\r\n")[1:-1]
    for line in lines:
        cells = line.split(",")
        assert cells[1].lstrip('"').startswith("'"), line  # the user cell: an apostrophe first
        assert not any(cell.lstrip('"').startswith(("=", "+", "-", "@", "\t")) for cell in cells), line
    assert [e["messages"][0]["content"] for _, e in read_csv(to_csv(rows)).examples] == FORMULAS


def test_the_ratings_export_is_safe_and_reads_back_with_a_carriage_return_in_a_note() -> None:
    contenders = [Contender("tuned", "ft:m:o::1", tuned=True), Contender("base", "m")]
    prompt = [Prompt("p", [{"role": "user", "content": "q"}])]
    run = evaluation.create_run("r", ProviderConfig("local"), "p", prompt, contenders, RunSettings())
    answers = [StoredAnswer(1, "tuned", "=1+1", 1, 1, 0.1, 0.0), StoredAnswer(1, "base", "b", 1, 1, 0.1, 0.0)]
    rating = Rating(run.id, "Ada", 1, "tuned", "base", "tuned", {"tuned": [5, 5, 5], "base": [1, 1, 1]}, "a\rb")
    exported = reports.ratings_csv(run, [rating], answers)
    assert b"'=1+1" in exported and b'"a\rb"' in exported
    [back], criteria = reports.read_ratings_csv(exported)
    assert back.note == "a\rb" and back.scores == rating.scores and len(criteria) == 3


cell = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(system=cell, user=cell.filter(lambda text: text.strip() != ""), assistant=cell, note=cell)
def test_export_then_import_gives_the_same_examples(system: str, user: str, assistant: str, note: str) -> None:
    example = single_turn(system, user, assistant)
    parsed = read_csv(to_csv([(example, {"note": note})]))
    [(line, back)] = parsed.examples
    assert back == example
    assert parsed.metadata[line].get("note", "") == note


def test_a_compressed_file_exits_1_whatever_its_name(tmp_path: Path) -> None:
    import gzip

    codes = set()
    for name in ("data.jsonl", "data.csv"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(b"user,assistant\nq,a\n"))
        done = subprocess.run([sys.executable, "-m", "lib", "validate", str(path)], capture_output=True, text=True,
                              cwd=PROJECT_DIR)  # fmt: skip
        assert "gzip" in done.stdout, done.stdout + done.stderr
        codes.add(done.returncode)
    assert codes == {1}


def test_validate_refuses_what_is_not_a_file_with_one_line(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        done = subprocess.run([sys.executable, "-m", "lib", "validate", path], capture_output=True, text=True,
                              cwd=PROJECT_DIR, timeout=60)  # fmt: skip
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
        assert "is not a regular file" in done.stderr
