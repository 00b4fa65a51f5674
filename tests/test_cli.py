import json
import subprocess
import sys
from pathlib import Path

from lib.paths import PROJECT_DIR


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lib", *args], capture_output=True, text=True, cwd=PROJECT_DIR)


def test_clean_file_exits_zero() -> None:
    result = run("validate", "data/limericks.jsonl")
    assert result.returncode == 0 and "40 examples, 40 valid, 0 errors" in result.stdout


def test_broken_file_reports_every_bad_line_as_json_and_exits_one(tmp_path: Path) -> None:
    good = (PROJECT_DIR / "data/limericks.jsonl").read_text().splitlines()
    path = tmp_path / "broken.jsonl"
    path.write_bytes("\n".join([good[0], "{oops", good[1], '{"messages": []}', "\ufeff"]).encode() + b"\n\xff")
    result = run("validate", str(path), "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["examples"] == 6 and report["valid"] == 2
    assert {(f["line"], f["code"]) for f in report["findings"] if f["severity"] == "error"} >= {
        (2, "invalid_json"),
        (4, "empty_messages"),
        (5, "invalid_json"),
        (6, "invalid_utf8"),
    }


def test_unusable_arguments_exit_two_without_traceback(tmp_path: Path) -> None:
    for args in (("validate", str(tmp_path / "missing.jsonl")), ("validate", str(tmp_path)), ("frobnicate",), ()):
        result = run(*args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and result.stderr.strip()
