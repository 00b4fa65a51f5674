"""Answering a run: what each contender is sent (the prompt, few-shot pairs from the run's pool, retrieved
passages), asking the model (timed, with tokens and cost), and making and answering a run. Compare asks the same way.

The run's types and settings are in run.py, where its prompts come from in prompts.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from lib.db import dataset_versions, provenance_store, run_store
from lib.errors import RunError, StudioError
from lib.judge import in_parallel
from lib.judge.run import (
    TIE,
    Contender,
    EvalRun,
    Prompt,
    RunSettings,
    StoredAnswer,
    contenders_of,
    default_subject,
    question_of,
    settings_of,
)
from lib.openai_format.examples import conversation
from lib.price import overrides, pricing
from lib.retrieve import search
from lib.retrieve.search import Hit
from lib.train.providers import ProviderConfig, calling


def _same_question(a: Any, b: Any) -> bool:
    return " ".join(str(a).split()).casefold() == " ".join(str(b).split()).casefold()


def shot_pairs(examples: Sequence[Any], k: int, seed: int, asked: str = "") -> list[dict[str, Any]]:
    """k question/answer pairs picked (repeatably) from training examples, as chat messages; none asks ``asked``
    (the prompt being answered), so a few-shot contender is never shown the answer it is asked for."""
    single = [conversation(e) for e in examples]
    usable = [[m for m in c if m.get("role") in ("user", "assistant")][-2:] for c in single]
    usable = [pair for pair in usable if [m.get("role") for m in pair] == ["user", "assistant"]]
    if asked:
        usable = [pair for pair in usable if not _same_question(pair[0].get("content"), asked)]
    chosen = random.Random(seed).sample(usable, min(k, len(usable)))
    return [{"role": m["role"], "content": m["content"]} for pair in chosen for m in pair]


def request_messages(prompt: list[dict[str, Any]], shots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The prompt with few-shot pairs placed after its system message."""
    system = [m for m in prompt if m["role"] == "system"]
    rest = [m for m in prompt if m["role"] != "system"]
    return system + shots + rest


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float


def answer_cost(config: ProviderConfig, contender: Contender, prompt_tokens: int, completion_tokens: int) -> float:
    """What one answer costs at the listed prices (0 on the local provider, or for a model with no price)."""
    if config.kind == "local":
        return 0.0
    try:
        info = pricing.resolve(contender.model, overrides.user_prices())
    except StudioError:
        return 0.0
    return pricing.tokens_cost(info, contender.tuned, prompt_tokens, completion_tokens)


def decoding_extras(config: ProviderConfig, contender: Contender) -> dict[str, Any]:
    """What a request adds to OpenAI's parameters: the rhyme scheme, which only the local server decodes to."""
    if not contender.rhymes:
        return {}
    if config.kind != "local":
        raise RunError(f"'{contender.label}' asks for rhymes: rhyme-guided decoding runs on the local provider only.")
    return {"extra_body": {"rhyme_scheme": contender.rhymes}}


def ask(
    client: openai.OpenAI,
    config: ProviderConfig,
    contender: Contender,
    messages: list[dict[str, Any]],
    settings: RunSettings,
) -> Answer:
    """One chat completion, timed, with its tokens and cost."""
    started = time.perf_counter()
    request: dict[str, Any] = {"model": contender.model, "messages": cast(list[ChatCompletionMessageParam], messages),
                               "temperature": settings.temperature, "max_tokens": settings.max_tokens,
                               "seed": settings.seed} | decoding_extras(config, contender)  # fmt: skip
    with calling(config):
        try:
            response = client.chat.completions.create(**request)
        except openai.BadRequestError as error:
            if "seed" not in f"{error} {error.body}".lower():
                raise
            del request["seed"]  # an OpenAI-compatible server that takes no seed: asked again without it
            response = client.chat.completions.create(**request)
    latency = time.perf_counter() - started
    usage = response.usage
    prompt_tokens = usage.prompt_tokens if usage else 0
    completion_tokens = usage.completion_tokens if usage else 0
    return Answer(
        response.choices[0].message.content or "",
        prompt_tokens,
        completion_tokens,
        latency,
        answer_cost(config, contender, prompt_tokens, completion_tokens),
    )


