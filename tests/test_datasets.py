import json

from lib.curate.formats import read_csv
from lib.curate.import_export import approved, check_rows, export, export_split, import_parsed, load_sample
from lib.db import dataset_store, dataset_versions
from lib.openai_format.jsonl import read_jsonl


def test_sample_loads_clean_with_forty_different_elements() -> None:
    dataset = load_sample()
    rows = dataset_store.rows(dataset.id)
    questions = {row.example["messages"][1]["content"] for row in rows}
    assert len(rows) == 40 and len(questions) == 40 and check_rows(rows) == []
    for row in rows:
        assert row.example["messages"][0]["content"].startswith("Elle is a factual chatbot")
        assert len(row.example["messages"][2]["content"].splitlines()) == 5  # a limerick has five lines


def test_import_keeps_valid_lines_and_optionally_the_ones_to_fix() -> None:
    good = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    fixable = json.dumps({"messages": [{"role": "user", "content": "q2"}]})
    parsed = read_jsonl(f"{good}\nnot json\n{fixable}\n".encode())
    only_valid = dataset_store.create_dataset("valid")
    assert import_parsed(only_valid.id, parsed, include_errors=False, source="f.jsonl") == 1
    everything = dataset_store.create_dataset("all")
    assert import_parsed(everything.id, parsed, include_errors=True, source="f.jsonl") == 2
    assert [f.code for f in check_rows(dataset_store.rows(everything.id)) if f.severity == "error"] == [
        "example_missing_assistant_message"
    ]
    assert dataset_versions.versions(everything.id)[0].summary == "Imported 2 examples from f.jsonl"


def test_csv_import_keeps_status_tags_note_and_defaults_unknown_status() -> None:
    parsed = read_csv(b"user,assistant,status,tags,note\nq,a,approved,x,n\nq2,a2,maybe,,\n")
    dataset = dataset_store.create_dataset("csv")
    import_parsed(dataset.id, parsed, include_errors=False, source="f.csv")
    rows = dataset_store.rows(dataset.id)
    assert [(r.status, r.tags, r.note) for r in rows] == [("approved", "x", "n"), ("draft", "", "")]


def test_export_approved_only_and_split() -> None:
    dataset = load_sample()
    rows = dataset_store.rows(dataset.id)
    dataset_store.update_rows(dataset.id, {rows[0].id: {"status": "approved"}, rows[5].id: {"status": "approved"}})
    rows = dataset_store.rows(dataset.id)
    jsonl = export(approved(rows), "jsonl").decode().splitlines()
    assert [json.loads(line) for line in jsonl] == [rows[0].example, rows[5].example]
    csv_text = export(rows, "csv").decode()
    assert csv_text.startswith("system,user,assistant,status,tags,note\r\n") and "approved" in csv_text  # RFC 4180
    train, valid = export_split(rows, 0.25, seed=1)
    assert len(train.splitlines()) == 30 and len(valid.splitlines()) == 10
    assert export_split(rows, 0.25, seed=1) == (train, valid)


def test_importing_into_a_new_dataset_is_one_call_with_its_rows() -> None:
    from lib.curate.import_export import import_new
    from lib.openai_format.jsonl import read_jsonl
    from lib.settings import SAMPLE_DIR

    parsed = read_jsonl((SAMPLE_DIR / "limericks.jsonl").read_bytes())
    dataset, count = import_new("Elle v2", parsed, False, "limericks.jsonl")
    assert count == 40 and dataset.n_examples == 40
    summaries = [v.summary for v in dataset_versions.versions(dataset.id)]  # made with its rows in one transaction
    assert summaries == ["Imported 40 examples from limericks.jsonl", "Created"]
