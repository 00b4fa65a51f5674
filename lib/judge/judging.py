"""A model judges a run's pairs blind: the prompt, the run's guideline and rubric, two answers; A, B or tie.

Each item's pair (the one its reviewers see) is judged twice, the sides swapped the second time; a choice that
flips with the order is a tie, a reply that names no choice is a recorded "no vote". Every vote is saved as it
comes, so a cancelled judging keeps what was judged. With calibration, k items people rated are shown to the
judge as examples (with the people's choice) and are never used to measure it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from lib.db import judge_store
from lib.errors import StudioError
from lib.judge import in_parallel
from lib.judge.evaluation import answer_cost
from lib.judge.rating import pair_for
from lib.judge.run import TIE, Contender, EvalRun, Rating, StoredAnswer, earlier_turns, guideline_of, question_of
from lib.judge.run import settings_of as run_settings
from lib.judge.votes import Judge, JudgeVote, combine
from lib.train.providers import ProviderConfig, calling

MAX_TOKENS = 200

DEFAULT_PROMPT = """You are an impartial judge comparing two answers to the same prompt.

What the answers should do: {guideline}
{criteria}
{examples}Prompt:
{conversation}

Answer A:
{answer_a}

Answer B:
{answer_b}

Judge the answers, not their order or length. Reply with one JSON object and nothing else:
{{"criteria": {{{criteria_keys}}}, "winner": "A" or "B" or "tie"}}"""


class JudgeError(StudioError):
    """The judging cannot start: no such run, no answers yet, an unknown template field."""


@dataclass(frozen=True)
class Reply:
    winner: str | None  # "A", "B", "tie" or None: no vote
    criteria: dict[str, str]  # criterion -> "A", "B" or "tie"


_CHOICE = {"a": "A", "b": "B", "tie": "tie", "draw": "tie", "neither": "tie", "both": "tie"}


def parse_reply(text: str, criteria: Sequence[str] = ()) -> Reply:
    """The judge's choice: a JSON object ({"winner": "A"}), else a last line such as "Winner: B"; no vote else."""
    for candidate in re.findall(r"\{.*\}", text, flags=re.DOTALL)[-1:]:
        try:
            found = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(found, dict):
            winner = _CHOICE.get(str(found.get("winner", "")).strip().lower())
            given: dict[str, Any] = found["criteria"] if isinstance(found.get("criteria"), dict) else {}
            marks = {c: _CHOICE[str(given[c]).strip().lower()] for c in criteria
                     if str(given.get(c, "")).strip().lower() in _CHOICE}  # fmt: skip
            return Reply(winner, marks)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    final_line = r"(?i)\**\s*(?:winner|verdict|answer)\s*[:=-]?\s*\**\s*(A|B|tie)\b\W*"
    last = re.fullmatch(final_line, lines[-1]) if lines else None
    return Reply(_CHOICE[last.group(1).lower()] if last else None, {})


def judge_messages(
    template: str,
    run: EvalRun,
    prompt: list[dict[str, Any]],
    answer_a: str,
    answer_b: str,
    examples: str = "",
) -> list[dict[str, Any]]:
    """The one user message the judge is sent for one order of one pair."""
    settings = run_settings(run)
    turns = [*earlier_turns(prompt), {"role": "user", "content": question_of(prompt)}]
    conversation = "\n".join(f"{m['role']}: {m['content']}" for m in turns)
    criteria = "".join(f"- {c}\n" for c in settings.rubric)
    fields = {
        "guideline": guideline_of(settings),
        "criteria": f"Criteria:\n{criteria}" if criteria else "",
        "criteria_keys": ", ".join(f'"{c}": "A" or "B" or "tie"' for c in settings.rubric),
        "examples": examples,
        "conversation": conversation,
        "answer_a": answer_a,
        "answer_b": answer_b,
    }
    try:
        text = template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise JudgeError(
            f"The judge's prompt has a field it cannot fill ({exc}): use {{guideline}}, {{criteria}}, "
            "{examples}, {conversation}, {answer_a}, {answer_b}, and double braces for a literal brace."
        ) from exc
    return [{"role": "user", "content": text}]


