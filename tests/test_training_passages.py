"""A factual Elle: passages written as sentences, training with them through the same prompt builder answering uses,
distractors, and the `train` and `ask --knowledge` commands against the tiny local server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from lib import cli
from lib.curate.import_export import load_sample
from lib.db import dataset_store, knowledge_store, provenance_store
from lib.errors import KnowledgeError
from lib.judge import elle_checks, evaluation
from lib.judge.run import Contender, RunSettings, prompt_messages
from lib.openai_format.jsonl import read_jsonl
from lib.price.tokens import Counter
from lib.retrieve import passages as reading
from lib.retrieve.source import TrainingPassages
from lib.settings import SAMPLE_DIR
from lib.train import launch
from lib.train.launch import LaunchSettings
from lib.train.with_passages import with_passages
from tests.local_server import running_server, tiny_settings
from tests.tiny_model import TINY

ELEMENTS = SAMPLE_DIR / "elements.csv"


def sample_choice(k: int = 3, share: float = 0.5) -> TrainingPassages:
    source = reading.load_sample_source()
    return TrainingPassages(source.id, source.version_id, source.name, k, share, source.passage_template)


def system_of(example: dict) -> str:
    return str(example["messages"][0]["content"])


def test_a_template_writes_each_row_as_a_sentence_and_leaves_out_sentences_with_nothing_to_say() -> None:
    read = reading.read_csv(ELEMENTS.read_bytes(), "elements.csv", template=reading.SAMPLE_TEMPLATE)
    texts = {p.origin: p.text for p in read.passages}
    assert len(read.passages) == 118 and not read.findings
    assert texts["row 24"] == "Vanadium has atomic number 23 and the symbol V."  # no other spelling: left out
    assert texts["row 56"] == "Cesium has atomic number 55 and the symbol Cs. It is also spelled Caesium."
    with pytest.raises(KnowledgeError, match=r"names \{weight\}, which elements.csv does not have .*number, symbol"):
        reading.read_csv(ELEMENTS.read_bytes(), "elements.csv", template="{name} weighs {weight}.")
    with pytest.raises(KnowledgeError, match="names no column"):
        reading.read_csv(ELEMENTS.read_bytes(), "elements.csv", template="Just words.")


def test_a_source_keeps_its_template_for_its_next_csv_files_and_the_sample_is_written_as_sentences() -> None:
    source = knowledge_store.create_source("Metals", "{name} is metal number {number}.")
    added, _ = reading.add_upload(source.id, "metals.csv", b"name,number\nIron,26\nGold,79\n")
    assert added.passage_template == "{name} is metal number {number}."
    assert [p.text for p in knowledge_store.passages_at(added.version_id)] == [
        "Iron is metal number 26.", "Gold is metal number 79."]  # fmt: skip
    fields, _ = reading.add_upload(source.id, "metals.csv", b"name,number\nIron,26\n", template="")
    assert knowledge_store.passages_at(fields.version_id)[0].text == "name: Iron · number: 26"  # asked for fields
    old = knowledge_store.create_source(reading.SAMPLE_SOURCE)  # loaded before templates: fields
    reading.add_upload(old.id, "elements.csv", ELEMENTS.read_bytes())
    sample = reading.load_sample_source()
    assert sample.id == old.id and sample.passage_template == reading.SAMPLE_TEMPLATE
    assert knowledge_store.passages_at(sample.version_id)[0].text == "Hydrogen has atomic number 1 and the symbol H."
    assert reading.load_sample_source() == sample  # nothing added twice


def test_training_and_answering_build_the_same_prompt() -> None:
    choice = sample_choice(k=3, share=0.5)
    examples = [row.example for row in dataset_store.rows(load_sample().id)]
    trained = with_passages(examples, choice, distractors=False)
    settings = RunSettings(knowledge_source=choice.source_id, knowledge_version=choice.version_id,
                           knowledge_name=choice.source_name)  # fmt: skip
    contender = Contender("tuned + 3", "ft:x", passages=3)
    for example, taught in zip(examples, trained, strict=True):
        asked, hits = evaluation.contender_messages(contender, prompt_messages(example), [], settings)
        assert taught["messages"][:-1] == asked  # the same system prompt, passages and question
        assert taught["messages"][-1] == example["messages"][-1] and hits  # the answer is untouched
    element = "Hydrogen has atomic number 1 and the symbol H."
    assert element in system_of(trained[0]) and system_of(trained[0]).startswith(system_of(examples[0]))


def test_distractors_hide_the_right_passage_among_others_in_a_share_of_training_examples_only() -> None:
    rows = dataset_store.rows(load_sample().id)
    examples = [row.example for row in rows]
    every = with_passages(examples, sample_choice(k=3, share=1.0), seed=4)
    positions = []
    for example, taught in zip(examples, every, strict=True):
        passages = [line for line in system_of(taught).splitlines() if line.startswith("[")]
        asked = elle_checks.element_in(str(example["messages"][1]["content"]))
        assert asked is not None
        right = [i for i, line in enumerate(passages) if line.split("] ", 1)[1].startswith(f"{asked.name} has")]
        assert len(passages) == 3 and len(right) == 1, passages  # the right one among two others
        positions.append(right[0])
    assert set(positions) == {0, 1, 2}  # shuffled: the right passage is not always first
    assert with_passages(examples, sample_choice(share=1.0), seed=4) == every  # the same seed, the same file
    assert with_passages(examples, sample_choice(share=1.0), seed=5) != every
    none = with_passages(examples, sample_choice(share=0.0), seed=4)
    assert none == with_passages(examples, sample_choice(share=0.0), distractors=False)  # as answering
    half = with_passages(examples, sample_choice(share=0.5), seed=4)
    assert 10 <= sum(a != b for a, b in zip(half, none, strict=True)) <= 30  # about half of 40
    settings = LaunchSettings(TINY, passages=sample_choice(share=1.0), seed=4)
    assert launch.uploaded_examples(rows, settings, validation=True) == none  # validation: as answering
    assert launch.uploaded_examples(rows, settings) == every


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tiny_settings(tmp_path_factory.mktemp("local"))) as url:
        yield url


def test_train_with_passages_on_the_command_line_then_ask_as_it_was_trained(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("STUDIO_LOCAL_URL", server_url)
    examples = tmp_path / "elle.jsonl"
    examples.write_text("".join((SAMPLE_DIR / "limericks.jsonl").read_text().splitlines(keepends=True)[:12]))
    status = cli.main(["train", str(examples), "--model", TINY, "--knowledge", str(ELEMENTS), "--passages", "2",
                       "--epochs", "1", "--seed", "3", "--suffix", "facts", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    found = json.loads(out)
    assert status == 0 and found["status"] == "succeeded" and ":facts:" in found["fine_tuned_model"], err
    assert f"Started {found['job_id']}" in err and "[succeeded]" in err  # progress on stderr
    made = provenance_store.provenance_of_model("local", found["fine_tuned_model"])
    assert made is not None and made.passages is not None and made.n_examples == 12
    assert (made.passages.k, made.passages.source_name, made.passages.template) == (
        2,
        "elements.csv",
        reading.SAMPLE_TEMPLATE,
    )
    client = openai.OpenAI(base_url=server_url, api_key="local", max_retries=0)
    uploaded = read_jsonl(client.files.content(made.training_file).content).valid_examples()
    systems = [system_of(example) for _, example in uploaded]
    assert all("atomic number" in s and "[1] " in s for s in systems)  # every prompt carries its passages
    assert made.passages.version_id == knowledge_store.sources()[0].version_id
    again = cli.main(["train", str(examples), "--model", TINY, "--epochs", "1", "--json"])
    second = json.loads(capsys.readouterr()[0])
    assert again == 0 and len(dataset_store.list_datasets()) == 1  # the same file: the same dataset, no copy
    assert provenance_store.job_provenance("local")[second["job_id"]].passages is None

    def ask(*extra: str) -> dict:
        code = cli.main(["ask", "--model", found["fine_tuned_model"], "--user", "Tell me about neon.",
                         "--knowledge", str(ELEMENTS), "--max-tokens", "3", "--json", *extra])  # fmt: skip
        assert code == 0
        return dict(json.loads(capsys.readouterr()[0]))

    asked = ask()
    assert len(asked["retrieved"]) == 1 and asked["retrieved"][0]["text"].startswith("Neon has atomic number 10")
    wider = ask("--user", "What is the atomic number of neon?")
    assert len(wider["retrieved"]) == 2  # k as trained: 2, not the default 3
    fields = ask("--template", "", "--user", "What is the atomic number of neon?", "--passages", "3")
    assert len(fields["retrieved"]) == 3 and fields["retrieved"][0]["text"].startswith("number: 10")


def test_train_says_what_is_wrong_with_its_input_and_exits_2(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("STUDIO_LOCAL_URL", server_url)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n')
    few = tmp_path / "few.jsonl"
    few.write_text("".join((SAMPLE_DIR / "limericks.jsonl").read_text().splitlines(keepends=True)[:12]))
    for args, said in (
        ([str(tmp_path / "missing.jsonl"), "--model", TINY], "cannot read"),
        ([str(bad), "--model", TINY], "bad.jsonl line "),
        ([str(few), "--model", TINY, "--template", "{name}."], "--template needs --knowledge"),
        ([str(few), "--model", TINY, "--knowledge", str(ELEMENTS), "--template", "{mass}"], "{mass}"),
        ([str(few), "--model", "no-such-model"], "no-such-model"),
    ):
        status = cli.main(["train", *args])
        out, err = capsys.readouterr()
        assert status == 2 and said in err and "Traceback" not in err and out == "", (args, err)


def test_train_exits_1_when_the_job_does_not_succeed(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("STUDIO_LOCAL_URL", server_url)
    few = tmp_path / "few.jsonl"
    few.write_text("".join((SAMPLE_DIR / "limericks.jsonl").read_text().splitlines(keepends=True)[:12]))
    exit_status: list[int] = []
    command = threading.Thread(target=lambda: exit_status.append(
        cli.main(["train", str(few), "--model", TINY, "--epochs", "50", "--json"])))  # fmt: skip
    command.start()
    client = openai.OpenAI(base_url=server_url, api_key="local", max_retries=0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # someone cancels the job on Jobs while the command follows it
        begun = [
            j for j in client.fine_tuning.jobs.list().data if j.status in ("validating_files", "queued", "running")
        ]
        if begun:
            client.fine_tuning.jobs.cancel(begun[0].id)
            break
        time.sleep(0.2)
    command.join(120)
    out, err = capsys.readouterr()
    assert exit_status == [1] and json.loads(out)["status"] == "cancelled" and "Traceback" not in err, err


def test_trains_estimate_counts_the_passages_each_example_is_uploaded_with() -> None:
    from lib.ui import train_view

    dataset = load_sample()
    rows = dataset_store.rows(dataset.id)
    plain = LaunchSettings(TINY, seed=1)
    split = launch.training_split(rows, plain)
    without = train_view._training_counts(dataset, rows, split, plain, "o200k_base")
    helped = LaunchSettings(TINY, seed=1, passages=sample_choice(k=3, share=0.5))
    found = train_view._training_counts(dataset, rows, split, helped, "o200k_base")
    assert len(found) == len(without) == len(split.training)
    assert all(a.total >= b.total + 10 for a, b in zip(found, without, strict=True))  # a sentence or more each
    uploaded = launch.uploaded_examples(split.training, helped)
    assert [c.total for c in found] == [c.total for c in Counter("o200k_base").count_all(uploaded)]  # as uploaded


def test_a_template_that_cannot_be_used_changes_nothing(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=r"\{mass\}"):
        reading.source_from_file(ELEMENTS, "{name} weighs {mass}.")
    assert knowledge_store.sources() == []  # no source made for a file that gave no passage
    source = knowledge_store.create_source("Metals", "{name} is metal number {number}.")
    with pytest.raises(KnowledgeError, match=r"\{mass\}"):
        reading.add_upload(source.id, "metals.csv", b"name,number\nIron,26\n", template="{name} weighs {mass}.")
    assert knowledge_store.source(source.id).passage_template == "{name} is metal number {number}."  # kept
    added, _ = reading.add_upload(source.id, "metals.csv", b"name,number\nIron,26\n", template="{name}: {number}")
    assert added.passage_template == "{name}: {number}"  # a template that worked is kept for the next files
