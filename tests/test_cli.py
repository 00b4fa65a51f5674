import json
import subprocess
import sys
from pathlib import Path

from lib.settings import PROJECT_DIR


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


def test_scorecard_reads_the_ratings_export_and_prints_the_verdict(tmp_path: Path) -> None:
    rows = ["item,reviewer,A,B,winner,note,A: Form,B: Form"]
    rows += [f"{i},Ada,tuned,3-shot,tuned,,5,2" for i in range(1, 21) if i <= 18]
    rows += [f"{i},Ada,3-shot,tuned,3-shot,,4,2" for i in (19, 20)]
    rows += [f"{i},bob,3-shot,tuned,tuned,,2,5" for i in range(1, 11)]  # a second reviewer of the same items
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(rows) + "\n")
    result = run("scorecard", str(path), "--tuned", "tuned", "--baseline", "3-shot", "--json")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    [pair] = card["pairs"]
    assert (pair["first"], pair["items"], pair["ratings"], pair["first_wins"]) == ("tuned", 20, 30, 28)
    assert pair["win_rate"] == 0.9 and 0.69 < pair["low"] < pair["high"] < 0.98  # 20 items, not 30 ratings
    assert card["verdict"]["decision"] == "fine-tune" and card["verdict"]["more_items_needed"] is None
    assert {r["contender"] for r in card["ranking"]} == {"tuned", "3-shot"}
    assert card["agreement"]["measure"] == "Cohen's kappa" and card["agreement"]["items"] == 10
    assert {(r["contender"], r["criterion"]) for r in card["rubric"]} == {("tuned", "Form"), ("3-shot", "Form")}


def test_scorecard_refuses_unusable_input_with_exit_two(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("item,reviewer,A,B,winner\nx,Ada,tuned,base,tuned\n")
    bad_item = run("scorecard", str(path), "--tuned", "tuned", "--baseline", "base")
    assert bad_item.returncode == 2 and "Row 2, column item" in bad_item.stderr and "Traceback" not in bad_item.stderr
    path.write_text("item,who\n1,Ada\n")
    assert (
        "lacks the column(s) reviewer, A, B, winner"
        in run("scorecard", str(path), "--tuned", "a", "--baseline", "b").stderr
    )
    path.write_text("item,reviewer,A,B,winner\n1,Ada,tuned,base,tuned\n")
    unknown = run("scorecard", str(path), "--tuned", "tuned", "--baseline", "few")
    assert unknown.returncode == 2 and "'few' is not a contender" in unknown.stderr


def test_check_prints_each_check_of_the_pack() -> None:
    result = run(
        "check", "--question", "Tell me about sodium.", "--answer", "Sodium, Na, one of the alkali metals", "--json"
    )
    assert result.returncode == 0
    assert json.loads(result.stdout) == {
        "limerick_form": False, "element_named": True, "symbol_right": True, "number_right": None,
    }  # fmt: skip


def test_doctor_lists_each_finding_with_its_lines_and_exits_one_on_errors(tmp_path: Path) -> None:
    from tests.test_doctor import planted

    path = tmp_path / "planted.jsonl"
    path.write_text("".join(json.dumps(example) + "\n" for _, example in planted()))
    evaluation = tmp_path / "eval.jsonl"
    question = {"messages": [{"role": "user", "content": "What is the boiling point of water at sea level?"}]}
    evaluation.write_text(json.dumps(question) + "\n")
    result = run("doctor", str(path), "--eval", str(evaluation), "--json")
    assert result.returncode == 1, result.stderr
    found = {(f["code"], tuple(f["lines"])): f for f in json.loads(result.stdout)["findings"]}
    assert ("eval_overlap", (19,)) in found and "eval.jsonl:1" in found[("eval_overlap", (19,))]["message"]
    assert ("near_duplicate", (1, 15, 16)) in found and found[("pii", (21,))]["severity"] == "error"
    assert set(found[("pii", (20,))]) == {"code", "severity", "lines", "message"}
    assert run("doctor", "data/limericks.jsonl", "--eval", "data/limericks-eval.jsonl").returncode == 0
    missing = run("doctor", str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2 and "cannot use" in missing.stderr and "Traceback" not in missing.stderr


def test_import_then_export_round_trips_through_the_configured_store(store: str, tmp_path: Path) -> None:
    from lib.db import dataset_store

    good = (PROJECT_DIR / "data/limericks.jsonl").read_text().splitlines()
    path = tmp_path / "elle.jsonl"
    path.write_text("\n".join([good[0], "{oops", good[1], good[2]]) + "\n")
    result = run("import", str(path), "--dataset", "Elle from the pipeline")
    assert result.returncode == 1 and "Traceback" not in result.stderr  # one bad line: said, left out
    assert f"{path}:line 2: error invalid_json" in result.stderr
    assert "Imported 3 examples into new dataset 'Elle from the pipeline'" in result.stdout
    assert ("PostgreSQL" if store == "postgresql" else "SQLite") in result.stdout
    dataset = dataset_store.find_dataset("elle from the pipeline")
    assert dataset is not None and dataset.n_examples == 3  # the test process sees what the command wrote
    dataset_store.update_rows(dataset.id, {dataset_store.rows(dataset.id)[1].id: {"status": "approved"}})

    exported = run("export", "Elle from the pipeline")
    assert exported.returncode == 0 and exported.stdout.splitlines() == good[:3]
    approved = run("export", "ELLE FROM THE PIPELINE", "--approved", "--format", "csv")
    assert approved.returncode == 0 and approved.stdout.count("approved") == 1
    again = run("import", str(PROJECT_DIR / "data/limericks.jsonl"), "--dataset", "Elle from the pipeline")
    assert (
        again.returncode == 0 and "Imported 40 examples into dataset" in again.stdout and "(43 in all)" in again.stdout
    )


def test_export_of_an_unknown_dataset_names_the_ones_there_are(store: str) -> None:
    from lib.db import dataset_store

    dataset_store.create_dataset("Elle")
    result = run("export", "Ele")
    assert result.returncode == 2 and "no dataset named 'Ele'" in result.stderr and "'Elle'" in result.stderr
    assert result.stdout == ""
