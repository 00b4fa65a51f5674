"""Training with retrieved passages (retrieval-augmented fine-tuning): each example's prompt gets the passages
retrieved for its question, written by the same builder answering uses (search.retrieved_prompt), so what a model
is trained on and what it is asked never drift apart.

A documented share of the training examples (TrainingPassages.distractor_share, 0.5 by default) gets the best
passage among random others, shuffled, so the model learns to pick the right one; validation examples get
exactly what answering gets.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from lib.retrieve.search import Distractors, Index, index_for, retrieved_prompt
from lib.retrieve.source import TrainingPassages


def with_passages(
    examples: Sequence[dict[str, Any]],
    choice: TrainingPassages,
    seed: int = 0,
    distractors: bool = True,
    index: Index | None = None,
) -> list[dict[str, Any]]:
    """The examples with passages in their system prompts; the same seed gives the same distractors.

    Chats get them in ``messages``, preference lines in ``input.messages``. ``index``: the passages to search
    (default: the recorded knowledge source version's).
    """
    index = index or index_for(choice.version_id)
    mixed = Distractors(choice.distractor_share, random.Random(seed)) if distractors else None
    done = []
    for example in examples:
        if isinstance(example.get("messages"), list):
            messages, _ = retrieved_prompt(example["messages"], index, choice.k, choice.source_name, mixed)
            done.append({**example, "messages": messages})
        elif isinstance(example.get("input"), dict) and isinstance(example["input"].get("messages"), list):
            messages, _ = retrieved_prompt(example["input"]["messages"], index, choice.k, choice.source_name, mixed)
            done.append({**example, "input": {**example["input"], "messages": messages}})
        else:
            done.append(example)
    return done
