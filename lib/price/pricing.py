"""Fine-tunable models, their prices and limits; epochs, billed tokens, cost and the few-shot break-even.

Pure: the user's price overrides are read by the caller (lib.db.price_store) and passed in.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from lib.errors import PriceError
from lib.openai_format.checks import Finding
from lib.openai_format.examples import conversation
from lib.openai_format.rules import auto_epochs
from lib.price.tokens import REPLY_PRIMING, Counter, ExampleTokens
from lib.settings import SAMPLE_DIR

MODELS_FILE = SAMPLE_DIR / "models.json"
PRICE_FIELDS = ("training", "tuned_input", "tuned_output", "base_input", "base_output")
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


class UnknownModelError(PriceError):
    """A model name that is not in the price list."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    encoding: str
    context_limit: int
    training: float  # USD per 1M training tokens
    tuned_input: float
    tuned_output: float
    base_input: float
    base_output: float


def openai_fine_tuning_closing() -> dict[str, str]:
    """OpenAI's winding down of self-serve fine-tuning: what it is, the last day for new jobs, and its source."""
    return dict(_price_file().get("openai_fine_tuning", {}))


@cache
def _price_file() -> dict[str, Any]:
    return dict(json.loads(MODELS_FILE.read_text()))


def price_list_source() -> str:
    """Where the listed prices come from, and when they were recorded."""
    listed = _price_file()
    return f"{listed['source']} ({listed['date']})"


Overrides = Mapping[str, Mapping[str, float]]  # model -> price field -> USD per 1M tokens


def models(overrides: Overrides | None = None) -> dict[str, ModelInfo]:
    """Every fine-tunable model, with the user's price overrides (lib.db.price_store) applied when given."""
    overrides = overrides or {}
    result = {}
    for name, fields in _price_file()["models"].items():
        prices = {field: float(overrides.get(name, {}).get(field, fields[field])) for field in PRICE_FIELDS}
        result[name] = ModelInfo(name, fields["encoding"], int(fields["context_limit"]), **prices)
    return result


def override_value(model: str, field: str, value: float) -> float | None:
    """What to store for a price the user typed: None when it is the listed price again (the override goes)."""
    listed = _price_file()["models"]
    if model not in listed or field not in PRICE_FIELDS:
        raise UnknownModelError(f"There is no price '{field}' for '{model}'.")
    if value < 0 or value != value:
        raise PriceError("A price must be a number of dollars, zero or more.")
    return None if value == float(listed[model][field]) else value


def price_table(listed: Mapping[str, ModelInfo]) -> list[dict[str, Any]]:
    """One row per model with its prices, for the price editor."""
    return [{"model": m.name, **{field: getattr(m, field) for field in PRICE_FIELDS}} for m in listed.values()]


def changed_prices(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[Any, Any]]
) -> list[tuple[str, str, float]]:
    """(model, field, new price) for every cell of the price editor that changed to a number."""
    changes = []
    for old, new in zip(before, after, strict=True):
        for field in PRICE_FIELDS:
            value = new[field]
            if isinstance(value, int | float) and value == value and value != old[field]:
                changes.append((str(old["model"]), field, float(value)))
    return changes


def resolve(model: str, listed: Mapping[str, ModelInfo] | None = None) -> ModelInfo:
    """The listed model behind a name: full, undated, Azure-style (gpt-35-turbo) or a tuned ``ft:`` id.

    ``listed``: the models with the user's prices (``models(overrides)``); the listed prices when None.
    """
    listed = listed or models()
    name = model.strip()
    if name.startswith("ft:"):
        name = name.split(":")[1]
    name = name.replace("gpt-35", "gpt-3.5")
    if name in listed:
        return listed[name]
    undated = {_DATE_SUFFIX.sub("", key): key for key in listed}
    key = undated.get(_DATE_SUFFIX.sub("", name))
    if key is None:
        raise UnknownModelError(f"Unknown model '{model}'. Known models: {', '.join(listed)}.")
    return listed[key]


