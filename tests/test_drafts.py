"""Drafting the missing examples: seeds, uncovered passages first, what each request holds, drafts as rows,
cancel, skips, the doctor on drafts; against a scripted client and the tiny local server (API, CLI, screen)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import openai
import pytest
from streamlit.testing.v1 import AppTest

from lib import cli
from lib.curate import datasets, doctor, draft_estimate, drafts
from lib.curate.dataset import NewRow
from lib.curate.drafts import Draft, DraftSettings, Seed
from lib.curate.import_export import check_rows, load_sample
from lib.openai_format.examples import single_turn
from lib.retrieve import passages as reading
from lib.retrieve.search import Index
from lib.settings import PROJECT_DIR, SAMPLE_DIR
from lib.train.providers import ProviderConfig, ProviderError, make_client
from tests.tiny_model import TINY

LOCAL = ProviderConfig("local")
ELLE = "Elle is a factual chatbot that answers questions about elements in the periodic table with a limerick"
ELEMENTS = "number,symbol,name\n1,H,Hydrogen\n2,He,Helium\n3,Li,Lithium\n10,Ne,Neon\n23,V,Vanadium\n"
SMALL = DraftSettings(question_tokens=8, answer_tokens=8)


class FakeClient:
    """Answers chat completions with scripted replies: ``reply(messages)`` gives each one's text."""

    def __init__(self, reply: Callable[[list[dict[str, Any]]], str]) -> None:
        self.reply = reply
        self.sent: list[list[dict[str, Any]]] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **request: Any) -> Any:
        self.sent.append(request["messages"])
        message = SimpleNamespace(content=self.reply(request["messages"]))
        return SimpleNamespace(choices=[SimpleNamespace(message=message)],
                               usage=SimpleNamespace(prompt_tokens=100, completion_tokens=20))  # fmt: skip


def fake(reply: Callable[[list[dict[str, Any]]], str]) -> openai.OpenAI:
    return cast(openai.OpenAI, FakeClient(reply))


def asks_question(messages: list[dict[str, Any]]) -> bool:
    return messages[0]["content"].startswith("Here are messages")


def scripted(messages: list[dict[str, Any]]) -> str:
    """A question naming the passage's element, with a label and quotes to clean; an answer naming it too."""
    if asks_question(messages):
        element = messages[0]["content"].rsplit("name: ", 1)[-1].split("\n")[0].strip()
        return f'New question: "Tell me about {element.lower()}."'
    return f"A limerick about {messages[-1]['content'].split()[-1].rstrip('.')}."


def small_index(tmp_path: Path) -> Index:
    (tmp_path / "mini.csv").write_text(ELEMENTS)
    return Index(reading.read_file(ELEMENTS.encode(), "mini.csv").passages)


def elle(*elements: str) -> list[tuple[int, dict[str, Any]]]:
    return [
        (n, single_turn(ELLE, f"Tell me about {e}.", f"{e.title()}, a limerick.")) for n, e in enumerate(elements, 1)
    ]


def test_seeds_are_the_rows_not_rejected_in_a_fixed_order_taken_k_at_a_time_in_turn() -> None:
    dataset = load_sample()
    rows = datasets.rows(dataset.id)
    datasets.update_rows(dataset.id, {rows[0].id: {"status": "rejected"}})
    examples = drafts.seed_examples(datasets.rows(dataset.id))
    pool = drafts.seed_pool(examples)
    assert len(pool) == 39 and 1 not in {s.row for s in pool} and pool == drafts.seed_pool(examples)
    assert [s.row for s in pool] != sorted(s.row for s in pool)  # shuffled, repeatably
    taken = [s.row for number in range(13) for s in drafts.seeds_for(pool, 3, number)]
    assert sorted(taken) == sorted(s.row for s in pool)  # every seed once before any comes again
    assert drafts.seeds_for(pool[:2], 3, 5) == tuple(pool[:2])  # fewer rows than k: all of them
    assert drafts.shared_system(pool[:3]) == ELLE
    assert drafts.shared_system([*pool[:2], Seed(99, "Other", "q", "a")]) == ""


