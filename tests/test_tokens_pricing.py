import json
import random
import subprocess
import sys
from collections.abc import Callable

import pytest

from lib.db import price_store
from lib.errors import PriceError
from lib.openai_format.rules import auto_epochs
from lib.price import tokens
from lib.price.pricing import (
    FewShot,
    UnknownModelError,
    changed_prices,
    cost_table,
    estimate,
    few_shot,
    length_histogram,
    models,
    override_value,
    price_table,
    request_tokens,
    resolve,
)
from lib.price.tokens import Counter, ExampleTokens, encoding
from lib.settings import PROJECT_DIR

CHAT = {
    "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi", "name": "ann"},
        {"role": "assistant", "content": "Hello there!"},
    ]
}


def test_known_token_ids_for_both_encodings_offline() -> None:
    assert encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert encoding("o200k_base").encode("hello world") == [24912, 2375]


def test_chat_counting_follows_openai_reference_by_hand() -> None:
    # 3 messages x 3 + 3 priming = 12; system 1+4; user 1+1 + name 1+1; assistant 1+3  -> 25
    assert Counter("o200k_base").count(CHAT) == ExampleTokens(total=25, trained=3)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_fast_counter_is_used_and_counts_exactly_as_tiktoken(name: str) -> None:
    assert tokens._bpe_counter(name) is not None  # bpe-openai installed, its ranks are tiktoken's
    pieces = [*"abcXYZ 019'.,!?-_()<>|/\\\"\n\t\r", "  ", "'s", "'ll", " 12345", "ß", "é", "中文", "한국어"]
    pieces += ["🙂", "👩\u200d🔬", "\u00a0", "\u0301", "ΣΑΣ", "١٢٣", "<|endoftext|>", "<|im_start|>"]
    rng = random.Random(7)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    count, reference = tokens.text_counter(name), encoding(name)
    assert [count(t) for t in texts] == [len(reference.encode_ordinary(t)) for t in texts]


def test_a_fast_counter_that_disagrees_with_tiktoken_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    class OffByOne:
        def encode_ordinary(self, text: str) -> list[int]:
            return [0] * (len(encoding("o200k_base").encode_ordinary(text)) + 1)

    monkeypatch.setattr(tokens, "encoding", lambda name: OffByOne())
    assert tokens._bpe_counter.__wrapped__("o200k_base") is None


def test_the_next_version_encodes_only_its_new_strings_and_counts_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens.forget_counted_strings()
    examples = [json.loads(line) for line in (PROJECT_DIR / "data" / "limericks.jsonl").read_text().splitlines()]
    first = Counter("o200k_base").count_all(examples)
    encoded: list[str] = []
    real = tokens.text_counter("o200k_base")

    def recording(name: str) -> Callable[[str], int]:
        def count(text: str) -> int:
            encoded.append(text)
            return real(text)

        return count

    monkeypatch.setattr(tokens, "text_counter", recording)
    edited = [*examples]
    edited[3] = {"messages": [*examples[3]["messages"][:2], {"role": "assistant", "content": "A new answer, redone."}]}
    again = Counter("o200k_base").count_all(edited)
    assert encoded == ["A new answer, redone."]  # only the edited answer was encoded
    assert again[:3] == first[:3] and again[4:] == first[4:]
    assert again[3].trained == real("A new answer, redone.")
    old_answer = examples[3]["messages"][2]["content"]
    assert again[3].total == first[3].total - real(old_answer) + real("A new answer, redone.")
    assert Counter("o200k_base").count_all(edited) == again


def test_preference_examples_count_the_input_and_both_outputs() -> None:
    rejected = "Go away, go away, go away."
    preference = {
        "input": {"messages": CHAT["messages"][:2]},
        "preferred_output": [CHAT["messages"][2]],
        "non_preferred_output": [{"role": "assistant", "content": rejected}],
    }
    both = Counter("o200k_base").count(preference)
    extra = len(encoding("o200k_base").encode_ordinary(rejected))  # DPO trains on, and bills, both answers
    assert both == ExampleTokens(total=25 + 3 + 1 + extra, trained=3 + extra)  # the chat alone: 25 and 3


