"""The scorecard of an evaluation run: who wins, by how much, how sure we are, what it costs, and the verdict."""

from __future__ import annotations

import html
import io
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import pandas as pd

from lib.db import provenance_store
from lib.db.run_store import EvalRun, Rating, StoredAnswer
from lib.judge import stats
from lib.judge.answer_checks import check_answer
from lib.judge.evaluation import TIE, Contender, contenders_of, question_of, settings_of


@dataclass(frozen=True)
class PairResult:
    first: str
    second: str
    ratings: int
    wins: int  # for ``first``
    ties: int
    losses: int
    win_rate: float  # ties count half
    win_low: float
    win_high: float


@dataclass(frozen=True)
class Verdict:
    fine_tune: bool | None  # None: not enough to say
    headline: str
    reasons: list[str]


@dataclass(frozen=True)
class Scorecard:
    run: EvalRun
    pairs: list[PairResult]
    rubric: list[dict[str, Any]]  # contender, criterion, mean, low, high, n
    ranking: list[dict[str, Any]]  # contender, strength (Bradley-Terry), rank
    agreement: dict[str, Any]  # measure, value, items
    reviewers: list[dict[str, Any]]
    usage: list[dict[str, Any]]  # contender, answers, tokens, latency, cost, cost per 1,000, automatic checks
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
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


def pair_results(contenders: list[str], ratings: list[Rating]) -> list[PairResult]:
    results = []
    for first, second in combinations(contenders, 2):
        relevant = [r for r in ratings if {r.left, r.right} == {first, second}]
        wins = sum(r.winner == first for r in relevant)
        ties = sum(r.winner == TIE for r in relevant)
        losses = len(relevant) - wins - ties
        score = wins + ties / 2
        low, high = stats.wilson(score, len(relevant))
        rate = score / len(relevant) if relevant else float("nan")
        results.append(PairResult(first, second, len(relevant), wins, ties, losses, rate, low, high))
    return results


def pair_rows(pairs: list[PairResult]) -> list[dict[str, Any]]:
    """The pairwise results as a table, in words."""
    return [
        {"A": p.first, "B": p.second, "ratings": p.ratings, "A wins": p.wins, "ties": p.ties, "B wins": p.losses,
         "A win rate": p.win_rate, "95% low": p.win_low, "95% high": p.win_high}
        for p in pairs
    ]  # fmt: skip


def rubric_means(contenders: list[str], rubric: list[str], ratings: list[Rating]) -> list[dict[str, Any]]:
    rows = []
    for label in contenders:
        for index, criterion in enumerate(rubric):
            values = [float(r.scores[label][index]) for r in ratings if label in r.scores]
            mean, low, high = stats.mean_interval(values)
            rows.append(
                {"contender": label, "criterion": criterion, "mean": mean, "low": low, "high": high, "n": len(values)}
            )
    return rows


def ranking(contenders: list[str], ratings: list[Rating]) -> list[dict[str, Any]]:
    outcomes = [(r.left, r.right, 1.0 if r.winner == r.left else 0.5 if r.winner == TIE else 0.0) for r in ratings]
    strength = stats.bradley_terry(outcomes, contenders) if outcomes else {c: 1.0 for c in contenders}
    ordered = sorted(contenders, key=lambda c: -strength[c])
    # Strengths have a geometric mean of 1, so s / (s + 1) is the chance of beating an average contender.
    return [
        {"rank": i, "contender": c, "strength": strength[c], "chance to beat an average contender": s / (s + 1)}
        for i, (c, s) in enumerate(((c, strength[c]) for c in ordered), start=1)
    ]


def agreement(ratings: list[Rating]) -> dict[str, Any]:
    """Cohen's kappa for two reviewers, Krippendorff's alpha for more, over the items several reviewers rated."""
    by_item: dict[int, dict[str, str]] = defaultdict(dict)
    for r in ratings:
        by_item[r.position][r.reviewer.casefold()] = r.winner
    reviewers = sorted({name for labels in by_item.values() for name in labels})
    shared = {item: labels for item, labels in by_item.items() if len(labels) > 1}
    if len(reviewers) < 2 or not shared:
        return {"measure": "none", "value": None, "items": 0, "reviewers": len(reviewers)}
    if len(reviewers) == 2:
        first, second = reviewers
        both = [labels for labels in shared.values() if first in labels and second in labels]
        value = stats.cohen_kappa([b[first] for b in both], [b[second] for b in both])
        return {"measure": "Cohen's kappa", "value": value, "items": len(both), "reviewers": 2}
    value = stats.krippendorff_alpha({item: list(labels.values()) for item, labels in shared.items()})
    return {"measure": "Krippendorff's alpha", "value": value, "items": len(shared), "reviewers": len(reviewers)}


