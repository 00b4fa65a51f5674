"""Reviewers' preferences as training data: a rated run becomes preference (DPO) examples.

Each item and pair of answers the reviewers rated gives one example when most of them preferred the same
answer: the item's prompt as ``input``, that answer as ``preferred_output``, the other as
``non_preferred_output`` (OpenAI's preference format). Ties and split votes are left out and counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.curate.dataset import Dataset, NewRow
from lib.db import dataset_store
from lib.errors import RunError
from lib.judge.run import TIE, EvalRun, Rating, StoredAnswer


@dataclass(frozen=True)
class Preference:
    position: int
    preferred: str  # contender labels
    other: str
    votes: int  # reviewers who preferred it
    reviewers: int  # reviewers who rated this pair on this item
    prompt: list[dict[str, Any]]
    preferred_text: str
    other_text: str

    def example(self, preferred_text: str | None = None) -> dict[str, Any]:
        """The preference line; ``preferred_text``: a reviewer's corrected answer instead of the chosen one."""
        answer = self.preferred_text if preferred_text is None else preferred_text
        return preference_line(self.prompt, answer, self.other_text)


def preference_line(prompt: Sequence[Mapping[str, Any]], preferred: str, other: str) -> dict[str, Any]:
    """One example in OpenAI's preference format: the prompt, the preferred answer and the other one."""
    return {
        "input": {"messages": [dict(m) for m in prompt]},
        "preferred_output": [{"role": "assistant", "content": preferred}],
        "non_preferred_output": [{"role": "assistant", "content": other}],
    }


@dataclass
class Preferences:
    found: list[Preference] = field(default_factory=list)
    ties: int = 0  # items and pairs most reviewers called a tie
    split: int = 0  # ... where as many preferred one answer as the other
    unanswered: int = 0  # ... where an answer is missing

    def left_out(self) -> str:
        parts = [f"{n} {what}" for n, what in ((self.ties, "ties"), (self.split, "split votes"),
                                               (self.unanswered, "missing answers")) if n]  # fmt: skip
        return ", ".join(parts) if parts else "nothing"


def from_ratings(
    ratings: Sequence[Rating], answers: Sequence[StoredAnswer], items: Mapping[int, list[dict[str, Any]]]
) -> Preferences:
    """One preference per item and rated pair that most of its reviewers decided the same way."""
    votes: dict[tuple[int, frozenset[str]], Counter[str]] = defaultdict(Counter)
    for rating in ratings:
        if not rating.repeat:  # a second look measures consistency; it is not a second vote
            votes[(rating.position, frozenset((rating.left, rating.right)))][rating.winner] += 1
    texts = {(a.position, a.contender): a.text for a in answers}
    found = Preferences()
    for (position, pair), counted in sorted(votes.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]))):
        ranked = counted.most_common()
        winner, most = ranked[0]
        if winner == TIE:
            found.ties += 1
            continue
        if len(ranked) > 1 and ranked[1][1] == most:
            found.split += 1
            continue
        other = next(iter(pair - {winner}))
        if (position, winner) not in texts or (position, other) not in texts or position not in items:
            found.unanswered += 1
            continue
        found.found.append(
            Preference(position, winner, other, most, sum(counted.values()), items[position],
                       texts[(position, winner)], texts[(position, other)])
        )  # fmt: skip
    return found


def make_dataset(
    run: EvalRun, preferences: Sequence[Preference], corrected: Mapping[int, str] | None = None
) -> Dataset:
    """A new dataset of preference examples from ``run``; ``corrected``: index -> a reviewer's better answer.

    Each row's note says where it came from (run, item, the pair and the votes); the dataset's first version
    names the run, so the chain from ratings to a DPO model stays readable."""
    if not preferences:
        raise RunError("No item has a clear preference yet: rate more items (ties and split votes are left out).")
    rows = preference_rows(run, preferences, corrected)
    return save_dataset(f"Preferences from run {run.id} ({run.name})", rows,
                        f"Made from the ratings of run {run.id} “{run.name}”")  # fmt: skip


def preference_rows(
    run: EvalRun, preferences: Sequence[Preference], corrected: Mapping[int, str] | None = None
) -> list[NewRow]:
    """Reviewers' preferences as approved rows, each noting its run, item, pair and votes."""
    corrected = corrected or {}
    rows = []
    for index, preference in enumerate(preferences):
        text = corrected.get(index, "").strip() or None
        votes = f"{preference.votes} of {preference.reviewers} reviewers"
        note = f"Run {run.id} item {preference.position}: {preference.preferred} over {preference.other} ({votes})"
        note += "; answer corrected" if text else ""
        rows.append(NewRow(preference.example(text), "approved", f"preference, run-{run.id}", note))
    return rows


def save_dataset(name: str, rows: Sequence[NewRow], summary: str) -> Dataset:
    """A new dataset holding ``rows``, named ``name`` (or ``name 2``, ``name 3``… when that name is taken)."""
    taken = {d.name.lower() for d in dataset_store.list_datasets()}
    name = next(n for n in (name, *(f"{name} {i}" for i in range(2, 1000))) if n.lower() not in taken)
    dataset = dataset_store.create_dataset(name)
    dataset_store.add_rows(dataset.id, list(rows), summary)
    return dataset_store.get_dataset(dataset.id)
