"""Direct preference optimization (Rafailov et al. 2023) of the LoRA adapter on preference pairs.

loss = -log sigmoid(beta * ((log p(chosen) - log p_ref(chosen)) - (log p(rejected) - log p_ref(rejected))))

The reference is the model as training starts: the frozen base with the adapter disabled (or, when the
job starts from a supervised tuned model, with that adapter). Its log-probabilities are computed once,
before the first step, so no second copy of the weights is kept and each step needs one forward pass
of chosen and rejected together. Only the answers' tokens count; the prompt is context.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from peft import PeftModel

from lib.local.fused_lora import fused_lora
from lib.local.models import Loaded
from lib.local.trainer import (
    Callbacks,
    Encoded,
    Result,
    StepMetrics,
    Stopped,
    TrainingConfig,
    add_lora,
    collate,
    encode,
    labelled_logits,
    optimizer_and_schedule,
)

DEFAULT_BETA = 0.1


@dataclass
class Pair:
    chosen: Encoded
    rejected: Encoded
    reference: tuple[float, float] = (0.0, 0.0)  # log p_ref(chosen), log p_ref(rejected)


def encode_pair(example: dict[str, Any], tokenizer: Any, max_length: int) -> Pair:
    """A preference line as two chats that share the prompt; only the final answer is labelled."""
    prompt = [dict(m) for m in example["input"]["messages"]]
    for message in prompt:
        if message.get("role") == "assistant":
            message["weight"] = 0  # earlier turns are context, not what is preferred
    chosen = encode({"messages": [*prompt, *example["preferred_output"]]}, tokenizer, max_length)
    rejected = encode({"messages": [*prompt, *example["non_preferred_output"]]}, tokenizer, max_length)
    return Pair(chosen, rejected)


def _pairs(examples: Sequence[dict[str, Any]], tokenizer: Any, max_length: int) -> list[Pair]:
    encoded = (encode_pair(example, tokenizer, max_length) for example in examples)
    return [pair for pair in encoded if pair.chosen.trained and pair.rejected.trained]


def _log_probs(model: PeftModel, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each row's summed log-probability of its labelled tokens."""
    logits, targets, rows = labelled_logits(model, ids, labels, mask)
    token_log_probs = torch.log_softmax(logits, -1).gather(1, targets.unsqueeze(1)).squeeze(1)
    return torch.zeros(len(ids), device=ids.device).index_add(0, rows, token_log_probs)


def _forward(model: PeftModel, batch: Sequence[Pair], pad_id: int, device: torch.device) -> torch.Tensor:
    """(chosen, rejected) log-probabilities of a batch of pairs: one forward pass for both."""
    ids, labels, mask = collate([p.chosen for p in batch] + [p.rejected for p in batch], pad_id, device)
    found = _log_probs(model, ids, labels, mask)
    return found.view(2, len(batch))


def dpo_loss(policy: torch.Tensor, reference: torch.Tensor, beta: float) -> tuple[torch.Tensor, float, float]:
    """The mean DPO loss of a batch, its mean reward margin and its reward accuracy (chosen > rejected).

    ``policy`` and ``reference``: shape (2, batch), the chosen row first."""
    rewards = beta * (policy - reference)
    margin = rewards[0] - rewards[1]
    loss = -torch.nn.functional.logsigmoid(margin).mean()
    return loss, float(margin.mean().detach()), float((margin > 0).float().mean())


@torch.no_grad()
def _references(model: PeftModel, pairs: Sequence[Pair], pad_id: int, device: torch.device) -> None:
    model.eval()
    for start in range(0, len(pairs), 8):
        batch = pairs[start : start + 8]
        found = _forward(model, batch, pad_id, device)
        for pair, chosen, rejected in zip(batch, found[0].tolist(), found[1].tolist(), strict=True):
            pair.reference = (chosen, rejected)
    model.train()


@torch.no_grad()
def evaluate_pairs(
    model: PeftModel, pairs: Sequence[Pair], pad_id: int, device: torch.device, beta: float
) -> tuple[float, float, float]:
    """(loss, reward margin, reward accuracy) over ``pairs``, whose references are known."""
    model.eval()
    losses, margins, right = 0.0, 0.0, 0.0
    for start in range(0, len(pairs), 8):
        batch = pairs[start : start + 8]
        reference = torch.tensor([[p.reference[0] for p in batch], [p.reference[1] for p in batch]], device=device)
        loss, margin, accuracy = dpo_loss(_forward(model, batch, pad_id, device), reference, beta)
        losses += float(loss) * len(batch)
        margins += margin * len(batch)
        right += accuracy * len(batch)
    model.train()
    n = max(1, len(pairs))
    return losses / n, margins / n, right / n


def train_dpo(
    loaded: Loaded,
    training: Sequence[dict[str, Any]],
    config: TrainingConfig,
    beta: float = DEFAULT_BETA,
    validation: Sequence[dict[str, Any]] = (),
    callbacks: Callbacks | None = None,
    model: PeftModel | None = None,
) -> tuple[PeftModel, Result]:
    """DPO on preference lines; ``model``: a supervised tuned model to start from (else a fresh adapter)."""
    callbacks = callbacks or Callbacks()
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer, device = loaded.tokenizer, next(loaded.model.parameters()).device
    pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    pairs = _pairs(training, tokenizer, config.max_length)
    valid = _pairs(validation, tokenizer, config.max_length)
    model = model if model is not None else add_lora(loaded, config)
    _references(model, pairs + valid, pad_id, device)
    model.train()
    steps_per_epoch = math.ceil(len(pairs) / config.batch_size)
    total_steps = steps_per_epoch * config.n_epochs
    optimizer, schedule = optimizer_and_schedule(model, config, total_steps, device)
    result = Result()
    start, step, real_tokens = time.perf_counter(), 0, 0
    with fused_lora(model):  # the same sums, one autograd step per LoRA layer
        for epoch in range(1, config.n_epochs + 1):
            order = list(range(len(pairs)))
            rng.shuffle(order)
            for first in range(0, len(order), config.batch_size):
                if callbacks.should_stop():
                    raise Stopped()
                batch = [pairs[i] for i in order[first : first + config.batch_size]]
                references = [[p.reference[0] for p in batch], [p.reference[1] for p in batch]]
                reference = torch.tensor(references, device=device)
                loss, margin, accuracy = dpo_loss(_forward(model, batch, pad_id, device), reference, beta)
                loss.backward()
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                tokens = sum(len(p.chosen.input_ids) + len(p.rejected.input_ids) for p in batch)
                real_tokens += tokens
                metrics = StepMetrics(step, total_steps, epoch, float(loss.detach()), accuracy, tokens=tokens)
                metrics.extra = {"train_reward_margin": margin, "train_reward_accuracy": accuracy}
                if valid and step % steps_per_epoch == 0:
                    valid_loss, valid_margin, valid_accuracy = evaluate_pairs(model, valid, pad_id, device, beta)
                    metrics.valid_loss = valid_loss
                    metrics.extra |= {"valid_reward_margin": valid_margin, "valid_reward_accuracy": valid_accuracy}
                result.steps.append(metrics)
                callbacks.on_step(metrics)
            callbacks.on_epoch_end(epoch, step, model)
    result.trained_tokens = config.n_epochs * sum(len(p.chosen.input_ids) + len(p.rejected.input_ids) for p in pairs)
    result.seconds = time.perf_counter() - start
    result.tokens_per_second = real_tokens / max(1e-9, result.seconds)
    model.eval()
    return model, result
