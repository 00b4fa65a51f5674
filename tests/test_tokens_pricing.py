import json
import subprocess
import sys

import pytest

from lib import store
from lib.paths import PROJECT_DIR
from lib.pricing import UnknownModelError, auto_epochs, estimate, few_shot, resolve
from lib.tokens import Counter, ExampleTokens, encoding

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
    store.set_price_override("gpt-4o-mini-2024-07-18", "training", 1.0)
    assert resolve("gpt-4o-mini").training == 1.0
    store.set_price_override("gpt-4o-mini-2024-07-18", "training", None)
    assert resolve("gpt-4o-mini").training == 3.0


def test_few_shot_break_even() -> None:
    info = resolve("gpt-4o-mini")
    counter = Counter(info.encoding)
    result = few_shot([CHAT] * 10, counter, info, k=3, training_cost=3.0)
    # prompt = system + user (+3 priming); a shot = user + assistant messages without priming
    assert result.prompt_tokens == 3 + 3 + 5 + 3 + 4 and result.completion_tokens == 3
    assert result.added_prompt_tokens == 3 * (3 + 4 + 3 + 4)
    saving = (result.few_shot_cost_per_1000 - result.tuned_cost_per_1000) / 1000
    assert result.break_even_requests == pytest.approx(3.0 / saving)
    expensive_tuning = few_shot([CHAT] * 10, counter, info, k=0, training_cost=3.0)
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
