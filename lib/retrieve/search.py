"""Lexical BM25 search over a knowledge source version (bm25s), and the prompt that carries what it found."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import bm25s

from lib.db import knowledge_store
from lib.retrieve.source import Passage
from lib.settings import data_dir


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.passage.file, "origin": self.passage.origin, "text": self.passage.text,
                "score": round(self.score, 3)}  # fmt: skip


def _tokens(texts: list[str]) -> Any:
    return bm25s.tokenize(texts, stopwords="en", show_progress=False, return_ids=False)


class Index:
    """A BM25 index of passages (built once: a version's passages never change)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = list(passages)
        self.bm25 = bm25s.BM25()
        if self.passages:
            self.bm25.index(bm25s.tokenize([p.text for p in self.passages], stopwords="en", show_progress=False),
                            show_progress=False)  # fmt: skip

    def search(self, query: str, k: int) -> list[Hit]:
        """The k best passages for ``query`` with their scores, best first; passages sharing no word are left out."""
        words = _tokens([query])[0]
        if not self.passages or not words or k <= 0:
            return []
        found, scores = self.bm25.retrieve([words], k=min(k, len(self.passages)), show_progress=False, n_threads=1)
        return [Hit(self.passages[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]


@lru_cache(maxsize=16)
def _index(database: str, version_id: int) -> Index:
    return Index(knowledge_store.passages_at(version_id))


def index_for(version_id: int) -> Index:
    """The cached index of one knowledge source version."""
    return _index(str(data_dir()), version_id)


def retrieve(version_id: int, query: str, k: int) -> list[Hit]:
    return index_for(version_id).search(query, k)


@dataclass
class Distractors:
    """Training only: in a ``share`` of the examples the passages are the best hit and random others (up to k),
    shuffled, so the model learns to find the right passage wherever it is rather than always reading the first."""

    share: float
    rng: random.Random


DEFAULT_DISTRACTOR_SHARE = 0.5


def question_in(messages: Sequence[dict[str, Any]]) -> str:
    """The last user message: what is asked (a training example's too: the turn its last answer answers)."""
    return next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")


def retrieved_prompt(
    messages: list[dict[str, Any]], index: Index, k: int, source_name: str, distractors: Distractors | None = None
) -> tuple[list[dict[str, Any]], list[Hit]]:
    """The messages with the k passages retrieved for their question in the system prompt, and those passages.

    The one builder: answering (every contender, ``ask``) and training with passages both call it, so what a model
    was trained on and what it is asked never drift apart.
    """
    hits = index.search(question_in(messages), k) if k > 0 else []
    if distractors is not None and hits and distractors.rng.random() < distractors.share:
        hits = _with_distractors(hits[0], index, k, distractors.rng)
    return with_passages(messages, hits, source_name), hits


def _with_distractors(best: Hit, index: Index, k: int, rng: random.Random) -> list[Hit]:
    drawn = [index.passages[i] for i in rng.sample(range(len(index.passages)), min(k, len(index.passages)))]
    others = [passage for passage in drawn if passage != best.passage][: k - 1]  # drawn by index: no copy per example
    chosen = [best, *(Hit(p, 0.0) for p in others)]
    rng.shuffle(chosen)
    return chosen


def with_passages(messages: list[dict[str, Any]], hits: Sequence[Hit], source_name: str) -> list[dict[str, Any]]:
    """The request's messages with the retrieved passages added to its system prompt (one made if none)."""
    if not hits:
        return messages
    numbered = "\n".join(f"[{i}] {hit.passage.text}" for i, hit in enumerate(hits, start=1))
    context = f"Passages from “{source_name}” that may help; rely on them for facts:\n{numbered}"
    system = [m for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    if system:
        first = {**system[0], "content": f"{system[0]['content']}\n\n{context}"}
        return [first, *system[1:], *rest]
    return [{"role": "system", "content": context}, *rest]
