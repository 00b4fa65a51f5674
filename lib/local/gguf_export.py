"""GGUF files for llama.cpp: the shipped base model, and tuned models with their adapter merged in.

Serving decodes with llama.cpp (several times faster than PyTorch on a CPU). Both the base and
every tuned model are written as Q8_0 (8-bit blocks of 32, error far below what LoRA changes) so
they run at the same speed. A tuned model's file is the base GGUF with, for each linear layer
the adapter touched, ``dequantised base + (merged - base)`` quantised again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

SERVING_TYPE_NAME = "Q8_0"

# Hugging Face llama module names -> GGUF tensor names (llama.cpp's convert script).
_HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.(.+)$")
PERMUTED_ARCHITECTURES = ("llama",)  # llama.cpp's converter interleaves q and k rows for these only


class UnmappedLayerError(ValueError):
    """The adapter changed a layer that has no known GGUF tensor name: the merged file would miss it."""


def gguf_name(module_name: str) -> str | None:
    """``model.layers.3.self_attn.q_proj`` -> ``blk.3.attn_q.weight`` (None for modules GGUF names otherwise)."""
    found = _LAYER.search(module_name)
    if not found or found.group(2) not in _HF_TO_GGUF:
        return None
    return f"blk.{found.group(1)}.{_HF_TO_GGUF[found.group(2)]}.weight"


def to_gguf_layout(name: str, weight: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    """llama.cpp stores q and k rows interleaved for its rotary embedding (the convert script's permute)."""
    heads = n_head if name.endswith("attn_q.weight") else n_head_kv if name.endswith("attn_k.weight") else 0
    if not heads:
        return weight
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def adapter_deltas(base: torch.nn.Module, merged: torch.nn.Module) -> dict[str, np.ndarray]:
    """What merging the adapter changed, per linear weight, by GGUF tensor name (Hugging Face layout)."""
    merged_weights = dict(merged.named_modules())
    deltas: dict[str, np.ndarray] = {}
    for module_name, module in base.named_modules():
        target = gguf_name(module_name)
        other = merged_weights.get(module_name)
        if not isinstance(module, torch.nn.Linear) or not isinstance(other, torch.nn.Linear):
            continue
        delta = (other.weight.detach().float() - module.weight.detach().float()).cpu().numpy()
        if not np.any(delta):
            continue
        if target is None:
            raise UnmappedLayerError(f"no GGUF tensor name for the changed layer {module_name}")
        deltas[target] = delta
    return deltas


def write(
    source: Path, target: Path, deltas: dict[str, np.ndarray] | None = None, type_name: str = SERVING_TYPE_NAME
) -> Path:
    """Write ``source`` (a GGUF) to ``target`` in Q8_0 (or F16), adding ``deltas`` (HF layout) to their tensors."""
    import gguf

    reader = gguf.GGUFReader(source)
    arch = str(reader.fields["general.architecture"].contents())
    permuted = arch in PERMUTED_ARCHITECTURES
    n_head = int(reader.fields[f"{arch}.attention.head_count"].contents()) if permuted else 0
    n_head_kv = int(reader.fields[f"{arch}.attention.head_count_kv"].contents()) if permuted else 0
    serving_type = gguf.GGMLQuantizationType[type_name]
    partial = target.with_name(f".{target.name}.partial")
    writer = gguf.GGUFWriter(partial, arch=arch)
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF.") or field.name == "general.file_type":
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if type_name == "F16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    remaining = dict(deltas or {})
    for tensor in reader.tensors:
        data: Any = tensor.data
        kind = tensor.tensor_type
        if kind not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16) or tensor.name in remaining:
            weights = gguf.quants.dequantize(data, kind)
            if tensor.name in remaining:
                weights = weights + to_gguf_layout(tensor.name, remaining.pop(tensor.name), n_head, n_head_kv)
            if serving_type == gguf.GGMLQuantizationType.F16:
                data, kind = weights.astype(np.float16), serving_type
            else:
                data, kind = gguf.quants.quantize(weights.astype(np.float32), serving_type), serving_type
        writer.add_tensor(tensor.name, data, raw_dtype=kind)
    if remaining:
        raise ValueError(f"The model file has no tensors {', '.join(sorted(remaining))}.")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.rename(target)
    return target
