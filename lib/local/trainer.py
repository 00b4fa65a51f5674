"""Supervised LoRA fine-tuning of a chat model, written out as a short explicit loop.

What makes it fast on a CPU (see DESIGN.md): the frozen base runs in bf16 where the hardware has
it (LoRA adapters stay fp32); examples are bucketed by length and padded only within a batch;
the lm_head and the loss are computed only at the trained (assistant) positions; fused AdamW;
no gradient checkpointing, no torch.compile.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import PreTrainedTokenizerBase

from lib.local import ranks as ranks_module
from lib.local.fused_lora import fused_lora
from lib.local.models import Loaded
from lib.local.ranks import Ranks
from lib.openai_format.examples import conversation

IGNORE = -100
BASE_LEARNING_RATE = 1e-3  # LoRA on a 135M model; OpenAI's learning_rate_multiplier scales it
EVAL_BATCH_SIZE = 2  # validation batches: small, so the 49k-vocab logits never set the peak memory
# On a CPU, plain attention runs a short batch's step ~9% faster than flash attention, but it keeps each layer's
# score matrices for the backward: ~12 bytes per score (measured on SmolLM2: +400 MB at one 362-token row). It is
# used while that stays under this bound; flash attention, whose memory stays flat, beyond.
PLAIN_ATTENTION_BYTES = 100 * 2**20
BYTES_PER_KEPT_SCORE = 12


@dataclass
class TrainingConfig:
    """Hyperparameters of one job, already resolved from "auto"."""

    n_epochs: int = 3
    batch_size: int = 1
    learning_rate_multiplier: float = 1.0
    seed: int = 0
    lora_rank: int = 16
    lora_alpha: int = 32
    max_length: int = 2048  # longer examples are cut (OpenAI cuts at the model's context limit too)
    early_stopping_patience: int | None = None  # epochs without a lower validation loss before stopping


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE where the token is not trained on
    index: int = -1  # its position among the training examples

    @property
    def trained(self) -> int:
        return sum(label != IGNORE for label in self.labels)

    @property
    def targets(self) -> int:
        """Positions whose next token is trained on: what the loss is averaged over."""
        return sum(label != IGNORE for label in self.labels[1:])


@dataclass
class StepMetrics:
    step: int
    total_steps: int
    epoch: int
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    tokens: int = 0  # real (unpadded) tokens in this step's batch
    extra: dict[str, float] = field(default_factory=dict)  # a method's own figures (DPO: reward margin, accuracy)


@dataclass
class Callbacks:
    """How the loop reports progress and learns that it should stop (cancel or pause)."""

    on_step: Callable[[StepMetrics], None] = lambda metrics: None
    on_epoch_end: Callable[[int, int, PeftModel], None] = lambda epoch, step, model: None
    should_stop: Callable[[], bool] = lambda: False


class Stopped(Exception):
    """The job was cancelled or paused between two steps."""


@dataclass
class Result:
    steps: list[StepMetrics] = field(default_factory=list)
    trained_tokens: int = 0  # billed-style: every token of every example, times epochs
    seconds: float = 0.0
    tokens_per_second: float = 0.0  # real tokens processed per second of training
    best_epoch: int | None = None  # with early stopping: the epoch whose weights the model keeps
    best_valid_loss: float | None = None
    stopped_after_epoch: int | None = None  # with early stopping: set when it stopped before the last epoch
    # the data map: each training example's mean token loss in every epoch, by its position (0-based)
    example_losses: dict[int, list[float]] = field(default_factory=dict)


class BestWeights:
    """Early stopping: remembers the adapter weights of the epoch with the lowest validation loss."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.epoch: int | None = None
        self.loss = math.inf
        self.saved: dict[str, torch.Tensor] = {}

    def should_stop(self, epoch: int, valid_loss: float, model: PeftModel) -> bool:
        """Record this epoch's loss; True once ``patience`` epochs in a row did not lower it."""
        if valid_loss < self.loss:
            self.epoch, self.loss = epoch, valid_loss
            self.saved = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        return self.epoch is not None and epoch - self.epoch >= self.patience

    def restore(self, model: PeftModel) -> None:
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name in self.saved:
                    parameter.copy_(self.saved[name])


