"""Preferences from automatic checks: a run's prompts (or a dataset's) answered n times by one model, each answer
scored by a check pack, and a preference (DPO) example wherever one answer passes more checks than another.

Sampling goes through evaluation.ask (the request path of every answer the app asks for), each sample with its own
seed so a server that honours seeds gives different answers. Pairs are made by a pure function; the dataset is
made the way reviewers' preferences are (preferences.py), and the two can be combined.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import openai

from lib.curate.dataset import Dataset, NewRow, Row
from lib.errors import RunError
from lib.judge import in_parallel, preferences
from lib.judge.answer_checks import CheckPack
from lib.judge.evaluation import ask, contender_messages
from lib.judge.preferences import Preference
from lib.judge.run import Contender, EvalRun, RunSettings, prompt_messages, question_of
from lib.train.providers import ProviderConfig
from lib.words import plural

TAGS = "preference, from-checks"


@dataclass(frozen=True)
class Sample:
    seed: int
    text: str


Samples = dict[int, list[Sample]]  # item position -> its answers in the order sampled (sample 1 is the first)


def prompts_for(
    model: str, items: Mapping[int, list[dict[str, Any]]], settings: RunSettings, passages: int = 0
) -> dict[int, list[dict[str, Any]]]:
    """The run's prompts as ``model`` is asked them: with ``passages`` retrieved from the run's knowledge source
    (as many as the model was trained with), built as every contender's are. Its preference pairs keep them."""
    if settings.knowledge_version is None:
        passages = 0
    contender = Contender(model, model, passages=passages)
    return {position: contender_messages(contender, prompt, [], settings)[0] for position, prompt in items.items()}


def seed_for(position: int, number: int) -> int:
    """The seed of an item's ``number``-th sample: distinct for every item and sample of a run."""
    return position * 10_000 + number


def sample(
    client: openai.OpenAI,
    config: ProviderConfig,
    model: str,
    items: Mapping[int, list[dict[str, Any]]],
    n: int,
    temperature: float,
    max_tokens: int = 120,
    progress: Callable[[int, int], object] = lambda done, total: None,
    cancelled: Callable[[], bool] = lambda: False,
    kept: Samples | None = None,
    at_once: int | None = None,
) -> Samples:
    """n answers per item from ``model``, ``at_once`` requests at a time, each added to ``kept`` as it arrives, in
    this thread (a stopped sampling keeps them, and goes on from there when called again with them); an item's
    samples stay in the order of their seeds. Once ``cancelled()``, no new request starts."""
    samples: Samples = {} if kept is None else kept
    contender = Contender(model, model, tuned=model.startswith("ft:"))
    have = {position: {s.seed for s in samples.get(position, [])} for position in items}
    todo = [(p, seed_for(p, i)) for p in items for i in range(1, n + 1) if seed_for(p, i) not in have[p]]
    before, total = len(items) * n - len(todo), len(items) * n

    def one(task: tuple[int, int]) -> tuple[int, Sample]:
        position, seed = task
        settings = RunSettings(temperature=temperature, max_tokens=max_tokens, seed=seed)
        return position, Sample(seed, ask(client, config, contender, items[position], settings).text)

    def keep(done: int, found: tuple[int, Sample]) -> None:
        taken = samples.setdefault(found[0], [])
        taken.append(found[1])
        taken.sort(key=lambda s: s.seed)
        progress(before + done, total)

    at_once = at_once or in_parallel.at_once_for(config)
    in_parallel.run_bounded(todo, one, keep, at_once, cancelled)
    return samples


def texts_of(samples: Samples) -> dict[int, list[str]]:
    """Each item's sampled answers, in the order of their seeds: what make_pairs scores."""
    return {position: [s.text for s in found] for position, found in samples.items()}


@dataclass(frozen=True)
class Origin:
    """Where the prompts came from, as the new dataset's name, tag, notes and history say it."""

    title: str  # 'run 3 (elle)', 'dataset Elle limericks v2'
    tag: str  # 'run-3', 'dataset-7'
    item: str  # a note's name for one prompt, before its position: 'Run 3 item', 'Elle limericks v2 row'
    described: str  # 'run 3 “elle”'


def run_origin(run: EvalRun) -> Origin:
    return Origin(f"run {run.id} ({run.name})", f"run-{run.id}", f"Run {run.id} item", f"run {run.id} “{run.name}”")


def dataset_origin(dataset: Dataset, version: int) -> Origin:
    """A dataset's version: its rows are the prompts, numbered as Examples numbers them (1, 2, …)."""
    named = f"{dataset.name} v{version}"
    return Origin(f"dataset {named}", f"dataset-{dataset.id}", f"{named} row", f"the prompts of dataset “{named}”")


def dataset_items(rows: Sequence[Row]) -> dict[int, list[dict[str, Any]]]:
    """Each row's prompt (its messages up to the last user turn), by its position on Examples."""
    return {position: prompt_messages(row.example) for position, row in enumerate(rows, start=1)}


