"""Chat completions from the base model or a tuned one.

Decoding runs on llama.cpp when the base model came from a GGUF file and ``llama-cpp-python``
is installed: the base and every tuned model (adapter merged in) are written once as Q8_0
GGUF files and decode several times faster than PyTorch on a CPU. Otherwise (tiny test
models, no llama.cpp) PyTorch decodes, the adapter merged into a cached copy of the base.
The prompt is tokenised, and the answer sampled and detokenised, by the same code either way
(lib/local/decoding.py).
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import torch
from peft import PeftModel
from transformers import GenerationConfig, PreTrainedTokenizerBase
from transformers.cache_utils import DynamicLayer

from lib.local import gguf_export
from lib.local.batching import Batcher
from lib.local.chat_templates import end_of_turn_ids
from lib.local.llama_process import DecoderDiedError, LlamaCppDecoder, kept_prefix, llama_selftest
from lib.local.model_export import merged, write_gguf
from lib.local.models import Loaded, gguf_source, load, load_tokenizer, model_folder

MERGED_CACHE = 2  # tuned models kept loaded
MAX_WAITING = 8  # answers that may wait for one llama.cpp model; more are told to come back (503, Retry-After)
SERVING_GGUF = "model-q8_0-fp32-merge.gguf"  # named for how it is made: files made another way are made again
log = logging.getLogger(__name__)


class Decoder(Protocol):
    """Next-token logits: ``start`` with the prompt, then ``step`` with each token picked.

    ``start`` keeps what it can of the cache: ids that begin as the previous ones did are not computed again.
    """

    context: int

    def start(self, ids: list[int]) -> torch.Tensor: ...

    def step(self, token: int) -> torch.Tensor: ...


class TorchDecoder:
    def __init__(self, model: Any) -> None:
        self.model, self.past = model, cast(Any, None)
        self.cached: list[int] = []  # the ids whose keys and values are in ``past``
        self.device = next(model.parameters()).device
        self.context = int(getattr(model.config, "max_position_embeddings", 1 << 30))

    @torch.inference_mode()
    def _forward(self, ids: list[int]) -> torch.Tensor:
        out = self.model(input_ids=torch.tensor([ids], device=self.device), past_key_values=self.past, use_cache=True)
        self.past = out.past_key_values
        self.cached += ids
        return out.logits[0, -1].float().cpu()

    def start(self, ids: list[int]) -> torch.Tensor:
        shared = kept_prefix(self.cached, ids)
        if shared and _croppable(self.past):
            self.past.crop(shared - len(self.cached))  # a negative count: that many of the last tokens go
            self.cached = self.cached[:shared]
        else:
            self.past, self.cached, shared = None, [], 0
        return self._forward(ids[shared:])

    def step(self, token: int) -> torch.Tensor:
        return self._forward([token])


def _croppable(past: Any) -> bool:
    """Whether a cache can go back to an earlier length: every layer keeps all its keys (no sliding window)."""
    layers = list(getattr(past, "layers", None) or [])
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


@dataclass
class Served:
    """A model ready to answer: its tokenizer and how its next-token logits are computed."""

    tokenizer: PreTrainedTokenizerBase
    eos_ids: set[int]
    torch_model: Any = None  # PyTorch decoding (a new TorchDecoder per answer: thread-safe)
    fast: LlamaCppDecoder | None = None
    waiting: int = 0  # answers waiting for a llama.cpp sequence (see ``busy``)
    _count: threading.Lock = field(default_factory=threading.Lock)
    batcher: Batcher | None = None  # made with ``fast``: its answers are decoded together

    def __post_init__(self) -> None:
        if self.fast is not None and self.batcher is None:
            self.batcher = Batcher(self.fast)

    @property
    def context(self) -> int:
        """The most tokens one answer's prompt and answer may hold."""
        if self.fast is not None:
            return self.fast.context
        return int(getattr(self.torch_model.config, "max_position_embeddings", 1 << 30))

    def busy(self) -> bool:
        """Whether the queue for this model is full: a new request is then told to come back (503 Retry-After)."""
        return self.fast is not None and self.waiting >= MAX_WAITING

    @contextmanager
    def answering(self) -> Iterator[Decoder]:
        """A decoder for one answer: on llama.cpp a sequence decoded together with the other answers in progress
        (waiting while all are taken), else a PyTorch decoder of its own."""
        if self.batcher is None:
            yield TorchDecoder(self.torch_model)
            return
        with self._count:
            self.waiting += 1
        try:
            sequence = self.batcher.acquire()
        finally:
            with self._count:
                self.waiting -= 1
        try:
            yield sequence
        finally:
            self.batcher.release(sequence)

    def close(self, wait: float) -> bool:
        """Stop llama.cpp once no answer is in progress (waiting at most ``wait`` seconds); whether it stopped."""
        return self.batcher.close(wait) if self.batcher is not None else True