def test_uncovered_passages_come_first(tmp_path: Path) -> None:
    index = small_index(tmp_path)
    examples = [e for _, e in elle("hydrogen", "neon")]
    assert {p.origin for p in drafts.covered(index, examples)} == {"row 2", "row 5"}
    plan = drafts.plan_passages(index, examples)
    assert plan.uncovered == 3
    assert [p.origin for p in plan.passages] == ["row 3", "row 4", "row 6", "row 2", "row 5"]
    found = drafts.draft_examples(fake(scripted), LOCAL, "fake", drafts.seed_pool(elle("hydrogen", "neon")),
                                  plan.passages, 7, k=2)  # fmt: skip
    assert [d.passage.origin for d in found.drafts if d.passage] == ["row 3", "row 4", "row 6", "row 2", "row 5",
                                                                     "row 3", "row 4"]  # fmt: skip
    assert [d.example["messages"][1]["content"] for d in found.drafts[:3]] == [
        "Tell me about helium.", "Tell me about lithium.", "Tell me about vanadium."
    ]  # fmt: skip


def test_elle_sample_leaves_78_of_118_elements_uncovered() -> None:
    index = Index(reading.read_file((SAMPLE_DIR / "elements.csv").read_bytes(), "elements.csv").passages)
    plan = drafts.plan_passages(index, (e for _, e in drafts.seed_examples(datasets.rows(load_sample().id))))
    assert (len(plan.passages), plan.uncovered) == (118, 78)


def test_each_request_and_the_stored_example(tmp_path: Path) -> None:
    index = small_index(tmp_path)
    vanadium = next(p for p in index.passages if "Vanadium" in p.text)
    client = FakeClient(scripted)
    seeds = drafts.seed_pool(elle("hydrogen", "neon", "iron"))
    found = drafts.draft_examples(
        cast(openai.OpenAI, client), LOCAL, "fake", seeds, [vanadium], 1, k=2, source_name="Elements"
    )
    asked, answered = client.sent
    assert len(asked) == 1 and all(f"- {s.user}" in asked[0]["content"] for s in seeds[:2])
    assert vanadium.text in asked[0]["content"] and "Reply with the new message only" in asked[0]["content"]
    assert answered[0]["role"] == "system" and answered[0]["content"].startswith(ELLE)
    assert "Passages from “Elements”" in answered[0]["content"] and vanadium.text in answered[0]["content"]
    assert [m["content"] for m in answered[1:]] == [seeds[0].user, seeds[0].assistant, seeds[1].user,
                                                    seeds[1].assistant, "Tell me about vanadium."]  # fmt: skip
    [draft] = found.drafts
    assert draft.example == single_turn(ELLE, "Tell me about vanadium.", "A limerick about vanadium.")
    assert vanadium.text not in json.dumps(draft.example)  # the dataset's own style: no passage
    assert (found.requests, found.prompt_tokens, found.completion_tokens) == (2, 200, 40)


@pytest.mark.parametrize(
    ("reply", "one_line", "question"),
    [
        ("Tell me about neon.", True, "Tell me about neon."),
        ('"Tell me about neon."', True, "Tell me about neon."),
        ("**Question:** “Tell me about neon.”", True, "Tell me about neon."),
        ("Here is a new message:\n\n- Tell me about neon.\nIt glows.", True, "Tell me about neon."),
        ("User: What is neon?\nMore words", False, "What is neon?\nMore words"),
        ("  \n ", True, ""),
        ('""', True, ""),
    ],
)
def test_the_question_is_cleaned_of_labels_lists_and_quotes(reply: str, one_line: bool, question: str) -> None:
    assert drafts.clean_question(reply, one_line) == question


def test_drafts_come_in_as_drafts_tagged_with_the_model_seeds_and_passage(tmp_path: Path) -> None:
    dataset = load_sample()
    rows = datasets.rows(dataset.id)
    plan = drafts.plan_passages(small_index(tmp_path), (e for _, e in drafts.seed_examples(rows)))
    seeds = drafts.seed_pool(drafts.seed_examples(rows))
    found = drafts.draft_examples(fake(scripted), LOCAL, "gpt-fake", seeds, plan.passages, 2, k=3)
    version = drafts.add_drafts(dataset.id, found.drafts, "gpt-fake")
    assert version is not None and version.summary == "Drafted 2 examples with gpt-fake"
    after = datasets.rows(dataset.id)
    new = after[40:]
    assert len(after) == 42 and {(r.status, r.tags) for r in new} == {("draft", "drafted")}
    first_seeds = ", ".join(str(s.row) for s in seeds[:3])
    assert plan.uncovered == 1  # the sample has a limerick for every element of mini.csv but vanadium
    assert new[0].note == f"Drafted by gpt-fake from rows {first_seeds}; passage: mini.csv, row 6"
    assert new[0].example["messages"][1]["content"] == "Tell me about vanadium."
    assert check_rows(after) == []  # the format checks pass the drafts like any row
    assert drafts.add_drafts(dataset.id, [], "gpt-fake") is None  # nothing drafted: no new version


