"""Drafting the missing examples: a model writes new examples in a dataset's style from a few of its rows, one
knowledge passage per draft, the passages no example covers yet first. Drafts come in as rows with status
``draft`` and tag ``drafted``; nothing is approved automatically.

How one draft is made (two requests; the prompts are the constants below, the only place they are written):

1. The question: the model sees the k seed examples' user messages and the passage (QUESTION_PROMPT) and writes
   one new user message in their style; its reply is cleaned of labels, list marks and quotes. An empty reply
   skips the draft (counted).
2. The answer: the seeds as few-shot turns (their shared system prompt, then user/assistant pairs), the passage
   added to the system prompt by ``lib.retrieve.search.with_passages`` (the builder answering uses), then the
   new question.

The stored example is in the dataset's own style: the seeds' shared system prompt, the new question, the answer,
without the passage. Seeds are non-rejected rows, shuffled with a fixed seed and taken k at a time in turn.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from lib.curate import datasets
from lib.curate.dataset import NewRow, Row, Version
from lib.errors import DatasetError, StudioError
from lib.openai_format.examples import Example, conversation, is_preference, single_turn
from lib.retrieve.search import Hit, Index, with_passages
from lib.retrieve.source import Passage
from lib.train.providers import ProviderConfig, calling
from lib.words import plural

TAG = "drafted"
QUESTION_PROMPT = (
    "Here are messages people sent to a chatbot:\n{questions}\n\n{subject}\n"
    "Reply with the new message only: no label, no quotes, no answer."
)
SUBJECT_PASSAGE = "Write one new message in the same style and length, asking about this:\n{passage}"
SUBJECT_FREE = "Write one new message in the same style and length, about something the messages above do not ask."


@dataclass(frozen=True)
class DraftSettings:
    temperature: float = 0.8  # some variety: drafts from the same seeds should differ
    question_tokens: int = 80
    answer_tokens: int = 400
    seed: int = 0  # which rows are seeds, in which order


@dataclass(frozen=True)
class Seed:
    row: int  # the row's number in the dataset (a file's line)
    system: str
    user: str
    assistant: str


@dataclass(frozen=True)
class Draft:
    example: Example
    model: str
    seeds: tuple[int, ...]  # the seeds' row numbers
    passage: Passage | None

    @property
    def note(self) -> str:
        rows = f"row {self.seeds[0]}" if len(self.seeds) == 1 else f"rows {', '.join(map(str, self.seeds))}"
        where = f"; passage: {self.passage.file}, {self.passage.origin}" if self.passage else ""
        return f"Drafted by {self.model} from {rows}{where}"

    def row(self) -> NewRow:
        return NewRow(self.example, status="draft", tags=TAG, note=self.note)


@dataclass
class DraftResult:
    drafts: list[Draft] = field(default_factory=list)
    skipped: int = 0  # the model gave an empty question or answer
    cancelled: bool = False
    error: str = ""  # a provider error that stopped drafting (the drafts before it are kept)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def sentence(self) -> str:
        said = f"Drafted {plural(len(self.drafts), 'example')} ({self.skipped} skipped)"
        return said + (": cancelled, the drafts so far are kept." if self.cancelled else ".")


@dataclass(frozen=True)
class PassagePlan:
    passages: tuple[Passage, ...]  # the order drafts take them in: uncovered first, then covered
    uncovered: int


# Seeds


def seed_examples(rows: Sequence[Row]) -> list[tuple[int, Example]]:
    """(row number, example) of the rows that may be seeds or cover passages: every row not rejected."""
    return [(n, row.example) for n, row in enumerate(rows, start=1) if row.status != "rejected"]


def _text(message: Mapping[str, Any] | None) -> str:
    content = message.get("content") if message else None
    return content.strip() if isinstance(content, str) else ""


def _seed(row: int, example: Any) -> Seed | None:
    if is_preference(example):
        return None
    messages = conversation(example)
    last = {m.get("role"): m for m in messages}  # the last message of each role
    system = _text(messages[0]) if messages and messages[0].get("role") == "system" else ""
    user, assistant = _text(last.get("user")), _text(last.get("assistant"))
    return Seed(row, system, user, assistant) if user and assistant else None


def seed_pool(examples: Iterable[tuple[int, Any]], seed: int = 0) -> list[Seed]:
    """The examples usable as seeds (a user message and an answer), in a fixed shuffled order."""
    pool = [found for row, example in examples if (found := _seed(row, example)) is not None]
    random.Random(seed).shuffle(pool)
    return pool


def seeds_for(pool: Sequence[Seed], k: int, number: int) -> tuple[Seed, ...]:
    """The k seeds of draft ``number`` (0-based): the pool taken k at a time in turn, wrapping around."""
    if k >= len(pool):
        return tuple(pool)
    start = number * k % len(pool)
    return tuple(pool[(start + i) % len(pool)] for i in range(k))


def shared_system(seeds: Sequence[Seed]) -> str:
    """The seeds' system prompt when they all have the same one, else none."""
    prompts = {s.system for s in seeds}
    return prompts.pop() if len(prompts) == 1 else ""


