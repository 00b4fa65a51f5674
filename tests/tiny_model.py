"""A tiny random llama with a byte-level tokenizer and a ChatML template: built from a config, never downloaded."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

TINY = "tiny-llama"
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def prepare(folder: Path) -> None:
    """Write a 2-layer llama (hidden 64) and its tokenizer into ``folder``."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(sorted(alphabet))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend)
    tokenizer.add_special_tokens({"eos_token": "<|im_end|>", "bos_token": "<|im_start|>", "pad_token": "<|endoftext|>"})
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _tokenizer(special: dict[str, str], extra: list[str], template: str | None) -> PreTrainedTokenizerFast:
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    backend = Tokenizer(models.BPE(vocab={token: i for i, token in enumerate(sorted(alphabet))}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend)
    tokenizer.add_special_tokens({**special, "additional_special_tokens": extra})
    if template is not None:
        tokenizer.chat_template = template
    return tokenizer


def brought_folder(folder: Path, architecture: str) -> Path:
    """A tiny random model of ``architecture`` (llama, qwen2, gemma3_text) as a user would bring it: a Hugging Face
    folder; the Qwen2 and Gemma 3 ones ship no chat template (a pretrained base model's usual state)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if architecture == "qwen2":
        tokenizer = _tokenizer({"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
                               ["<|im_start|>", "<|im_end|>"], None)  # fmt: skip
    elif architecture == "gemma3_text":
        tokenizer = _tokenizer({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"},
                               ["<start_of_turn>", "<end_of_turn>"], None)  # fmt: skip
    else:
        tokenizer = _tokenizer({"eos_token": "<|im_end|>", "bos_token": "<|im_start|>", "pad_token": "<|endoftext|>"},
                               [], CHATML)  # fmt: skip
    sizes = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "max_position_embeddings": 2048}  # fmt: skip
    if architecture == "gemma3_text":
        sizes |= {"head_dim": 16, "sliding_window": 64}
    config = AutoConfig.for_model(
        architecture,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **sizes,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny model's tokenizer (one token per byte, ChatML), without a model."""
    return _tokenizer({"eos_token": "<|im_end|>", "bos_token": "<|im_start|>", "pad_token": "<|endoftext|>"},
                      [], CHATML)  # fmt: skip
