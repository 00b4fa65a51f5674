"""Base models users bring: a Hugging Face folder or a GGUF file, checked before anything trains.

A brought model is refused with one line when its path holds no model, when transformers cannot load its
architecture as a text generator, or when training it would not fit this machine's memory. Accepted ones are
remembered in the server's data folder (``base-models.json``) and offered again after a restart.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lib.local.chat_templates import OWN, family_template

FOLDER, GGUF = "folder:", "gguf:"  # how a brought model's reference (in ServerSettings.base_models) begins
REGISTRY = "base-models.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_GIB = 2**30


class BaseModelRefusedError(ValueError):
    """A path that cannot be a base model here; the message is the one line to show."""


@dataclass(frozen=True)
class BroughtModel:
    name: str
    path: str
    kind: str  # "folder" or "gguf"
    architecture: str  # transformers' model_type (llama, qwen2, gemma3_text …)
    parameters: int
    template: str  # the chat template it trains and answers with, in words (chat_templates.py)

    @property
    def reference(self) -> str:
        return (FOLDER if self.kind == "folder" else GGUF) + self.path


def check_name(name: str, taken: set[str]) -> None:
    if not _NAME.fullmatch(name):
        raise BaseModelRefusedError(
            f"'{name}' cannot be a model id: use letters, digits, '.', '-' or '_' (up to 64, no ':')."
        )
    if name in taken:
        raise BaseModelRefusedError(f"A base model named '{name}' is already offered: choose another name.")


def inspect(name: str, path: Path) -> BroughtModel:
    """What ``path`` holds, or BaseModelRefusedError saying why it is not a model transformers can train."""
    path = path.expanduser().resolve()
    if not path.exists():
        raise BaseModelRefusedError(f"Nothing at {path}: give the path of a model folder or a .gguf file.")
    if path.is_file():
        return _inspect_gguf(name, path)
    return _inspect_folder(name, path)


def _inspect_folder(name: str, path: Path) -> BroughtModel:
    from safetensors import safe_open
    from transformers import AutoConfig, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if not (path / "config.json").is_file():
        raise BaseModelRefusedError(
            f"{path} is not a model folder: it has no config.json (a Hugging Face model folder holds config.json, "
            "*.safetensors weights and a tokenizer)."
        )
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    except (ValueError, KeyError, OSError) as exc:
        raise BaseModelRefusedError(f"transformers cannot read {path / 'config.json'}: {_first_line(exc)}") from exc
    architecture = str(config.model_type)
    if architecture not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise BaseModelRefusedError(
            f"Architecture '{architecture}' is not a text generator transformers can train (it loads "
            "Llama, Qwen, Gemma, Mistral, Phi, GPT-2 and many more)."
        )
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        pickled = any(path.glob("*.bin")) or any(path.glob("*.pt"))
        raise BaseModelRefusedError(
            f"{path} has no *.safetensors weights"
            + (": its .bin weights are Python pickles, which can run code, so they are not loaded." if pickled else ".")
        )
    parameters = 0
    for file in weights:
        with safe_open(str(file), framework="pt") as tensors:
            for key in tensors.keys():  # noqa: SIM118 (safe_open is not a mapping)
                shape = tensors.get_slice(key).get_shape()
                parameters += _product(shape)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (ValueError, KeyError, OSError, TypeError) as exc:
        raise BaseModelRefusedError(f"{path} has no tokenizer transformers can load: {_first_line(exc)}") from exc
    template = OWN if tokenizer.chat_template else family_template(architecture, tokenizer.get_vocab(),
                                                                  tokenizer.eos_token)[0]  # fmt: skip
    return BroughtModel(name, str(path), "folder", architecture, parameters, template)


def _inspect_gguf(name: str, path: Path) -> BroughtModel:
    import gguf
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    with path.open("rb") as stream:
        if stream.read(4) != b"GGUF":
            raise BaseModelRefusedError(f"{path} is not a GGUF file (nor a model folder).")
    try:
        reader = gguf.GGUFReader(path)
        architecture = str(reader.fields["general.architecture"].contents())
    except (ValueError, KeyError, OSError) as exc:
        raise BaseModelRefusedError(f"{path} is not a readable GGUF file: {_first_line(exc)}") from exc
    if architecture not in GGUF_CONFIG_MAPPING:
        readable = ", ".join(sorted(a for a in GGUF_CONFIG_MAPPING if a not in ("general", "tokenizer")))
        raise BaseModelRefusedError(
            f"transformers cannot train a GGUF of architecture '{architecture}'; it reads {readable}."
        )
    parameters = sum(int(tensor.n_elements) for tensor in reader.tensors)
    template = OWN
    if "tokenizer.chat_template" not in reader.fields:
        tokens = reader.fields.get("tokenizer.ggml.tokens")
        vocabulary = set(tokens.contents()) if tokens is not None else set()
        eos_field = reader.fields.get("tokenizer.ggml.eos_token_id")
        eos_id = int(eos_field.contents()) if eos_field is not None else None
        eos = tokens.contents()[eos_id] if tokens is not None and eos_id is not None else None
        template = family_template(architecture, vocabulary, eos)[0]
    return BroughtModel(name, str(path), "gguf", architecture, parameters, template)


def _product(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= int(size)
    return total


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def training_bytes(parameters: int, bytes_per_weight: int) -> int:
    """What LoRA training needs, roughly: the frozen weights at ``bytes_per_weight``, adapters of about 1 % of
    the parameters with their gradients and AdamW moments in fp32 (16 bytes each), and as much again as the
    weights for activations and the runtime (batches of a few thousand tokens)."""
    weights = parameters * bytes_per_weight
    adapters = parameters // 100 * 16
    return int(weights * 2 + adapters)


def available_bytes() -> tuple[int, str]:
    """Free memory where training would run: the GPU's when there is one, else the machine's."""
    import torch

    if torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        return int(free), f"free on {torch.cuda.get_device_name()}"
    import psutil

    return int(psutil.virtual_memory().available), "available on this machine"


def memory_refusal(model: BroughtModel, bytes_per_weight: int, free: int, where: str) -> str | None:
    """One line refusing ``model`` when training it would not fit in ``free`` bytes; None when it fits."""
    needed = training_bytes(model.parameters, bytes_per_weight)
    if needed <= free:
        return None
    return (
        f"'{model.name}' is too large to train here: {model.parameters / 1e9:.2f} billion parameters need about "
        f"{needed / _GIB:.1f} GiB ({bytes_per_weight} bytes a weight + adapters, optimizer and activations), "
        f"{free / _GIB:.1f} GiB {where}. Choose a smaller model, or run the server on a machine with a GPU."
    )


def remembered(data_dir: Path) -> dict[str, BroughtModel]:
    """The base models added earlier, by name (an unreadable registry is empty, not a crash)."""
    try:
        listed = json.loads((data_dir / REGISTRY).read_text())
        return {name: BroughtModel(**fields) for name, fields in listed.items()}
    except (OSError, ValueError, TypeError):
        return {}


def remember(data_dir: Path, model: BroughtModel) -> None:
    _write(data_dir, remembered(data_dir) | {model.name: model})


def _write(data_dir: Path, known: dict[str, BroughtModel]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = data_dir / f".{REGISTRY}.partial"
    partial.write_text(json.dumps({name: asdict(m) for name, m in known.items()}, indent=2))
    os.replace(partial, data_dir / REGISTRY)


def forget(data_dir: Path, name: str) -> None:
    known = remembered(data_dir)
    if known.pop(name, None) is not None:
        _write(data_dir, known)


def add(data_dir: Path, name: str, path: Path, offered: set[str], bytes_per_weight: int) -> BroughtModel:
    """Check a model and remember it; BaseModelRefusedError (one line) when it cannot be trained here.

    Adding the same name with the same path again (``--base-model`` at every start) checks it again."""
    earlier = remembered(data_dir).get(name)
    again = earlier is not None and Path(earlier.path) == path.expanduser().resolve()
    check_name(name, offered - {name} if again else offered)
    model = inspect(name, path)
    free, where = available_bytes()
    if (refusal := memory_refusal(model, bytes_per_weight, free, where)) is not None:
        raise BaseModelRefusedError(refusal)
    remember(data_dir, model)
    return model


def describe(model: BroughtModel) -> dict[str, Any]:
    """The model's entry in ``/v1/models`` beside the standard fields."""
    return {"source": model.kind, "path": model.path, "architecture": model.architecture,
            "parameters": model.parameters, "chat_template": model.template}  # fmt: skip


def offered(settings_models: dict[str, str], data_dir: Path) -> dict[str, str]:
    """Every base model the server offers, by id: the shipped ones and those added (also since this process
    started: the training worker reads the registry again), each with its preparing reference."""
    return {**settings_models, **{name: m.reference for name, m in remembered(data_dir).items()}}