@dataclass(frozen=True)
class CheckPair:
    position: int
    prompt: list[dict[str, Any]]
    preferred: int  # sample numbers
    other: int
    preferred_passed: int  # checks each answer passed
    other_passed: int
    checks: int  # checks in the pack
    preferred_text: str
    other_text: str

    def example(self) -> dict[str, Any]:
        return preferences.preference_line(self.prompt, self.preferred_text, self.other_text)

    def note(self, origin: Origin, model: str) -> str:
        return (
            f"{origin.item} {self.position}: {model} sample {self.preferred} "
            f"({self.preferred_passed} of {self.checks} checks) over sample {self.other} "
            f"({self.other_passed} of {self.checks})"
        )


@dataclass
class CheckPairs:
    found: list[CheckPair] = field(default_factory=list)
    ties: int = 0  # pairs of different answers passing as many checks: dropped
    duplicates: int = 0  # answers whose text an earlier sample of the same item already had: counted once
    empty: int = 0  # empty answers: skipped
    all_tied: int = 0  # items with two or more different answers, all passing as many checks
    beyond: int = 0  # pairs with a preference over the most taken per item

    @property
    def prompts(self) -> int:
        """Items that gave at least one pair."""
        return len({pair.position for pair in self.found})

    def left_out(self) -> str:
        counted = ((self.ties, "tied pair"), (self.duplicates, "duplicate answer"), (self.empty, "empty answer"))
        parts = [plural(n, what) for n, what in counted if n]
        parts += [f"{plural(self.beyond, 'pair')} over the limit per prompt"] if self.beyond else []
        return ", ".join(parts) if parts else "nothing"


@dataclass(frozen=True)
class _Scored:
    number: int
    text: str
    passed: int
    checks: int


def make_pairs(
    items: Mapping[int, list[dict[str, Any]]],
    answers: Mapping[int, Sequence[str]],
    pack: CheckPack,
    max_pairs: int = 2,
) -> CheckPairs:
    """Per item, every different answer scored by ``pack`` (checks passed); up to ``max_pairs`` pairs of answers
    with different scores, the largest gaps first (best against worst), each answer used as few times as may be."""
    found = CheckPairs()
    for position, texts in sorted(answers.items()):
        if position not in items:
            continue
        scored = _scored(question_of(items[position]), texts, pack, found)
        ranked = [(a, b) if a.passed > b.passed else (b, a) for a, b in combinations(scored, 2)]
        tied = sum(a.passed == b.passed for a, b in ranked)
        found.ties += tied
        found.all_tied += bool(ranked) and tied == len(ranked)
        unequal = [(a, b) for a, b in ranked if a.passed != b.passed]
        chosen = _widest(unequal, max_pairs)
        found.beyond += len(unequal) - len(chosen)
        found.found += [CheckPair(position, items[position], a.number, b.number, a.passed, b.passed, a.checks,
                                  a.text, b.text) for a, b in chosen]  # fmt: skip
    return found


def _scored(question: str, texts: Sequence[str], pack: CheckPack, found: CheckPairs) -> list[_Scored]:
    """Each different, non-empty answer once, with the checks it passed."""
    seen: set[str] = set()
    scored = []
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            found.empty += 1
        elif text.strip() in seen:
            found.duplicates += 1
        else:
            seen.add(text.strip())
            results = pack.run(question, text)
            scored.append(_Scored(number, text, sum(r is True for r in results.values()), len(results)))
    return scored


def _widest(pairs: list[tuple[_Scored, _Scored]], most: int) -> list[tuple[_Scored, _Scored]]:
    """Up to ``most`` pairs, the largest score gap first; among equal gaps, answers not used yet."""
    chosen: list[tuple[_Scored, _Scored]] = []
    used: Counter[int] = Counter()
    left = list(pairs)
    while left and len(chosen) < most:
        best = min(left, key=lambda p: (p[1].passed - p[0].passed, used[p[0].number] + used[p[1].number],
                                        p[0].number, p[1].number))  # fmt: skip
        left.remove(best)
        chosen.append(best)
        used.update((best[0].number, best[1].number))
    return chosen


def make_dataset(
    run: EvalRun, model: str, pairs: Sequence[CheckPair], reviewers: Sequence[Preference] | None = None
) -> Dataset:
    """A new dataset of the check pairs (tagged from-checks, each note naming the run, item, model, samples and
    checks passed), with reviewers' preferences of the same run added as preferences.make_dataset makes them."""
    rows = preferences.preference_rows(run, reviewers) if reviewers else []
    return make_dataset_from(run_origin(run), model, pairs, rows)


def make_dataset_from(origin: Origin, model: str, pairs: Sequence[CheckPair], also: Sequence[NewRow] = ()) -> Dataset:
    """A new dataset of the check pairs of prompts from ``origin`` (and ``also``, reviewers' rows)."""
    if not pairs and not also:
        raise RunError("No pair of answers differs in the checks they pass: sample more answers, or at a higher "
                       "temperature.")  # fmt: skip
    rows = [NewRow(p.example(), "approved", f"{TAGS}, {origin.tag}", p.note(origin, model)) for p in pairs]
    summary = f"Made from {model}'s answers to {origin.described}, scored by its automatic checks"
    summary += " (with the reviewers' preferences)" if also else ""
    return preferences.save_dataset(f"Check preferences from {origin.title}", [*rows, *also], summary)
