"""What drafting will take before it starts: requests, tokens, and the cost at the listed prices (or, on the
local provider, roughly how long); and the model offered first."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lib.curate.drafts import Seed, answer_messages, passage_for, question_messages, seeds_for
from lib.errors import StudioError
from lib.price import overrides, pricing
from lib.price.pricing import ModelInfo
from lib.price.tokens import Counter
from lib.retrieve.source import Passage
from lib.train.providers import ProviderConfig
from lib.words import plural

PREFERRED_MODELS = ("gpt-4o-mini", "gpt-4.1-mini")  # offered first where a provider has them
LOCAL_TOKENS_PER_SECOND = 25.0  # the slowest local decoder measured (PyTorch fp32, 2 cores); llama.cpp is faster
LOCAL_PROMPT_TOKENS_PER_SECOND = 250.0
FALLBACK_ENCODING = "o200k_base"


@dataclass(frozen=True)
class DraftEstimate:
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None: no listed price for the model
    seconds: float | None  # the local provider: roughly how long

    def sentence(self, model: str) -> str:
        tokens = f"About {plural(self.requests, 'request')}, {self.prompt_tokens:,} prompt + " \
                 f"{self.completion_tokens:,} completion tokens"  # fmt: skip
        if self.seconds is not None:
            return f"{tokens}; free on the local provider, about {_duration(self.seconds)} on a slow CPU."
        if self.cost_usd is None:
            return f"{tokens}; {model} has no listed price, so no cost is estimated."
        return f"{tokens}; about ${self.cost_usd:.2f} at {model}'s listed price."


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds))} s" if seconds < 90 else f"{round(seconds / 60)} min"


def default_model(models: Sequence[str]) -> str | None:
    """The model offered first: a preferred one where the provider has it, else its first base model."""
    found = next((m for m in PREFERRED_MODELS if m in models), None)
    return found or next((m for m in models if not m.startswith("ft:")), models[0] if models else None)


def _info(model: str, prices: Mapping[str, ModelInfo] | None) -> ModelInfo | None:
    try:
        return pricing.resolve(model, prices if prices is not None else overrides.user_prices())
    except StudioError:
        return None


def cost_of(
    config: ProviderConfig, model: str, prompt_tokens: int, completion_tokens: int,
    prices: Mapping[str, ModelInfo] | None = None,
) -> float | None:  # fmt: skip
    """What the tokens cost at the user's prices (``prices``, else those kept in the store): 0 on the local
    provider, None for a model with no price."""
    if config.kind == "local":
        return 0.0
    info = _info(model, prices)
    tuned = model.startswith("ft:")
    return None if info is None else pricing.tokens_cost(info, tuned, prompt_tokens, completion_tokens)


def estimate(
    config: ProviderConfig,
    model: str,
    seeds: Sequence[Seed],
    passages: Sequence[Passage],
    n: int,
    k: int = 3,
    prices: Mapping[str, ModelInfo] | None = None,
) -> DraftEstimate:
    """Requests (2 per draft) and tokens: the prompts as they will be sent (a seed's question standing in for
    the new one); replies as long as the seeds' messages."""
    info = _info(model, prices)
    counter = Counter(info.encoding if info else FALLBACK_ENCODING)
    prompt_tokens = 0
    for number in range(n):
        chosen, passage = seeds_for(seeds, k, number), passage_for(passages, number)
        asked = answer_messages(chosen, chosen[0].user, passage) if chosen else []
        prompt_tokens += counter.count({"messages": question_messages(chosen, passage)}).total
        prompt_tokens += counter.count({"messages": asked}).total
    lengths = [counter.length(s.user) + counter.length(s.assistant) for s in seeds]
    completion_tokens = round(n * statistics.fmean(lengths)) if lengths else 0
    seconds = None
    if config.kind == "local":
        seconds = completion_tokens / LOCAL_TOKENS_PER_SECOND + prompt_tokens / LOCAL_PROMPT_TOKENS_PER_SECOND
    cost = cost_of(config, model, prompt_tokens, completion_tokens, prices)
    return DraftEstimate(2 * n, prompt_tokens, completion_tokens, cost, seconds)