# Passages


def last_question(example: Any) -> str:
    return next((_text(m) for m in reversed(conversation(example)) if m.get("role") == "user"), "")


def covered(index: Index, examples: Iterable[Any]) -> set[Passage]:
    """The passages some example covers: the top BM25 hit for its last user message."""
    found = set()
    for example in examples:
        question = last_question(example)
        hits = index.search(question, 1) if question else []
        if hits:
            found.add(hits[0].passage)
    return found


def plan_passages(index: Index, examples: Iterable[Any]) -> PassagePlan:
    """The passages in the order drafts take them: those no example covers first, then the others."""
    done = covered(index, examples)
    fresh = [p for p in index.passages if p not in done]
    return PassagePlan((*fresh, *(p for p in index.passages if p in done)), len(fresh))


def passage_for(passages: Sequence[Passage], number: int) -> Passage | None:
    return passages[number % len(passages)] if passages else None


# Prompts


def question_messages(seeds: Sequence[Seed], passage: Passage | None) -> list[dict[str, Any]]:
    """The request for a new user message in the seeds' style, about the passage."""
    questions = "\n".join(f"- {s.user}" for s in seeds)
    subject = SUBJECT_PASSAGE.format(passage=passage.text) if passage else SUBJECT_FREE
    return [{"role": "user", "content": QUESTION_PROMPT.format(questions=questions, subject=subject)}]


def answer_messages(
    seeds: Sequence[Seed], question: str, passage: Passage | None, source_name: str = ""
) -> list[dict[str, Any]]:
    """The request for the answer: the seeds as few-shot turns, the passage in the system prompt, the question."""
    system = shared_system(seeds)
    messages = [{"role": "system", "content": system}] if system else []
    for seed in seeds:
        messages += [{"role": "user", "content": seed.user}, {"role": "assistant", "content": seed.assistant}]
    messages.append({"role": "user", "content": question})
    if passage is None:
        return messages
    return with_passages(messages, [Hit(passage, 0.0)], source_name or passage.file)


_LIST_MARK = re.compile(r"^(?:[-*•]|\d+[.)])\s+")
_LABEL = re.compile(r"^\**\s*(?:new\s+)?(?:user\s+)?(?:question|message|user|q)\s*\**\s*[:：]\s*\**\s*", re.IGNORECASE)
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "`": "`"}


