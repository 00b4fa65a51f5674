"""A scorecard's exports: the ratings (CSV), the scorecard (JSON) and a self-contained HTML report."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

import pandas as pd

from lib.curate.formats import from_spreadsheet, spreadsheet_safe
from lib.errors import RunError
from lib.judge.run import TIE, EvalRun, Rating, StoredAnswer, describe_settings, settings_of
from lib.judge.scorecard import Scorecard
from lib.judge.tables import pair_rows
from lib.words import plural


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
    safe = pd.DataFrame(rows).map(spreadsheet_safe)  # reviewers open this in a spreadsheet: no cell runs as a formula
    safe.to_csv(buffer, index=False, lineterminator="\r\n")  # a lone \r inside a note or an answer is quoted
    return buffer.getvalue().encode()


def no_nan(value: Any) -> Any:
    """JSON has no NaN: an undefined figure (nothing rated yet) is written as null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_nan(v) for v in value]
    return value


def scorecard_json(card: Scorecard, ways: dict[str, Any] | None = None) -> bytes:
    """The scorecard as JSON; with ``ways`` (approaches.summary), the ranking of prompt, retrieve and fine-tune."""
    found = card.to_dict() | ({"approaches": ways} if ways else {})
    return json.dumps(no_nan(found), indent=2, default=str, allow_nan=False).encode()


def _bar_svg(rows: list[tuple[str, float, float, float]], maximum: float, unit: str = "") -> str:
    """A horizontal bar chart with 95% interval whiskers, as inline SVG (the report needs no script or network)."""
    longest = max((len(label) for label, *_ in rows), default=10)
    label_width = min(420, 7 * longest + 12)  # about 7 px a character at 12 px: labels never run into the bars
    width, bar, gap = label_width + 370, 18, 10
    height = len(rows) * (bar + gap) + gap
    scale = (width - label_width - 60) / (maximum or 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, (label, value, low, high) in enumerate(rows):
        y = gap + i * (bar + gap)
        name = html.escape(label)
        parts.append(f'<text x="0" y="{y + 13}" font-size="12"><title>{name}</title>{html.escape(label[:58])}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{max(0.0, value) * scale:.1f}" height="{bar}" fill="#4c78a8"/>'
        )
        if low == low and high == high:  # no whisker where the interval is undefined (NaN)
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
    return frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0, classes="table", na_rep="undefined")


def _ways_html(ways: dict[str, Any] | None) -> str:
    if not ways:
        return ""
    return (
        f"<h2>Prompt, retrieve or fine-tune? (priced at {ways['requests']:,} requests)</h2>"
        f'<p class="verdict">{html.escape(ways["recommendation"])}</p>{_table(ways["rows"])}'
    )


def report_html(card: Scorecard, ways: dict[str, Any] | None = None) -> bytes:
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
        f"{agree['measure']}: {agree['value']:.2f} over {plural(agree['items'], 'item')} rated by several reviewers"
        if agree["value"] is not None
        else "Agreement is undefined: it needs items rated by two or more reviewers who do not all give one answer."
    )
    decision = f"<strong>{html.escape(card.verdict.decision)}</strong>: " if card.verdict.decision else ""
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Scorecard: {html.escape(run.name)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}
td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}}
.verdict{{font-size:1.3em;padding:0.6em 1em;background:#eef4fb;border-left:4px solid #4c78a8}}</style></head><body>
<h1>Scorecard: {html.escape(run.name)}</h1>
<p>Run {run.id}, created {html.escape(run.created_at)} on the {html.escape(run.provider)} provider;
prompts: {html.escape(run.prompt_source)}; {html.escape(describe_settings(settings_of(run)))}.</p>
<p class="verdict">{decision}{html.escape(card.verdict.headline)}</p>
<ul>{"".join(f"<li>{html.escape(r)}</li>" for r in card.verdict.reasons)}</ul>{_ways_html(ways)}
<h2>Who wins (ties count half; 95% Wilson intervals over items)</h2>{_table(pairs)}{wins_chart}
<h2>Rubric scores (1–5, 95% t intervals over items)</h2>{_table(card.rubric)}{score_chart}
<h2>Ranking (Bradley–Terry, 95% bootstrap intervals over items)</h2>{_table(card.ranking)}
<h2>Agreement between reviewers</h2><p>{html.escape(agreement_text)}</p>{_table(card.agreement["pairs"])}
<h2>Reviewers: position bias and consistency on repeated items</h2>{_table(card.reviewers)}{_judges_html(card)}
<h2>Tokens, latency, cost and automatic checks per answer</h2>{_table(card.usage)}
</body></html>"""
    return body.encode()


def _judges_html(card: Scorecard) -> str:
    """The judges' agreement with the people (a model's votes are in the verdict only when counted)."""
    if not card.judges:
        return ""
    kept = ("reviewer", "model", "items", "agreement", "kappa", "kappa_low", "kappa_high", "people", "position_bias",
            "no_votes", "flips", "split", "calibration")  # fmt: skip
    rows = [{k: j[k] for k in kept} for j in card.judges]
    counted = (f"The verdict counts {card.counted_judge} as one more reviewer." if card.counted_judge
               else "The verdict counts people only.")  # fmt: skip
    return (f"<h2>Judges: a model's votes against the reviewers' majority</h2><p>{html.escape(counted)} "
            "Compare a judge's kappa with people's agreement, not with 1.0.</p>" + _table(rows))  # fmt: skip


REQUIRED_COLUMNS = ("item", "reviewer", "A", "B", "winner")


def read_ratings_csv(data: bytes) -> tuple[list[Rating], list[str]]:
    """The app's "Ratings (CSV)" export read back: the ratings and the rubric's criteria.

    Required columns: item, reviewer, A, B, winner; optional scores as "A: <criterion>" and "B: <criterion>".
    Raises RunError naming the row and column of the first problem.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RunError("The ratings file is not UTF-8 text: export it again from the Scorecard.") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        needed = ", ".join(REQUIRED_COLUMNS)
        raise RunError(f"The ratings file lacks the column(s) {', '.join(missing)}; it needs {needed}.")
    criteria = [c.removeprefix("A: ") for c in columns if c.startswith("A: ") and f"B: {c[3:]}" in columns]
    ratings = []
    for row_number, read in enumerate(reader, start=2):
        row = {k: from_spreadsheet(v) if isinstance(v, str) else v for k, v in read.items()}
        try:
            item = int(row["item"])
        except (TypeError, ValueError):
            raise RunError(f"Row {row_number}, column item: {row['item']!r} is not an item number.") from None
        left, right, winner = (row["A"] or "").strip(), (row["B"] or "").strip(), (row["winner"] or "").strip()
        if not left or not right or not (row["reviewer"] or "").strip():
            raise RunError(f"Row {row_number}: reviewer, A and B must not be empty.")
        if winner not in (left, right, TIE):
            raise RunError(f"Row {row_number}, column winner: {winner!r} is neither A ({left}), B ({right}) nor tie.")
        scores: dict[str, list[int]] = {}
        for side, label in (("A", left), ("B", right)):
            marks = [row.get(f"{side}: {criterion}") or "" for criterion in criteria]
            if all(marks):
                try:
                    scores[label] = [int(float(mark)) for mark in marks]
                except ValueError:
                    raise RunError(f"Row {row_number}: the {side} scores must be numbers 1 to 5.") from None
        ratings.append(Rating(0, row["reviewer"].strip(), item, left, right, winner, scores, row.get("note") or ""))
    if not ratings:
        raise RunError("The ratings file has no ratings.")
    return ratings, criteria