def ask_streaming(
    client: openai.OpenAI,
    config: ProviderConfig,
    contender: Contender,
    messages: list[dict[str, Any]],
    settings: RunSettings,
    on_text: Callable[[str], object],
) -> Answer:
    """One chat completion, streamed: ``on_text`` is called with the answer so far as it grows. Timed (to the
    last token), with its tokens and cost, as ``ask``."""
    started = time.perf_counter()
    text, prompt_tokens, completion_tokens = "", 0, 0
    with calling(config):
        stream = client.chat.completions.create(
            model=contender.model,
            messages=cast(list[ChatCompletionMessageParam], messages),
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            stream=True,
            stream_options={"include_usage": True},
            **decoding_extras(config, contender),
        )
        with stream:  # closed at once if on_text raises: the server stops decoding for a reader who left
            for chunk in stream:
                if chunk.usage is not None:
                    prompt_tokens, completion_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
                piece = "".join(choice.delta.content or "" for choice in chunk.choices if choice.delta)
                if piece:
                    text += piece
                    on_text(text)
    latency = time.perf_counter() - started
    cost = answer_cost(config, contender, prompt_tokens, completion_tokens)
    return Answer(text, prompt_tokens, completion_tokens, latency, cost)


def ask_side_by_side(
    client: openai.OpenAI,
    config: ProviderConfig,
    asks: Sequence[tuple[Contender, list[dict[str, Any]]]],
    settings: RunSettings,
    on_text: Callable[[int, str], object],
) -> list[Answer | StudioError]:
    """Each contender asked its messages, all together within the provider's bound (in_parallel.at_once_for), each
    answer streamed: ``on_text(i, text so far)`` in the caller's thread, "" once it is asked. Each answer, or the
    error that stopped it."""

    def one(ask: tuple[Contender, list[dict[str, Any]]], grew: Callable[[str], object]) -> Answer | StudioError:
        try:
            return ask_streaming(client, config, ask[0], ask[1], settings, grew)
        except StudioError as error:
            return error

    return in_parallel.stream_together(asks, one, on_text, in_parallel.at_once_for(config))


def contender_messages(
    contender: Contender, prompt: list[dict[str, Any]], shots: list[dict[str, Any]], settings: RunSettings
) -> tuple[list[dict[str, Any]], list[Hit]]:
    """What a contender is sent for one prompt: few-shot pairs and retrieved passages added; and those passages."""
    messages = request_messages(prompt, shots)
    if not contender.passages or settings.knowledge_version is None:
        return messages, []
    index = search.index_for(settings.knowledge_version)
    return search.retrieved_prompt(
        messages, index, contender.passages, settings.knowledge_name or "the knowledge source"
    )


def shots_for(settings: RunSettings) -> list[Any]:
    """The examples few-shot contenders draw from: the run's recorded pool of rows of its dataset version (runs
    made before pools were recorded: the whole version)."""
    if settings.shots_dataset is None or settings.shots_version is None:
        return []
    rows = {row.id: row for row in dataset_versions.rows_at(settings.shots_dataset, settings.shots_version)}
    pool = settings.shots_rows if settings.shots_rows is not None else list(rows)
    return [rows[i].example for i in pool if i in rows]


def shot_pool(provider: str, contenders: Sequence[Contender], dataset: Any | None) -> tuple[int, int, list[int]] | None:
    """Where few-shot contenders take their examples from, as (dataset id, version id, row ids): the training rows
    recorded for the job behind the run's tuned contender, so never one of its validation rows; without such a
    job, every row of ``dataset`` (the chosen dataset). None when there is neither."""
    for contender in contenders:
        made = provenance_store.provenance_of_model(provider, contender.model)
        if made is not None and made.training_rows:
            return made.dataset_id, made.version_id, list(made.training_rows)
    if dataset is None:
        return None
    return dataset.id, dataset.version_id, [row.id for row in dataset_versions.rows_at(dataset.id, dataset.version_id)]


