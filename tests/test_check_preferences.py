"""Preferences from automatic checks: sampled answers paired by the checks they pass, as DPO training data."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from lib.db import dataset_store, dataset_versions, run_store
from lib.errors import RunError
from lib.judge import check_preferences, evaluation, preferences
from lib.judge.answer_checks import ELLE, CheckPack
from lib.judge.check_preferences import Sample
from lib.judge.evaluation import Answer
from lib.judge.run import Contender, EvalRun, Prompt, Rating, RunSettings, StoredAnswer
from lib.openai_format.examples import kind
from lib.train.providers import ProviderConfig
from tests.test_judge import BASE, TUNED, small_run
from tests.test_pages import button, open_page
from tests.tiny_model import TINY

LOCAL = ProviderConfig("local")


# An answer "3 …" passes the first three of four checks; the rest are False or None (not stated).
def counted(question: str, answer: str) -> dict[str, bool | None]:
    return {check: True if i < int(answer[0]) else None for i, check in enumerate("abcd")}


COUNTING = CheckPack("counting", "Counting", dict.fromkeys("abcd", ""), counted)
IRON = "Iron, Fe, number 26, shines.\nIt is fine."


def items(count: int) -> dict[int, list[dict[str, Any]]]:
    return {p: [{"role": "user", "content": f"Question {p}?"}] for p in range(1, count + 1)}


def test_pairs_prefer_the_widest_gaps_and_count_ties_duplicates_and_empty_answers() -> None:
    answers = {
        1: ["3 a", "1 b", "3 a", "  ", "0 c"],  # a duplicate and an empty answer; gaps 3, 2 and 1
        2: ["2 x", "2 y", "2 z"],  # every answer passes as many checks
        3: ["4 a", "4 b", "0 c", "0 d"],  # four pairs with the widest gap: the two taken share no answer
        4: ["1 alone"],
    }
    found = check_preferences.make_pairs(items(4), answers, COUNTING)
    assert [(p.position, p.preferred, p.other) for p in found.found] == [(1, 1, 5), (1, 1, 2), (3, 1, 3), (3, 2, 4)]
    assert [(p.preferred_passed, p.other_passed, p.checks) for p in found.found[:2]] == [(3, 0, 4), (3, 1, 4)]
    counts = (found.prompts, found.ties, found.duplicates, found.empty, found.all_tied, found.beyond)
    assert counts == (2, 5, 1, 1, 1, 3)
    assert found.left_out() == "5 tied pairs, 1 duplicate answer, 1 empty answer, 3 pairs over the limit per prompt"
    assert found.found[0].example() == {
        "input": {"messages": [{"role": "user", "content": "Question 1?"}]},
        "preferred_output": [{"role": "assistant", "content": "3 a"}],
        "non_preferred_output": [{"role": "assistant", "content": "0 c"}],
    }
    everything = check_preferences.make_pairs(items(4), answers, COUNTING, max_pairs=10)
    assert len(everything.found) == 3 + 4 and everything.beyond == 0
    assert check_preferences.make_pairs(items(1), {1: ["", "2 same", "2 same"]}, COUNTING).left_out() == (
        "1 duplicate answer, 1 empty answer"
    )


def test_the_elle_checks_score_the_pairs() -> None:
    prompt = {1: [{"role": "user", "content": "Tell me about iron."}]}
    found = check_preferences.make_pairs(prompt, {1: ["Some prose.", IRON]}, ELLE)
    [pair] = found.found
    assert (pair.preferred, pair.other, pair.preferred_passed, pair.checks) == (2, 1, 3, 4)
    assert pair.preferred_text == IRON and pair.other_passed == 0


def check_pairs(run: EvalRun) -> list[check_preferences.CheckPair]:
    answers = {p: ["Some prose.", IRON if p == 1 else "Words."] for p in run_store.run_items(run.id)}
    return check_preferences.make_pairs(run_store.run_items(run.id), answers, ELLE).found


def test_check_pairs_become_an_approved_preference_dataset_noting_run_model_and_checks() -> None:
    run = small_run([BASE, TUNED])
    dataset = check_preferences.make_dataset(run, TINY, check_pairs(run))
    [row] = dataset_store.rows(dataset.id)
    assert dataset.name == f"Check preferences from run {run.id} (test)"
    assert kind(row.example) == "preference" and row.status == "approved"
    assert row.tags == f"preference, from-checks, run-{run.id}"
    assert row.note == f"Run {run.id} item 1: {TINY} sample 2 (3 of 4 checks) over sample 1 (0 of 4)"
    assert row.example["preferred_output"][0]["content"] == IRON
    summary = dataset_versions.versions(dataset.id)[0].summary
    assert summary == f"Made from {TINY}'s answers to run {run.id} “test”, scored by its automatic checks"
    again = check_preferences.make_dataset(run, TINY, check_pairs(run))
    assert again.name == f"Check preferences from run {run.id} (test) 2"
    with pytest.raises(RunError, match="No pair of answers differs"):
        check_preferences.make_dataset(run, TINY, [])


def test_reviewers_preferences_join_the_check_pairs_tagged_as_their_own() -> None:
    run = small_run([BASE, TUNED])
    ratings = [Rating(run.id, who, 2, "base", "tuned", "tuned", {}) for who in ("Ada", "Bob")]
    rated = preferences.from_ratings(ratings, run_store.run_answers(run.id), run_store.run_items(run.id)).found
    dataset = check_preferences.make_dataset(run, TINY, check_pairs(run), rated)
    rows = dataset_store.rows(dataset.id)
    assert [(r.tags, r.status) for r in rows] == [
        (f"preference, from-checks, run-{run.id}", "approved"), (f"preference, run-{run.id}", "approved")]  # fmt: skip
    assert rows[1].note == f"Run {run.id} item 2: tuned over base (2 of 2 reviewers)"
    assert dataset_versions.versions(dataset.id)[0].summary.endswith("(with the reviewers' preferences)")
    only_rated = check_preferences.make_dataset(run, TINY, [], rated)
    assert only_rated.n_examples == 1


def test_sampling_asks_n_answers_per_prompt_with_distinct_seeds_and_a_stop_keeps_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[RunSettings] = []

    def fake_ask(client: Any, config: Any, contender: Contender, messages: Any, settings: RunSettings) -> Answer:
        assert contender.model == TINY and messages[0]["content"].startswith("Question")
        asked.append(settings)
        return Answer(f"answer {settings.seed}", 1, 1, 0.0, 0.0)

    monkeypatch.setattr(check_preferences, "ask", fake_ask)
    seen: list[tuple[int, int]] = []
    client: Any = None
    kept = check_preferences.sample(client, LOCAL, TINY, items(3), 3, 0.9, 20, lambda d, t: seen.append((d, t)),
                                    cancelled=lambda: len(asked) >= 4, at_once=1)  # fmt: skip
    assert {p: len(s) for p, s in kept.items()} == {1: 3, 2: 1} and seen[-1] == (4, 9)
    again = check_preferences.sample(client, LOCAL, TINY, items(3), 3, 0.9, 20, lambda d, t: seen.append((d, t)),
                                     kept=kept)  # fmt: skip
    assert again is kept and [len(again[p]) for p in (1, 2, 3)] == [3, 3, 3] and seen[-1] == (9, 9)
    assert seen[4] == (5, 9)  # it went on from the kept answers
    assert {s.temperature for s in asked} == {0.9} and {s.max_tokens for s in asked} == {20}
    assert len({s.seed for s in asked}) == 9 and again[1][0] == Sample(asked[0].seed, f"answer {asked[0].seed}")


def test_sampling_against_the_local_server(local: openai.OpenAI) -> None:
    seen: list[tuple[int, int]] = []
    samples = check_preferences.sample(local, LOCAL, TINY, items(2), 3, 1.0, 8, lambda d, t: seen.append((d, t)))
    assert [len(samples[p]) for p in (1, 2)] == [3, 3] and seen == [(i, 6) for i in range(1, 7)]
    assert len({s.seed for found in samples.values() for s in found}) == 6
    assert len({s.text for found in samples.values() for s in found}) > 1  # different seeds, different answers


def checked_run(checks: str | None = "elle") -> EvalRun:
    """A run of two prompts with short answers, rated by two reviewers who agree on the first item."""
    asked = [[{"role": "user", "content": f"Tell me about {element}."}] for element in ("iron", "neon")]
    prompts = [Prompt(f"t:{i}", messages) for i, messages in enumerate(asked, start=1)]
    settings = RunSettings(max_tokens=6, checks=checks, repeat_share=0.0)
    run = evaluation.create_run("checked", LOCAL, "test", prompts, [BASE, TUNED], settings)
    for position in (1, 2):
        run_store.save_answer(run.id, StoredAnswer(position, "base", "Some prose.", 1, 1, 0.1, 0.0))
        run_store.save_answer(run.id, StoredAnswer(position, "tuned", IRON, 1, 1, 0.1, 0.0))
    for who in ("Ada", "Bob"):
        run_store.save_rating(Rating(run.id, who, 1, "base", "tuned", "tuned", {}))
    return run


def test_scorecard_samples_answers_and_makes_check_preference_data(local: openai.OpenAI) -> None:
    run = checked_run()
    at = open_page("pages/scorecard.py")
    key = f"checkpref_{run.id}"
    assert not [box for box in at.selectbox if box.key == f"{key}_model"]  # closed: nothing asked, nothing drawn
    at.session_state[f"checkpref_open_{run.id}"] = True
    at.run()
    assert at.selectbox(key=f"{key}_model").value == TUNED.model  # the run's tuned model first
    at.selectbox(key=f"{key}_model").set_value(TINY).run()  # (this one is not served: the base model is)
    at.number_input(key=f"{key}_n").set_value(2).run()
    assert any(c.value.startswith("4 requests to tiny\\-llama (2 prompts × 2") for c in at.caption)
    button(at, "Sample answers").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("(4 answers by tiny\\-llama at temperature 0.9)" in m.value for m in at.markdown)
    at.checkbox(key=f"{key}_reviewers").check().run()
    button(at, "Make preference data from checks").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [made] = [d for d in dataset_store.list_datasets() if d.name.startswith("Check preferences from run")]
    assert made.n_examples >= 1 and at.sidebar.selectbox[-1].value == made.id
    assert any("trains with **DPO**" in i.value for i in at.info)

    at = open_page("pages/evaluate.py")  # the same section under the run's answers
    at.session_state[f"checkpref_open_{run.id}"] = True
    at.run()
    assert not at.exception and button(at, "Sample answers").key == f"{key}_go"


def test_a_run_without_checks_says_so() -> None:
    run = checked_run(checks=None)
    at = open_page("pages/scorecard.py")
    at.session_state[f"checkpref_open_{run.id}"] = True
    at.run()
    assert not at.exception
    assert "This run has no automatic checks to tell a better answer from a worse one." in [c.value for c in at.caption]


def test_a_model_trained_with_passages_is_sampled_with_them_and_its_pairs_keep_them() -> None:
    from lib.retrieve.passages import load_sample_source

    source = load_sample_source()
    asked = {1: [{"role": "system", "content": "Be Elle."}, {"role": "user", "content": "Tell me about neon."}]}
    settings = RunSettings(knowledge_source=source.id, knowledge_version=source.version_id, knowledge_name=source.name)
    found = check_preferences.prompts_for(TINY, asked, settings, passages=3)
    system = found[1][0]["content"]
    assert system.startswith("Be Elle.") and "[1] Neon has atomic number 10 and the symbol Ne." in system
    assert found[1][1] == asked[1][1]  # the question itself is untouched
    assert check_preferences.prompts_for(TINY, asked, settings, passages=0) == asked  # not trained with passages
    assert check_preferences.prompts_for(TINY, asked, RunSettings(), passages=3) == asked  # the run has no source
    pairs = check_preferences.make_pairs(found, {1: ["Neon, Ne, number ten", "Neon is a gas."]}, ELLE)
    assert pairs.found and pairs.found[0].example()["input"]["messages"] == found[1]


def by_letters(question: str, answer: str) -> dict[str, bool | None]:
    """Passes the first (sum of the answer's letters mod 5) of four checks: different answers, different scores."""
    passed = sum(map(ord, answer)) % 5
    return {check: i < passed for i, check in enumerate("abcd")}


def test_check_preferences_of_a_datasets_prompts_on_the_command_line(
    local: openai.OpenAI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lib import cli
    from lib.curate.import_export import import_new
    from lib.judge import answer_checks
    from lib.openai_format.jsonl import read_jsonl
    from lib.settings import SAMPLE_DIR

    three = b"\n".join((SAMPLE_DIR / "limericks.jsonl").read_bytes().splitlines()[:3])
    mini, _ = import_new("Mini", read_jsonl(three), False, "mini.jsonl")
    monkeypatch.setitem(answer_checks.PACKS, "letters", CheckPack("letters", "Letters", dict.fromkeys("abcd", ""),
                                                                  by_letters))  # fmt: skip

    def prefer(*extra: str) -> tuple[int, str, str]:
        status = cli.main(["check-preferences", "--model", TINY, "--max-tokens", "8", "--n", "4", *extra])
        out, err = capsys.readouterr()
        return status, out, err

    status, out, err = prefer("--prompts", "dataset:Mini", "--checks", "letters", "--json")
    found = json.loads(out)
    assert status == 0 and "Traceback" not in err and "sampled 12 of 12" in err
    assert found["dataset"] == "Check preferences from dataset Mini v2"  # v1 is "Created" and found["answers"] == 12
    assert 0 < found["pairs"] <= 2 * 3 and found["prompts"] <= 3
    made = dataset_store.find_dataset(found["dataset"])
    assert made is not None
    rows = dataset_store.rows(made.id)
    assert len(rows) == found["pairs"] and all(kind(r.example) == "preference" for r in rows)
    assert all(r.tags == f"preference, from-checks, dataset-{mini.id}" and r.status == "approved" for r in rows)
    assert all(r.note.startswith("Mini v2 row ") and f": {TINY} sample " in r.note for r in rows)
    questions = {r.example["input"]["messages"][-1]["content"] for r in rows}
    assert questions <= {"Tell me about hydrogen.", "Tell me about helium.", "Tell me about lithium."}

    status, out, err = prefer("--prompts", "dataset:Mini")  # Elle's checks: the tiny model's babble passes none
    assert status == 1 and out == "" and "No two of the 12 answers differ in the checks they pass" in err
    for extra, said in (
        (("--prompts", "run:999"), "There is no evaluation run 999 in the store."),
        (("--prompts", "runs:1"), "give run:ID (a stored run) or dataset:NAME"),
        (("--prompts", "dataset:Nothing"), "There is no dataset 'Nothing'"),
        (("--prompts", "dataset:Mini", "--n", "1"), "--n must be 2 to 20"),
    ):
        status, out, err = prefer(*extra)
        assert status == 2 and said in err and "Traceback" not in err and out == "", extra
