"""Answers token by token: the decoding loop of a chat completion, plain or to a rhyme scheme.

Both loops ask a model's decoder (``Served.answering``: PyTorch, or a llama.cpp sequence decoded together with the
other answers in progress) for the next token's logits, pick a token, and yield text as soon as it is complete
characters. The rhymed loop holds each line until it ends and gives it its rhyme first (``lib.local.rhyme_guide``).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from lib.local.rhyme_guide import Ending, RhymeGuide, best_rhyme, last_word
from lib.local.serving import Decoder, Served

RHYME_ROOM = 16  # tokens a rhymed answer keeps free in its context for the rhymes it tries after a line


class PromptTooLongError(ValueError):
    """The prompt does not fit the model's context."""


@dataclass
class Sampling:
    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    rhyme_scheme: str | None = None  # e.g. "AABBA": lines end on rhymes (lib.local.rhyme_guide)


@dataclass
class Piece:
    text: str  # new text since the previous piece
    finish_reason: str | None = None  # "stop" or "length" on the last piece
    tokens: int = 0  # tokens generated so far


def generate(
    served: Served,
    ids: list[int],
    sampling: Sampling,
    stop_at_end: bool = True,
    shutdown: threading.Event | None = None,
) -> Iterator[Piece]:
    """Decode token by token with a KV cache, yielding text as soon as it is complete characters.

    Raises PromptTooLongError at once (not on the first piece) when the prompt leaves no room.
    ``stop_at_end=False`` goes on past the end-of-turn token (for benchmarks that need a fixed length).
    """
    if len(ids) >= served.context:
        raise PromptTooLongError(
            f"The prompt is {len(ids)} tokens; this model reads at most {served.context - 1} tokens plus its answer."
        )
    if sampling.rhyme_scheme:
        return _decode_rhymed(served, ids, sampling, stop_at_end, shutdown or threading.Event())
    return _decode(served, ids, sampling, stop_at_end, shutdown or threading.Event())


def _decode(
    served: Served, ids: list[int], sampling: Sampling, stop_at_end: bool, shutdown: threading.Event
) -> Iterator[Piece]:
    generator = torch.Generator()
    generator.manual_seed(sampling.seed if sampling.seed is not None else random.getrandbits(63))
    budget = min(sampling.max_tokens, served.context - len(ids))
    produced: list[int] = []
    text_so_far = ""
    with served.answering() as decoder, torch.inference_mode():
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
            if len(produced) >= budget or shutdown.is_set():  # the server is shutting down: end here
                yield Piece("", "length", len(produced))
                return
            logits = decoder.step(token)


def _decode_rhymed(
    served: Served, ids: list[int], sampling: Sampling, stop_at_end: bool, shutdown: threading.Event
) -> Iterator[Piece]:
    """Decoding to a rhyme scheme (``lib.local.rhyme_guide``): each line is held until it ends, given its rhyme if it
    needs one, then sent; the answer ends after the scheme's last line, not before (once a line is written)."""
    guide = RhymeGuide(str(sampling.rhyme_scheme))
    generator = torch.Generator()
    generator.manual_seed(sampling.seed if sampling.seed is not None else random.getrandbits(63))
    budget = min(sampling.max_tokens, served.context - len(ids) - RHYME_ROOM)

    def encode(text: str) -> list[int]:
        return list(served.tokenizer.encode(text, add_special_tokens=False))

    answer, line, produced = "", "", []  # the lines sent; the line being written; the tokens of both
    with served.answering() as decoder, torch.inference_mode():
        logits = decoder.start(ids)
        while True:
            token = _pick(logits, sampling, generator)
            if token in served.eos_ids and guide.ends_early(line):  # a limerick has all its lines
                no_end = logits.index_fill(0, torch.tensor(sorted(served.eos_ids)), -math.inf)
                token = _pick(no_end, sampling, generator)
            ended = token in served.eos_ids and stop_at_end
            if not ended:
                produced.append(token)
            text = str(served.tokenizer.decode(produced, skip_special_tokens=True))
            line, newline, _ = text[len(answer) :].partition("\n")
            written = answer + line + newline
            stopped = next((stop for stop in sampling.stop if stop and stop in written), None)
            if stopped:
                yield Piece(written[: written.index(stopped)][len(answer) :], "stop", len(produced))
                return
            if ended or newline:
                if line.strip():
                    line = _rhymed(line, guide, answer, [token] if ended else None, decoder, encode, ids)
                    guide.end_line(line)
                finished = ended or guide.done
                given = line if finished else line + "\n"
                answer += given
                produced = encode(answer)
                yield Piece(given, "stop" if finished else None, len(produced))
                if finished:
                    return
                if len(produced) >= budget or shutdown.is_set():
                    yield Piece("", "length", len(produced))
                    return
                line, logits = "", decoder.start(ids + produced)
            elif len(produced) >= budget or shutdown.is_set():
                yield Piece(text[len(answer) :].rstrip("\ufffd"), "length", len(produced))
                return
            else:
                logits = decoder.step(token)


def _rhymed(
    line: str,
    guide: RhymeGuide,
    answer: str,
    end_ids: list[int] | None,
    decoder: Decoder,
    encode: Callable[[str], list[int]],
    ids: list[int],
) -> str:
    """The line, its last word replaced by the likeliest rhyme if it must rhyme and does not (``end_ids``: the
    answer ends with this line, on these tokens)."""
    found = last_word(line)
    if found is None or not line[: found.start()].endswith(" ") or not line[: found.start()].strip():
        return line
    rhymes = guide.needs_rhyme(found.group().lower().strip("'"))
    if not rhymes:
        return line
    trailer = line[found.end() :] + ("" if end_ids else "\n")
    ending = Ending(answer + line[: found.start() - 1], trailer, end_ids or [])
    return line[: found.start()] + best_rhyme(decoder.start, encode, ids, ending, rhymes) + line[found.end() :]


def _pick(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> int:
    if sampling.temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < sampling.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))