def recorded_contenders(provider: str, contenders: Sequence[Contender]) -> list[Contender]:
    """The contenders with what the record knows: whether each model was fine-tuned, and by which job."""
    found = []
    for contender in contenders:
        made = provenance_store.provenance_of_model(provider, contender.model)
        if made is not None:
            contender = replace(contender, tuned=True, job_id=made.job_id)
        found.append(contender)
    return found


def create_run(
    name: str,
    config: ProviderConfig,
    prompt_source: str,
    prompts: Sequence[Prompt],
    contenders: Sequence[Contender],
    settings: RunSettings,
    reviews_needed: int = 2,
) -> EvalRun:
    labels = [c.label for c in contenders]
    if len(contenders) < 2:
        raise RunError("Choose at least two contenders to compare.")
    if len(set(labels)) != len(labels):
        raise RunError("Two contenders have the same name: give each its own.")
    if TIE in labels:
        raise RunError(f"'{TIE}' cannot be a contender's name.")
    if any(c.shots for c in contenders) and settings.shots_dataset is None:
        raise RunError("A few-shot contender needs a dataset to take its examples from.")
    if any(c.passages for c in contenders) and settings.knowledge_version is None:
        raise RunError("A retrieval contender needs a knowledge source: add one on the Knowledge screen.")
    contenders = recorded_contenders(config.kind, contenders)
    for contender in contenders:
        decoding_extras(config, contender)
    candidate, baseline = settings.candidate, settings.baseline
    if candidate or baseline:
        if candidate not in labels or baseline not in labels:
            raise RunError("The candidate and the baseline must both be contenders of the run.")
        if candidate == baseline:
            raise RunError("The candidate and the baseline must be two different contenders.")
    else:
        found = default_subject(contenders)
        settings = replace(settings, candidate=found[0] or "", baseline=found[1] or "")
    return run_store.create_run(
        name,
        config.kind,
        prompt_source,
        asdict(settings),
        [asdict(c) for c in contenders],
        [(p.source, p.messages) for p in prompts],
        reviews_needed=reviews_needed,
    )


def generate(
    run: EvalRun,
    client: openai.OpenAI,
    config: ProviderConfig,
    progress: Callable[[int, int], None] = lambda done, total: None,
    at_once: int | None = None,
) -> int:
    """Answer every prompt with every contender, ``at_once`` requests at a time (None: as many as the provider is
    sent, in_parallel.at_once_for); each answer is saved as it arrives, so a stopped run resumes."""
    settings = settings_of(run)
    items = run_store.run_items(run.id)
    contenders = contenders_of(run)
    done = {(a.position, a.contender) for a in run_store.run_answers(run.id)}
    examples = shots_for(settings)
    total = len(items) * len(contenders)
    # contender by contender: the requests in flight are mostly for one model, which the local server decodes together
    todo = [(p, prompt, c) for c in contenders for p, prompt in items.items() if (p, c.label) not in done]
    for contender in contenders:
        decoding_extras(config, contender)  # a contender this provider cannot answer as asked: said before any answer

    def answer(task: tuple[int, list[dict[str, Any]], Contender]) -> None:
        position, prompt, contender = task
        asked = question_of(prompt)
        shots = shot_pairs(examples, contender.shots, settings.seed + position, asked) if contender.shots else []
        messages, hits = contender_messages(contender, prompt, shots, settings)
        found = ask(client, config, contender, messages, settings)
        passages = tuple(hit.to_dict() for hit in hits)
        run_store.save_answer(run.id, StoredAnswer(position, contender.label, **asdict(found), passages=passages,
                                                   messages=messages))  # fmt: skip

    at_once = at_once or in_parallel.at_once_for(config)
    answered = in_parallel.run_bounded(todo, answer, lambda n, _: progress(len(done) + n, total), at_once)
    return len(done) + answered