def reviewer_table(ratings: list[Rating]) -> list[dict[str, Any]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in ratings:
        counts[r.reviewer][r.winner if r.winner == TIE else "decided"] += 1
    return [{"reviewer": name, "ratings": sum(c.values()), "ties": c[TIE]} for name, c in sorted(counts.items())]


def usage_table(contenders: list[str], answers: list[StoredAnswer], questions: dict[int, str]) -> list[dict[str, Any]]:
    rows = []
    for label in contenders:
        mine = [a for a in answers if a.contender == label]
        n = max(1, len(mine))
        checked = [check_answer(questions.get(a.position, ""), a.text) for a in mine]
        rows.append(
            {
                "contender": label,
                "answers": len(mine),
                "prompt tokens": sum(a.prompt_tokens for a in mine) / n,
                "completion tokens": sum(a.completion_tokens for a in mine) / n,
                "latency s": sum(a.latency_s for a in mine) / n,
                "cost per answer": sum(a.cost_usd for a in mine) / n,
                "cost per 1,000": 1000 * sum(a.cost_usd for a in mine) / n,
                "limerick form": sum(c.limerick for c in checked) / n,
                "element named": sum(bool(c.names_element) for c in checked) / n,
                "symbol right": sum(bool(c.symbol_right) for c in checked) / n,
                "number right": sum(bool(c.number_right) for c in checked) / n,
            }
        )
    return rows


def verdict(
    contenders: list[Contender], pairs: list[PairResult], usage: list[dict[str, Any]], training_cost: float
) -> Verdict:
    """Should we fine-tune? The tuned model against the few-shot baseline (or the base model when there is none)."""
    tuned = next((c for c in contenders if c.kind == "tuned"), None)
    rival = next((c for c in contenders if c.kind == "few-shot"), None) or next(
        (c for c in contenders if c.kind == "base"), None
    )
    if tuned is None or rival is None:
        return Verdict(None, "Add a tuned model and a base or few-shot contender to get a verdict.", [])
    pair = next(p for p in pairs if {p.first, p.second} == {tuned.label, rival.label})
    if pair.ratings == 0:
        return Verdict(None, "Not rated yet: the verdict needs ratings of the tuned model against its rival.", [])
    flip = pair.first != tuned.label
    rate, low, high = (
        (1 - pair.win_rate, 1 - pair.win_high, 1 - pair.win_low)
        if flip
        else (pair.win_rate, pair.win_low, pair.win_high)
    )
    quality = "better" if low > 0.5 else "worse" if high < 0.5 else "about as good"
    cost = {row["contender"]: row["cost per 1,000"] for row in usage}
    prompt_tokens = {row["contender"]: row["prompt tokens"] for row in usage}
    saving = cost[rival.label] - cost[tuned.label]  # per 1,000 requests
    reasons = [
        f"Quality: {tuned.label} wins {rate:.0%} against {rival.label} (95% interval {low:.0%}–{high:.0%}, "
        f"{pair.ratings} ratings, ties count half): {quality}.",
        f"Running cost per 1,000 requests: {tuned.label} ${cost[tuned.label]:,.4f}, "
        f"{rival.label} ${cost[rival.label]:,.4f}; prompt tokens per request: {tuned.label} "
        f"{prompt_tokens[tuned.label]:,.0f}, {rival.label} {prompt_tokens[rival.label]:,.0f}.",
    ]
    if saving > 0:
        break_even = training_cost / saving * 1000
        reasons.append(f"Training (${training_cost:,.2f}) is repaid after {break_even:,.0f} requests.")
    elif training_cost > 0 or saving < 0:
        reasons.append("The tuned model does not cost less per request, so training is never repaid in money.")
    if quality == "better":
        if saving >= 0:
            return Verdict(True, "Yes: fine-tune. Better answers, and no dearer per request.", reasons)
        return Verdict(True, "Fine-tune if better answers are worth the higher running cost.", reasons)
    if quality == "worse":
        return Verdict(False, f"No: {rival.label} gives better answers.", reasons)
    if saving > 0:
        return Verdict(True, "Fine-tune for the cost: answers are about as good and cheaper per request.", reasons)
    return Verdict(False, f"No: answers are about as good, and {rival.label} costs no more.", reasons)


def build(
    run: EvalRun,
    answers: list[StoredAnswer],
    ratings: list[Rating],
    items: dict[int, list[dict[str, Any]]],
    training_cost: float = 0.0,
) -> Scorecard:
    contenders = contenders_of(run)
    labels = [c.label for c in contenders]
    questions = {position: question_of(prompt) for position, prompt in items.items()}
    pairs = pair_results(labels, ratings)
    usage = usage_table(labels, answers, questions)
    return Scorecard(
        run=run,
        pairs=pairs,
        rubric=rubric_means(labels, settings_of(run).rubric, ratings),
        ranking=ranking(labels, ratings),
        agreement=agreement(ratings),
        reviewers=reviewer_table(ratings),
        usage=usage,
        verdict=verdict(contenders, pairs, usage, training_cost),
    )


def estimated_training_cost(run: EvalRun) -> float:
    """The training cost Train estimated for the run's tuned model when it launched the job (else 0)."""
    tuned = next((c for c in contenders_of(run) if c.kind == "tuned"), None)
    if tuned is None or run.provider == "local":
        return 0.0  # the local provider trains for free
    made = provenance_store.provenance_of_model(run.provider, tuned.model)
    return made.estimated_cost_usd or 0.0 if made else 0.0


# ---- exports ------------------------------------------------------------------------------


def ratings_csv(run: EvalRun, ratings: list[Rating], answers: list[StoredAnswer]) -> bytes:
    """Every rating with both answers and every score, one row each."""
    text = {(a.position, a.contender): a.text for a in answers}
    rubric = settings_of(run).rubric
    rows = []
    for r in ratings:
        row = {
            "run": run.id,
            "item": r.position,
            "reviewer": r.reviewer,
            "A": r.left,
            "B": r.right,
            "winner": r.winner,
            "note": r.note,
            "rated_at": r.created_at,
            "answer A": text.get((r.position, r.left), ""),
            "answer B": text.get((r.position, r.right), ""),
        }
        for side, label in (("A", r.left), ("B", r.right)):
            for criterion, score in zip(rubric, r.scores.get(label, []), strict=False):
                row[f"{side}: {criterion}"] = score
        rows.append(row)
    buffer = io.StringIO()
    pd.DataFrame(rows).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: an undefined figure (nothing rated yet) is written as null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def scorecard_json(card: Scorecard) -> bytes:
    return json.dumps(_no_nan(card.to_dict()), indent=2, default=str, allow_nan=False).encode()


def _bar_svg(rows: list[tuple[str, float, float, float]], maximum: float, unit: str = "") -> str:
    """A horizontal bar chart with 95% interval whiskers, as inline SVG (the report needs no script or network)."""
    width, bar, gap, label_width = 560, 18, 10, 190
    height = len(rows) * (bar + gap) + gap
    scale = (width - label_width - 60) / (maximum or 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, (label, value, low, high) in enumerate(rows):
        y = gap + i * (bar + gap)
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{html.escape(label[:30])}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{max(0.0, value) * scale:.1f}" height="{bar}" fill="#4c78a8"/>'
        )
        parts.append(
            f'<line x1="{label_width + low * scale:.1f}" x2="{label_width + high * scale:.1f}" '
            f'y1="{y + bar / 2}" y2="{y + bar / 2}" stroke="#222" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{label_width + max(value, high) * scale + 6:.1f}" y="{y + 13}" font-size="12">'
            f"{value:.2f}{unit}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>None yet.</p>"
    frame = pd.DataFrame(rows)
    return frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0, classes="table")


def report_html(card: Scorecard) -> bytes:
    """A self-contained HTML report: tables and inline SVG charts, no scripts, nothing fetched."""
    run = card.run
    pairs = pair_rows(card.pairs)
    wins_chart = _bar_svg(
        [(f"{p.first} vs {p.second}", p.win_rate, p.win_low, p.win_high) for p in card.pairs if p.ratings], 1.0
    )
    score_chart = _bar_svg(
        [(f"{r['contender']}: {r['criterion']}", r["mean"], r["low"], r["high"]) for r in card.rubric if r["n"]], 5.0
    )
    agree = card.agreement
    agreement_text = (
        f"{agree['measure']}: {agree['value']:.2f} over {agree['items']} items rated by several reviewers"
        if agree["value"] is not None
        else "Not enough overlapping ratings to measure agreement."
    )
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Scorecard: {html.escape(run.name)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}
td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}}
.verdict{{font-size:1.3em;padding:0.6em 1em;background:#eef4fb;border-left:4px solid #4c78a8}}</style></head><body>
<h1>Scorecard: {html.escape(run.name)}</h1>
<p>Run {run.id}, created {html.escape(run.created_at)} on the {html.escape(run.provider)} provider;
prompts: {html.escape(run.prompt_source)}; settings: {html.escape(json.dumps(run.settings))}.</p>
<p class="verdict">{html.escape(card.verdict.headline)}</p>
<ul>{"".join(f"<li>{html.escape(r)}</li>" for r in card.verdict.reasons)}</ul>
<h2>Who wins (ties count half; 95% Wilson intervals)</h2>{_table(pairs)}{wins_chart}
<h2>Rubric scores (1–5, 95% intervals)</h2>{_table(card.rubric)}{score_chart}
<h2>Ranking (Bradley–Terry)</h2>{_table(card.ranking)}
<h2>Agreement between reviewers</h2><p>{html.escape(agreement_text)}</p>{_table(card.reviewers)}
<h2>Tokens, latency, cost and automatic checks per answer</h2>{_table(card.usage)}
</body></html>"""
    return body.encode()