def tokens_cost(info: ModelInfo, tuned: bool, prompt_tokens: float, completion_tokens: float) -> float:
    """What tokens cost at a model's prices, in USD: the tuned model's prices or the base model's."""
    input_price, output_price = (info.tuned_input, info.tuned_output) if tuned else (info.base_input, info.base_output)
    return (prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000


def _percentile(sorted_values: Sequence[int], fraction: float) -> int:
    if not sorted_values:
        return 0
    index = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[index]


@dataclass(frozen=True)
class Estimate:
    model: str
    examples: int
    total_tokens: int
    trained_tokens: int
    min_tokens: int
    max_tokens: int
    mean_tokens: float
    p50_tokens: int
    p90_tokens: int
    over_limit: list[int]  # 0-based indices of examples longer than the model's context limit
    epochs: int
    billed_tokens: int
    cost_usd: float

    def tokens_report(self) -> dict[str, Any]:
        return {
            "total": self.total_tokens,
            "assistant": self.trained_tokens,
            "min": self.min_tokens,
            "max": self.max_tokens,
            "mean": round(self.mean_tokens, 2),
            "p50": self.p50_tokens,
            "p90": self.p90_tokens,
        }


def estimate(counts: Sequence[ExampleTokens], info: ModelInfo, n_epochs: int | None = None) -> Estimate:
    """Training tokens and cost: billed = epochs x sum(min(limit, tokens)); n_epochs None means "auto"."""
    totals = sorted(c.total for c in counts)
    epochs = auto_epochs(len(counts)) if n_epochs is None else n_epochs
    billed = epochs * sum(min(info.context_limit, c.total) for c in counts)
    return Estimate(
        model=info.name,
        examples=len(counts),
        total_tokens=sum(totals),
        trained_tokens=sum(c.trained for c in counts),
        min_tokens=totals[0] if totals else 0,
        max_tokens=totals[-1] if totals else 0,
        mean_tokens=sum(totals) / len(totals) if totals else 0.0,
        p50_tokens=_percentile(totals, 0.5),
        p90_tokens=_percentile(totals, 0.9),
        over_limit=[i for i, c in enumerate(counts) if c.total > info.context_limit],
        epochs=epochs,
        billed_tokens=billed,
        cost_usd=billed * info.training / 1_000_000,
    )


def over_limit_finding(line: int, tokens: int, info: ModelInfo) -> Finding:
    message = f"{tokens:,} tokens: over {info.name}'s {info.context_limit:,}-token limit; training cuts it short."
    return Finding(line, "too_many_tokens", "warning", message)


@dataclass(frozen=True)
class RequestTokens:
    """A dataset's average request, in tokens: what a few-shot prompt or a tuned model would be sent."""

    prompt: float  # system + question + reply priming
    shot: float  # what one example (question + answer) adds to a few-shot prompt
    completion: float  # the answer


def request_tokens(examples: Sequence[Any], counter: Counter) -> RequestTokens:
    """Average prompt, shot and completion tokens over the dataset's examples."""
    prompt, added, completion = [], [], []
    for example in examples:
        messages = [m for m in conversation(example) if isinstance(m, dict)]
        answers = [m for m in messages if m.get("role") == "assistant"]
        prompt.append(counter.count({"messages": [m for m in messages if m.get("role") != "assistant"]}).total)
        completion.append(counter.length(str(answers[-1].get("content") or "")) if answers else 0)
        shots = [m for m in messages if m.get("role") in ("user", "assistant")]
        added.append(counter.count({"messages": shots}).total - REPLY_PRIMING)
    n = max(1, len(examples))
    return RequestTokens(sum(prompt) / n, sum(added) / n, sum(completion) / n)


@dataclass(frozen=True)
class FewShot:
    k: int
    added_prompt_tokens: float  # what k examples add to every request
    prompt_tokens: float  # a request's own prompt (system + question)
    completion_tokens: float
    few_shot_cost_per_1000: float  # base model, prompt with k examples
    tuned_cost_per_1000: float  # tuned model, bare prompt
    training_cost: float

    @property
    def break_even_requests(self) -> float | None:
        """Requests after which training has paid for itself; None when the tuned model never saves money."""
        saving_per_request = (self.few_shot_cost_per_1000 - self.tuned_cost_per_1000) / 1000
        if saving_per_request <= 0:
            return None
        return self.training_cost / saving_per_request

    def cumulative_costs(self, requests: Sequence[int]) -> list[dict[str, Any]]:
        """Total spend after each number of requests, for both ways of working (the break-even chart)."""
        rows = []
        for n in requests:
            rows.append(
                {"requests": n, "way": f"base model, {self.k}-shot", "usd": self.few_shot_cost_per_1000 * n / 1000}
            )
            rows.append(
                {"requests": n, "way": "tuned model", "usd": self.training_cost + self.tuned_cost_per_1000 * n / 1000}
            )
        return rows


def few_shot(tokens: RequestTokens, info: ModelInfo, k: int, training_cost: float) -> FewShot:
    """Compare a k-shot prompt on the base model with the tuned model and a bare prompt."""
    prompt = tokens.prompt + k * tokens.shot
    few = 1000 * (prompt * info.base_input + tokens.completion * info.base_output) / 1e6
    tuned = 1000 * (tokens.prompt * info.tuned_input + tokens.completion * info.tuned_output) / 1e6
    return FewShot(k, k * tokens.shot, tokens.prompt, tokens.completion, few, tuned, training_cost)


def alternatives(
    tokens: RequestTokens, info: ModelInfo, shots: int, passage_tokens: float, training_cost: float, requests: int
) -> list[dict[str, Any]]:
    """The running cost of each way of working at ``requests`` requests: prompt tokens grow with the examples of
    a few-shot prompt and with retrieved passages (``passage_tokens`` per request); fine-tuning adds its one-off
    training cost."""
    ways = [
        ("prompt engineering", f"base model, {shots}-shot", tokens.prompt + shots * tokens.shot, False),
        ("retrieval", "base model + passages", tokens.prompt + passage_tokens, False),
        ("fine-tuning", "tuned model, bare prompt", tokens.prompt, True),
        ("fine-tuning + retrieval", "tuned model + passages", tokens.prompt + passage_tokens, True),
    ]
    rows = []
    for approach, how, prompt, tuned in ways:
        per_1000 = 1000 * tokens_cost(info, tuned, prompt, tokens.completion)
        one_off = training_cost if tuned else 0.0
        rows.append(
            {"approach": approach, "how": how, "prompt tokens": round(prompt), "USD per 1,000": per_1000,
             "one-off training USD": one_off, f"USD for {requests:,} requests": one_off + per_1000 * requests / 1000}
        )  # fmt: skip
    return rows


def length_histogram(totals: Sequence[int], bins: int = 30) -> list[dict[str, Any]]:
    """Counts of examples by length in equal-width bins from the shortest to the longest example."""
    if not totals:
        return []
    low, high = min(totals), max(totals) + 1
    width = max(1, math.ceil((high - low) / bins))
    counts: dict[int, int] = {}
    for total in totals:
        start = low + (total - low) // width * width
        counts[start] = counts.get(start, 0) + 1
    return [{"from": start, "to": start + width, "examples": counts[start]} for start in sorted(counts)]


def cost_table(
    counts_by_encoding: Mapping[str, Sequence[ExampleTokens]], n_epochs: int | None, listed: Mapping[str, ModelInfo]
) -> list[dict[str, Any]]:
    """Every listed model's training estimate for one dataset, cheapest first."""
    rows = []
    for info in listed.values():
        result = estimate(counts_by_encoding[info.encoding], info, n_epochs)
        rows.append(
            {
                "model": info.name,
                "limit": info.context_limit,
                "over limit": len(result.over_limit),
                "epochs": result.epochs,
                "billed tokens": result.billed_tokens,
                "USD per 1M": info.training,
                "training cost (USD)": round(result.cost_usd, 4),
            }
        )
    return sorted(rows, key=lambda row: row["training cost (USD)"])