def _configured_eos(folder: Path) -> Any:
    """The generation config's end-of-text token(s); a brought folder may ship no generation_config.json."""
    try:
        return GenerationConfig.from_pretrained(folder).eos_token_id
    except OSError:
        return None


def _eos_ids(tokenizer: PreTrainedTokenizerBase, configured: Any) -> set[int]:
    """End-of-text, the generation config's stop tokens and the chat template's end-of-turn tokens."""
    listed = configured if isinstance(configured, list) else [configured]
    return {tokenizer.eos_token_id, *listed, *end_of_turn_ids(tokenizer)} - {None}


@dataclass(frozen=True)
class DecoderStatus:
    """Which code decodes answers on this server, and why not llama.cpp when it is not."""

    name: str  # "llama.cpp", "PyTorch", or "checking" while llama.cpp's self-test runs
    note: str = ""


class Engine:
    """Loads each base model once; tuned models are loaded on demand, the most recently used kept.

    llama.cpp decodes only after it has passed a self-test in a child process, and it always runs in a child
    process: if the test fails, or a child dies while answering, every later answer is decoded with PyTorch.
    """

    def __init__(self, models_dir: Path, base_models: dict[str, str], llama_child: Sequence[str] | None = None) -> None:
        self.models_dir, self.base_models, self.llama_child = models_dir, base_models, llama_child
        self._torch_bases: dict[str, Loaded] = {}
        self._bases: dict[str, Served] = {}
        self._tuned: OrderedDict[str, Served] = OrderedDict()
        self._lock = threading.Lock()
        self._llama_lock = threading.RLock()  # the self-test and the serving files it reads
        self._llama_tested = False
        self._llama_broken: str | None = None  # why llama.cpp is not used, once it failed
        self.stopping = threading.Event()  # set when the server shuts down: every answer ends at its next token

    def _folder(self, model_id: str) -> Path:
        return model_folder(self.models_dir, model_id, self.base_models[model_id])

    def _torch_base(self, model_id: str) -> Loaded:
        if model_id not in self._torch_bases:
            self._torch_bases[model_id] = load(self._folder(model_id))
        return self._torch_bases[model_id]

    def _gguf_models(self) -> list[str]:
        if not llama_cpp_installed():
            return []
        return [m for m, preparer in self.base_models.items() if gguf_source(m, preparer) is not None]

    def _gguf_source(self, model_id: str) -> Path:
        source = gguf_source(model_id, self.base_models[model_id])
        if source is None:
            raise ValueError(f"{model_id} comes from no GGUF file")
        return source

    def _uses_llama(self, model_id: str) -> bool:
        """Whether llama.cpp serves ``model_id`` (from a GGUF file, once it passed its self-test)."""
        return model_id in self._gguf_models() and self._llama_works(model_id)

    def _serving_file(self, model_id: str) -> Path:
        with self._llama_lock:
            path = self._folder(model_id) / SERVING_GGUF
            if not path.exists():
                gguf_export.write(self._gguf_source(model_id), path)
            return path

    def _llama_works(self, model_id: str) -> bool:
        """Whether llama.cpp passed its self-test on this machine (tested once, on the first base model asked)."""
        with self._llama_lock:
            if not self._llama_tested and self._llama_broken is None:
                reason = llama_selftest(self._serving_file(model_id), self.llama_child)
                self._llama_tested = True
                if reason is not None:
                    self._llama_died(f"llama.cpp failed its self-test on this CPU: {reason}")
            return self._llama_broken is None

    def _llama_died(self, reason: str) -> None:
        """From now on PyTorch decodes; models served by llama.cpp are reloaded when next asked."""
        if self._llama_broken is None:
            log.warning("answering with PyTorch from now on: %s", reason)
            self._llama_broken = reason

    def check_decoder(self) -> DecoderStatus:
        """Run llama.cpp's self-test now (the server does it at start, in the background) and say the outcome."""
        models = self._gguf_models()
        if models:
            self._llama_works(models[0])
        return self.decoder_status()

    def decoder_status(self) -> DecoderStatus:
        if not self._gguf_models():
            installed = llama_cpp_installed()
            return DecoderStatus(
                "PyTorch",
                "its base models have no GGUF file for llama.cpp"
                if installed
                else "llama.cpp is not installed (`make run` builds it)",
            )
        if self._llama_broken is not None:
            return DecoderStatus("PyTorch", self._llama_broken)
        return DecoderStatus("llama.cpp" if self._llama_tested else "checking")

    def _current(self, cache: dict[str, Served], model_id: str) -> Served | None:
        """The cached model, unless llama.cpp served it and has failed since."""
        served = cache.get(model_id)
        if served is not None and served.fast is not None and self._llama_broken is not None:
            del cache[model_id]
            served.close(wait=0)  # if an answer is in progress, it ends with its child
            return None
        return served

    def base(self, model_id: str) -> Served:
        with self._lock:
            served = self._current(self._bases, model_id)
            if served is None:
                served = self._bases[model_id] = self._load_base(model_id)
            return served

    def _load_base(self, model_id: str) -> Served:
        fast = self._llama(self._serving_file(model_id)) if self._uses_llama(model_id) else None
        if fast is None:
            loaded = self._torch_base(model_id)
            eos_ids = _eos_ids(loaded.tokenizer, loaded.model.generation_config.eos_token_id)
            return Served(loaded.tokenizer, eos_ids, torch_model=loaded.model)
        folder = self._folder(model_id)
        tokenizer, _ = load_tokenizer(folder)
        return Served(tokenizer, _eos_ids(tokenizer, _configured_eos(folder)), fast=fast)

    def _llama(self, path: Path) -> LlamaCppDecoder | None:
        """llama.cpp serving ``path`` in a child; None (PyTorch decodes) if the child cannot even start."""
        try:
            return LlamaCppDecoder(path, self._llama_died, self.llama_child)
        except (DecoderDiedError, OSError, RuntimeError, ValueError) as exc:
            self._llama_died(f"llama.cpp could not load {path.name}: {exc}")
            return None

    def tuned(self, model_id: str, base_id: str, adapter: Path) -> Served:
        base = self.base(base_id)
        with self._lock:
            served = self._current(self._tuned, model_id)
            if served is not None:
                self._tuned.move_to_end(model_id)
                return served
            fast = None
            if base.fast is not None and self._tuned_file(base_id, adapter) is not None:
                fast = self._llama(adapter / SERVING_GGUF)
            if fast is None:
                served = Served(base.tokenizer, base.eos_ids, torch_model=self._merged(base_id, adapter))
            else:
                served = Served(base.tokenizer, base.eos_ids, fast=fast)
            self._tuned[model_id] = served
            while len(self._tuned) > MERGED_CACHE:
                _, evicted = self._tuned.popitem(last=False)
                evicted.close(wait=0)  # its llama.cpp child stops once no answer in progress uses it
            return served

    def _tuned_file(self, base_id: str, adapter: Path) -> Path | None:
        """The tuned model's GGUF for llama.cpp, written once, exactly as an export writes it (the adapter merged in
        fp32: in bf16 the small LoRA changes would be rounded away); None where its changes cannot be written into
        the base's GGUF (an architecture whose layers GGUF names otherwise): PyTorch then serves it."""
        path = adapter / SERVING_GGUF
        if not path.exists():
            try:
                write_gguf(merged(self.models_dir, base_id, self.base_models[base_id], adapter), path)
            except gguf_export.UnmappedLayerError as exc:
                log.info("%s is served with PyTorch: %s", adapter.name, exc)
                return None
        return path

    def _merged(self, base_id: str, adapter: Path) -> Any:
        """A copy of the base with the adapter merged in: runs as fast as the base model."""
        merged: Any = PeftModel.from_pretrained(copy.deepcopy(self._torch_base(base_id).model), adapter)
        return merged.merge_and_unload().eval()

    def close(self) -> None:
        """End every answer at its next token and stop the llama.cpp children."""
        self.stopping.set()
        with self._lock:
            for served in [*self._bases.values(), *self._tuned.values()]:
                served.close(wait=5)  # once no answer is in progress
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
