"""Chat completions from the base model or a tuned one.

Decoding runs on llama.cpp when the base model came from a GGUF file and ``llama-cpp-python``
is installed: the base and every tuned model (adapter merged in) are written once as Q8_0
GGUF files and decode several times faster than PyTorch on a CPU. Otherwise (tiny test
models, no llama.cpp) PyTorch decodes, the adapter merged into a cached copy of the base.
The prompt is tokenised, and the answer sampled and detokenised, by the same code either way.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import random
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoTokenizer, GenerationConfig, PreTrainedTokenizerBase

from lib.local import gguf_export
from lib.local.models import GGUF_SOURCES, Loaded, load, model_folder

MERGED_CACHE = 2  # tuned models kept loaded
SERVING_GGUF = "model-q8_0.gguf"


class PromptTooLongError(ValueError):
    """The prompt does not fit the model's context."""


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


class Decoder(Protocol):
    """Next-token logits: ``start`` with the prompt, then ``step`` with each token picked."""

    context: int

    def start(self, ids: list[int]) -> torch.Tensor: ...

    def step(self, token: int) -> torch.Tensor: ...


class TorchDecoder:
    def __init__(self, model: Any) -> None:
        self.model, self.past = model, None
        self.device = next(model.parameters()).device
        self.context = int(getattr(model.config, "max_position_embeddings", 1 << 30))

    @torch.inference_mode()
    def _forward(self, ids: list[int]) -> torch.Tensor:
        out = self.model(input_ids=torch.tensor([ids], device=self.device), past_key_values=self.past, use_cache=True)
        self.past = out.past_key_values
        return out.logits[0, -1].float().cpu()

    def start(self, ids: list[int]) -> torch.Tensor:
        self.past = None
        return self._forward(ids)

    def step(self, token: int) -> torch.Tensor:
        return self._forward([token])


class LlamaCppDecoder:
    """One llama.cpp model and its context. Not thread-safe: hold ``lock`` for a whole answer."""

    def __init__(self, path: Path) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=0, n_batch=512, n_threads=os.cpu_count() or 1, verbose=False
        )
        self.context, self.vocab = self.llm.n_ctx(), self.llm.n_vocab()
        self.lock = threading.Lock()

    def _logits(self) -> torch.Tensor:
        logits = np.ctypeslib.as_array(self._lib.llama_get_logits(self.llm.ctx), shape=(self.vocab,))
        return torch.from_numpy(logits.copy())

    def start(self, ids: list[int]) -> torch.Tensor:
        # Keep the cache of the longest prefix shared with the previous prompt (few-shot prompts repeat).
        cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
        shared = next((i for i, (old, new) in enumerate(zip(cached, ids, strict=False)) if old != new), len(cached))
        self.llm.n_tokens = min(shared, len(ids) - 1)  # at least one token is evaluated, for its logits
        self.llm.eval(ids[self.llm.n_tokens :])
        return self._logits()

    def step(self, token: int) -> torch.Tensor:
        self.llm.eval([token])
        return self._logits()

    def close(self) -> None:
        self.llm.close()


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


@dataclass
class Served:
    """A model ready to answer: its tokenizer and how its next-token logits are computed."""

    tokenizer: PreTrainedTokenizerBase
    eos_ids: set[int]
    torch_model: Any = None  # PyTorch decoding (a new TorchDecoder per answer: thread-safe)
    fast: LlamaCppDecoder | None = None

    def decoder(self) -> Decoder:
        return self.fast if self.fast is not None else TorchDecoder(self.torch_model)

    def exclusive(self) -> AbstractContextManager[Any]:
        """Held for a whole answer: a llama.cpp context serves one answer at a time."""
        return self.fast.lock if self.fast is not None else nullcontext()


def _eos_ids(tokenizer: PreTrainedTokenizerBase, configured: Any) -> set[int]:
    return {tokenizer.eos_token_id, *(configured if isinstance(configured, list) else [configured])} - {None}