def calibration_examples(
    run: EvalRun, items: dict[int, list[dict[str, Any]]], answers: dict[tuple[int, str], str],
    people: list[Rating], k: int,
) -> tuple[str, tuple[int, ...]]:  # fmt: skip
    """k of the pairs people rated, with the people's majority choice, as examples for the judge's prompt; and
    their positions (the judge is never measured on them)."""
    from lib.judge.judge_agreement import people_majority

    majority = people_majority(people)
    chosen: list[int] = []
    text = ""
    for (position, pair), winner in sorted(majority.items()):
        if len(chosen) >= k or winner is None or position in chosen:
            continue
        left, right = pair_for(run, position)
        if {left, right} != set(pair) or (position, left) not in answers or (position, right) not in answers:
            continue
        choice = "tie" if winner == TIE else "A" if winner == left else "B"
        chosen.append(position)
        text += (f"Example {len(chosen)}\nPrompt: {question_of(items[position])}\nAnswer A: {answers[position, left]}\n"
                 f"Answer B: {answers[position, right]}\nPeople chose: {choice}\n\n")  # fmt: skip
    return (f"Examples judged by people:\n\n{text}" if text else ""), tuple(chosen)


def estimate(run: EvalRun, answers: list[StoredAnswer], items: dict[int, list[dict[str, Any]]]) -> dict[str, int]:
    """Requests and tokens judging the run will take: two per item (both orders), each its prompt and both
    answers plus the template; about 60 completion tokens each."""
    by_key = {(a.position, a.contender): a for a in answers}
    requests, prompt_tokens = 0, 0
    for position, prompt in items.items():
        left, right = pair_for(run, position)
        if (position, left) in by_key and (position, right) in by_key:
            words = len(question_of(prompt).split()) + len(DEFAULT_PROMPT.split())
            answered = by_key[position, left].completion_tokens + by_key[position, right].completion_tokens
            tokens = int(words * 1.4) + answered
            requests += 2
            prompt_tokens += 2 * tokens
    return {"requests": requests, "prompt_tokens": prompt_tokens, "completion_tokens": 60 * requests}


def _ask(
    client: openai.OpenAI, config: ProviderConfig, model: str, messages: list[dict[str, Any]]
) -> tuple[str, Any, float]:
    started = time.perf_counter()
    with calling(config):
        response = client.chat.completions.create(
            model=model, messages=cast(list[ChatCompletionMessageParam], messages), temperature=0,
            max_tokens=MAX_TOKENS, seed=0,
        )  # fmt: skip
    return response.choices[0].message.content or "", response.usage, time.perf_counter() - started


def judge_run(
    run: EvalRun,
    items: dict[int, list[dict[str, Any]]],
    answers: list[StoredAnswer],
    people: list[Rating],
    client: openai.OpenAI,
    config: ProviderConfig,
    model: str,
    name: str = "",
    template: str = DEFAULT_PROMPT,
    calibrate: int = 0,
    progress: Callable[[int, int], None] = lambda done, total: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Judge:
    """Judge every item's pair in both orders with ``model``; each vote saved as it comes. Returns the judge."""
    texts = {(a.position, a.contender): a.text for a in answers}
    examples, shown = calibration_examples(run, items, texts, people, calibrate) if calibrate else ("", ())
    named = name.strip() or f"judge: {model}"
    judge = judge_store.save_judge(Judge(run.id, named, model, config.kind, template, shown))
    settings = run_settings(run)
    pricing_as = Contender(label=model, model=model)
    judgeable = [p for p in items if p not in shown and all((p, c) in texts for c in pair_for(run, p))]
    if not judgeable:
        raise JudgeError("No item has both of its answers yet: generate the run's answers on Evaluate first.")
    voted = {v.position for v in judge_store.run_votes(run.id, judge.name)}  # a stopped judging goes on from there
    todo = [p for p in judgeable if p not in voted]

    def vote(position: int) -> None:
        left, right = pair_for(run, position)
        replies, prompt_tokens, completion_tokens, latency = [], 0, 0, 0.0
        for answer_a, answer_b in ((texts[position, left], texts[position, right]),
                                   (texts[position, right], texts[position, left])):  # fmt: skip
            messages = judge_messages(template, run, items[position], answer_a, answer_b, examples)
            text, usage, seconds = _ask(client, config, model, messages)
            replies.append(parse_reply(text, settings.rubric))
            prompt_tokens += usage.prompt_tokens if usage else 0
            completion_tokens += usage.completion_tokens if usage else 0
            latency += seconds
        first, second = replies
        both = {c: combine(left, right, first.criteria.get(c), second.criteria.get(c)) for c in settings.rubric}
        criteria = {c: found for c, found in both.items() if found is not None}
        judge_store.save_vote(JudgeVote(
            run.id, judge.name, position, left, right, first.winner, second.winner,
            combine(left, right, first.winner, second.winner), criteria, prompt_tokens, completion_tokens, latency,
            answer_cost(config, pricing_as, prompt_tokens, completion_tokens),
        ))  # fmt: skip

    before = len(judgeable) - len(todo)

    def arrived(n: int, _: None) -> None:
        progress(before + n, len(judgeable))

    in_parallel.run_bounded(todo, vote, arrived, in_parallel.at_once_for(config), should_stop)
    return judge
