"""The scorecard of an evaluation run: its tables assembled, and the verdict on the run's candidate against its
baseline (tables.py holds the tables, verdict.py the decision); the training cost Train recorded for the
candidate's job; and the hint Rate gives once more ratings cannot change the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lib.db import provenance_store
from lib.judge.answer_checks import pack
from lib.judge.judge_agreement import judge_agreement, weak
from lib.judge.rating import pair_for
from lib.judge.run import EvalRun, Rating, StoredAnswer, contenders_of, question_of, settings_of, subject_of
from lib.judge.tables import (
    PairResult,
    agreement,
    oriented,
    pair_results,
    ranking,
    reviewer_table,
    rubric_means,
    usage_table,
)
from lib.judge.verdict import NOT_ENOUGH, Verdict, settled_while_rating, verdict
from lib.judge.votes import Judge, JudgeVote, as_ratings


@dataclass(frozen=True)
class Scorecard:
    run: EvalRun
    pairs: list[PairResult]
    rubric: list[dict[str, Any]]  # contender, criterion, mean, low, high, n (items)
    ranking: list[dict[str, Any]]  # rank, contender, strength, low, high, chance to beat an average contender
    agreement: dict[str, Any]  # measure, value, items, reviewers, pairs, scores
    reviewers: list[dict[str, Any]]  # ratings, ties, position bias, consistency on repeated items
    usage: list[dict[str, Any]]  # tokens, latency, cost, cost per 1,000, automatic checks
    verdict: Verdict
    tuned: str | None = None
    baseline: str | None = None
    judges: list[dict[str, Any]] = field(default_factory=list)  # each judge's agreement with the people
    counted_judge: str | None = None  # the judge whose votes the verdict counts as one more reviewer, if any

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for pair in found["pairs"]:
            pair.pop("item_scores")
        found["run"] = {
            "id": self.run.id,
            "name": self.run.name,
            "created_at": self.run.created_at,
            "provider": self.run.provider,
            "prompt_source": self.run.prompt_source,
            "settings": self.run.settings,
            "contenders": self.run.contenders,
        }
        return found


def build(
    run: EvalRun,
    answers: list[StoredAnswer],
    ratings: list[Rating],
    items: dict[int, list[dict[str, Any]]],
    training_cost: float = 0.0,
    repeats: list[Rating] | None = None,
    baseline: str | None = None,
    judges: Sequence[tuple[Judge, list[JudgeVote]]] = (),
    count_judge: str | None = None,
) -> Scorecard:
    """The scorecard of people's ``ratings``; each judge's agreement with them; with ``count_judge``, that judge's
    votes added to the tables and the verdict as one more reviewer (said in the headline)."""
    rubric = settings_of(run).rubric
    found_judges = [
        judge_agreement(judge.name, as_ratings(votes), ratings, rubric, votes, judge.calibration)
        | {
            "model": judge.model,
            "people": agreement(ratings, [c.label for c in contenders_of(run)], rubric)["value"],
            "tokens": sum(v.prompt_tokens + v.completion_tokens for v in votes),
            "cost_usd": sum(v.cost_usd for v in votes),
            "seconds": sum(v.latency_s for v in votes),
        }
        for judge, votes in judges
    ]
    counted = next(((j, v) for j, v in judges if j.name == count_judge), None)
    card = _build(run, answers, ratings + (as_ratings(counted[1]) if counted else []), items, training_cost,
                  repeats, baseline)  # fmt: skip
    if counted is None:
        return replace(card, judges=found_judges)
    measured = next(f for f in found_judges if f["reviewer"] == counted[0].name)
    said = f"Counting the model judge “{counted[0].name}” as one more reviewer. "
    if weak(measured):
        said += "Its agreement with people is weak (κ interval below 0.4): read this verdict with care. "
    return replace(card, judges=found_judges, counted_judge=counted[0].name,
                   verdict=replace(card.verdict, headline=said + card.verdict.headline))  # fmt: skip


def _build(
    run: EvalRun,
    answers: list[StoredAnswer],
    ratings: list[Rating],
    items: dict[int, list[dict[str, Any]]],
    training_cost: float,
    repeats: list[Rating] | None,
    baseline: str | None,
) -> Scorecard:
    contenders = contenders_of(run)
    settings = settings_of(run)
    labels = [c.label for c in contenders]
    questions = {position: question_of(prompt) for position, prompt in items.items()}
    pairs = pair_results(labels, ratings)
    usage = usage_table(labels, answers, questions, pack(settings.checks))
    tuned, recorded_baseline = subject_of(run)
    baseline = baseline if baseline in labels and baseline != tuned else recorded_baseline
    if tuned is None or baseline is None:
        found = Verdict(None, "Add a tuned model and a base or few-shot contender to get a verdict.")
    else:
        pair = next(p for p in pairs if {p.first, p.second} == {tuned, baseline})
        cost = {row["contender"]: row["cost per 1,000"] for row in usage}
        prompt = {row["contender"]: row["prompt tokens"] for row in usage}
        found = verdict(
            tuned, baseline, oriented(pair, tuned), pair.ratings, settings.margin,
            (cost[tuned], cost[baseline]), (prompt[tuned], prompt[baseline]), training_cost,
        )  # fmt: skip
    return Scorecard(
        run=run,
        pairs=pairs,
        rubric=rubric_means(labels, settings.rubric, ratings),
        ranking=ranking(labels, ratings),
        agreement=agreement(ratings, labels, settings.rubric),
        reviewers=reviewer_table(ratings, repeats or []),
        usage=usage,
        verdict=found,
        tuned=tuned,
        baseline=baseline,
    )


def estimated_training_cost(run: EvalRun) -> float | None:
    """The training cost Train estimated for the candidate's job when it launched it: 0 on the local provider
    (free) or without a candidate; None when it is not known (a job started outside the app, or no estimate)."""
    candidate, _ = subject_of(run)
    contender = next((c for c in contenders_of(run) if c.label == candidate), None)
    if contender is None or run.provider == "local":
        return 0.0
    made = provenance_store.job_provenance(run.provider).get(contender.job_id) if contender.job_id else None
    made = made or provenance_store.provenance_of_model(run.provider, contender.model)
    return made.estimated_cost_usd if made is not None else None


def stop_hint(
    run: EvalRun, ratings: list[Rating], answers: list[StoredAnswer], items: Mapping[int, list[dict[str, Any]]]
) -> str | None:
    """What Rate tells reviewers once more ratings can no longer change the verdict (None: keep rating); ``items``
    are the run's prompts by position, as the page read them."""
    tuned, baseline = subject_of(run)
    if tuned is None or baseline is None:
        return None
    [pair] = pair_results([tuned, baseline], ratings)
    rated = {r.position for r in ratings}
    remaining = sum(
        1 for position in items if set(pair_for(run, position)) == {tuned, baseline}
        and position not in rated
    )  # fmt: skip
    cost = {row["contender"]: row["cost per 1,000"] for row in usage_table([tuned, baseline], answers, {}, None)}
    settled = settled_while_rating(
        oriented(pair, tuned), remaining, settings_of(run).margin, cost[tuned] < cost[baseline]
    )
    if settled is None:
        return None
    if settled == NOT_ENOUGH:
        return (
            "You can stop: even if every remaining item were rated, there would not be enough evidence for a "
            "verdict. A larger prompt set would settle it."
        )
    return f"You can stop: the verdict is settled ({settled}); further ratings cannot change it with 95% confidence."