def test_untrained_assistant_turns_are_not_counted_as_trained() -> None:
    chat = {
        "messages": [
            *CHAT["messages"],
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello there!", "weight": 0},
        ]
    }
    counts = Counter("o200k_base").count(chat)
    assert counts.trained == 3 and counts.total > 25


def test_tools_add_their_definition_tokens() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    counter = Counter("o200k_base")
    assert counter.count({**CHAT, "tools": tools}).total == 25 + counter.length(json.dumps(tools))


@pytest.mark.parametrize(
    ("name", "resolved", "enc"),
    [
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano-2025-04-14", "o200k_base"),
        ("gpt-35-turbo-0125", "gpt-3.5-turbo-0125", "cl100k_base"),
        ("ft:gpt-4.1-mini-2025-04-14:acme:elle:AbC123", "gpt-4.1-mini-2025-04-14", "o200k_base"),
        ("ft:gpt-3.5-turbo-0125:acme::xyz", "gpt-3.5-turbo-0125", "cl100k_base"),
    ],
)
def test_model_names_resolve_to_the_right_encoding(name: str, resolved: str, enc: str) -> None:
    info = resolve(name)
    assert (info.name, info.encoding) == (resolved, enc)


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"Known models: .*gpt-4o-mini"):
        resolve("gpt-9")


@pytest.mark.parametrize(
    ("n", "epochs"),
    [(1, 25), (4, 25), (5, 20), (10, 10), (33, 3), (34, 3), (8333, 3), (8334, 2), (12500, 2), (25001, 1), (10**6, 1)],
)
def test_auto_epochs_at_the_edges(n: int, epochs: int) -> None:
    assert auto_epochs(n) == epochs


def test_billed_tokens_cap_each_example_at_the_limit_and_cost_uses_the_training_price() -> None:
    info = resolve("gpt-3.5-turbo-0125")  # limit 16,385, $8 per 1M
    counts = [ExampleTokens(100, 50), ExampleTokens(20_000, 10)] * 10
    found = estimate(counts, info)
    assert found.epochs == 5  # 20 examples: min(25, 100 // 20)
    assert found.billed_tokens == 5 * 10 * (100 + 16_385)
    assert found.cost_usd == pytest.approx(found.billed_tokens * 8 / 1e6)
    assert found.over_limit == list(range(1, 20, 2))
    assert estimate(counts, info, n_epochs=2).billed_tokens == 2 * 10 * (100 + 16_385)


def test_price_overrides_persist_and_apply() -> None:
    price_store.set_price_override("gpt-4o-mini-2024-07-18", "training", 1.0)
    assert resolve("gpt-4o-mini", models(price_store.price_overrides())).training == 1.0
    assert resolve("gpt-4o-mini").training == 3.0  # the listed price when no overrides are given
    price_store.set_price_override("gpt-4o-mini-2024-07-18", "training", None)
    assert resolve("gpt-4o-mini", models(price_store.price_overrides())).training == 3.0


def test_few_shot_break_even() -> None:
    info = resolve("gpt-4o-mini")
    counter = Counter(info.encoding)
    result = few_shot(request_tokens([CHAT] * 10, counter), info, k=3, training_cost=3.0)
    # prompt = system + user (+3 priming); a shot = user + assistant messages without priming
    assert result.prompt_tokens == 3 + 3 + 5 + 3 + 4 and result.completion_tokens == 3
    assert result.added_prompt_tokens == 3 * (3 + 4 + 3 + 4)
    saving = (result.few_shot_cost_per_1000 - result.tuned_cost_per_1000) / 1000
    assert result.break_even_requests == pytest.approx(3.0 / saving)
    expensive_tuning = few_shot(request_tokens([CHAT] * 10, counter), info, k=0, training_cost=3.0)
    assert expensive_tuning.break_even_requests is None  # tuned tokens cost more and there is nothing to save


