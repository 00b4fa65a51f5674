"""Rhyme-guided decoding: a line that must rhyme with an earlier one is made to end on a word that does.

A small model writes five lines in a limerick's rhythm but ends them on the words its examples use most, not on a
rhyme. With a rhyme scheme ("AABBA"), the answer is decoded line by line. When a line ends, its last word is
checked by sound against its partner line's (``lib.rhymes``, the check Elle's answers are scored with). If
it does not rhyme, the word is replaced by the rhyme of the partner's word that the model itself finds most
likely there, the line's ending (its punctuation, the line break or the end of the answer) included. A line
whose last word is a number, or that ends on something other than a word, is kept as written: facts come first.
The answer ends after the scheme's last line.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pronouncing
import torch

from lib.rhymes import SCHEMES, words_rhyme

SEARCH_STEPS = 64  # forward passes spent at most on finding a line's rhyme
_WORD = re.compile(r"[A-Za-z']+")
_NUMBER_WORDS = frozenset(  # a line ending on a number states a fact: it is kept
    re.findall(
        r"\w+",
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred",
    )
)

Logits = Callable[[list[int]], torch.Tensor]  # next-token logits after these ids (the prompt and the answer so far)
Encode = Callable[[str], list[int]]


@cache
def rhymes_of(word: str) -> tuple[str, ...]:
    """Plain words that rhyme by sound with ``word`` (not the word itself), from the CMU dictionary."""
    return tuple(
        w for w in pronouncing.rhymes(word) if w.isalpha() and w.islower() and w != word and words_rhyme(word, w)
    )


def last_word(line: str) -> re.Match[str] | None:
    """The line's last word, if the line ends on it (only punctuation after it)."""
    words = list(_WORD.finditer(line))
    if not words or re.search(r"[\w]", line[words[-1].end() :]):
        return None
    return words[-1]


@dataclass
class Ending:
    """Where a line's last word stands: the answer before it and what follows it."""

    before: str  # the answer up to the word, without the space before it
    trailer: str  # what follows the word: punctuation, then a line break unless the answer ends there
    end_ids: list[int]  # token ids after the trailer that are scored too: the end of the answer's token, if it ends


class RhymeGuide:
    """The state of one answer decoded to a rhyme scheme: which lines have been written and how they end."""

    def __init__(self, scheme: str) -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"Rhyme scheme {scheme!r}: the schemes are {', '.join(SCHEMES)}.")
        self.scheme = scheme
        self.endings: list[str] = []  # each written line's last word, lower case ("" if it ended on no word)

    @property
    def done(self) -> bool:
        return len(self.endings) >= len(self.scheme)

    def ends_early(self, line: str) -> bool:
        """Whether the answer would end before its last line if it ended after ``line`` (once it has begun)."""
        written = len(self.endings) + bool(line.strip())
        return 0 < written < len(self.scheme)

    def partner(self) -> str | None:
        """The last word of the line the next line must rhyme with, if any."""
        mark = self.scheme[len(self.endings)]
        first = self.scheme.index(mark)
        return self.endings[first] or None if first < len(self.endings) else None

    def needs_rhyme(self, word: str) -> list[str]:
        """The rhymes the next line may end on instead of ``word``; empty when ``word`` will do or must stay."""
        partner = self.partner()
        if partner is None or word in _NUMBER_WORDS:
            return []
        if word != partner and words_rhyme(partner, word):
            return []
        used = set(self.endings)
        return [w for w in rhymes_of(partner) if w not in used]

    def end_line(self, line: str) -> None:
        found = last_word(line)
        self.endings.append(found.group().lower().strip("'") if found else "")


def best_rhyme(logits_after: Logits, encode: Encode, prompt: list[int], ending: Ending, rhymes: list[str]) -> str:
    """The rhyme the model finds most likely in place of the line's last word, with the line's ending after it.

    Best-first search over the rhymes' tokens: the likeliest unfinished beginning is extended one token at a time
    (one forward pass each), so the first whole rhyme reached is the likeliest of all; words the vocabulary holds
    whole are preferred to rarer ones spelled in pieces. At most ``SEARCH_STEPS`` passes.
    """
    start = prompt + encode(ending.before)
    endings: dict[tuple[int, ...], str] = {}
    for word in rhymes:
        whole = prompt + encode(f"{ending.before} {word}{ending.trailer}") + ending.end_ids
        if whole[: len(start)] == start and len(whole) > len(start):
            endings[tuple(whole[len(start) :])] = word
    common = {ids: word for ids, word in endings.items() if len(encode(f" {word}")) == 1}  # whole in the vocabulary
    endings = common or endings
    if not endings:
        return rhymes[0]
    waiting: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
    for _ in range(SEARCH_STEPS):
        cost, ids = heapq.heappop(waiting)
        if ids in endings:
            return endings[ids]
        logprobs = torch.log_softmax(logits_after(start + list(ids)).float(), dim=-1)
        for token in {whole[len(ids)] for whole in endings if whole[: len(ids)] == ids}:
            heapq.heappush(waiting, (cost - float(logprobs[token]), (*ids, token)))
    _, ids = min((cost, ids) for cost, ids in waiting)  # the search ran out: the likeliest beginning's first rhyme
    return next(word for whole, word in endings.items() if whole[: len(ids)] == ids)
