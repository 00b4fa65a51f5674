"""Chat completions from the base model or a tuned one (its LoRA adapter merged into a cached copy)."""

from __future__ import annotations

import copy
import random
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

from lib.local.models import Loaded, load, model_folder

MERGED_CACHE = 2  # tuned models kept merged in memory


@dataclass
class Sampling:
    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class Piece:
    text: str  # new text since the previous piece
    finish_reason: str | None = None  # "stop" or "length" on the last piece
    tokens: int = 0  # tokens generated so far


class Engine:
    """Loads each base model once; tuned models are merged copies, the most recently used kept."""

    def __init__(self, models_dir: Path, base_models: dict[str, str]) -> None:
        self.models_dir, self.base_models = models_dir, base_models
        self._bases: dict[str, Loaded] = {}
        self._merged: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def base(self, model_id: str) -> Loaded:
        with self._lock:
            if model_id not in self._bases:
                self._bases[model_id] = load(model_folder(self.models_dir, model_id, self.base_models[model_id]))
            return self._bases[model_id]

    def tuned(self, model_id: str, base_id: str, adapter: Path) -> Loaded:
        base = self.base(base_id)
        with self._lock:
            if model_id in self._merged:
                self._merged.move_to_end(model_id)
                return self._merged[model_id]
            merged: Any = PeftModel.from_pretrained(copy.deepcopy(base.model), adapter)
            model = merged.merge_and_unload().eval()  # merged: runs as fast as the base model
            self._merged[model_id] = Loaded(model, base.tokenizer)
            while len(self._merged) > MERGED_CACHE:
                self._merged.popitem(last=False)
            return self._merged[model_id]


def prompt_ids(loaded: Loaded, messages: list[dict[str, Any]]) -> list[int]:
    plain = [{"role": m["role"], "content": _text(m.get("content"))} for m in messages]
    text = str(loaded.tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True))
    return list(loaded.tokenizer.encode(text, add_special_tokens=False))


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


@torch.inference_mode()
def generate(loaded: Loaded, ids: list[int], sampling: Sampling, stop_at_end: bool = True) -> Iterator[Piece]:
    """Decode token by token with a KV cache, yielding text as soon as it is complete characters.

    ``stop_at_end=False`` goes on past the end-of-turn token (for benchmarks that need a fixed length).
    """
    model, tokenizer = loaded.model, loaded.tokenizer
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(sampling.seed if sampling.seed is not None else random.getrandbits(63))
    configured = model.generation_config.eos_token_id
    stop_ids = {tokenizer.eos_token_id, *(configured if isinstance(configured, list) else [configured])} - {None}
    inputs = torch.tensor([ids], device=device)
    past: Any = None
    produced: list[int] = []
    text_so_far = ""
    for _ in range(sampling.max_tokens):
        out = model(input_ids=inputs, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[0, -1].float()
        token = _pick(logits, sampling, generator)
        if token in stop_ids and stop_at_end:
            yield Piece("", "stop", len(produced))
            return
        produced.append(token)
        text = str(tokenizer.decode(produced, skip_special_tokens=True))
        if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
            for stop in sampling.stop:
                if stop and stop in text:
                    cut = text[: text.index(stop)]
                    yield Piece(cut[len(text_so_far) :], "stop", len(produced))
                    return
            yield Piece(text[len(text_so_far) :], None, len(produced))
            text_so_far = text
        inputs = torch.tensor([[token]], device=device)
    yield Piece("", "length", len(produced))


def _pick(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> int:
    if sampling.temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < sampling.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))