def encode(example: Any, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Encoded:
    """Token ids of a chat rendered with the model's chat template; labels only on trained assistant turns.

    Each message's piece is the difference between the template rendered up to it and up to the one
    before, so any chat template works. In an assistant turn the role header is not trained on;
    its text and end-of-turn token are, unless the turn has ``weight: 0``.
    """
    messages = [m for m in conversation(example) if isinstance(m, dict)]
    ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    for i, message in enumerate(messages):
        upto = [{"role": str(m.get("role")), "content": str(m.get("content") or "")} for m in messages[: i + 1]]
        text = str(tokenizer.apply_chat_template(upto, tokenize=False))
        piece = text[len(rendered) :]
        if message.get("role") == "assistant" and message.get("weight", 1) != 0:
            prompt = str(tokenizer.apply_chat_template(upto[:-1], tokenize=False, add_generation_prompt=True))
            header = (
                prompt[len(rendered) :]
                if prompt.startswith(rendered) and piece.startswith(prompt[len(rendered) :])
                else ""
            )
            header_ids = tokenizer.encode(header, add_special_tokens=False) if header else []
            body_ids = tokenizer.encode(piece[len(header) :], add_special_tokens=False)
            ids += header_ids + body_ids
            labels += [IGNORE] * len(header_ids) + body_ids
        else:
            piece_ids = tokenizer.encode(piece, add_special_tokens=False)
            ids += piece_ids
            labels += [IGNORE] * len(piece_ids)
        rendered = text
    return Encoded(ids[:max_length], labels[:max_length])


def batches(encoded: Sequence[Encoded], batch_size: int, rng: random.Random) -> list[list[Encoded]]:
    """Examples of similar length together (little padding), in a shuffled order of batches."""
    ordered = sorted(encoded, key=lambda e: len(e.input_ids))
    grouped = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    rng.shuffle(grouped)
    return grouped


def collate(batch: Sequence[Encoded], pad_id: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return ids.to(device), labels.to(device), mask.to(device)


def add_lora(loaded: Loaded, config: TrainingConfig) -> PeftModel:
    """Wrap the (frozen) base model with fp32 LoRA adapters on every linear layer but the lm_head."""
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(loaded.model, lora)
    for parameter in model.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    return model


def plain_attention_fits(rows: int, width: int, config: Any) -> bool:
    """Whether plain attention's kept scores for a batch of ``rows`` x ``width`` tokens stay in bounds (a model
    whose config does not say its heads and layers gets flash attention)."""
    heads, layers = getattr(config, "num_attention_heads", None), getattr(config, "num_hidden_layers", None)
    if not isinstance(heads, int) or not isinstance(layers, int):
        return False
    return rows * width**2 * heads * layers * BYTES_PER_KEPT_SCORE <= PLAIN_ATTENTION_BYTES


def labelled_logits(
    model: PeftModel, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The logits at every labelled position, the tokens they should predict, and the row of each."""
    causal: Any = model.base_model.model  # the *ForCausalLM, with LoRA layers injected in place
    plain = ids.device.type == "cpu" and plain_attention_fits(ids.shape[0], ids.shape[1], causal.config)
    with sdpa_kernel(SDPBackend.MATH) if plain else nullcontext():
        hidden = causal.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    trained = targets != IGNORE
    logits = causal.lm_head(hidden[trained]).float()  # only where a label is: saves most of the 49k-vocab head
    return logits, targets[trained], trained.nonzero()[:, 0]


def _loss(
    model: PeftModel, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, summed: bool = False
) -> tuple[torch.Tensor, int, int, torch.Tensor]:
    """Mean (or ``summed``) cross-entropy over the trained positions, (correct, counted) for token accuracy, and
    each row's own mean loss (detached: the data map's figure, from the same forward pass)."""
    logits, targets, rows = labelled_logits(model, ids, labels, mask)
    token_losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    correct = int((logits.argmax(-1) == targets).sum())
    per_row = torch.zeros(len(ids), device=ids.device).index_add_(0, rows, token_losses.detach().float())
    counted = torch.bincount(rows, minlength=len(ids)).clamp(min=1)
    loss = token_losses.sum() if summed else token_losses.mean()
    return loss, correct, len(targets), per_row / counted


@torch.no_grad()
def evaluate(model: PeftModel, encoded: Sequence[Encoded], pad_id: int, device: torch.device) -> tuple[float, float]:
    """Validation loss and token accuracy over the trained positions of ``encoded``."""
    model.eval()
    total_loss, correct, counted = 0.0, 0, 0
    for batch in batches(encoded, EVAL_BATCH_SIZE, random.Random(0)):
        ids, labels, mask = collate(batch, pad_id, device)
        loss, right, n, _ = _loss(model, ids, labels, mask)
        total_loss, correct, counted = total_loss + float(loss) * n, correct + right, counted + n
    model.train()
    return total_loss / max(1, counted), correct / max(1, counted)


def optimizer_and_schedule(
    model: PeftModel, config: TrainingConfig, total_steps: int, device: torch.device
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """Fused AdamW on the adapter's weights, its learning rate falling linearly to zero at the last step."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=BASE_LEARNING_RATE * config.learning_rate_multiplier, fused=device.type in ("cpu", "cuda")
    )
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / max(1, total_steps))