def clean_question(reply: str, one_line: bool = True) -> str:
    """The user message in a model's reply: a lead-in line ("Here is one:") and labels, list marks and quotes
    left out; with ``one_line`` (the seeds' messages are one line each), its first line only."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    while len(lines) > 1 and lines[0].endswith(":"):
        lines.pop(0)
    text = (lines[0] if one_line else "\n".join(lines)) if lines else ""
    text = _LABEL.sub("", _LIST_MARK.sub("", text)).strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]:
        text = text[1:-1].strip()
    return text


# Asking


def _complete(
    client: openai.OpenAI,
    config: ProviderConfig,
    model: str,
    messages: list[dict[str, Any]],
    max_tokens: int,
    settings: DraftSettings,
    result: DraftResult,
) -> str:
    with calling(config):
        response = client.chat.completions.create(
            model=model, messages=cast(list[ChatCompletionMessageParam], messages),
            temperature=settings.temperature, max_tokens=max_tokens,
        )  # fmt: skip
    result.requests += 1
    if response.usage is not None:
        result.prompt_tokens += response.usage.prompt_tokens
        result.completion_tokens += response.usage.completion_tokens
    return (response.choices[0].message.content or "").strip() if response.choices else ""


def draft_one(
    client: openai.OpenAI,
    config: ProviderConfig,
    model: str,
    seeds: Sequence[Seed],
    passage: Passage | None,
    result: DraftResult,
    settings: DraftSettings = DraftSettings(),
    source_name: str = "",
) -> Draft | None:
    """One draft (None when the model gave an empty question or answer); tokens counted into ``result``."""
    one_line = all("\n" not in s.user for s in seeds)
    reply = _complete(client, config, model, question_messages(seeds, passage), settings.question_tokens, settings,
                      result)  # fmt: skip
    question = clean_question(reply, one_line)
    if not question:
        return None
    messages = answer_messages(seeds, question, passage, source_name)
    answer = _complete(client, config, model, messages, settings.answer_tokens, settings, result)
    if not answer:
        return None
    example = single_turn(shared_system(seeds), question, answer)
    return Draft(example, model, tuple(s.row for s in seeds), passage)


def draft_examples(
    client: openai.OpenAI,
    config: ProviderConfig,
    model: str,
    seeds: Sequence[Seed],
    passages: Sequence[Passage],
    n: int,
    progress: Callable[[int, int], object] = lambda done, total: None,
    cancelled: Callable[[], bool] = lambda: False,
    *,
    k: int = 3,
    settings: DraftSettings = DraftSettings(),
    source_name: str = "",
    on_draft: Callable[[Draft], object] = lambda draft: None,
) -> DraftResult:
    """n drafts from ``seeds`` (k each, in turn) and ``passages`` (one each, in order; none when empty).

    Each draft goes to ``on_draft`` as it comes. ``cancelled`` is asked between drafts; a provider error stops
    drafting too (said in ``error``): what was drafted before either is in the result.
    """
    if not seeds:
        raise DatasetError("Drafting needs at least one example with a user message and an answer to imitate.")
    result = DraftResult()
    for number in range(n):
        if cancelled():
            result.cancelled = True
            break
        try:
            draft = draft_one(client, config, model, seeds_for(seeds, k, number), passage_for(passages, number),
                              result, settings, source_name)  # fmt: skip
        except StudioError as error:
            result.error = str(error)
            break
        if draft is None:
            result.skipped += 1
        else:
            result.drafts.append(draft)
            on_draft(draft)
        progress(number + 1, n)
    return result


def add_drafts(dataset_id: int, drafted: Sequence[Draft], model: str) -> Version | None:
    """The drafts added to the dataset as one new version (none when there is nothing to add)."""
    if not drafted:
        return None
    return datasets.add_rows(dataset_id, [d.row() for d in drafted], f"Drafted {plural(len(drafted), 'example')} "
                             f"with {model}")  # fmt: skip


# From files (the command line)


@dataclass(frozen=True)
class FileRequest:
    examples: Path
    n: int
    model: str
    knowledge: Path | None = None
    provider: str = "local"
    k: int = 3
    settings: DraftSettings = DraftSettings()


@dataclass(frozen=True)
class FilePlan:
    seeds: list[Seed]
    passages: PassagePlan
    config: ProviderConfig


def plan_files(request: FileRequest) -> FilePlan:
    """Seeds from an examples file, passages from a knowledge file, the provider from the environment;
    StudioError (or OSError) when one cannot be used."""
    from lib.curate.formats import read_file
    from lib.judge.asking import index_of_file, script_provider  # a knowledge file read as `ask` reads it

    if request.n < 1 or request.k < 1:
        raise DatasetError("--n and --seeds must be 1 or more.")
    parsed = read_file(request.examples.name, request.examples.read_bytes())
    usable = [(line, example) for line, example in parsed.valid_examples()
              if parsed.metadata.get(line, {}).get("status") != "rejected"]  # fmt: skip
    seeds = seed_pool(usable, request.settings.seed)
    if not seeds:
        raise DatasetError(f"{request.examples.name} has no valid example with a user message and an answer.")
    plan = PassagePlan((), 0)
    if request.knowledge is not None:
        plan = plan_passages(index_of_file(request.knowledge), (example for _, example in usable))
    return FilePlan(seeds, plan, script_provider(cast(Any, request.provider)))