class Engine:
    """Loads each base model once; tuned models are loaded on demand, the most recently used kept."""

    def __init__(self, models_dir: Path, base_models: dict[str, str]) -> None:
        self.models_dir, self.base_models = models_dir, base_models
        self._torch_bases: dict[str, Loaded] = {}
        self._bases: dict[str, Served] = {}
        self._tuned: OrderedDict[str, Served] = OrderedDict()
        self._lock = threading.Lock()

    def _folder(self, model_id: str) -> Path:
        return model_folder(self.models_dir, model_id, self.base_models[model_id])

    def _torch_base(self, model_id: str) -> Loaded:
        if model_id not in self._torch_bases:
            self._torch_bases[model_id] = load(self._folder(model_id))
        return self._torch_bases[model_id]

    def _gguf_source(self, model_id: str) -> Path | None:
        source = GGUF_SOURCES.get(model_id)
        return source() if source is not None and llama_cpp_installed() else None

    def base(self, model_id: str) -> Served:
        with self._lock:
            if model_id not in self._bases:
                self._bases[model_id] = self._load_base(model_id)
            return self._bases[model_id]

    def _load_base(self, model_id: str) -> Served:
        source = self._gguf_source(model_id)
        if source is None:
            loaded = self._torch_base(model_id)
            eos_ids = _eos_ids(loaded.tokenizer, loaded.model.generation_config.eos_token_id)
            return Served(loaded.tokenizer, eos_ids, torch_model=loaded.model)
        folder = self._folder(model_id)
        path = folder / SERVING_GGUF
        if not path.exists():
            gguf_export.write(source, path)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        eos_ids = _eos_ids(tokenizer, GenerationConfig.from_pretrained(folder).eos_token_id)
        return Served(tokenizer, eos_ids, fast=LlamaCppDecoder(path))

    def tuned(self, model_id: str, base_id: str, adapter: Path) -> Served:
        base = self.base(base_id)
        with self._lock:
            if model_id in self._tuned:
                self._tuned.move_to_end(model_id)
                return self._tuned[model_id]
            source = self._gguf_source(base_id)
            if source is None:
                served = Served(base.tokenizer, base.eos_ids, torch_model=self._merged(base_id, adapter))
            else:
                path = adapter / SERVING_GGUF
                if not path.exists():
                    deltas = gguf_export.adapter_deltas(self._torch_base(base_id).model, self._merged(base_id, adapter))
                    gguf_export.write(source, path, deltas)
                    del self._torch_bases[base_id]  # only needed to write the next tuned model's file
                served = Served(base.tokenizer, base.eos_ids, fast=LlamaCppDecoder(path))
            self._tuned[model_id] = served
            while len(self._tuned) > MERGED_CACHE:
                self._tuned.popitem(last=False)  # freed once no answer in progress holds it
            return served

    def _merged(self, base_id: str, adapter: Path) -> Any:
        """A copy of the base with the adapter merged in: runs as fast as the base model."""
        merged: Any = PeftModel.from_pretrained(copy.deepcopy(self._torch_base(base_id).model), adapter)
        return merged.merge_and_unload().eval()

    def close(self) -> None:
        """Free the llama.cpp models now (at interpreter exit their finalisers fail noisily)."""
        with self._lock:
            for served in [*self._bases.values(), *self._tuned.values()]:
                if served.fast is not None and served.fast.lock.acquire(timeout=5):  # not mid-answer
                    served.fast.close()
            self._bases.clear()
            self._tuned.clear()


def prompt_ids(served: Served | Loaded, messages: list[dict[str, Any]]) -> list[int]:
    plain = [{"role": m["role"], "content": _text(m.get("content"))} for m in messages]
    text = str(served.tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True))
    return list(served.tokenizer.encode(text, add_special_tokens=False))


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def generate(served: Served, ids: list[int], sampling: Sampling, stop_at_end: bool = True) -> Iterator[Piece]:
    """Decode token by token with a KV cache, yielding text as soon as it is complete characters.

    Raises PromptTooLongError at once (not on the first piece) when the prompt leaves no room.
    ``stop_at_end=False`` goes on past the end-of-turn token (for benchmarks that need a fixed length).
    """
    decoder = served.decoder()
    if len(ids) >= decoder.context:
        raise PromptTooLongError(
            f"The prompt is {len(ids)} tokens; this model reads at most {decoder.context - 1} tokens plus its answer."
        )
    return _decode(served, decoder, ids, sampling, stop_at_end)


def _decode(served: Served, decoder: Decoder, ids: list[int], sampling: Sampling, stop_at_end: bool) -> Iterator[Piece]:
    generator = torch.Generator()
    generator.manual_seed(sampling.seed if sampling.seed is not None else random.getrandbits(63))
    budget = min(sampling.max_tokens, decoder.context - len(ids))
    produced: list[int] = []
    text_so_far = ""
    with served.exclusive(), torch.inference_mode():
        logits = decoder.start(ids)
        while True:
            token = _pick(logits, sampling, generator)
            if token in served.eos_ids and stop_at_end:
                yield Piece("", "stop", len(produced))
                return
            produced.append(token)
            text = str(served.tokenizer.decode(produced, skip_special_tokens=True))
            if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
                for stop in sampling.stop:
                    if stop and stop in text:
                        cut = text[: text.index(stop)]
                        yield Piece(cut[len(text_so_far) :], "stop", len(produced))
                        return
                yield Piece(text[len(text_so_far) :], None, len(produced))
                text_so_far = text
            if len(produced) >= budget:
                yield Piece("", "length", len(produced))
                return
            logits = decoder.step(token)


def _pick(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> int:
    if sampling.temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < sampling.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))