def _step(
    model: PeftModel, share: Sequence[Encoded], batch_targets: int, pad_id: int, scaler: Any
) -> tuple[float, int, int, list[tuple[int, float]]]:
    """Forward and backward over this process's share of a batch, its loss divided by the whole batch's target
    count; (summed loss, correct, counted, each example's mean loss). A share can be empty (more ranks than
    examples in the batch): no gradient, zeros."""
    if not share:
        return 0.0, 0, 0, []
    device = next(model.parameters()).device
    ids, labels, mask = collate(share, pad_id, device)
    summed, correct, counted, per_example = _loss(model, ids, labels, mask, summed=True)
    loss = summed / max(1, batch_targets)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    losses = [(e.index, value) for e, value in zip(share, per_example.tolist(), strict=True)]
    return float(summed.detach()), correct, counted, losses


def train(
    loaded: Loaded,
    training: Sequence[Any],
    config: TrainingConfig,
    validation: Sequence[Any] = (),
    callbacks: Callbacks | None = None,
    ranks: Ranks | None = None,
) -> tuple[PeftModel, Result]:
    """LoRA-train ``loaded.model`` on chat examples; the base weights stay frozen and unchanged.

    With ``early_stopping_patience`` and validation examples, training stops once the validation loss
    has not improved for that many epochs, and the returned model has the best epoch's weights.
    With ``ranks`` (a joined process group), this process trains on its share of every batch (ranks.py).
    """
    callbacks = callbacks or Callbacks()
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer, device = loaded.tokenizer, next(loaded.model.parameters()).device
    pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    train_set = [replace(encode(x, tokenizer, config.max_length), index=i) for i, x in enumerate(training)]
    train_set = [e for e in train_set if e.trained]
    valid_set = [e for e in (encode(x, tokenizer, config.max_length) for x in validation) if e.trained]
    model = add_lora(loaded, config)
    model.train()
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    total_steps = steps_per_epoch * config.n_epochs
    optimizer, schedule = optimizer_and_schedule(model, config, total_steps, device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    # fp16 weights (a GPU without bf16): the loss is scaled so small gradients do not vanish
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" and loaded.model.dtype == torch.float16 else None
    result = Result()
    start, step, real_tokens = time.perf_counter(), 0, 0
    best = BestWeights(config.early_stopping_patience) if config.early_stopping_patience and valid_set else None
    with fused_lora(model):  # the same sums, one autograd step per LoRA layer
        for epoch in range(1, config.n_epochs + 1):
            for batch in batches(train_set, config.batch_size, rng):
                stop = callbacks.should_stop()
                if stop if ranks is None else ranks_module.any_rank(stop, device):
                    raise Stopped()
                share = batch if ranks is None else ranks.share(batch)
                loss_sum, correct, counted, losses = _step(model, share, sum(e.targets for e in batch), pad_id, scaler)
                if ranks is not None:
                    ranks_module.sum_gradients(trainable)
                    loss_sum, right, total = ranks_module.sum_figures(loss_sum, correct, counted, device=device)
                    correct, counted = int(right), int(total)
                    losses = ranks_module.gather(losses)
                for index, value in losses:
                    result.example_losses.setdefault(index, []).append(value)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                if ranks is not None:
                    ranks_module.check_same_weights(trainable, device)
                step += 1
                tokens = sum(len(e.input_ids) for e in batch)
                real_tokens += tokens
                metrics = StepMetrics(step, total_steps, epoch, loss_sum / max(1, counted), correct / max(1, counted),
                                      tokens=tokens)  # fmt: skip
                if valid_set and step % steps_per_epoch == 0:
                    metrics.valid_loss, metrics.valid_mean_token_accuracy = evaluate(model, valid_set, pad_id, device)
                result.steps.append(metrics)
                callbacks.on_step(metrics)
            callbacks.on_epoch_end(epoch, step, model)
            valid_loss = result.steps[-1].valid_loss if result.steps else None
            if best is not None and valid_loss is not None and best.should_stop(epoch, valid_loss, model):
                if epoch < config.n_epochs:
                    result.stopped_after_epoch = epoch
                break
    result.trained_tokens = epoch * sum(len(e.input_ids) for e in train_set)
    if best is not None and best.epoch is not None:
        best.restore(model)
        result.best_epoch, result.best_valid_loss = best.epoch, best.loss
    result.seconds = time.perf_counter() - start
    result.tokens_per_second = real_tokens / max(1e-9, result.seconds)
    model.eval()
    return model, result