def test_cancel_keeps_what_was_drafted_and_empty_replies_are_skipped_and_counted() -> None:
    dataset = load_sample()
    seeds = drafts.seed_pool(drafts.seed_examples(datasets.rows(dataset.id)))
    questions = iter(["Tell me about boron.", '""', "Tell me about argon.", "Tell me about xenon.", "more"])
    answers = iter(["A limerick.", "", "Another limerick."])

    def reply(messages: list[dict[str, Any]]) -> str:
        return next(questions) if asks_question(messages) else next(answers)

    came: list[Draft] = []
    seen: list[tuple[int, int]] = []
    found = drafts.draft_examples(fake(reply), LOCAL, "fake", seeds, [], 10, lambda *done: seen.append(done),
                                  lambda: len(seen) == 4, on_draft=came.append)  # fmt: skip
    assert found.cancelled and found.skipped == 2 and came == found.drafts and len(found.drafts) == 2
    assert seen == [(1, 10), (2, 10), (3, 10), (4, 10)] and found.requests == 7  # the empty question: one request
    assert all(d.passage is None and "passage" not in d.note for d in found.drafts)
    drafts.add_drafts(dataset.id, found.drafts, "fake")
    assert [r.example["messages"][1]["content"] for r in datasets.rows(dataset.id)[40:]] == [
        "Tell me about boron.", "Tell me about xenon."
    ]  # fmt: skip
    assert "Drafted 2 examples (2 skipped): cancelled" in found.sentence()


def test_a_provider_error_stops_drafting_and_keeps_the_drafts_before_it() -> None:
    calls = []

    def reply(messages: list[dict[str, Any]]) -> str:
        calls.append(1)
        if len(calls) > 2:
            raise ProviderError("The local server does not answer.")
        return "Tell me about neon." if asks_question(messages) else "A limerick."

    found = drafts.draft_examples(fake(reply), LOCAL, "fake", drafts.seed_pool(elle("iron")), [], 5)
    assert len(found.drafts) == 1 and found.error == "The local server does not answer."


def test_the_doctor_flags_a_drafted_near_duplicate_of_an_existing_row() -> None:
    dataset = load_sample()
    helium = datasets.rows(dataset.id)[1].example["messages"]

    def copies_helium(messages: list[dict[str, Any]]) -> str:
        return "Tell me about helium please." if asks_question(messages) else helium[2]["content"]

    seeds = drafts.seed_pool(drafts.seed_examples(datasets.rows(dataset.id)))
    found = drafts.draft_examples(fake(copies_helium), LOCAL, "fake", seeds, [], 1)
    drafts.add_drafts(dataset.id, found.drafts, "fake")
    rows = datasets.rows(dataset.id)
    found_twice = [d for d in doctor.diagnose((n, r.example) for n, r in enumerate(rows, 1))
                   if d.code == "near_duplicate"]  # fmt: skip
    assert [(d.lines, d.keep) for d in found_twice] == [((2, 41), 2)]  # the existing row is the one to keep


def test_the_estimate_counts_two_requests_a_draft_and_prices_them_where_the_provider_has_prices() -> None:
    seeds = drafts.seed_pool(drafts.seed_examples(datasets.rows(load_sample().id)))
    local = draft_estimate.estimate(LOCAL, TINY, seeds, [], 10)
    assert local.requests == 20 and local.prompt_tokens > 20 * 100 and local.completion_tokens > 10 * 30
    assert local.cost_usd == 0 and local.seconds is not None and "free on the local provider" in local.sentence(TINY)
    paid = draft_estimate.estimate(ProviderConfig("openai", "sk-test"), "gpt-4o-mini", seeds, [], 10)
    assert paid.cost_usd is not None and 0 < paid.cost_usd < 0.05 and paid.seconds is None
    assert "$" in paid.sentence("gpt-4o-mini")
    unknown = draft_estimate.estimate(ProviderConfig("openai", "sk-test"), "o9-unknown", seeds, [], 10)
    assert unknown.cost_usd is None and "no listed price" in unknown.sentence("o9-unknown")
    assert draft_estimate.default_model(["a-model", "gpt-4o-mini", "ft:x"]) == "gpt-4o-mini"
    assert draft_estimate.default_model(["ft:x", TINY]) == TINY


