"""Fine-tunable models, their prices and limits; epochs, billed tokens, cost and the few-shot break-even."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from lib import store
from lib.errors import StudioError
from lib.paths import SAMPLE_DIR
from lib.tokens import REPLY_PRIMING, Counter, ExampleTokens
from lib.validation import Finding

MODELS_FILE = SAMPLE_DIR / "models.json"
PRICE_FIELDS = ("training", "tuned_input", "tuned_output", "base_input", "base_output")
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


class UnknownModelError(StudioError):
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


@cache
def _price_file() -> dict[str, Any]:
    return dict(json.loads(MODELS_FILE.read_text()))


def models() -> dict[str, ModelInfo]:
    """Every fine-tunable model with the user's price overrides applied."""
    overrides = store.price_overrides()
    result = {}
    for name, fields in _price_file()["models"].items():
        prices = {field: float(overrides.get(name, {}).get(field, fields[field])) for field in PRICE_FIELDS}
        result[name] = ModelInfo(name, fields["encoding"], int(fields["context_limit"]), **prices)
    return result


def resolve(model: str) -> ModelInfo:
    """The listed model behind a name: full, undated, Azure-style (gpt-35-turbo) or a tuned ``ft:`` id."""
    listed = models()
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


def auto_epochs(n_examples: int) -> int:
    """OpenAI's default when n_epochs is "auto": 3, more for small sets, fewer for huge ones."""
    if n_examples <= 0:
        return 0
    if 3 * n_examples < 100:
        return min(25, 100 // n_examples)
    if 3 * n_examples > 25_000:
        return max(1, 25_000 // n_examples)
    return 3


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


def few_shot(examples: Sequence[Any], counter: Counter, info: ModelInfo, k: int, training_cost: float) -> FewShot:
    """Compare a few-shot prompt on the base model with the tuned model, from the dataset's own averages."""
    prompt, added, completion = [], [], []
    for example in examples:
        messages = [m for m in example.get("messages", []) if isinstance(m, dict)]
        answers = [m for m in messages if m.get("role") == "assistant"]
        prompt.append(counter.count({"messages": [m for m in messages if m.get("role") != "assistant"]}).total)
        completion.append(counter.length(str(answers[-1].get("content") or "")) if answers else 0)
        shots = [m for m in messages if m.get("role") in ("user", "assistant")]
        added.append(counter.count({"messages": shots}).total - REPLY_PRIMING)
    n = max(1, len(examples))
    mean_prompt, mean_completion, mean_shot = sum(prompt) / n, sum(completion) / n, sum(added) / n
    few = 1000 * ((mean_prompt + k * mean_shot) * info.base_input + mean_completion * info.base_output) / 1e6
    tuned = 1000 * (mean_prompt * info.tuned_input + mean_completion * info.tuned_output) / 1e6
    return FewShot(k, k * mean_shot, mean_prompt, mean_completion, few, tuned, training_cost)
