"""A model of the local server taken anywhere: a merged Hugging Face folder, a GGUF file, an Ollama bundle.

The adapter is merged into the base weights (fp32), so every format answers as the server does. A GGUF comes
from the base's own GGUF where it has one (its metadata, chat template and special tokens kept; the adapter's
changes added to its tensors), else it is written from the merged Llama-family folder; other architectures
from a folder are refused with what to do instead.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lib.local import gguf_export
from lib.local.chat_templates import END_OF_TURN_MARKERS, end_of_turn_ids
from lib.local.models import Loaded, gguf_source, load, model_folder

FORMATS = ("gguf", "hf", "ollama")
QUANTS = ("q8_0", "f16")


class ExportError(ValueError):
    """The model cannot be exported in that format; the message says what to do instead."""


@dataclass
class Merged:
    loaded: Loaded  # the base with the adapter merged in, fp32 on the CPU
    base_id: str
    base_reference: str  # how the server prepares the base (module:function, folder:…, gguf:…)
    base_folder: Path  # the base's Hugging Face folder


def merged(models_dir: Path, base_id: str, base_reference: str, adapter: Path | None) -> Merged:
    """The base model with ``adapter`` merged in (None: the base itself)."""
    from peft import PeftModel

    folder = model_folder(models_dir, base_id, base_reference)
    loaded = load(folder, torch.device("cpu"), torch.float32)
    if adapter is not None:
        loaded.model = PeftModel.from_pretrained(loaded.model, adapter).merge_and_unload()
    loaded.model.eval()
    return Merged(loaded, base_id, base_reference, folder)


def write_hf(found: Merged, folder: Path) -> Path:
    """A folder ``AutoModelForCausalLM.from_pretrained`` loads: safetensors, tokenizer (with its chat template),
    and a generation config whose stop tokens include the end-of-turn ones."""
    model: Any = found.loaded.model
    stops = sorted({*_listed(model.generation_config.eos_token_id), *end_of_turn_ids(found.loaded.tokenizer)})
    model.generation_config.eos_token_id = stops if len(stops) > 1 else stops[0] if stops else None
    model.save_pretrained(folder, safe_serialization=True)
    found.loaded.tokenizer.save_pretrained(folder)
    return folder


def _listed(value: Any) -> list[int]:
    return [int(v) for v in (value if isinstance(value, list) else [value]) if v is not None]


def write_gguf(found: Merged, path: Path, quant: str = "q8_0") -> Path:
    """The merged model as one GGUF file llama.cpp loads, with its chat template and special tokens."""
    source = gguf_source(found.base_id, found.base_reference)
    if source is not None:
        base = load(found.base_folder, torch.device("cpu"), torch.float32)
        deltas = gguf_export.adapter_deltas(base.model, found.loaded.model)
        return gguf_export.write(source, path, deltas, quant.upper())
    if getattr(found.loaded.model.config, "model_type", "") not in ("llama", "mistral"):
        raise ExportError(
            f"GGUF export of a {found.loaded.model.config.model_type} model from a Hugging Face folder is not built: "
            "export format=hf and convert it with llama.cpp's convert_hf_to_gguf.py."
        )
    return _llama_gguf(found, path, quant)


def _llama_gguf(found: Merged, path: Path, quant: str) -> Path:
    """A Llama-architecture folder written as GGUF the way llama.cpp's converter writes it (q and k rows
    interleaved for its rotary embedding; a byte-level BPE vocabulary)."""
    import gguf

    model: Any = found.loaded.model
    tokenizer = found.loaded.tokenizer
    config = model.config
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    partial = path.with_name(f".{path.name}.partial")
    writer = gguf.GGUFWriter(partial, "llama")
    writer.add_name(found.base_id)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_rope_dimension_count(getattr(config, "head_dim", None) or config.hidden_size // heads)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_theta") or getattr(config, "rope_theta", None)
    writer.add_rope_freq_base(float(rope or 10000.0))
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if quant == "q8_0" else gguf.LlamaFileType.MOSTLY_F16)
    _vocabulary(writer, tokenizer, config.vocab_size)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    state = model.state_dict()
    if "lm_head.weight" in state and getattr(config, "tie_word_embeddings", False):
        del state["lm_head.weight"]  # tied: llama.cpp reuses the token embeddings
    for name, tensor in state.items():
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise ExportError(f"No GGUF name for the tensor {name}.")
        data = gguf_export.to_gguf_layout(target, tensor.detach().float().numpy(), heads, kv_heads)
        encoded, kind = _encoded(data, quant)
        writer.add_tensor(target, encoded, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.rename(path)
    return path


def _encoded(data: np.ndarray, quant: str) -> tuple[np.ndarray, Any]:
    import gguf

    if data.ndim == 1:
        return data.astype(np.float32), None  # norms stay fp32, as llama.cpp's converter keeps them
    if quant == "q8_0" and data.shape[-1] % 32 == 0:
        kind = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.quantize(data.astype(np.float32), kind), kind
    return data.astype(np.float16), None


def _vocabulary(writer: Any, tokenizer: Any, size: int) -> None:
    import gguf

    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    added = tokenizer.get_added_vocab()
    special = set(tokenizer.all_special_tokens)
    tokens, types = [], []
    for i in range(size):
        token = by_id.get(i, f"[PAD{i}]")
        tokens.append(token)
        if i not in by_id:
            types.append(gguf.TokenType.UNUSED)
        elif token in added:
            types.append(gguf.TokenType.CONTROL if token in special else gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(_merges(tokenizer, tokens))
    for kind in ("bos", "eos", "pad"):
        token_id = getattr(tokenizer, f"{kind}_token_id")
        if token_id is not None:
            getattr(writer, f"add_{kind}_token_id")(int(token_id))
    stops = sorted(end_of_turn_ids(tokenizer) - {tokenizer.eos_token_id})
    if stops:
        writer.add_eot_token_id(stops[0])
    if tokenizer.chat_template:
        writer.add_chat_template(str(tokenizer.chat_template))


def _merges(tokenizer: Any, tokens: list[str]) -> list[str]:
    """The byte-level BPE merges as "a b" lines; llama.cpp refuses a BPE vocabulary without any, so a vocabulary
    that has none (bytes only) gets one that joins two of its tokens and changes no tokenisation of note."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    model = json.loads(backend.to_str()).get("model", {}) if backend is not None else {}
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return merges or [f"{tokens[0]} {tokens[1]}"]


