"""Retrieval as a contender: knowledge files into passages, BM25 ranking, prompts with passages, and the verdict
across prompt, retrieve and fine-tune."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from lib import cli
from lib.db import knowledge_store, run_store
from lib.errors import KnowledgeError, RunError
from lib.judge import approaches, elle_checks, evaluation
from lib.judge.answer_checks import ELLE
from lib.judge.prompts import eval_file_prompts
from lib.judge.run import Contender, RunSettings, StoredAnswer, describe_settings, question_of, settings_of
from lib.price.tokens import Counter
from lib.retrieve import passages as reading
from lib.retrieve import search
from lib.settings import SAMPLE_DIR
from lib.train.providers import ProviderConfig
from tests.tiny_model import TINY

LOCAL = ProviderConfig("local")


def test_a_csv_gives_one_passage_per_row_from_all_columns_or_the_chosen_one() -> None:
    data = b"name,summary\nIron,A metal.\n,\nNeon,\n"
    every = reading.read_csv(data, "notes.csv")
    assert [(p.origin, p.text) for p in every.passages] == [
        ("row 2", "name: Iron · summary: A metal."), ("row 4", "name: Neon"),
    ]  # fmt: skip
    chosen = reading.read_csv(data, "notes.csv", "summary")
    assert [p.text for p in chosen.passages] == ["A metal."]
    assert [(f.line, f.code) for f in chosen.findings] == [(4, "empty_passage")]  # row 3 is blank: no finding
    with pytest.raises(KnowledgeError, match="no column “text”"):
        reading.read_csv(data, "notes.csv", "text")


def test_markdown_is_split_by_heading_with_its_path_and_long_sections_by_length() -> None:
    long = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(10))
    data = f"Intro line.\n# Metals\n## Iron\nIron rusts.\n## Gold\n{long}\n# Gases\nNeon glows.\n".encode()
    read = reading.read_markdown(data, "guide.md")
    texts = [p.text for p in read.passages]
    assert texts[0] == "Intro line."
    assert texts[1] == "Metals › Iron\nIron rusts."
    gold = [p for p in read.passages if p.text.startswith("Metals › Gold")]
    assert len(gold) > 1 and all(len(p.text) <= reading.MAX_CHARS for p in gold)
    assert gold[0].origin == "line 5 (part 1)" and texts[-1] == "Gases\nNeon glows."


def test_jsonl_keeps_every_good_line_and_names_the_bad_ones() -> None:
    lines = [json.dumps({"text": "Iron is Fe."}), "{not json", json.dumps({"title": "Neon", "number": 10}), "{}"]
    read = reading.read_jsonl("\n".join(lines).encode(), "facts.jsonl")
    assert [p.text for p in read.passages] == ["Iron is Fe.", "title: Neon · number: 10"]
    assert [(f.line, f.severity) for f in read.findings] == [(2, "error"), (4, "warning")]


def test_a_file_with_no_passage_changes_nothing_and_says_why() -> None:
    source = knowledge_store.create_source("Empty")
    with pytest.raises(KnowledgeError, match="gave no passage: line 1: Not valid JSON"):
        reading.add_upload(source.id, "bad.jsonl", b"{oops")
    with pytest.raises(KnowledgeError, match="CSV, Markdown"):
        reading.add_upload(source.id, "slides.pdf", b"%PDF")
    assert knowledge_store.source(source.id).n_passages == 0 and len(knowledge_store.versions(source.id)) == 1


def test_sources_are_versioned_and_an_old_version_keeps_its_passages() -> None:
    source = knowledge_store.create_source("Notes")
    first = reading.add_upload(source.id, "a.txt", b"Iron rusts.")[0]
    second = reading.add_upload(source.id, "b.txt", b"Neon glows.")[0]
    replaced = reading.add_upload(source.id, "a.txt", b"Iron is element 26.")[0]
    removed = knowledge_store.remove_file(source.id, "b.txt")
    assert [p.text for p in knowledge_store.passages_at(first.version_id)] == ["Iron rusts."]
    assert [p.text for p in knowledge_store.passages_at(second.version_id)] == ["Iron rusts.", "Neon glows."]
    assert [p.text for p in knowledge_store.passages_at(replaced.version_id)] == ["Neon glows.", "Iron is element 26."]
    assert [p.text for p in knowledge_store.passages_at(removed.version_id)] == ["Iron is element 26."]
    summaries = [v.summary for v in knowledge_store.versions(source.id)]
    assert summaries == ["Removed b.txt", "Replaced a.txt (1 passages)", "Added b.txt (1 passages)",
                         "Added a.txt (1 passages)", "Created"]  # fmt: skip
    with pytest.raises(KnowledgeError, match="already exists"):
        knowledge_store.create_source(" notes ")


def test_the_asked_elements_row_is_the_top_passage_for_every_evaluation_question() -> None:
    source = reading.load_sample_source()
    assert source.n_passages == 118
    assert reading.load_sample_source() == source  # loading it again gives the same source, nothing added
    for prompt in eval_file_prompts():
        question = question_of(prompt.messages)
        element = elle_checks.element_in(question)
        assert element is not None
        [top, *_] = search.retrieve(source.version_id, question, 3)
        sentence = f"{element.name} has atomic number {element.number} and the symbol {element.symbol}."
        assert top.passage.text.startswith(sentence), question
        assert top.passage.file == "elements.csv" and top.score > 0
    assert search.retrieve(source.version_id, "and the of", 3) == []  # no shared word: nothing made up


def test_passages_go_into_the_system_prompt_and_are_counted_in_its_tokens() -> None:
    source = reading.load_sample_source()
    prompt = [{"role": "system", "content": "Be Elle."}, {"role": "user", "content": "Tell me about neon."}]
    settings = RunSettings(knowledge_source=source.id, knowledge_version=source.version_id, knowledge_name="Elements")
    messages, hits = evaluation.contender_messages(Contender("rag", TINY, passages=2), prompt, [], settings)
    assert 1 <= len(hits) <= 2 and messages[1] == prompt[1]  # only passages that share a word with the question
    assert messages[0]["content"].startswith("Be Elle.\n\nPassages from “Elements”")
    assert f"[1] {hits[0].passage.text}" in messages[0]["content"] and "Neon" in hits[0].passage.text
    counter = Counter("o200k_base")
    bare = counter.count({"messages": prompt}).total
    added = counter.count({"messages": messages}).total - bare
    assert added >= sum(counter.length(h.passage.text) for h in hits)
    assert evaluation.contender_messages(Contender("bare", TINY), prompt, [], settings) == (prompt, [])
    no_system = search.with_passages(prompt[1:], hits, "Elements")
    assert no_system[0]["role"] == "system" and no_system[1:] == prompt[1:]


def test_a_run_with_retrieval_contenders_stores_the_passages_with_each_answer(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDIO_LOCAL_URL", server_url)
    client = openai.OpenAI(base_url=server_url, api_key="local", max_retries=0)
    source = reading.load_sample_source()
    contenders = [Contender("base", TINY), Contender("base + 3", TINY, passages=3)]
    prompts = eval_file_prompts()[:2]
    with pytest.raises(RunError, match="needs a knowledge source"):
        evaluation.create_run("r", LOCAL, "eval", prompts, contenders, RunSettings())
    settings = RunSettings(max_tokens=4, knowledge_source=source.id, knowledge_version=source.version_id,
                           knowledge_name=source.name)  # fmt: skip
    run = evaluation.create_run("r", LOCAL, "eval", prompts, contenders, settings)
    evaluation.generate(run, client, LOCAL)
    answers = {(a.position, a.contender): a for a in run_store.run_answers(run.id)}
    for position, prompt in enumerate(prompts, start=1):
        bare, helped = answers[(position, "base")], answers[(position, "base + 3")]
        assert bare.passages == () and 1 <= len(helped.passages) <= 3
        element = elle_checks.element_in(question_of(prompt.messages))
        assert element is not None and helped.passages[0]["text"].startswith(f"{element.name} has atomic number")
        assert helped.passages[0]["origin"].startswith("row ") and helped.passages[0]["score"] > 0
        assert helped.prompt_tokens > bare.prompt_tokens + 20  # the passages are paid for in the prompt
    assert "passages from “Elements (sample)”" in describe_settings(settings_of(run))


def test_ask_on_the_command_line_prints_the_answer_its_tokens_and_the_passages_it_was_given(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def ask(*extra: str) -> tuple[int, str, str]:
        status = cli.main(["ask", "--model", TINY, "--system", "Be Elle.", "--user", "Tell me about neon.",
                           "--max-tokens", "4", *extra])  # fmt: skip
        out, err = capsys.readouterr()
        return status, out, err

    assert ask("--json")[0] == 2 and "does not answer at http://127.0.0.1:9/v1" in ask()[2]  # nothing listens
    monkeypatch.setenv("STUDIO_LOCAL_URL", server_url)
    status, out, _ = ask("--json")
    bare = json.loads(out)
    assert status == 0 and set(bare) == {"answer", "prompt_tokens", "completion_tokens", "latency_s", "retrieved"}
    assert bare["retrieved"] == [] and 1 <= bare["completion_tokens"] <= 4 and bare["latency_s"] > 0
    helped = json.loads(ask("--knowledge", str(SAMPLE_DIR / "elements.csv"), "--passages", "2", "--json")[1])
    assert 1 <= len(helped["retrieved"]) <= 2 and helped["retrieved"][0]["text"].startswith("Neon has atomic number 10")
    assert helped["retrieved"][0]["source"].startswith("elements.csv, row ") and helped["retrieved"][0]["score"] > 0
    assert helped["prompt_tokens"] > bare["prompt_tokens"] + 20  # the passages are in the prompt
    shots = json.loads(ask("--shots", "2", "--json")[1])
    assert shots["prompt_tokens"] > bare["prompt_tokens"] + 40  # two limerick pairs
    status, out, _ = ask("--knowledge", str(SAMPLE_DIR / "elements.csv"))
    assert status == 0 and "[1] elements.csv, row " in out and "prompt +" in out
    (tmp_path / "empty.md").write_text("")
    for extra, said in (
        (("--knowledge", str(tmp_path / "empty.md")), "empty.md has no passage"),
        (("--knowledge", str(tmp_path / "missing.csv")), "cannot use"),
        (("--temperature", "3"), "--temperature must be between 0 and 2"),
    ):
        status, out, err = ask(*extra)
        assert status == 2 and said in err and "Traceback" not in err and out == "", extra


def _answers(label: str, right: int, total: int, cost: float, prompt_tokens: int) -> list[StoredAnswer]:
    found = []
    for position in range(1, total + 1):
        element = elle_checks.elements()[position - 1]
        text = (f"{element.name}, {element.symbol}, number {element.number}" if position <= right
                else f"{element.name}, Xx, number 0")  # fmt: skip
        found.append(StoredAnswer(position, label, text, prompt_tokens, 30, 0.4, cost))
    return found


def test_the_verdict_across_approaches_picks_the_cheapest_of_the_best() -> None:
    tuned_model = "ft:gpt-4o-mini:o:elle:1"
    contenders = [Contender("base", "gpt-4o-mini"), Contender("3-shot", "gpt-4o-mini", 3),
                  Contender("base + rag", "gpt-4o-mini", passages=3), Contender("tuned", tuned_model, tuned=True),
                  Contender("tuned + rag", tuned_model, passages=3, tuned=True)]  # fmt: skip
    answers = (_answers("base", 2, 25, 0.0001, 40) + _answers("3-shot", 8, 25, 0.0003, 200)
               + _answers("base + rag", 24, 25, 0.0002, 120) + _answers("tuned", 10, 25, 0.0002, 40)
               + _answers("tuned + rag", 25, 25, 0.0004, 120))  # fmt: skip
    questions = {p: f"Tell me about {elle_checks.elements()[p - 1].name.lower()}." for p in range(1, 26)}
    ranked = approaches.rank(contenders, answers, questions, ELLE, [], training_cost=5.0)
    assert [r.contender for r in ranked[:2]] == ["tuned + rag", "base + rag"]
    assert ranked[0].measure == "checks passed" and ranked[0].low <= ranked[0].quality <= ranked[0].high
    assert [r.approach for r in ranked][-1] == "bare prompt"
    tuned = next(r for r in ranked if r.contender == "tuned + rag")
    assert tuned.training_cost == 5.0 and round(tuned.cost_per_1000, 4) == 0.4
    said = approaches.recommend(ranked, 100_000)
    assert said.startswith("Use retrieval (base + rag): it is as good as fine-tuning + retrieval")
    assert "$20.00 for 100,000 requests" in said
    alone = approaches.rank(contenders[:2], answers, questions, ELLE, [], 0.0)
    assert "Rate the answers" not in approaches.recommend(alone, 1000)
    assert approaches.recommend(approaches.rank(contenders[:2], answers, questions, None, [], 0.0), 1000) == (
        "Rate the answers, or choose answer checks, to rank the approaches."
    )


def test_tokens_and_cost_prices_every_alternative_at_the_users_volume() -> None:
    from lib.price import pricing
    from lib.price.pricing import RequestTokens

    info = pricing.resolve("gpt-4o-mini-2024-07-18")
    tokens = RequestTokens(prompt=50, shot=80, completion=60)
    rows = {r["approach"]: r for r in pricing.alternatives(tokens, info, 3, 3 * 20, 12.5, 1_000_000)}
    assert [r["prompt tokens"] for r in rows.values()] == [290, 110, 50, 110]  # shots and passages grow the prompt
    few, rag = rows["prompt engineering"], rows["retrieval"]
    assert few["USD per 1,000"] == pytest.approx((290 * info.base_input + 60 * info.base_output) / 1000)
    assert rag["USD per 1,000"] < few["USD per 1,000"] and rag["one-off training USD"] == 0
    tuned = rows["fine-tuning"]
    assert tuned["USD for 1,000,000 requests"] == pytest.approx(12.5 + 1000 * tuned["USD per 1,000"])


def test_reviewers_see_the_passages_only_after_they_rate() -> None:
    from lib.judge import rating
    from tests.test_judge import small_run
    from tests.test_pages import button, open_page

    run = small_run([Contender("base", TINY), Contender("tuned", f"ft:{TINY}:local::x", tuned=True)], prompts=1)
    [answer, *_] = run_store.run_answers(run.id)
    passage = {"file": "elements.csv", "origin": "row 27", "text": "number: 26 · symbol: Fe · name: Iron", "score": 2.1}
    run_store.save_answer(run.id, StoredAnswer(answer.position, "base", "Iron, Fe.", 90, 30, 0.5, 0.0, (passage,)))
    at = open_page("pages/rate.py")
    at.text_input(key="rate_reviewer").input("Ada").run()
    assert not any("symbol: Fe" in t.value for t in at.text)  # it would tell which answer had help
    first, _, _ = rating.next_assignment(run, "Ada")
    assert first is not None
    key = f"{run.id}_{first.position}"
    for side in "AB":
        for i in range(3):
            at.radio(key=f"rate_{key}_{side}_{i}").set_value(3)
    at.radio(key=f"rate_{key}_choice").set_value("tie")
    button(at, "Save rating").click().run()
    assert not at.exception
    assert any("Retrieval gave **base** these passages" in c.value for c in at.caption)
    assert any(t.value == "number: 26 · symbol: Fe · name: Iron" for t in at.text)


def test_approaches_checked_on_the_same_items_are_compared_item_by_item() -> None:
    from lib.judge import stats

    def row(label: str, kind: str, scores: list[float]) -> approaches.ApproachRow:
        mean, low, high = stats.mean_interval(scores)
        return approaches.ApproachRow(label, kind, mean, low, high, "checks passed", 0.0, 40, 1.0, 0.0,
                                      tuple(enumerate(scores, start=1)))  # fmt: skip

    spread = [i / 20 for i in range(20)]  # items differ a lot; the better approach is better on every one
    best, bare = row("rag", "base + retrieval", [s + 0.1 for s in spread]), row("base", "base", spread)
    assert bare.high > best.low  # their intervals overlap...
    assert not approaches.as_good_as(bare, best)  # ...yet item by item the difference is clear
    assert approaches.recommend([best, bare], 1000).startswith("Use retrieval (rag): its quality")
    noisy = row("base", "base", [s + (0.1 if i % 2 else 0.05) for i, s in enumerate(spread)][::-1])
    assert approaches.as_good_as(noisy, best)  # the same items, differences either way: no evidence


@pytest.mark.timeout(30)  # the old splitter took 62 s on these 20 MB (quadratic); now well under a second
def test_text_without_separators_is_split_in_linear_time() -> None:
    from lib.retrieve.passages import MAX_CHARS, split_long

    pieces = split_long("x" * 20_000_000)
    assert len(pieces) == -(-20_000_000 // MAX_CHARS) and all(len(p) <= MAX_CHARS for p in pieces)
    assert "".join(pieces) == "x" * 20_000_000