def test_cli_adds_tokens_and_cost_with_a_model() -> None:
    run = [sys.executable, "-m", "lib", "validate", "data/limericks.jsonl", "--model", "gpt-4o-mini", "--json"]
    result = subprocess.run(run, capture_output=True, text=True, cwd=PROJECT_DIR)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["epochs"] == 3
    assert set(report["tokens"]) == {"total", "assistant", "min", "max", "mean", "p50", "p90"}
    assert report["billed_tokens"] == 3 * report["tokens"]["total"]
    assert report["cost_usd"] == pytest.approx(report["billed_tokens"] * 3.0 / 1e6, abs=1e-4)
    unknown = subprocess.run([*run[:6], "gpt-9"], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert unknown.returncode == 2 and "Known models" in unknown.stderr and "Traceback" not in unknown.stderr


def test_length_histogram_counts_every_example_once() -> None:
    totals = [5, 80, 81, 90, 120, 4000]
    bins = length_histogram(totals)
    assert sum(b["examples"] for b in bins) == len(totals)
    assert all(b["from"] < b["to"] for b in bins)
    assert bins[0] == {"from": 5, "to": 139, "examples": 5}  # (4000 - 5 + 1) / 30 tokens a bin
    assert bins[-1]["from"] <= 4000 < bins[-1]["to"]
    assert length_histogram([]) == [] and length_histogram([7, 7]) == [{"from": 7, "to": 8, "examples": 2}]


def test_cost_table_prices_every_model_with_its_own_encoding() -> None:
    counts = {"o200k_base": [ExampleTokens(100, 10)] * 10, "cl100k_base": [ExampleTokens(20_000, 10)] * 10}
    table = {row["model"]: row for row in cost_table(counts, None, models())}
    assert len(table) == 6
    mini = table["gpt-4o-mini-2024-07-18"]
    assert (mini["epochs"], mini["billed tokens"], mini["over limit"]) == (10, 10 * 1000, 0)
    assert mini["training cost (USD)"] == pytest.approx(10_000 * 3.0 / 1e6)
    old = table["gpt-3.5-turbo-0125"]  # 16,385-token limit: billed at the limit, flagged
    assert (old["over limit"], old["billed tokens"]) == (10, 10 * 10 * 16_385)


def test_price_editor_changes_persist_and_the_listed_price_clears_the_override() -> None:
    before = price_table(models())
    after = [dict(row) for row in before]
    after[0]["training"] = 99.0
    after[1]["tuned_input"] = float("nan")  # a cell emptied in the editor is not a price
    [(model, field, value)] = changed_prices(before, after)
    price_store.set_price_override(model, field, override_value(model, field, value))
    assert models(price_store.price_overrides())[model].training == 99.0
    price_store.set_price_override(model, field, override_value(model, field, before[0]["training"]))
    assert price_store.price_overrides() == {}
    price_store.set_price_override(model, "tuned_output", override_value(model, "tuned_output", 0.0))
    price_store.clear_price_overrides()
    assert price_store.price_overrides() == {}
    with pytest.raises(PriceError, match="zero or more"):
        override_value(model, "training", -1.0)


def test_break_even_chart_lines_cross_at_the_break_even_volume() -> None:
    shot = FewShot(3, 300, 50, 40, few_shot_cost_per_1000=2.0, tuned_cost_per_1000=1.0, training_cost=5.0)
    assert shot.break_even_requests == 5000
    by_way = {(row["way"], row["requests"]): row["usd"] for row in shot.cumulative_costs([0, 5000])}
    assert by_way[("tuned model", 0)] == 5.0 and by_way[("base model, 3-shot", 0)] == 0
    assert by_way[("tuned model", 5000)] == pytest.approx(by_way[("base model, 3-shot", 5000)])