def test_drafting_against_the_tiny_local_server_adds_draft_rows(local: openai.OpenAI) -> None:
    dataset = load_sample()
    seeds = drafts.seed_pool(drafts.seed_examples(datasets.rows(dataset.id)))
    found = drafts.draft_examples(make_client(LOCAL), LOCAL, TINY, seeds, [], 2, settings=SMALL)
    assert len(found.drafts) + found.skipped == 2 and not found.error and found.requests >= 2
    drafts.add_drafts(dataset.id, found.drafts, TINY)
    new = datasets.rows(dataset.id)[40:]
    assert len(new) == len(found.drafts) and all(r.status == "draft" and TINY in r.note for r in new)


def test_draft_on_the_command_line(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    knowledge = tmp_path / "mini.csv"
    knowledge.write_text(ELEMENTS)
    examples = str(PROJECT_DIR / "data/limericks.jsonl")

    def draft(*extra: str) -> tuple[int, str, str]:
        status = cli.main(["draft", "--examples", examples, "--model", TINY, "--max-tokens", "8", *extra])
        out, err = capsys.readouterr()
        return status, out, err

    status, out, err = draft("--n", "2")
    assert status == 2 and "does not answer at http://127.0.0.1:9/v1" in err and out == ""  # nothing listens
    monkeypatch.setenv("STUDIO_LOCAL_URL", server_url)
    status, out, err = draft("--n", "2", "--knowledge", str(knowledge), "--seeds", "2")
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and "Traceback" not in err and "free on the local provider" in err
    assert len(lines) <= 2 and all(line["messages"][0]["content"] == ELLE for line in lines)
    assert f"Drafted {len(lines)} example" in err and ("; passage: mini.csv, row " in err or not lines)
    (tmp_path / "empty.md").write_text("")
    for extra, said in (
        (("--n", "0"), "--n and --seeds must be 1 or more"),
        (("--n", "2", "--knowledge", str(tmp_path / "empty.md")), "empty.md has no passage"),
        (("--n", "2", "--examples", str(tmp_path / "missing.jsonl")), "cannot use"),
        (("--n", "2", "--provider", "compatible"), "--provider compatible needs --base-url"),
    ):
        status, out, err = draft(*extra)
        assert status == 2 and said in err and "Traceback" not in err and out == "", extra


def open_examples() -> AppTest:
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=30)
    at.run()
    at.switch_page("pages/examples.py").run()
    assert not at.exception, at.exception
    return at


def test_the_examples_screen_drafts_rows_with_the_local_provider(local: openai.OpenAI) -> None:
    dataset = load_sample()
    at = open_examples()
    assert not [b for b in at.button if b.key == "draft_go"]  # the provider is asked only once the section opens
    at.session_state["draft_open"] = True
    at.run()
    assert at.selectbox(key="draft_model").value == TINY
    assert any("free on the local provider" in c.value for c in at.caption)
    at.number_input(key="draft_n").set_value(2)
    at.button(key="draft_go").click().run(timeout=120)
    assert not at.exception, at.exception
    new = datasets.rows(dataset.id)[40:]
    said = at.success[0].value
    assert said.startswith(f"Drafted {len(new)} example") and f"({2 - len(new)} skipped)" in said
    assert all(r.status == "draft" and r.tags == "drafted" for r in new)


def test_the_examples_screen_adds_the_drafts_of_a_cancelled_run() -> None:
    dataset = load_sample()
    at = open_examples()
    drafted = Draft(single_turn(ELLE, "Tell me about boron.", "A limerick."), "fake", (3, 7), None)
    at.session_state["draft_pending"] = {"dataset": dataset.id, "model": "fake", "drafts": [drafted], "done": 3}
    at.run()
    assert not at.exception, at.exception
    assert at.success[0].value == "Cancelled: drafted 1 example (2 skipped), kept."
    [new] = datasets.rows(dataset.id)[40:]
    assert (new.status, new.tags, new.note) == ("draft", "drafted", "Drafted by fake from rows 3, 7")
    assert at.session_state["examples_focus"] == [41]  # the table shows the new row
    datasets.add_rows(dataset.id, [NewRow(single_turn("", "q", "a"))])  # unrelated: the next run adds nothing
    at.run()
    assert len(datasets.rows(dataset.id)) == 42 and not at.success