# ---- Ollama ---------------------------------------------------------------------------------------------

_GO_TEMPLATES = {
    "<|im_start|>": '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
                    '<|im_start|>assistant\n',
    "<start_of_turn>": "{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}user"
                       "{{ end }}\n{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n",
    "<|start_header_id|>": "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
                           "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
}  # fmt: skip


def modelfile(gguf_name: str, tokenizer: Any, system: str | None) -> str:
    """An Ollama Modelfile: FROM the GGUF beside it, a TEMPLATE equivalent to the model's chat template, its
    end-of-turn tokens as stops, and the training system prompt when every example shared one."""
    template = str(tokenizer.chat_template or "")
    go = next((t for marker, t in _GO_TEMPLATES.items() if marker in template), _GO_TEMPLATES["<|im_start|>"])
    stops = [m for m in END_OF_TURN_MARKERS if m in template] or [tokenizer.eos_token]
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{go}"""']
    lines += [f'PARAMETER stop "{stop}"' for stop in stops if stop]
    lines += ["PARAMETER temperature 0"]
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


def shared_system(examples: Iterable[Any]) -> str | None:
    """The system prompt every training example shares, if they all share one."""
    seen = set()
    for example in examples:
        messages = example.get("messages", []) if isinstance(example, dict) else []
        system = next((m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "system"), None)
        seen.add(system)
        if len(seen) > 1:
            return None
    [only] = seen or {None}
    return str(only) if only else None


def write_ollama(found: Merged, bundle: Path, name: str, system: str | None, quant: str = "q8_0") -> Path:
    """A zip: the GGUF, a Modelfile naming it, and a README with the two commands."""
    work = bundle.with_suffix(".parts")
    work.mkdir(parents=True, exist_ok=True)
    try:
        gguf_file = write_gguf(found, work / f"{name}.gguf", quant)
        readme = (f"# {name}\n\nA model tuned with Tuning Studio, for Ollama:\n\n"
                  f"    ollama create {name} -f Modelfile\n    ollama run {name}\n")  # fmt: skip
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as archive:
            archive.write(gguf_file, gguf_file.name)
            archive.writestr("Modelfile", modelfile(gguf_file.name, found.loaded.tokenizer, system))
            archive.writestr("README.md", readme)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return bundle


def zip_folder(folder: Path, bundle: Path) -> Path:
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, str(file.relative_to(folder.parent)))
    return bundle
